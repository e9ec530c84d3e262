//===- AttnAttrs.cpp - attn attributes ------------------------------------===//
//
// Parameter parsing, attribute verifiers (parameter ranges) and the mask
// expression helpers.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::attn;

#include "attn/Dialect/Attn/IR/AttnAttrInterfaces.cpp.inc"
#include "attn/Dialect/Attn/IR/AttnEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "attn/Dialect/Attn/IR/AttnAttrs.cpp.inc"

void AttnDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "attn/Dialect/Attn/IR/AttnAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Parameter syntax
//===----------------------------------------------------------------------===//

FailureOr<FloatAttr> syntax::parseF64(AsmParser &parser) {
  double value;
  if (parser.parseFloat(value))
    return failure();
  return FloatAttr::get(Float64Type::get(parser.getContext()), value);
}

FailureOr<bool> syntax::parseBool(AsmParser &parser) {
  if (succeeded(parser.parseOptionalKeyword("true")))
    return true;
  if (succeeded(parser.parseOptionalKeyword("false")))
    return false;
  return parser.emitError(parser.getCurrentLocation(),
                          "expected 'true' or 'false'");
}

FailureOr<DenseF64ArrayAttr> syntax::parseF64Array(AsmParser &parser) {
  SmallVector<double> values;
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
        double v;
        if (parser.parseFloat(v))
          return failure();
        values.push_back(v);
        return success();
      }))
    return failure();
  return DenseF64ArrayAttr::get(parser.getContext(), values);
}

FailureOr<SmallVector<int64_t>> syntax::parseI64Array(AsmParser &parser) {
  SmallVector<int64_t> values;
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
        int64_t v;
        if (parser.parseInteger(v))
          return failure();
        values.push_back(v);
        return success();
      }))
    return failure();
  return values;
}

void syntax::printF64Array(AsmPrinter &printer, DenseF64ArrayAttr values) {
  printer << '[';
  llvm::interleaveComma(asDoubles(values), printer, [&](double v) {
    printer.printFloat(llvm::APFloat(v));
  });
  printer << ']';
}

void syntax::printI64Array(AsmPrinter &printer, ArrayRef<int64_t> values) {
  printer << '[';
  llvm::interleaveComma(values, printer);
  printer << ']';
}

//===----------------------------------------------------------------------===//
// Verifiers: every parameter range of VARIANTS.md
//===----------------------------------------------------------------------===//

using EmitErrorFn = function_ref<InFlightDiagnostic()>;

namespace {
/// An integer parameter of an attribute and the sign it must have.
struct IntParam {
  StringRef name;
  int64_t value;
  bool positive; // > 0, else >= 0
};
} // namespace

static IntParam positive(StringRef name, int64_t value) {
  return {name, value, true};
}
static IntParam nonNegative(StringRef name, int64_t value) {
  return {name, value, false};
}

/// Reports the first of `params` of `#attn.<attr>` that breaks its rule.
static LogicalResult checkParams(EmitErrorFn emitError, StringRef attr,
                                 ArrayRef<IntParam> params) {
  for (const IntParam &p : params)
    if (p.positive ? p.value <= 0 : p.value < 0)
      return emitError() << "#attn." << attr << ": '" << p.name << "' must be "
                         << (p.positive ? "positive" : "non-negative")
                         << ", got " << p.value;
  return success();
}

LogicalResult SigmoidAttr::verify(EmitErrorFn emitError, FloatAttr betaAttr) {
  if (betaAttr && !std::isfinite(betaAttr.getValueAsDouble()))
    return emitError() << "#attn.sigmoid: 'beta' must be finite, got "
                       << betaAttr.getValueAsDouble();
  return success();
}

LogicalResult ReluAttr::verify(EmitErrorFn emitError, int64_t power,
                               ReluNorm norm) {
  if (power != 1 && power != 2)
    return emitError() << "#attn.relu: 'power' must be 1 or 2, got " << power;
  return success();
}

LogicalResult PagedAttr::verify(EmitErrorFn emitError, int64_t pageSize,
                                PageLayout layout) {
  return checkParams(emitError, "paged", {positive("page_size", pageSize)});
}

