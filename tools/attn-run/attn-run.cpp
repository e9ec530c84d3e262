//===- attn-run.cpp - JIT-run attn kernels and check them -----------------===//
//
// Compiles a .mlir file holding one function with an attn.attention (or
// attn.merge) op through the CPU pipeline once, then, for each requested
// shape, fills the inputs (seeded random data or .npy files), runs the
// kernel, times it and compares it with the independent float64 reference.
//
// Longer than the project's ~800 lines: about half is the tool's option
// declarations and the binding of function arguments to roles and sizes,
// which read the options throughout. Splitting the argument binding into a
// file of its own (passing the options explicitly) is the next step when it
// grows.
//
//===----------------------------------------------------------------------===//

#include "CUDAToolOptions.h"
#include "QuantCache.h"

#include "attn/ReferenceBridge/RegionEvaluator.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/InitAll.h"
#include "attn/Reference/Reference.h"
#include "attn/ReferenceBridge/ToReference.h"
#include "attn/Runtime/CPUJit.h"
#include "attn/Support/Npy.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <unistd.h>

using namespace mlir;
using namespace mlir::attn;
namespace cl = llvm::cl;
namespace npy = ::attn::npy;
namespace ref = ::attn::ref;

static cl::OptionCategory runCat("attn-run options");
static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<input.mlir>"),
                                      cl::Required, cl::cat(runCat));
static cl::opt<std::string>
    funcName("func",
             cl::desc("Function to run (default: the first public function "
                      "that holds an attn op)"),
             cl::cat(runCat));
static cl::list<std::string> shapes(
    "shape",
    cl::desc("Sizes of one run, as comma-separated NAME=VALUE with NAME in "
             "B, Hq, Hkv, Sq, Skv, D, Dv (for attn.merge: B, H, S, Dv). Sizes "
             "fixed by the tensor types may be omitted; others default to "
             "B=2 Hq=4 Hkv=Hq Sq=67 Skv=Sq D=Dv=32, Skv rounded up to whole "
             "pages of a paged cache and whole key groups of a quantized one "
             "(a paged cache: Skv is "
             "max_pages * page_size, its pool holds B * max_pages + 1 pages "
             "and its page table is a random permutation). Repeat --shape to "
             "run one compiled kernel on several sizes."),
    cl::cat(runCat));
static cl::opt<unsigned> seed("seed", cl::desc("Random seed for the inputs"),
                              cl::init(0), cl::cat(runCat));
static cl::opt<bool>
    check("check",
          cl::desc("Compare with the float64 reference and exit 1 if the error "
                   "exceeds the tolerance"),
          cl::cat(runCat));
static cl::opt<double> tolerance(
    "tol",
    cl::desc("Relative tolerance for --check, max|out-ref| / max|ref| "
             "(default: 1e-4 for f32, 1e-3 for f16, 8e-3 for bf16). A "
             "quantized cache (#attn.quant) has the same defaults: the "
             "reference reads the keys and values the cache holds, "
             "dequantised in float64 (on --target=cuda and cuda-emulator "
             "rounded to the query's type, as the GPU kernels round their "
             "tiles), so the quantization error itself is not measured; "
             "#attn.config<dot = \"amx_int8\"> on the CPU, which rounds the "
             "query to int8, has 3e-2"),
    cl::init(-1.0), cl::cat(runCat));
static cl::opt<unsigned>
    repeat("repeat",
           cl::desc("Timed runs per shape after one warm-up; ms= is the "
                    "median"),
           cl::init(1), cl::cat(runCat));
static cl::list<std::string> inputs(
    "input",
    cl::desc("Read an argument from .npy instead of random data, as "
             "ROLE=FILE; ROLE is q, k, v, page_table, sink, kv_len, seg_q, "
             "seg_kv, tree, "
             "dense_mask, bias, rel_bias_table, temperature, capture0, ... "
             "(merge: o0, lse0, o1, ...), and for a quantized cache the "
             "kv_quant operands k_scale, k_zero, v_scale, v_zero, "
             "k_residual, v_residual (fp8: k_scale, v_scale, k_residual, "
             "v_residual), k and v being its int8 or uint8 codes. Shapes "
             "then come from the files."),
    cl::cat(runCat));
static cl::opt<std::string> outputDir(
    "output-dir",
    cl::desc("Write the outputs of the last shape as o.npy (and lse.npy)"),
    cl::cat(runCat));
static cl::opt<std::string> lowering(
    "lowering",
    cl::desc("How attn.attention is compiled: 'fused' (tiled, the default) or "
             "'reference' (materialised scores, for differential testing)"),
    cl::init("fused"), cl::cat(runCat));
static cl::opt<std::string>
    target("target",
           cl::desc("Where the kernel runs: 'cpu' (the default), 'cuda' "
                    "(the first NVIDIA GPU; inputs are copied to device "
                    "memory and outputs back, and times include the "
                    "launch's synchronisation; without a driver or GPU, "
                    "attn-run compiles the kernel, says why it cannot run "
                    "it and exits with status 2) or 'cuda-emulator' (the "
                    "CUDA kernels and their host code, run on the CPU by "
                    "the GPU emulator, which reports races, out-of-bounds "
                    "accesses and the like as errors; for correctness and "
                    "debugging, many times slower than the CPU target)"),
           cl::init("cpu"), cl::cat(runCat));
static CUDAToolOptions
    cuda(runCat, "sm_90a",
         "target=cuda and cuda-emulator: sm_80 or sm_90a (the default)",
         "target=cuda and cuda-emulator: tensor-core instructions, 'auto' "
         "(wgmma on sm_90a), 'sync' or 'wgmma'");
static cl::opt<bool> bf16Dot(
    "bf16-dot",
    cl::desc("bf16 inputs: Q K^T by AVX512-BF16 dot products where the host "
             "has them (default off: bf16 is widened to f32 FMAs)"),
    cl::init(false), cl::cat(runCat));
static cl::opt<bool>
    useAmx("amx",
           cl::desc("bf16 inputs: both products by AMX tiles where the host "
                    "has AMX-BF16 and they apply (default on; --amx=false "
                    "keeps the AVX-512 paths)"),
           cl::init(true), cl::cat(runCat));
static cl::opt<bool>
    f16Amx("f16-amx",
           cl::desc("f16 inputs: both products by AMX tiles where they "
                    "apply, Q, K and V rounded to bf16 (default off: f16 is "
                    "widened to f32 FMAs)"),
           cl::init(false), cl::cat(runCat));
static cl::opt<int64_t> vectorWidth(
    "vector-width",
    cl::desc("f32 lanes of the fused path: 16 (AVX-512), 8 (AVX2) or 0 for "
             "the host's widest"),
    cl::init(0), cl::cat(runCat));
static cl::opt<bool> noReference(
    "no-reference",
    cl::desc("Skip the float64 reference (for timing large shapes): inputs "
             "are still validated, errors and gflops are not printed (a "
             "quantized cache's gbps= is)"),
    cl::cat(runCat));
static cl::opt<unsigned>
    numDocs("num-docs", cl::desc("Documents per batch row for #attn.document"),
            cl::init(3), cl::cat(runCat));
