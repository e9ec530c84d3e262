//===- TilePlan.cpp - The CPU tile plan -----------------------------------===//
//
// Resolves an op's #attn.config into the plan the CPU code generator
// emits: every field the CPU reads, filled from the host, the pass options
// and the op where the config leaves it at its default, with one
// diagnostic per rule a value breaks.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToCPU/AttnToCPU.h"

#include "attn/Dialect/Attn/Analysis/TileClasses.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/Support/Threading.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#if defined(__linux__)
#include <unistd.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#endif

using namespace mlir;
using namespace mlir::attn;

bool mlir::attn::hostHasBf16Dot() {
  static const bool has = [] {
    llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
    return features.lookup("avx512bf16") && features.lookup("avx512f");
  }();
  return has;
}

/// Asks Linux for permission to use AMX tile data (XTILEDATA, a
/// dynamically enabled XSAVE feature: without the permission the first tile
/// instruction faults). "" when granted, else why not.
static std::string requestTileDataPermission() {
#if defined(__linux__) && defined(__x86_64__)
  // From the kernel's uapi headers (asm/prctl.h, asm/fpu/xstate), which
  // glibc does not export.
  constexpr int kArchReqXcompPerm = 0x1023;
  constexpr int kXfeatureXtiledata = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0)
    return "";
  return std::string("Linux refused tile-data permission (arch_prctl("
                     "ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA): ") +
         std::strerror(errno) + ")";
#else
  return "AMX needs Linux on x86-64 here";
#endif
}

const AmxStatus &mlir::attn::hostAmx() {
  static const AmxStatus status = [] {
    AmxStatus s;
    if (const char *off = std::getenv("ATTN_NO_AMX");
        off && *off && std::strcmp(off, "0") != 0) {
      s.why = "AMX is turned off by $ATTN_NO_AMX";
      return s;
    }
    llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
    if (!features.lookup("amx-tile") || !features.lookup("amx-bf16") ||
        !features.lookup("avx512bf16")) {
      s.why = "the host CPU has no AMX-BF16";
      return s;
    }
    s.why = requestTileDataPermission();
    s.usable = s.why.empty();
    if (!s.usable)
      llvm::errs() << "attn: " << s.why
                   << "; bf16 kernels use AVX-512 instead of AMX\n";
    return s;
  }();
  return status;
}

bool mlir::attn::hostHasAmxInt8() {
  static const bool has = [] {
    return llvm::sys::getHostCPUFeatures().lookup("amx-int8") &&
           hostAmx().usable;
  }();
  return has;
}

int64_t mlir::attn::hostL2Bytes() {
  static const int64_t bytes = [] {
    long size = 0;
#if defined(_SC_LEVEL2_CACHE_SIZE)
    size = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    // Unknown (0 or -1 under some hypervisors): 1 MiB.
    return size > 0 ? int64_t(size) : int64_t(1) << 20;
  }();
  return bytes;
}

int64_t mlir::attn::hostVectorWidth() {
  // The host does not change while the process runs: detect once.
  static const int64_t width = [] {
    llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
    if (features.lookup("avx512f"))
      return 16;
    if (features.lookup("avx2") && features.lookup("fma"))
      return 8;
    return 4;
  }();
  return width;
}

ConfigAttr CPUTilePlan::toConfig(MLIRContext *context) const {
  return ConfigAttr::get(context, blockQ, blockKv, vectorWidth, unroll,
                         /*warps=*/0, /*stages=*/0, kvSplits, qBlocks,
                         dot == CPUDot::Amx               ? "amx"
                         : dot == CPUDot::AmxInt8         ? "amx_int8"
                         : dot == CPUDot::Bf16 || rowBf16 ? "bf16"
                                                          : "fma",
                         /*mma=*/"");
}

/// Whether AVX512-BF16 dot products can compute `op`'s Q K^T with
/// `vectorWidth` lanes, or why not.
static std::optional<std::string> whyNoBf16Dot(AttentionOp op,
                                               int64_t vectorWidth) {
  int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  if (!getElementTypeOrSelf(op.getQuery().getType()).isBF16())
    return std::string("needs bf16 inputs");
  if (op.getPagedAttr())
    return std::string("does not read a paged cache yet");
  if (op.getQuantAttr())
    return std::string("does not read a quantized cache yet");
  if (vectorWidth != 16)
    return std::string("needs vector_width = 16");
  if (ShapedType::isDynamic(d) || d % 2 != 0)
    return std::string("needs a static, even head dim");
  if (!hostHasBf16Dot())
    return std::string("needs a host with AVX512-BF16");
  return std::nullopt;
}