LogicalResult QuantAttr::verify(EmitErrorFn emitError, int64_t bits,
                                int64_t group, Type scale, int64_t residual,
                                QuantFormat format) {
  if (format != QuantFormat::uint && (bits != 8 || group != 1))
    return emitError() << "#attn.quant: fp8 codes (format = "
                       << stringifyQuantFormat(format)
                       << ") need bits = 8 and group = 1 (one scale per "
                          "head), got bits = "
                       << bits << ", group = " << group;
  if (bits != 8 && bits != 4 && bits != 2)
    return emitError() << "#attn.quant: 'bits' must be 8, 4 or 2, got "
                       << bits;
  if (!scale.isF16() && !scale.isF32())
    return emitError() << "#attn.quant: 'scale' must be f16 or f32, got "
                       << scale;
  if (failed(checkParams(emitError, "quant",
                         {positive("group", group),
                          nonNegative("residual", residual)})))
    return failure();
  // A flush quantizes R tokens at once, which must be whole key groups.
  if (residual % group != 0)
    return emitError() << "#attn.quant: 'residual' (" << residual
                       << ") must be a multiple of 'group' (" << group << ")";
  return success();
}

LogicalResult SlidingWindowAttr::verify(EmitErrorFn emitError, int64_t left,
                                        int64_t right) {
  return checkParams(emitError, "sliding_window",
                     {nonNegative("left", left), nonNegative("right", right)});
}

LogicalResult DenseMaskAttr::verify(EmitErrorFn emitError, int64_t blockQ,
                                    int64_t blockKv) {
  return checkParams(
      emitError, "dense",
      {positive("block_q", blockQ), positive("block_kv", blockKv)});
}

LogicalResult ChunkedAttr::verify(EmitErrorFn emitError, int64_t size) {
  return checkParams(emitError, "chunked", positive("size", size));
}

LogicalResult HaloAttr::verify(EmitErrorFn emitError, int64_t block,
                               int64_t halo) {
  return checkParams(emitError, "halo",
                     {positive("block", block), nonNegative("halo", halo)});
}

LogicalResult DilatedAttr::verify(EmitErrorFn emitError, int64_t segment,
                                  int64_t rate) {
  if (failed(
          checkParams(emitError, "dilated",
                      {positive("segment", segment), positive("rate", rate)})))
    return failure();
  if (rate > segment)
    return emitError() << "#attn.dilated: 'rate' (" << rate
                       << ") must not exceed 'segment' (" << segment << ")";
  return success();
}

LogicalResult GlobalAttr::verify(EmitErrorFn emitError, int64_t first,
                                 ArrayRef<int64_t> positions) {
  if (failed(checkParams(emitError, "global", nonNegative("first", first))))
    return failure();
  for (int64_t pos : positions)
    if (pos < 0)
      return emitError() << "#attn.global: positions must be non-negative, got "
                         << pos;
  if (first == 0 && positions.empty())
    return emitError() << "#attn.global: needs 'first' > 0 or 'positions'";
  return success();
}

LogicalResult SinksAttr::verify(EmitErrorFn emitError, int64_t count) {
  return checkParams(emitError, "sinks", nonNegative("count", count));
}

LogicalResult AShapeAttr::verify(EmitErrorFn emitError, int64_t sinks,
                                 int64_t window) {
  return checkParams(
      emitError, "a_shape",
      {nonNegative("sinks", sinks), nonNegative("window", window)});
}

LogicalResult DilatedWindowAttr::verify(EmitErrorFn emitError, int64_t window,
                                        int64_t dilation) {
  if (failed(checkParams(emitError, "dilated_window",
                         nonNegative("window", window))))
    return failure();
  if (dilation < 1)
    return emitError() << "#attn.dilated_window: 'dilation' must be at least "
                          "1, got "
                       << dilation;
  return success();
}

LogicalResult PrefixLMAttr::verify(EmitErrorFn emitError, int64_t prefix) {
  return checkParams(emitError, "prefix_lm", nonNegative("prefix", prefix));
}

