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
#include "llvm/TargetParser/Host.h"

using namespace mlir;
using namespace mlir::attn;

bool mlir::attn::hostHasBf16Dot() {
  static const bool has = [] {
    llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
    return features.lookup("avx512bf16") && features.lookup("avx512f");
  }();
  return has;
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
                         /*warps=*/0, /*stages=*/0, kvSplits,
                         bf16Dot ? "bf16" : "fma", /*mma=*/"");
}

/// Whether AVX512-BF16 dot products can compute `op`'s Q K^T with
/// `vectorWidth` lanes, or why not.
static std::optional<std::string> whyNoBf16Dot(AttentionOp op,
                                               int64_t vectorWidth) {
  int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  if (!getElementTypeOrSelf(op.getQuery().getType()).isBF16())
    return std::string("needs bf16 inputs");
  if (vectorWidth != 16)
    return std::string("needs vector_width = 16");
  if (ShapedType::isDynamic(d) || d % 2 != 0)
    return std::string("needs a static, even head dim");
  if (!hostHasBf16Dot())
    return std::string("needs a host with AVX512-BF16");
  return std::nullopt;
}

FailureOr<CPUTilePlan> mlir::attn::resolveCPUTilePlan(AttentionOp op,
                                                      const CPUTarget &target) {
  ConfigAttr config = op.getConfigAttr();
  if (!config)
    config = ConfigAttr::get(op.getContext(), 0, 0, 0, 0, 0, 0, 0, "", "");
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
  // asks for them where they cannot run is an error.
  std::optional<std::string> noDot = whyNoBf16Dot(op, lanes);
  if (config.getDot() == "bf16" && noDot)
    return op.emitOpError("#attn.config dot = \"bf16\" ") << *noDot;
  plan.bf16Dot = config.getDot() == "bf16" ||
                 (config.getDot().empty() && target.bf16Dot && !noDot);
  plan.kvSplits = config.getKvSplits();
  static const int64_t hostCores =
      std::max<int64_t>(1, llvm::get_physical_cores());
  plan.threads = knob(target.threads, hostCores);
  return plan;
}