/// Whether decoding's row kernel can compute `op`'s products with
/// AVX512-BF16 dot products (CPUTilePlan::rowBf16) with `vectorWidth`
/// lanes, or why not: bf16 queries, keys and values, static head dims
/// that the row kernel takes (at most 16 vectors) and that are multiples
/// of 32 (Q K^T: a vector of 16 pairs of head-dim elements) and 16 (P V:
/// 16 channels of a pair of keys).
static std::optional<std::string> whyNoRowBf16(AttentionOp op,
                                               int64_t vectorWidth) {
  int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  int64_t dv = cast<ShapedType>(op.getValue().getType()).getDimSize(3);
  if (!getElementTypeOrSelf(op.getQuery().getType()).isBF16() ||
      !getElementTypeOrSelf(op.getKey().getType()).isBF16())
    return std::string("needs bf16 queries, keys and values");
  if (op.getQuantAttr())
    return std::string("does not read a quantized cache yet");
  if (vectorWidth != 16)
    return std::string("needs vector_width = 16");
  if (ShapedType::isDynamic(d) || ShapedType::isDynamic(dv) || d % 32 != 0 ||
      dv % 16 != 0 || d > 16 * vectorWidth || dv > 16 * vectorWidth)
    return std::string("needs static head dims, D a multiple of 32 and Dv "
                       "of 16, at most 256");
  if (!hostHasBf16Dot())
    return std::string("needs a host with AVX512-BF16");
  return std::nullopt;
}

/// Whether AMX tile products can compute `op` with this plan so far
/// (vector width and tile sizes resolved), or why not.
static std::optional<std::string> whyNoAmx(AttentionOp op,
                                           const CPUTilePlan &plan) {
  int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  int64_t dv = cast<ShapedType>(op.getValue().getType()).getDimSize(3);
  Type elem = getElementTypeOrSelf(op.getQuery().getType());
  if (!elem.isBF16() && !elem.isF16())
    return std::string("needs bf16 or f16 inputs (f16 rounded to bf16)");
  if (op.getPagedAttr())
    return std::string("does not read a paged cache yet");
  if (op.getQuantAttr())
    return std::string("does not read a quantized cache yet");
  if (plan.vectorWidth != 16)
    return std::string("needs vector_width = 16");
  if (ShapedType::isDynamic(d) || ShapedType::isDynamic(dv) || d % 32 != 0 ||
      dv % 32 != 0)
    return std::string("needs static head dims that are multiples of 32");
  if (plan.blockQ % 32 != 0 || plan.blockKv % 32 != 0)
    return std::string("needs block_q and block_kv multiples of 32");
  if (!hostAmx().usable)
    return "needs AMX: " + hostAmx().why;
  return std::nullopt;
}

/// Whether decoding's row kernel can compute `op`'s Q K^T and P V on AMX
/// tiles (CPUTilePlan::rowAmx), or why not: bf16 queries and keys,
/// contiguous or paged but not quantized, 16 f32 lanes, a static head dim
/// that is a multiple of 32, and an AMX host.
static std::optional<std::string> whyNoRowAmx(AttentionOp op, int64_t lanes) {
  int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  if (!getElementTypeOrSelf(op.getQuery().getType()).isBF16() ||
      !getElementTypeOrSelf(op.getKey().getType()).isBF16())
    return std::string("needs bf16 queries and keys");
  if (op.getQuantAttr())
    return std::string("does not read a quantized cache yet");
  if (lanes != 16)
    return std::string("needs vector_width = 16");
  if (ShapedType::isDynamic(d) || d % 32 != 0)
    return std::string("needs a static head dim that is a multiple of 32");
  if (!hostAmx().usable)
    return "needs AMX: " + hostAmx().why;
  return std::nullopt;
}