static cl::opt<unsigned>
    treeSize("tree-size",
             cl::desc("Draft tokens T for #attn.tree (capped by Sq, Skv)"),
             cl::init(6), cl::cat(runCat));

namespace {

/// How a function argument feeds the attn op.
struct Binding {
  std::string role; // "q", "k", "v", "sink", ..., "capture0", "o", "lse"
  RankedTensorType type;
  /// Scores per entry of a blocked dense_mask (#attn.dense<block_q, ...>).
  int64_t blockQ = 1, blockKv = 1;
};

/// Named problem sizes.
using Sizes = std::map<std::string, int64_t>;
/// Where each user-given size came from ("--shape", "--input q=FILE"), for
/// error messages.
using SizeOrigins = std::map<std::string, std::string>;

template <typename T> std::string toString(T printable) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << printable;
  return text;
}

/// "2, 4, 67" for error messages.
std::string dimsString(const std::vector<int64_t> &dims) {
  return llvm::join(
      llvm::map_range(dims, [](int64_t x) { return std::to_string(x); }), ", ");
}

/// "B=1,D=64,..." for the report lines.
std::string shapeString(const Sizes &sizes) {
  std::string text;
  for (auto &[k, v] : sizes)
    text += (text.empty() ? "" : ",") + k + "=" + std::to_string(v);
  return text;
}

[[noreturn]] void fail(const Twine &msg) {
  llvm::errs() << "attn-run: error: " << msg << "\n";
  std::exit(1);
}

npy::DType dtypeOf(Type t) {
  if (t.isF32())
    return npy::DType::F32;
  if (t.isF16())
    return npy::DType::F16;
  if (t.isBF16())
    return npy::DType::BF16;
  if (t.isF64())
    return npy::DType::F64;
  if (t.isInteger(64) || t.isIndex())
    return npy::DType::I64;
  if (t.isInteger(32))
    return npy::DType::I32;
  if (t.isInteger(8))
    return npy::DType::I8;
  if (t.isInteger(1))
    return npy::DType::Bool;
  fail("unsupported element type " + toString(t));
}

/// Binds each function argument to its role in `op` by following its uses.
std::vector<Binding> bindArguments(func::FuncOp fn, Operation *op) {
  llvm::DenseMap<Value, std::string> roles;
  auto name = [&](Value v, std::string role) {
    if (v)
      roles[v] = std::move(role);
  };
  if (auto a = dyn_cast<AttentionOp>(op)) {
    name(a.getQuery(), "q");
    name(a.getKey(), "k");
    name(a.getValue(), "v");
    name(a.getPageTable(), "page_table");
    name(a.getSink(), "sink");
    name(a.getKvLen(), "kv_len");
    name(a.getSegQ(), "seg_q");
    name(a.getSegKv(), "seg_kv");
    name(a.getTreeParent(), "tree");
    name(a.getDenseMask(), "dense_mask");
    name(a.getBias(), "bias");
    name(a.getRelBiasTable(), "rel_bias_table");
    name(a.getTemperature(), "temperature");
    Value quantOperands[] = {a.getKeyScale(),    a.getKeyZero(),
                             a.getValueScale(),  a.getValueZero(),
                             a.getKeyResidual(), a.getValueResidual()};
    for (auto [v, role] : llvm::zip(quantOperands, ::attn::run::kQuantRoles))
      name(v, role);
    for (auto [i, c] : llvm::enumerate(a.getCaptures()))
      name(c, "capture" + std::to_string(i));
    name(a.getOutputs()[0], "o");
    if (a.getOutputs().size() > 1)
      name(a.getOutputs()[1], "lse");
  } else {
    auto m = cast<MergeOp>(op);
    for (auto [i, p] : llvm::enumerate(m.getPartials()))
      name(p, "o" + std::to_string(i));
    for (auto [i, l] : llvm::enumerate(m.getPartialLses()))
      name(l, "lse" + std::to_string(i));
    name(m.getOutInit(), "o");
    name(m.getLseInit(), "lse");
  }
  std::vector<Binding> bindings;
  for (BlockArgument arg : fn.getArguments()) {
    auto it = roles.find(arg);
    if (it == roles.end())
      fail("argument #" + Twine(arg.getArgNumber()) + " of @" +
           fn.getSymName() +
           " does not feed the attn op directly; attn-run needs every "
           "argument to be an operand of it");
    auto type = dyn_cast<RankedTensorType>(arg.getType());
    if (!type)
      fail("argument #" + Twine(arg.getArgNumber()) +
           " must be a ranked tensor");
    Binding binding{it->second, type};
    if (auto a = dyn_cast<AttentionOp>(op); a && binding.role == "dense_mask")
      walkMask(a.getMaskOrDefault(), [&](Attribute m) {
        if (auto dense = dyn_cast<DenseMaskAttr>(m)) {
          binding.blockQ = dense.getBlockQ();
          binding.blockKv = dense.getBlockKv();
        }
        if (auto blocks = dyn_cast<BlocksMaskAttr>(m)) {
          binding.blockQ = blocks.getBlockQ();
          binding.blockKv = blocks.getBlockKv();
        }
      });
    bindings.push_back(binding);
  }
  for (auto &entry : roles) {
    Value value = entry.first;
    const std::string &role = entry.second;
    if (!isa<BlockArgument>(value) ||
        cast<BlockArgument>(value).getOwner() != &fn.getBody().front())
      fail("operand '" + role +
           "' of the attn op must be an argument of the function");
  }
  return bindings;
}