/// The 2D masks: every size (grid, kernel, window, dilation), named as in
/// the attribute, must be positive.
static LogicalResult checkSizes(EmitErrorFn emitError, StringRef attr,
                                ArrayRef<std::pair<StringRef, int64_t>> sizes) {
  SmallVector<IntParam> params;
  for (auto [name, value] : sizes)
    params.push_back(positive(name, value));
  return checkParams(emitError, attr, params);
}

LogicalResult Neighborhood2DAttr::verify(EmitErrorFn emitError, int64_t rows,
                                         int64_t cols, int64_t kernelRows,
                                         int64_t kernelCols) {
  return checkSizes(emitError, "neighborhood_2d",
                    {{"rows", rows},
                     {"cols", cols},
                     {"kernel_rows", kernelRows},
                     {"kernel_cols", kernelCols}});
}

LogicalResult NattenAttr::verify(EmitErrorFn emitError, int64_t rows,
                                 int64_t cols, int64_t kernelRows,
                                 int64_t kernelCols, int64_t dilationRows,
                                 int64_t dilationCols) {
  return checkSizes(emitError, "natten",
                    {{"rows", rows},
                     {"cols", cols},
                     {"kernel_rows", kernelRows},
                     {"kernel_cols", kernelCols},
                     {"dilation_rows", dilationRows},
                     {"dilation_cols", dilationCols}});
}

LogicalResult Window2DAttr::verify(EmitErrorFn emitError, int64_t rows,
                                   int64_t cols, int64_t windowRows,
                                   int64_t windowCols) {
  return checkSizes(emitError, "window_2d",
                    {{"rows", rows},
                     {"cols", cols},
                     {"window_rows", windowRows},
                     {"window_cols", windowCols}});
}

LogicalResult Directional2DAttr::verify(EmitErrorFn emitError, int64_t rows,
                                        int64_t cols,
                                        ArrayRef<int64_t> directions,
                                        bool halfPlane) {
  if (failed(checkParams(emitError, "directional_2d",
                         {positive("rows", rows), positive("cols", cols)})))
    return failure();
  if (directions.empty() || directions.size() % 2 != 0)
    return emitError() << "#attn.directional_2d: 'directions' must hold a "
                          "non-empty list of (row, col) pairs, got "
                       << directions.size() << " values";
  for (size_t i = 0; i < directions.size(); i += 2)
    if (directions[i] == 0 && directions[i + 1] == 0)
      return emitError() << "#attn.directional_2d: direction " << i / 2
                         << " is the zero vector";
  return success();
}

static LogicalResult verifyMaskOperands(EmitErrorFn emitError, StringRef name,
                                        ArrayRef<Attribute> masks) {
  if (masks.empty())
    return emitError() << "#attn." << name << ": needs at least one operand";
  for (Attribute m : masks)
    if (!isa<MaskAttrInterface>(m))
      return emitError() << "#attn." << name << ": operand " << m
                         << " is not a mask attribute";
  return success();
}

LogicalResult AndMaskAttr::verify(EmitErrorFn emitError,
                                  ArrayRef<Attribute> masks) {
  return verifyMaskOperands(emitError, "and", masks);
}

LogicalResult OrMaskAttr::verify(EmitErrorFn emitError,
                                 ArrayRef<Attribute> masks) {
  return verifyMaskOperands(emitError, "or", masks);
}

LogicalResult NotMaskAttr::verify(EmitErrorFn emitError, Attribute mask) {
  return verifyMaskOperands(emitError, "not", mask);
}

LogicalResult BlocksMaskAttr::verify(EmitErrorFn emitError, int64_t blockQ,
                                     int64_t blockKv, Attribute mask) {
  if (failed(checkParams(
          emitError, "blocks",
          {positive("block_q", blockQ), positive("block_kv", blockKv)})) ||
      failed(verifyMaskOperands(emitError, "blocks", mask)))
    return failure();
  if (maskContains<DenseMaskAttr>(mask) || maskContains<BlocksMaskAttr>(mask))
    return emitError() << "#attn.blocks: its mask may not hold #attn.dense "
                          "or #attn.blocks (the block table is the "
                          "dense_mask operand), got "
                       << mask;
  return success();
}

LogicalResult AlibiAttr::verify(EmitErrorFn emitError,
                                DenseF64ArrayAttr slopesAttr, bool symmetric) {
  for (double slope : asDoubles(slopesAttr))
    if (!std::isfinite(slope))
      return emitError() << "#attn.alibi: every slope must be finite, got "
                         << slope;
  return success();
}