/// Whether AMX int8 tiles can compute `op`'s Q K^T with this plan so far,
/// or why not: 8-bit integer codes read without a page table, 16 f32
/// lanes, a static head dim that is a multiple of 64 (the k extent of an
/// int8 tile), block_q and block_kv multiples of 32 and key groups of a
/// multiple of 32 tokens (each 32-key block of the products lies in one
/// group, whose scales the query is quantised with).
static std::optional<std::string> whyNoAmxInt8(AttentionOp op,
                                               const CPUTilePlan &plan) {
  int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  QuantAttr quant = op.getQuantAttr();
  if (!quant || quant.isFloat8() || quant.getBits() != 8)
    return std::string("needs an int8 quantized cache (#attn.quant with "
                       "bits = 8)");
  if (op.getPagedAttr())
    return std::string("does not read a paged cache yet");
  if (quant.getGroup() % 32 != 0)
    return "needs key groups of a multiple of 32 tokens, not " +
           std::to_string(quant.getGroup());
  if (plan.vectorWidth != 16)
    return std::string("needs vector_width = 16");
  if (ShapedType::isDynamic(d) || d % 64 != 0)
    return std::string("needs a static head dim that is a multiple of 64");
  if (plan.blockQ % 32 != 0 || plan.blockKv % 32 != 0)
    return std::string("needs block_q and block_kv multiples of 32");
  if (!hostAmx().usable)
    return "needs AMX: " + hostAmx().why;
  if (!hostHasAmxInt8())
    return std::string("needs a host with AMX-INT8");
  return std::nullopt;
}