/// The concrete shape of argument `b` given the problem sizes; `given` is
/// the shape of its --input file, if any, which sizes the dynamic dims of
/// captures.
std::vector<int64_t> resolveShape(const Binding &b, const Sizes &s, bool bshd,
                                  bool isMerge, PagedAttr paged,
                                  const ::attn::run::QuantCache *quant,
                                  const std::vector<int64_t> *given) {
  auto at = [&](const char *n) { return s.at(n); };
  std::vector<int64_t> want;
  const std::string &r = b.role;
  auto qkv = [&](int64_t heads, int64_t len, int64_t dim) {
    return bshd ? std::vector<int64_t>{at("B"), len, heads, dim}
                : std::vector<int64_t>{at("B"), heads, len, dim};
  };
  if (isMerge) {
    if (r[0] == 'o')
      want = qkv(at("H"), at("S"), at("Dv"));
    else
      want = {at("B"), at("H"), at("S")};
  } else if (r == "q") {
    want = qkv(at("Hq"), at("Sq"), at("D"));
  } else if (quant && quant->isQuantRole(r)) {
    want = quant->shape(r);
  } else if (paged && (r == "k" || r == "v")) {
    // Page pools: [pages, page_size, Hkv, D] or [pages, Hkv, page_size, D].
    want = {at("pages"), 0, 0, at(r == "k" ? "D" : "Dv")};
    want[paged.getSlotDim()] = paged.getPageSize();
    want[paged.getKvHeadDim()] = at("Hkv");
  } else if (r == "page_table") {
    want = {at("B"), at("Skv") / paged.getPageSize()};
  } else if (r == "k") {
    want = qkv(at("Hkv"), at("Skv"), at("D"));
  } else if (r == "v") {
    want = qkv(at("Hkv"), at("Skv"), at("Dv"));
  } else if (r == "o") {
    want = qkv(at("Hq"), at("Sq"), at("Dv"));
  } else if (r == "lse" || r == "temperature") {
    want = {at("B"), at("Hq"), at("Sq")};
  } else if (r == "sink") {
    want = {at("Hq")};
  } else if (r == "kv_len") {
    want = {at("B")};
  } else if (r == "seg_q") {
    want = {at("B"), at("Sq")};
  } else if (r == "seg_kv") {
    want = {at("B"), at("Skv")};
  } else if (r == "tree") {
    int64_t t = std::min<int64_t>({treeSize, at("Sq"), at("Skv")});
    want = b.type.getRank() == 1 ? std::vector<int64_t>{t}
                                 : std::vector<int64_t>{at("B"), t};
  } else if (r == "dense_mask" || r == "bias") {
    // Batch and head dims broadcast when they are 1, in the IR or, for a
    // dynamic dim, in the --input file.
    int64_t full[4] = {at("B"), at("Hq"),
                       llvm::divideCeilSigned(at("Sq"), b.blockQ),
                       llvm::divideCeilSigned(at("Skv"), b.blockKv)};
    for (int64_t d = 0, rank = b.type.getRank(); d < rank; ++d) {
      int64_t sz = b.type.getDimSize(d);
      bool leading = 4 - rank + d < 2;
      bool givenOne =
          given && leading && ShapedType::isDynamic(sz) && (*given)[d] == 1;
      want.push_back(sz == 1 || givenOne ? 1 : full[4 - rank + d]);
    }
  } else {
    // rel_bias_table and captures: static shapes, or Hq for dim 0 of the
    // table.
    for (int64_t d = 0; d < b.type.getRank(); ++d) {
      int64_t sz = b.type.getDimSize(d);
      if (ShapedType::isDynamic(sz)) {
        if (r == "rel_bias_table" && d == 0)
          sz = at("Hq");
        else if (given)
          sz = (*given)[d];
        else
          fail("'" + r + "' has a dynamic dim " + Twine(d) +
               "; give it a static size or pass it with --input");
      }
      want.push_back(sz);
    }
  }
  for (auto [d, sz] : llvm::enumerate(want)) {
    int64_t fixed = b.type.getDimSize(d);
    if (!ShapedType::isDynamic(fixed) && fixed != sz)
      fail("shape of '" + r + "' dim " + Twine(d) + " is " + Twine(fixed) +
           " in the IR but the requested sizes give " + Twine(sz));
  }
  return want;
}

/// Fails, instead of aborting in an allocation, when the arguments and
/// their float64 copies for the reference would not fit in physical memory.
/// A byte of a quantized cache's K and V packs `codesPerByte` values.
void checkMemory(const std::vector<Binding> &bindings,
                 const std::vector<std::vector<int64_t>> &shapes,
                 int64_t codesPerByte) {
  // Each element is held in its own type and, for the reference, as a
  // double; the reference's outputs add as much again.
  uint64_t need = 0;
  bool overflow = false;
  for (auto [b, shape] : llvm::zip(bindings, shapes)) {
    uint64_t n = 1;
    for (int64_t d : shape)
      overflow |= __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n);
    uint64_t copies = b.role == "k" || b.role == "v" ? codesPerByte : 1;
    uint64_t perElement = npy::elementSize(dtypeOf(b.type.getElementType())) +
                          2 * sizeof(double) * copies;
    uint64_t bytes;
    overflow |= __builtin_mul_overflow(n, perElement, &bytes);
    overflow |= __builtin_add_overflow(need, bytes, &need);
  }
  long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
  uint64_t have = pages > 0 && pageSize > 0
                      ? static_cast<uint64_t>(pages) * pageSize
                      : UINT64_MAX;
  if (overflow || need > have)
    fail("these sizes need " +
         (overflow
              ? std::string("more than 2^64 bytes")
              : llvm::formatv("{0:f1} GiB", need / double(1ull << 30)).str()) +
         " for the arguments and their reference copies, more than the " +
         llvm::formatv("{0:f1} GiB", have / double(1ull << 30)).str() +
         " of memory");
}

/// Parses "B=2,Sq=100" into `sizes`; the names an attn.merge takes differ
/// from those of attn.attention.
Sizes parseShape(StringRef text, bool isMerge, SizeOrigins &origins) {
  Sizes sizes;
  SmallVector<StringRef> parts;
  text.split(parts, ',', -1, false);
  for (StringRef part : parts) {
    auto [key, value] = part.split('=');
    int64_t v;
    key = key.trim();
    if (value.trim().getAsInteger(10, v) || v < 0)
      fail("bad --shape entry '" + part + "': expected NAME=NON_NEGATIVE_INT");
    static const char *attentionNames[] = {"B",   "Hq", "Hkv", "Sq",
                                           "Skv", "D",  "Dv"};
    static const char *mergeNames[] = {"B", "H", "S", "Dv"};
    if (isMerge ? !llvm::is_contained(mergeNames, key)
                : !llvm::is_contained(attentionNames, key))
      fail("unknown size '" + key + "' in --shape (known for " +
           (isMerge ? "attn.merge: B, H, S, Dv)"
                    : "attn.attention: B, Hq, Hkv, Sq, Skv, D, Dv)"));
    if (sizes.count(key.str()) && sizes[key.str()] != v)
      fail("--shape gives " + key + " twice, as " + Twine(sizes[key.str()]) +
           " and " + Twine(v));
    sizes[key.str()] = v;
    origins[key.str()] = "--shape";
  }
  return sizes;
}