LogicalResult SoftcapAttr::verify(EmitErrorFn emitError, FloatAttr capAttr) {
  double cap = capAttr.getValueAsDouble();
  if (!(cap > 0.0) || !std::isfinite(cap))
    return emitError()
           << "#attn.softcap: 'cap' must be positive and finite, got " << cap;
  return success();
}

LogicalResult RelBiasAttr::verify(EmitErrorFn emitError, int64_t numBuckets,
                                  int64_t maxDistance, bool bidirectional) {
  // T5 splits the buckets into exact and logarithmic halves (twice when
  // bidirectional), so small bucket counts leave no room for either.
  int64_t minBuckets = bidirectional ? 4 : 2;
  if (numBuckets < minBuckets)
    return emitError() << "#attn.rel_bias: 'num_buckets' must be at least "
                       << minBuckets << ", got " << numBuckets;
  int64_t maxExact = (bidirectional ? numBuckets / 2 : numBuckets) / 2;
  if (maxDistance <= maxExact)
    return emitError() << "#attn.rel_bias: 'max_distance' must exceed the "
                          "exact range "
                       << maxExact << ", got " << maxDistance;
  return success();
}

LogicalResult GaussianAttr::verify(EmitErrorFn emitError,
                                   DenseF64ArrayAttr muAttr,
                                   DenseF64ArrayAttr sigmaAttr) {
  ArrayRef<double> mu = asDoubles(muAttr), sigma = asDoubles(sigmaAttr);
  if (mu.empty() || mu.size() != sigma.size())
    return emitError() << "#attn.gaussian: 'mu' and 'sigma' must be non-empty "
                          "and of equal length, got "
                       << mu.size() << " and " << sigma.size();
  for (double m : mu)
    if (!std::isfinite(m))
      return emitError() << "#attn.gaussian: every 'mu' must be finite, got "
                         << m;
  for (double s : sigma)
    if (!(s > 0.0))
      return emitError()
             << "#attn.gaussian: every 'sigma' must be positive, got " << s;
  return success();
}

bool ConfigAttr::isValidVectorWidth(int64_t width) {
  return llvm::is_contained({0, 4, 8, 16}, width);
}

LogicalResult ConfigAttr::verify(EmitErrorFn emitError, int64_t blockQ,
                                 int64_t blockKv, int64_t vectorWidth,
                                 int64_t unroll, int64_t warps, int64_t stages,
                                 int64_t kvSplits, int64_t qBlocks,
                                 StringRef dot, StringRef mma) {
  if (failed(checkParams(
          emitError, "config",
          {nonNegative("block_q", blockQ), nonNegative("block_kv", blockKv),
           nonNegative("unroll", unroll), nonNegative("warps", warps),
           nonNegative("stages", stages), nonNegative("kv_splits", kvSplits),
           nonNegative("q_blocks", qBlocks)})))
    return failure();
  if (!isValidVectorWidth(vectorWidth))
    return emitError() << "#attn.config: 'vector_width' must be 0 (the "
                          "target's), 4, 8 or 16, got "
                       << vectorWidth;
  if (!llvm::is_contained({"", "fma", "bf16", "amx", "amx_int8"}, dot))
    return emitError() << "#attn.config: 'dot' must be \"fma\", \"bf16\", "
                          "\"amx\" or \"amx_int8\", got \""
                       << dot << "\"";
  // AMX tiles hold 16 rows of 32 bf16 (or 64 int8): both products take
  // query rows and keys in pairs of tiles, and the rest of the kernel 16
  // f32 lanes.
  if (dot == "amx" || dot == "amx_int8") {
    if (vectorWidth != 0 && vectorWidth != 16)
      return emitError() << "#attn.config: dot = \"" << dot
                         << "\" needs vector_width 16 (AVX-512), got "
                         << vectorWidth;
    for (auto [name, value] : {std::pair<StringRef, int64_t>{"block_q", blockQ},
                               {"block_kv", blockKv}})
      if (value % 32 != 0)
        return emitError() << "#attn.config: dot = \"" << dot << "\" needs '"
                           << name << "' to be a multiple of 32, got "
                           << value;
  }
  if (!llvm::is_contained({"", "sync", "wgmma"}, mma))
    return emitError() << "#attn.config: 'mma' must be \"sync\" or "
                          "\"wgmma\", got \""
                       << mma << "\"";
  return success();
}