FailureOr<CPUTilePlan> mlir::attn::resolveCPUTilePlan(AttentionOp op,
                                                      const CPUTarget &target) {
  ConfigAttr config = op.getConfigAttr();
  if (!config)
    config = ConfigAttr::get(op.getContext(), 0, 0, 0, 0, 0, 0, 0, 0, "", "");
  auto knob = [](int64_t v, int64_t dflt) { return v > 0 ? v : dflt; };
  auto fail = [&](StringRef field, int64_t value) {
    return op.emitOpError("#attn.config ") << field << " = " << value;
  };
  CPUTilePlan plan;
  if (!ConfigAttr::isValidVectorWidth(target.vectorWidth))
    return op.emitOpError("attn-tile-cpu: vector-width must be 0, 4, 8 or "
                          "16, not ")
           << target.vectorWidth;
  plan.vectorWidth = knob(config.getVectorWidth(),
                          knob(target.vectorWidth, hostVectorWidth()));
  int64_t lanes = plan.vectorWidth;
  // AVX-512 defaults: 4 vectors of query rows and 6-row register blocks
  // (24 of the 32 vector registers accumulate). Against 2 vectors x 8 rows,
  // one thread at S = 1024 went from 18.4 to 14.7 ms (D = 64) and from
  // 15.8 to 13.9 ms (D = 128), measured in one sweep on a busy machine.
  // AVX2 has 16 registers: 2 x 4.
  bool wide = lanes >= 16;
  plan.blockQ = knob(config.getBlockQ(), (wide ? 4 : 2) * lanes);
  if (plan.blockQ % lanes != 0)
    return fail("block_q", plan.blockQ)
           << " must be a multiple of the vector width " << lanes
           << " on the CPU";
  plan.blockKv = knob(config.getBlockKv(), wide ? 96 : 64);
  // Banded masks (windows, halos, sinks): a q-tile computes about
  // W + block_q + block_kv keys per row for the W it needs, so smaller kv
  // tiles waste less. At S = 8192, D = 64, 2 threads, sliding windows of
  // 128 to 2048 keys ran 4-25% faster with 64-key tiles than with 96.
  RuntimeConjuncts runtime = splitRuntimeConjuncts(op.getMaskOrDefault());
  if (wide && !config.getBlockKv()) {
    std::optional<int64_t> band =
        boundBandWidth(classifyMask(runtime.declarative));
    if (band && *band <= 4096)
      plan.blockKv = 64;
  }
  // Block-sparse masks: kv tiles that straddle two blocks are partial
  // whenever one block is on and the other off, so take a tile size that
  // divides the blocks. (128-key blocks at 13% density, S4096 D64: 96-key
  // tiles ran 1.8x the allowed fraction of the full time.)
  // Likewise for #attn.blocks tables, where a tile whose blocks are all
  // whole also runs without evaluating the mask.
  int64_t blocks = runtime.blocks      ? runtime.blocks.getBlockKv()
                   : runtime.denseLeaf ? runtime.denseLeaf.getBlockKv()
                                       : 1;
  if (blocks > 1 && !config.getBlockKv()) {
    for (int64_t tile :
         {plan.blockKv, int64_t(64), int64_t(128), int64_t(48), int64_t(32)})
      if (blocks % tile == 0) {
        plan.blockKv = tile;
        break;
      }
  }
  plan.unroll = knob(config.getUnroll(), wide ? 6 : 4);
  if (plan.unroll * plan.vecs() > 32)
    return fail("unroll", plan.unroll)
           << " with block_q = " << plan.blockQ
           << " needs more than 32 vector accumulators";
  // bf16 Q K^T by vdpbf16ps: twice the products per instruction of an f32
  // FMA, but on the Sapphire Rapids machines measured it issues at half the
  // FMA rate: the 6 x 4 register block took 400 ns against 207 ns with
  // FMAs, and B1 H8 S4096 D64 bf16 ran 144 ms against 118 ms. Hence opt-in
  // (dot = "bf16" or the bf16-dot option), for hosts where the dot
  // products are faster. The option applies where it can; a config that
  // asks for them where they cannot run (in the tile kernel nor in
  // decoding's row kernel) is an error.
  std::optional<std::string> noDot = whyNoBf16Dot(op, lanes);
  std::optional<std::string> noRowDot = whyNoRowBf16(op, lanes);
  if (config.getDot() == "bf16" && noDot && noRowDot)
    return op.emitOpError("#attn.config dot = \"bf16\" ") << *noDot;
  // AMX tiles for both products of bf16 inputs: the default wherever they
  // apply (target.amx), an error where asked for and they cannot run. f16
  // inputs take them only where asked for (dot = "amx" or target.f16Amx):
  // Q, K and V are then rounded to bf16, 8 significant bits instead of 11.
  // Checked last: it reads the resolved tile sizes, and asks for tile-data
  // permission only for bf16 ops and f16 ones that opt in.
  StringRef dot = config.getDot();
  // AMX int8 Q K^T rounds the query to int8: only where asked for.
  if (dot == "amx_int8")
    if (std::optional<std::string> why = whyNoAmxInt8(op, plan))
      return op.emitOpError("#attn.config dot = \"amx_int8\" ") << *why;
  Type elem = getElementTypeOrSelf(op.getQuery().getType());
  bool amxDefault =
      (target.amx && elem.isBF16()) || (target.f16Amx && elem.isF16());
  std::optional<std::string> noAmx;
  if (dot == "amx" || (dot.empty() && amxDefault))
    noAmx = whyNoAmx(op, plan);
  if (dot == "amx" && noAmx)
    return op.emitOpError("#attn.config dot = \"amx\" ") << *noAmx;
  if (dot == "amx_int8")
    plan.dot = CPUDot::AmxInt8;
  else if (dot == "amx" || (dot.empty() && amxDefault && !noAmx))
    plan.dot = CPUDot::Amx;
  else if ((dot == "bf16" || (dot.empty() && target.bf16Dot)) && !noDot)
    plan.dot = CPUDot::Bf16;
  else
    plan.dot = CPUDot::Fma;
  // Decoding's products on AMX tiles (DecodeAmx.cpp) for bf16 caches wherever
  // the tile kernel runs on AMX, and by default for paged bf16 caches too:
  // the row kernel reads a paged span's K rows from its copy of them.
  plan.rowAmx = (plan.dot == CPUDot::Amx || (dot.empty() && target.amx)) &&
                !whyNoRowAmx(op, lanes);
  // Decoding's row kernel: both products by vdpbf16ps, the weights rounded
  // to bf16 (DecodeBf16.cpp), where dot = "bf16" (or the option, where AMX
  // does not take the op) asks for them. Opt-in too: vdpbf16ps issues at a
  // quarter of the FMA rate here (bench/dot_rate.c), and B8 Skv4096 D128
  // decoding on one thread ran 1.39x the widened FMA products' speed
  // without GQA, 0.95x at GQA 4 and 0.90x at GQA 8 (README, "Decoding on
  // the CPU").
  plan.rowBf16 =
      (dot == "bf16" || (dot.empty() && target.bf16Dot && !plan.rowAmx)) &&
      !noRowDot;
  plan.kvSplits = config.getKvSplits();
  static const int64_t hostCores =
      std::max<int64_t>(1, llvm::get_physical_cores());
  plan.threads = knob(target.threads, hostCores);
  plan.l2Bytes = hostL2Bytes();
  // q-tiles per item: the AMX kv loops carry state from tile to tile
  // (emitTileKernel), so they keep one.
  plan.qBlocks = config.getQBlocks();
  if (plan.qBlocks > 1 &&
      (plan.dot == CPUDot::Amx || plan.dot == CPUDot::AmxInt8))
    return fail("q_blocks", plan.qBlocks)
           << " needs dot = \"fma\" or \"bf16\" (the AMX paths run one "
              "q-tile per item)";
  return plan;
}