/// Fills in sizes fixed by the IR types and the documented defaults.
void completeSizes(Sizes &s, const SizeOrigins &origins, Operation *op) {
  auto setIfStatic = [&](const char *n, int64_t v) {
    if (!ShapedType::isDynamic(v)) {
      if (s.count(n) && s[n] != v)
        fail(origins.at(n) + " gives " + n + "=" + Twine(s[n]) +
             " but the IR fixes it to " + Twine(v));
      s[n] = v;
    }
  };
  if (auto a = dyn_cast<AttentionOp>(op)) {
    auto q = cast<RankedTensorType>(a.getQuery().getType());
    auto k = cast<RankedTensorType>(a.getKey().getType());
    auto v = cast<RankedTensorType>(a.getValue().getType());
    unsigned sd = a.getSeqDim(), hd = a.getHeadDim();
    setIfStatic("B", q.getDimSize(0));
    setIfStatic("Hq", q.getDimSize(hd));
    if (PagedAttr paged = a.getPagedAttr()) {
      setIfStatic("Hkv", k.getDimSize(paged.getKvHeadDim()));
      int64_t maxPages =
          cast<RankedTensorType>(a.getPageTable().getType()).getDimSize(1);
      if (!ShapedType::isDynamic(maxPages))
        setIfStatic("Skv", maxPages * paged.getPageSize());
    } else {
      setIfStatic("Hkv", k.getDimSize(hd));
      setIfStatic("Skv", k.getDimSize(sd));
    }
    setIfStatic("Sq", q.getDimSize(sd));
    setIfStatic("D", q.getDimSize(3));
    // A quantized V packs codes of several channels in a byte.
    int64_t dv = v.getDimSize(3);
    if (QuantAttr quant = a.getQuantAttr(); quant && !ShapedType::isDynamic(dv))
      dv *= quant.getCodesPerByte();
    setIfStatic("Dv", dv);
    s.emplace("B", 2);
    s.emplace("Hq", 4);
    s.emplace("Hkv", s["Hq"]);
    s.emplace("Sq", 67);
    // Whole pages of a paged cache, whole key groups of a quantized one.
    int64_t whole = 1;
    if (PagedAttr paged = a.getPagedAttr())
      whole = paged.getPageSize();
    else if (QuantAttr quant = a.getQuantAttr())
      whole = quant.getGroup();
    s.emplace("Skv", llvm::divideCeil(s["Sq"], whole) * whole);
    s.emplace("D", 32);
    s.emplace("Dv", s["D"]);
  } else {
    auto o = cast<RankedTensorType>(cast<MergeOp>(op).getOutInit().getType());
    bool bshd = cast<MergeOp>(op).getLayoutOrDefault() == Layout::bshd;
    setIfStatic("B", o.getDimSize(0));
    setIfStatic("H", o.getDimSize(bshd ? 2 : 1));
    setIfStatic("S", o.getDimSize(bshd ? 1 : 2));
    setIfStatic("Dv", o.getDimSize(3));
    s.emplace("B", 2);
    s.emplace("H", 4);
    s.emplace("S", 67);
    s.emplace("Dv", 32);
  }
}

/// Random data suited to each role. `minKvLen` is the shortest cache
/// length the variant admits (the draft tokens of a tree must fit).
void fillRandom(npy::NpyArray &a, const std::string &role, const Sizes &s,
                int64_t minKvLen, std::mt19937_64 &rng) {
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  int64_t n = a.numElements();
  auto set = [&](int64_t i, double v) { a.setFromDouble(i, v); };
  if (role == "page_table") {
    // Distinct pages of the pool in a random order.
    std::vector<int64_t> pages(s.at("pages"));
    std::iota(pages.begin(), pages.end(), 0);
    std::shuffle(pages.begin(), pages.end(), rng);
    for (int64_t i = 0; i < n; ++i)
      set(i, pages[i % pages.size()]);
  } else if (role == "kv_len") {
    // Mostly long caches, sometimes short ones; never longer than Skv.
    int64_t skv = s.at("Skv");
    std::uniform_int_distribution<int64_t> len(
        std::min(std::max<int64_t>(skv / 2, minKvLen), skv), skv);
    for (int64_t i = 0; i < n; ++i)
      set(i, i == 0 ? skv : len(rng));
  } else if (role == "seg_q" || role == "seg_kv") {
    // Sorted document ids; the last ~10% is padding whose ids differ between
    // the query (-1) and key (-2) sides, so padded queries see nothing.
    // Query and key sides share document boundaries in positions p(i).
    int64_t rows = a.shape[0], len = a.shape[1];
    int64_t skv = s.at("Skv"), sq = s.at("Sq");
    std::mt19937_64 docRng(seed * 7919 + 17);
    for (int64_t b = 0; b < rows; ++b) {
      std::vector<int64_t> cuts;
      std::uniform_int_distribution<int64_t> cut(1, std::max<int64_t>(skv, 1));
      for (unsigned d = 1; d < numDocs; ++d)
        cuts.push_back(cut(docRng));
      std::sort(cuts.begin(), cuts.end());
      int64_t padStart = skv - skv / 10;
      for (int64_t i = 0; i < len; ++i) {
        int64_t pos = role == "seg_q" ? i + (skv - sq) : i;
        int64_t doc =
            std::upper_bound(cuts.begin(), cuts.end(), pos) - cuts.begin();
        bool pad = pos >= padStart && b % 2 == 1;
        set(b * len + i, pad ? (role == "seg_q" ? -1 : -2) : doc);
      }
    }
  } else if (role == "tree") {
    // parent[t] in [-1, t): a forest listed in topological order.
    int64_t t = a.shape.back();
    for (int64_t i = 0; i < n; ++i) {
      int64_t node = i % t;
      std::uniform_int_distribution<int64_t> parent(-1, node - 1);
      set(i, parent(rng));
    }
  } else if (role == "dense_mask") {
    // About 5 x 4 regions per (b, h) matrix that are all false, all true
    // or random, so that kernels meet empty, full and partial tiles; the
    // last row is false throughout (a fully masked query).
    std::bernoulli_distribution coin(0.6);
    int64_t cols = a.shape.back();
    int64_t rows = a.shape.size() >= 2 ? a.shape[a.shape.size() - 2] : 1;
    int64_t regionRows = std::max<int64_t>(1, rows / 5);
    int64_t regionCols = std::max<int64_t>(1, cols / 4);
    for (int64_t i = 0; i < n; ++i) {
      int64_t r = (i / cols) % rows, c = i % cols;
      int64_t region =
          (r / regionRows) * 5 + (c / regionCols) * 7 + i / (rows * cols);
      bool value = region % 3 == 0 ? false : region % 3 == 1 || coin(rng);
      value = value && (rows == 1 || r != rows - 1);
      // i8 entries: 2 in the all-true regions, so that an #attn.blocks
      // table also has whole blocks (2 allows, 1 defers to its mask).
      set(i, value && a.dtype == npy::DType::I8 && region % 3 == 1 ? 2 : value);
    }
  } else if (role == "temperature") {
    std::uniform_real_distribution<double> tau(0.5, 1.5);
    for (int64_t i = 0; i < n; ++i)
      set(i, tau(rng));
  } else if (a.dtype == npy::DType::Bool) {
    std::bernoulli_distribution coin(0.5);
    for (int64_t i = 0; i < n; ++i)
      set(i, coin(rng));
  } else if (a.dtype == npy::DType::I32 || a.dtype == npy::DType::I64 ||
             a.dtype == npy::DType::I8) {
    std::uniform_int_distribution<int64_t> small(0, 3);
    for (int64_t i = 0; i < n; ++i)
      set(i, small(rng));
  } else if (role.rfind("lse", 0) == 0) {
    // Partial LSEs with -inf entries: rows that every partial masks fully
    // (i % 11 == 5), and rows that only partial k masks, so that finite and
    // -inf LSEs meet in one merge.
    std::uniform_real_distribution<double> l(-2.0, 4.0);
    int64_t k = std::stoll(role.substr(3));
    for (int64_t i = 0; i < n; ++i)
      set(i, i % 11 == 5 || (i + k) % 7 == 3 ? -INFINITY : l(rng));
  } else {
    double scale = role == "sink" ? 2.0 : 1.0;
    for (int64_t i = 0; i < n; ++i)
      set(i, scale * unit(rng));
  }
}