//===----------------------------------------------------------------------===//
// Mask expression helpers
//===----------------------------------------------------------------------===//

void mlir::attn::walkMask(Attribute mask, function_ref<void(Attribute)> fn) {
  fn(mask);
  TypeSwitch<Attribute>(mask)
      .Case<AndMaskAttr, OrMaskAttr>([&](auto m) {
        for (Attribute child : m.getMasks())
          walkMask(child, fn);
      })
      .Case<NotMaskAttr>([&](NotMaskAttr m) { walkMask(m.getMask(), fn); })
      .Case<BlocksMaskAttr>(
          [&](BlocksMaskAttr m) { walkMask(m.getMask(), fn); });
}

bool mlir::attn::isDataDependentMask(Attribute mask) {
  bool found = false;
  walkMask(mask, [&](Attribute a) {
    found |= isa<DocumentMaskAttr, TreeMaskAttr, DenseMaskAttr, BlocksMaskAttr,
                 MaskModAttr>(a);
  });
  return found;
}

bool mlir::attn::normalizerHasLSE(Attribute normalizer) {
  if (isa<SigmoidAttr>(normalizer))
    return false;
  if (auto relu = dyn_cast<ReluAttr>(normalizer))
    return relu.getNorm() == ReluNorm::row_sum;
  return true;
}

StringRef mlir::attn::getNormalizerName(Attribute normalizer) {
  return TypeSwitch<Attribute, StringRef>(normalizer)
      .Case<SoftmaxAttr>([](auto) { return "softmax"; })
      .Case<SinkSoftmaxAttr>([](auto) { return "sink_softmax"; })
      .Case<SigmoidAttr>([](auto) { return "sigmoid"; })
      .Case<SoftplusAttr>([](auto) { return "softplus"; })
      .Case<ReluAttr>([](auto) { return "relu"; })
      .Default([](auto) { return "unknown"; });
}

/// Appends the operands of `mask` to `out`, splicing nested nodes of the
/// same kind (and inside and, or inside or).
template <typename NodeT>
static void flattenInto(NodeT node, SmallVectorImpl<Attribute> &out) {
  for (Attribute child : node.getMasks()) {
    Attribute simple = simplifyMask(child);
    if (auto same = dyn_cast<NodeT>(simple))
      llvm::append_range(out, same.getMasks());
    else
      out.push_back(simple);
  }
}

Attribute mlir::attn::simplifyMask(Attribute mask) {
  MLIRContext *ctx = mask.getContext();
  if (auto notMask = dyn_cast<NotMaskAttr>(mask)) {
    Attribute inner = simplifyMask(notMask.getMask());
    if (auto doubleNot = dyn_cast<NotMaskAttr>(inner))
      return doubleNot.getMask();
    return NotMaskAttr::get(ctx, inner);
  }
  if (auto andMask = dyn_cast<AndMaskAttr>(mask)) {
    SmallVector<Attribute> flat, kept;
    flattenInto(andMask, flat);
    // x & full == x; duplicates add nothing.
    for (Attribute m : flat)
      if (!isa<FullMaskAttr>(m) && !llvm::is_contained(kept, m))
        kept.push_back(m);
    if (kept.empty())
      return FullMaskAttr::get(ctx);
    if (kept.size() == 1)
      return kept.front();
    return AndMaskAttr::get(ctx, kept);
  }
  if (auto orMask = dyn_cast<OrMaskAttr>(mask)) {
    SmallVector<Attribute> flat, kept;
    flattenInto(orMask, flat);
    // x | full == full.
    for (Attribute m : flat) {
      if (isa<FullMaskAttr>(m))
        return m;
      if (!llvm::is_contained(kept, m))
        kept.push_back(m);
    }
    if (kept.size() == 1)
      return kept.front();
    return OrMaskAttr::get(ctx, kept);
  }
  return mask;
}