ref::Array toRef(const npy::NpyArray &a) {
  ref::Array r;
  r.shape = a.shape;
  r.data.resize(a.numElements());
  for (int64_t i = 0, e = a.numElements(); i < e; ++i)
    r.data[i] = a.getAsDouble(i);
  return r;
}

/// Fails unless every kv_len of a paged cache fits the page table and
/// every table entry a batch row reads names a page of the pool: the
/// kernel would read a wrong page for a bad one.
void checkPageTable(const npy::NpyArray &table, const npy::NpyArray &kvLen,
                    int64_t pages, int64_t pageSize) {
  int64_t rows = table.shape[0], maxPages = table.shape[1];
  for (int64_t b = 0; b < rows; ++b) {
    auto len = static_cast<int64_t>(kvLen.getAsDouble(b));
    if (len < 0 || len > maxPages * pageSize)
      fail("kv_len[" + Twine(b) + "] = " + Twine(len) +
           " is outside [0, max_pages " + Twine(maxPages) + " x page_size " +
           Twine(pageSize) + " = " + Twine(maxPages * pageSize) + "]");
    for (int64_t i = 0; i * pageSize < len; ++i) {
      auto page = static_cast<int64_t>(table.getAsDouble(b * maxPages + i));
      if (page < 0 || page >= pages)
        fail("page_table[" + Twine(b) + ", " + Twine(i) + "] = " + Twine(page) +
             " is not a page of the pool (pages 0.." + Twine(pages - 1) +
             "), and batch row " + Twine(b) + " reads it (kv_len[" + Twine(b) +
             "] = " + Twine(len) + ")");
    }
  }
}

/// The contiguous cache ([B, Hkv, Skv, D], or [B, Skv, Hkv, D] for bshd)
/// that a checked page table selects from `pool`, for the reference; keys
/// past kv_len, whose entries are not read, are zeros.
ref::Array unpage(const npy::NpyArray &pool, const npy::NpyArray &table,
                  const npy::NpyArray &kvLen, PagedAttr paged, bool bshd) {
  int64_t rows = table.shape[0], maxPages = table.shape[1];
  int64_t size = paged.getPageSize(), dim = pool.shape[3];
  int64_t heads = pool.shape[paged.getKvHeadDim()], len = maxPages * size;
  bool nhd = paged.getLayout() == PageLayout::nhd;
  ref::Array r;
  r.shape = bshd ? std::vector<int64_t>{rows, len, heads, dim}
                 : std::vector<int64_t>{rows, heads, len, dim};
  r.data.assign(rows * heads * len * dim, 0.0);
  for (int64_t b = 0; b < rows; ++b) {
    auto visible = static_cast<int64_t>(kvLen.getAsDouble(b));
    for (int64_t j = 0; j < visible; ++j) {
      auto page =
          static_cast<int64_t>(table.getAsDouble(b * maxPages + j / size));
      int64_t slot = j % size;
      for (int64_t h = 0; h < heads; ++h) {
        int64_t from = nhd ? ((page * size + slot) * heads + h) * dim
                           : ((page * heads + h) * size + slot) * dim;
        int64_t to = bshd ? ((b * len + j) * heads + h) * dim
                          : ((b * heads + h) * len + j) * dim;
        for (int64_t d = 0; d < dim; ++d)
          r.data[to + d] = pool.getAsDouble(from + d);
      }
    }
  }
  return r;
}

/// The error of one output against the reference.
struct ErrorStats {
  double maxAbs = 0, maxRef = 0;
  bool mismatch = false; // -inf/nan pattern differs
};

ErrorStats compare(const npy::NpyArray &out, const ref::Array &expect) {
  ErrorStats e;
  for (int64_t i = 0, n = out.numElements(); i < n; ++i) {
    double got = out.getAsDouble(i), want = expect.data[i];
    if (std::isinf(want) || std::isinf(got) || std::isnan(got)) {
      if (!(got == want))
        e.mismatch = true;
      continue;
    }
    e.maxAbs = std::max(e.maxAbs, std::fabs(got - want));
    e.maxRef = std::max(e.maxRef, std::fabs(want));
  }
  return e;
}

/// Outputs are rounded to the input type, so the error is bounded below by
/// half an ulp relative to max|ref| (2^-12 for f16, 2^-9 for bf16); the
/// tolerance is four times that. f32 uses the 1e-4 the project promises.
double defaultTolerance(Type elem) {
  if (elem.isF16())
    return 1e-3;
  if (elem.isBF16())
    return 8e-3;
  return 1e-4;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(runCat);
  cl::ParseCommandLineOptions(
      argc, argv,
      "attn-run: JIT-compile an attn kernel for the CPU, run it on one or "
      "more shapes and check it against a float64 reference.\n\n"
      "Prints one line per shape:\n"
      "  attn-run: shape=... max_abs_err=... max_rel_err=... ms=... "
      "gflops=...\n"
      "max_rel_err is max|out-ref| / max|ref| over O (LSE errors are "
      "absolute); gflops counts 2*(D+Dv) flops per allowed score element "
      "(for a quantized cache the products on the dequantised keys and "
      "values, dequantisation not counted), and a quantized cache adds "
      "gbps=: the bytes of the cache that the visible keys occupy (codes, "
      "scales, zeros, residual rows) per second of the call, the rate a "
      "decoding step reads them at.\n"
      "Quantized caches (#attn.quant) get random codes (every bit pattern; "
      "fp8 bytes of magnitude below 2, never NaN or infinite, one in eight "
      "subnormal), scales "
      "around 2 / (2^bits - 1) (fp8: around 1) and zeros around -1, so "
      "that keys and values lie near [-1, 1]; an fp8 code from a file "
      "that is NaN (or infinite) is an error.\n"
      "Exit status: 0 on success, 1 on bad input, a runtime error (on "
      "--target=cuda-emulator also any emulator report) or, with --check, "
      "an error above tolerance, 2 when --target=cuda finds no usable "
      "GPU.\n");
  if (repeat == 0)
    fail("--repeat must be at least 1");
  if (noReference && check)
    fail("--check needs the reference; drop --no-reference");
  if (tolerance.getNumOccurrences() && !(tolerance >= 0))
    fail("--tol must be a non-negative number, got " +
         llvm::formatv("{0}", double(tolerance)).str());

  DialectRegistry registry;
  mlir::attn::registerAllDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  std::string err;
  auto file = openInputFile(inputFile, &err);
  if (!file)
    fail("cannot open '" + inputFile + "': " + err);
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;

  // Find the function and its single attn op.
  func::FuncOp fn;
  Operation *attnOp = nullptr;
  for (auto f : module->getOps<func::FuncOp>()) {
    if (f.isExternal() || (!funcName.empty() && f.getSymName() != funcName))
      continue;
    SmallVector<Operation *> ops;
    f.walk([&](Operation *op) {
      if (isa<AttentionOp, MergeOp>(op))
        ops.push_back(op);
    });
    if (ops.empty())
      continue;
    if (ops.size() > 1)
      fail("@" + f.getSymName() + " holds " + Twine(ops.size()) +
           " attn ops; attn-run checks exactly one");
    fn = f;
    attnOp = ops.front();
    break;
  }
  if (!fn)
    fail(funcName.empty() ? "no function with an attn op in '" + inputFile + "'"
                          : "no function @" + funcName + " with an attn op");
  if (!fn.isPublic())
    fail("@" + fn.getSymName() + " must be public to be called");
  bool isMerge = isa<MergeOp>(attnOp);
  auto attn = dyn_cast<AttentionOp>(attnOp);
  std::vector<Binding> bindings = bindArguments(fn, attnOp);
  bool bshd =
      (attn ? attn.getLayoutOrDefault()
            : cast<MergeOp>(attnOp).getLayoutOrDefault()) == Layout::bshd;
  PagedAttr paged = attn ? attn.getPagedAttr() : PagedAttr();
  QuantAttr quant = attn ? attn.getQuantAttr() : QuantAttr();
  int64_t codesPerByte = quant ? quant.getCodesPerByte() : 1;
  auto isCodes = [&](StringRef role) {
    return quant && (role == "k" || role == "v");
  };

  // --input ROLE=FILE
  std::map<std::string, npy::NpyArray> given;
  std::map<std::string, std::string> givenSpec;
  for (const std::string &spec : inputs) {
    auto [role, path] = StringRef(spec).split('=');
    if (path.empty())
      fail("bad --input '" + spec + "': expected ROLE=FILE.npy");
    auto it = llvm::find_if(bindings,
                            [&](const Binding &b) { return b.role == role; });
    if (it == bindings.end())
      fail("--input names role '" + role + "', which @" + fn.getSymName() +
           " does not have");
    npy::NpyArray a;
    if (!npy::readNpy(path.str(), a, err))
      fail(err);
    npy::DType want = dtypeOf(it->type.getElementType());
    // Codes are bytes: uint8 files (attn.quantize_kv's) are taken as i8.
    if (isCodes(role) && a.dtype == npy::DType::U8)
      a.dtype = npy::DType::I8;
    if (a.dtype != want)
      fail("'" + path + "' holds " + npy::dtypeName(a.dtype) + " but '" + role +
           "' needs " + npy::dtypeName(want));
    if (static_cast<int64_t>(a.shape.size()) != it->type.getRank())
      fail("'" + path + "' has rank " + Twine(a.shape.size()) + " but '" +
           role + "' needs rank " + Twine(it->type.getRank()));
    given[role.str()] = std::move(a);
    givenSpec[role.str()] = "--input " + spec;
  }

  if (target != "cpu" && target != "cuda" && target != "cuda-emulator")
    fail("--target must be 'cpu', 'cuda' or 'cuda-emulator', not '" + target +
         "'");
  bool onGpu = target != "cpu";
  std::unique_ptr<CPUKernel> kernel;
  if (onGpu) {
    CUDAPipelineOptions cudaOptions;
    cuda.applyTo(cudaOptions);
    cudaOptions.emulate = target == "cuda-emulator";
    kernel = CPUKernel::compileCUDA(*module, cudaOptions, err);
    if (!kernel)
      fail(err);
    char why[512];
    if (!kernel->gpuRuntime()->status(why, sizeof(why))) {
      llvm::errs() << "attn-run: target=" << target << ": compiled for "
                   << cuda.chip << ", but cannot run here: " << why << "\n";
      return 2;
    }
  } else {
    CPUPipelineOptions pipelineOptions;
    pipelineOptions.lowering = lowering;
    pipelineOptions.vectorWidth = vectorWidth;
    pipelineOptions.bf16Dot = bf16Dot;
    pipelineOptions.useAmx = useAmx;
    pipelineOptions.f16Amx = f16Amx;
    kernel = CPUKernel::compile(*module, pipelineOptions, err);
    if (!kernel)
      fail(err);
  }

  std::vector<std::string> shapeList(shapes.begin(), shapes.end());
  if (shapeList.empty())
    shapeList.push_back("");
  Type elemType = cast<RankedTensorType>(
                      attn ? attn.getQuery().getType()
                           : cast<MergeOp>(attnOp).getOutInit().getType())
                      .getElementType();
  double tol = tolerance >= 0 ? double(tolerance) : defaultTolerance(elemType);
  // dot = "amx_int8" rounds the query to int8 (README, "int8 Q K^T on
  // AMX"): 1.3e-2 to 1.6e-2 of max|O| measured against the exact
  // attention on the dequantised cache.
  ConfigAttr config = attn ? attn.getConfigAttr() : ConfigAttr();
  if (tolerance < 0 && !onGpu && lowering == "fused" && config &&
      config.getDot() == "amx_int8")
    tol = 3e-2;
  bool allOk = true;

  for (const std::string &shapeText : shapeList) {
    SizeOrigins origins;
    Sizes sizes = parseShape(shapeText, isMerge, origins);
    // Sizes implied by --input files; they must agree with --shape.
    for (auto &[role, a] : given) {
      auto set = [&](const char *n, int64_t v) {
        if (sizes.count(n) && sizes[n] != v)
          fail(givenSpec[role] + " has " + n + "=" + Twine(v) + " but " +
               origins[n] + " gives " + n + "=" + Twine(sizes[n]));
        sizes[n] = v;
        origins[n] = givenSpec[role];
      };
      if (role == "q") {
        set("B", a.shape[0]);
        set("Hq", a.shape[bshd ? 2 : 1]);
        set("Sq", a.shape[bshd ? 1 : 2]);
        set("D", a.shape[3]);
      } else if (role == "k" && paged) {
        set("Hkv", a.shape[paged.getKvHeadDim()]);
        set("pages", a.shape[0]);
      } else if (role == "page_table") {
        set("B", a.shape[0]);
        set("Skv", a.shape[1] * paged.getPageSize());
      } else if (role == "k") {
        set("Hkv", a.shape[bshd ? 2 : 1]);
        set("Skv", a.shape[bshd ? 1 : 2]);
      } else if (role == "v") {
        set("Dv", a.shape[3] * codesPerByte);
      } else if (isMerge && role == "o0") {
        set("B", a.shape[0]);
        set("H", a.shape[bshd ? 2 : 1]);
        set("S", a.shape[bshd ? 1 : 2]);
        set("Dv", a.shape[3]);
      }
      // Packed codes give the key head dim too.
      if (role == "k" && quant)
        set("D", a.shape[3] * codesPerByte);
    }
    completeSizes(sizes, origins, attnOp);
    if (paged) {
      // The logical cache is whole pages; the pool has a page to spare
      // unless a file gives it.
      if (sizes["Skv"] % paged.getPageSize() != 0)
        fail("Skv=" + Twine(sizes["Skv"]) +
             " must be a multiple of the page "
             "size " +
             Twine(paged.getPageSize()) + " for a paged cache");
      sizes.emplace("pages",
                    sizes["B"] * sizes["Skv"] / paged.getPageSize() + 1);
    }
    if (!isMerge && (sizes["Hkv"] == 0 || sizes["Hq"] % sizes["Hkv"] != 0))
      fail("Hq=" + Twine(sizes["Hq"]) +
           " must be a multiple of Hkv=" + Twine(sizes["Hkv"]));
    std::optional<::attn::run::QuantCache> quantCache;
    if (quant) {
      quantCache.emplace(quant, paged, bshd, sizes);
      if (std::string why = quantCache->checkSizes(); !why.empty())
        fail(why);
    }

    // Materialise every argument.
    std::mt19937_64 rng(seed);
    bool hasTree = llvm::any_of(
        bindings, [](const Binding &b) { return b.role == "tree"; });
    int64_t minKvLen =
        hasTree ? std::min<int64_t>({treeSize, sizes["Sq"], sizes["Skv"]}) : 0;
    std::vector<std::vector<int64_t>> shapesOf;
    for (const Binding &b : bindings) {
      auto it = given.find(b.role);
      const std::vector<int64_t> *file =
          it == given.end() ? nullptr : &it->second.shape;
      shapesOf.push_back(resolveShape(b, sizes, bshd, isMerge, paged,
                                      quantCache ? &*quantCache : nullptr,
                                      file));
    }
    checkMemory(bindings, shapesOf, codesPerByte);
    std::vector<npy::NpyArray> arrays(bindings.size());
    std::map<std::string, npy::NpyArray *> byRole;
    for (auto [i, b] : llvm::enumerate(bindings)) {
      const std::vector<int64_t> &shape = shapesOf[i];
      auto it = given.find(b.role);
      if (it != given.end()) {
        if (it->second.shape != shape)
          fail("--input '" + b.role + "' has shape [" +
               dimsString(it->second.shape) + "] but the problem needs [" +
               dimsString(shape) + "]");
        arrays[i] = it->second;
      } else {
        arrays[i].dtype = dtypeOf(b.type.getElementType());
        arrays[i].shape = shape;
        arrays[i].bytes.assign(
            arrays[i].numElements() * npy::elementSize(arrays[i].dtype), 0);
        bool quantized = quantCache && quantCache->isQuantRole(b.role) &&
                         b.role.find("residual") == std::string::npos;
        if (quantized)
          quantCache->fillRandom(arrays[i], b.role, rng);
        else if (b.role != "o" && b.role != "lse")
          fillRandom(arrays[i], b.role, sizes, minKvLen, rng);
      }
      byRole[b.role] = &arrays[i];
    }
    if (paged)
      checkPageTable(*byRole["page_table"], *byRole["kv_len"], sizes["pages"],
                     paged.getPageSize());

    // Run: one warm-up, then `repeat` timed runs; returns the median time
    // of the calls alone (the entry point is looked up once, outside).
    // Called once the reference has validated the inputs, since invalid
    // data (a tree parent out of range) would make the kernel read out of
    // bounds.
    auto runKernel = [&]() {
      // On the GPU every argument gets a device copy; all come back after
      // the runs (only the outputs change).
      std::optional<DeviceCopies> device;
      auto cudaFailed = [&]() {
        if (std::string why = DeviceCopies::takeError(*kernel->gpuRuntime());
            !why.empty())
          fail("target=" + target + ": " + why);
      };
      if (onGpu) {
        std::vector<DeviceCopies::Host> host;
        for (npy::NpyArray &a : arrays)
          host.push_back({a.bytes.data(), a.bytes.size()});
        device.emplace(host, *kernel->gpuRuntime());
        cudaFailed();
      }
      std::vector<std::unique_ptr<mlir::attn::MemRefDescriptor>> descs;
      std::vector<mlir::attn::MemRefDescriptor *> args;
      for (auto [i, a] : llvm::enumerate(arrays)) {
        void *data = device ? device->device(i) : a.bytes.data();
        descs.push_back(
            std::make_unique<mlir::attn::MemRefDescriptor>(data, a.shape));
        args.push_back(descs.back().get());
      }
      CPUKernel::PackedFunction entry = kernel->lookup(fn.getSymName(), err);
      if (!entry)
        fail(err);
      std::vector<double> times;
      for (unsigned r = 0; r <= repeat; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        if (int bad = kernel->callChecked(entry, args))
          fail("captured array " + std::to_string(bad - 1) +
               " (0-based, in the order of captures(...)) was indexed out "
               "of range by a score_mod/mask_mod region");
        auto t1 = std::chrono::steady_clock::now();
        if (r > 0)
          times.push_back(
              std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
      if (device) {
        cudaFailed();
        device->copyBack();
        cudaFailed();
      }
      std::sort(times.begin(), times.end());
      return times[times.size() / 2];
    };

    // gbps= of a quantized cache: its bytes that the visible keys occupy
    // per second of a call.
    auto printCacheRate = [&](double ms) {
      if (!quantCache)
        return;
      int64_t residualBytes = npy::elementSize(dtypeOf(elemType));
      const npy::NpyArray *lens =
          byRole.count("kv_len") ? byRole["kv_len"] : nullptr;
      llvm::outs() << llvm::format(" gbps=%.3f",
                                   quantCache->bytesRead(lens, residualBytes) /
                                       (ms * 1e6));
    };

    // Reference.
    ref::Result expect;
    double ms = 0;
    if (isMerge) {
      ms = runKernel();
      std::vector<ref::Array> os, lses;
      for (size_t k = 0; byRole.count("o" + std::to_string(k)); ++k) {
        os.push_back(toRef(*byRole["o" + std::to_string(k)]));
        lses.push_back(toRef(*byRole["lse" + std::to_string(k)]));
      }
      expect =
          ref::merge(bshd ? ref::Layout::BSHD : ref::Layout::BHSD, os, lses);
      expect.allowedPairs = 0;
    } else {
      ref::Problem p;
      p.layout = bshd ? ref::Layout::BSHD : ref::Layout::BHSD;
      p.q = toRef(*byRole["q"]);
      auto operand = [&](const std::string &r) {
        return byRole.count(r) ? byRole[r] : nullptr;
      };
      if (quantCache) {
        // The GPU kernels round each dequantised element to the query's
        // type in their tiles; the CPU kernels keep f32.
        npy::DType roundTo = onGpu ? dtypeOf(elemType) : npy::DType::F64;
        for (bool values : {false, true}) {
          std::string side = values ? "v" : "k";
          ::attn::run::QuantCache::Side operands{
              operand(side), operand(side + "_scale"), operand(side + "_zero"),
              operand(side + "_residual")};
          if (std::string why = quantCache->dequantize(
                  values, operands, operand("page_table"), operand("kv_len"),
                  roundTo, values ? p.v : p.k);
              !why.empty())
            fail(why);
        }
      } else if (paged) {
        p.k = unpage(*byRole["k"], *byRole["page_table"], *byRole["kv_len"],
                     paged, bshd);
        p.v = unpage(*byRole["v"], *byRole["page_table"], *byRole["kv_len"],
                     paged, bshd);
      } else {
        p.k = toRef(*byRole["k"]);
        p.v = toRef(*byRole["v"]);
      }
      if (FloatAttr s = attn.getScaleAttr())
        p.scale = s.getValueAsDouble();
      p.qOffset = attn.getQOffset();
      Attribute norm = attn.getNormalizerOrDefault();
      using NK = ref::Normalizer::Kind;
      if (isa<SoftmaxAttr>(norm)) {
        p.normalizer.kind = NK::Softmax;
      } else if (isa<SinkSoftmaxAttr>(norm)) {
        p.normalizer.kind = NK::SinkSoftmax;
      } else if (auto sig = dyn_cast<SigmoidAttr>(norm)) {
        p.normalizer.kind = NK::Sigmoid;
        if (sig.getBeta())
          p.normalizer.beta = sig.getBeta().getValueAsDouble();
      } else if (isa<SoftplusAttr>(norm)) {
        p.normalizer.kind = NK::SoftplusL1;
      } else if (auto relu = dyn_cast<ReluAttr>(norm)) {
        p.normalizer.kind = NK::Relu;
        p.normalizer.power = relu.getPower();
        p.normalizer.reluNorm = relu.getNorm() == ReluNorm::none
                                    ? ref::Normalizer::ReluNorm::One
                                : relu.getNorm() == ReluNorm::seq_len
                                    ? ref::Normalizer::ReluNorm::SeqLen
                                    : ref::Normalizer::ReluNorm::RowSum;
      }
      p.mask = toRefMask(attn.getMaskOrDefault());
      auto opt = [&](const char *role, ref::Array &dst) {
        if (byRole.count(role))
          dst = toRef(*byRole[role]);
      };
      opt("sink", p.sink);
      opt("seg_q", p.segQ);
      opt("seg_kv", p.segKv);
      opt("tree", p.treeParent);
      opt("dense_mask", p.denseMask);
      if (byRole.count("kv_len"))
        for (double x : toRef(*byRole["kv_len"]).data)
          p.kvLen.push_back(static_cast<int64_t>(x));
      std::vector<const npy::NpyArray *> caps;
      for (size_t k = 0; byRole.count("capture" + std::to_string(k)); ++k)
        caps.push_back(byRole["capture" + std::to_string(k)]);
      int64_t sq = sizes["Sq"], skv = sizes["Skv"], qOff = p.qOffset;
      std::vector<int64_t> kvLens = p.kvLen;
      auto position = [=](double b, double q) {
        int64_t len = kvLens.empty() ? skv : kvLens[static_cast<int64_t>(b)];
        return q + double(len - sq + qOff);
      };
      auto evaluator = [&](Region &region) {
        auto ev = std::make_shared<::attn::run::RegionEvaluator>(region, caps,
                                                                 position);
        if (std::string why = ev->check(); !why.empty())
          fail(why);
        return ev;
      };
      using MK = ref::ScoreMod::Kind;
      for (Attribute m : attn.getScoreModList()) {
        ref::ScoreMod mod;
        if (auto x = dyn_cast<AlibiAttr>(m)) {
          mod.kind = MK::Alibi;
          mod.flag = x.getSymmetric();
          auto sl = asDoubles(x.getSlopes());
          mod.values.assign(sl.begin(), sl.end());
        } else if (auto x = dyn_cast<SoftcapAttr>(m)) {
          mod.kind = MK::Softcap;
          mod.x = x.getCap().getValueAsDouble();
        } else if (auto x = dyn_cast<RelBiasAttr>(m)) {
          mod.kind = MK::RelBias;
          mod.a = x.getNumBuckets();
          mod.b = x.getMaxDistance();
          mod.flag = x.getBidirectional();
          mod.tensor = toRef(*byRole["rel_bias_table"]);
        } else if (isa<BiasAttr>(m)) {
          mod.kind = MK::Bias;
          mod.tensor = toRef(*byRole["bias"]);
        } else if (isa<TemperatureAttr>(m)) {
          mod.kind = MK::Temperature;
          mod.tensor = toRef(*byRole["temperature"]);
        } else if (auto x = dyn_cast<GaussianAttr>(m)) {
          mod.kind = MK::Gaussian;
          auto mu = asDoubles(x.getMu()), sg = asDoubles(x.getSigma());
          mod.values.assign(mu.begin(), mu.end());
          mod.values2.assign(sg.begin(), sg.end());
        } else if (isa<ScoreModRegionAttr>(m)) {
          mod.kind = MK::Custom;
          auto ev = evaluator(attn.getScoreModRegion());
          p.scoreMod = [ev](double s, int64_t b, int64_t h, int64_t i,
                            int64_t j) {
            return ev->evaluate(
                {s, double(b), double(h), double(i), double(j)});
          };
        }
        p.scoreMods.push_back(std::move(mod));
      }
      if (maskContains<MaskModAttr>(attn.getMaskOrDefault())) {
        auto ev = evaluator(attn.getMaskModRegion());
        p.maskMod = [ev](int64_t b, int64_t h, int64_t i, int64_t j) {
          return ev->evaluate({double(b), double(h), double(i), double(j)}) !=
                 0.0;
        };
      }
      if (std::string why = ref::validate(p); !why.empty())
        fail("the reference rejects this problem: " + why);
      ms = runKernel();
      if (noReference) {
        llvm::outs() << "attn-run: shape=" << shapeString(sizes)
                     << llvm::format(" ms=%.3f", ms);
        printCacheRate(ms);
        llvm::outs() << "\n";
        continue;
      }
      expect = ref::compute(p);
    }

    ErrorStats oErr = compare(*byRole["o"], expect.o);
    ErrorStats lErr;
    bool hasLse = byRole.count("lse") && !expect.lse.data.empty();
    if (hasLse)
      lErr = compare(*byRole["lse"], expect.lse);
    double rel = oErr.maxRef > 0 ? oErr.maxAbs / oErr.maxRef : oErr.maxAbs;
    // LSE is compared absolutely, scaled like O's tolerance by max(1, |LSE|).
    double lseRel = hasLse ? lErr.maxAbs / std::max(1.0, lErr.maxRef) : 0.0;
    bool ok = !oErr.mismatch && !lErr.mismatch && rel <= tol && lseRel <= tol;
    double flops = isMerge ? 0.0
                           : 2.0 * double(sizes["D"] + sizes["Dv"]) *
                                 double(expect.allowedPairs);
    llvm::outs() << "attn-run: shape=" << shapeString(sizes)
                 << llvm::format(" max_abs_err=%.3e max_rel_err=%.3e",
                                 oErr.maxAbs, rel);
    if (hasLse)
      llvm::outs() << llvm::format(" lse_err=%.3e", lErr.maxAbs);
    llvm::outs() << llvm::format(" ms=%.3f gflops=%.3f", ms,
                                 flops / (ms * 1e6));
    printCacheRate(ms);
    if (check)
      llvm::outs() << (ok ? " check=ok" : " check=FAIL")
                   << llvm::format(" tol=%.1e", tol);
    if (oErr.mismatch || lErr.mismatch)
      llvm::outs() << " (infinite/NaN entries differ from the reference)";
    llvm::outs() << "\n";
    allOk &= ok;

    if (!outputDir.empty() && &shapeText == &shapeList.back()) {
      for (const char *role : {"o", "lse"})
        if (byRole.count(role) &&
            !npy::writeNpy(outputDir + "/" + role + ".npy", *byRole[role], err))
          fail(err);
    }
  }
  return check && !allOk ? 1 : 0;
}
