//===- AttnOps.cpp - attn operations --------------------------------------===//
//
// Verifiers for attn.attention, attn.attention_grad, attn.merge and
// attn.position, and the canonicalisation of attention variants. The two ops
// that carry a variant share its checks (the operand groups, attributes and
// regions of VariantOpInterface).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/IR/Differentiate.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::attn;

#include "attn/Dialect/Attn/IR/AttnOpInterfaces.cpp.inc"

#define GET_OP_CLASSES
#include "attn/Dialect/Attn/IR/AttnOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Shape checking helpers
//===----------------------------------------------------------------------===//

/// A symbolic size: a static extent, or dynamic.
static std::string sizeStr(int64_t s) {
  return ShapedType::isDynamic(s) ? "?" : std::to_string(s);
}

/// Two sizes agree unless both are static and different.
static bool compatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

namespace {
/// The problem sizes read off Q, K and V (dynamic where unknown).
struct ProblemDims {
  int64_t batch, qHeads, kvHeads, qLen, kvLen, headDim, valueDim;
};
} // namespace

static bool isAttnFloat(Type t) { return t.isF32() || t.isF16() || t.isBF16(); }

/// Checks that `value` has type `tensor<expected...>` of the given rank and
/// element predicate; `what` names the operand in the message.
static LogicalResult checkOperandShape(Operation *op, Value value,
                                       StringRef what,
                                       ArrayRef<int64_t> expected,
                                       function_ref<bool(Type)> elemOk,
                                       StringRef elemDesc) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getRank() != static_cast<int64_t>(expected.size()))
    return op->emitOpError()
           << what << " must have rank " << expected.size() << ", got " << type;
  for (auto [i, pair] : llvm::enumerate(llvm::zip(type.getShape(), expected))) {
    auto [got, want] = pair;
    if (!compatible(got, want))
      return op->emitOpError()
             << what << " dim " << i << " is " << sizeStr(got) << ", expected "
             << sizeStr(want) << " (type " << type << ")";
  }
  if (!elemOk(type.getElementType()))
    return op->emitOpError() << what << " must have " << elemDesc
                             << " elements, got " << type.getElementType();
  return success();
}

static bool isIntElem(Type t) {
  return t.isSignlessInteger(32) || t.isSignlessInteger(64);
}
static bool isF32Elem(Type t) { return t.isF32(); }
static bool isFloatElem(Type t) { return isAttnFloat(t); }
static bool isBoolElem(Type t) {
  return t.isSignlessInteger(1) || t.isSignlessInteger(8);
}

/// Checks that a rank-2..4 `value` broadcasts numpy-style against
/// [B, Hq, Sq, Skv].
static LogicalResult checkBroadcast(Operation *op, Value value, StringRef what,
                                    ArrayRef<int64_t> full,
                                    function_ref<bool(Type)> elemOk,
                                    StringRef elemDesc) {
  auto type = cast<RankedTensorType>(value.getType());
  int64_t rank = type.getRank();
  if (rank < 2 || rank > 4)
    return op->emitOpError()
           << what << " must have rank 2, 3 or 4, got " << type;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t got = type.getDimSize(i);
    int64_t want = full[4 - rank + i];
    bool leading = 4 - rank + i < 2;
    if (leading && got == 1)
      continue;
    if (!compatible(got, want))
      return op->emitOpError() << what << " dim " << i << " is " << sizeStr(got)
                               << ", which does not broadcast to "
                               << sizeStr(want) << " (type " << type << ")";
  }
  if (!elemOk(type.getElementType()))
    return op->emitOpError() << what << " must have " << elemDesc
                             << " elements, got " << type.getElementType();
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

/// Verifies one region's signature: `leading` scalar arguments, then one per
/// capture, a single attn.yield of `resultType`, and no use of values defined
/// outside.
static LogicalResult verifyVariantRegion(VariantOpInterface op, Region &region,
                                         StringRef name, ArrayRef<Type> leading,
                                         Type resultType) {
  Block &block = region.front();
  SmallVector<Type> expected(leading);
  for (Value c : op.getCaptures())
    expected.push_back(c.getType());
  if (block.getNumArguments() != expected.size())
    return op->emitOpError()
           << name << " region must have " << expected.size() << " arguments ("
           << leading.size() << " fixed + " << op.getCaptures().size()
           << " captures), got " << block.getNumArguments();
  for (auto [i, arg, want] : llvm::enumerate(block.getArguments(), expected))
    if (arg.getType() != want)
      return op->emitOpError()
             << name << " region argument #" << i << " must be " << want
             << ", got " << arg.getType();
  auto yield = dyn_cast<YieldOp>(block.getTerminator());
  if (!yield || yield.getValues().size() != 1 ||
      yield.getValues()[0].getType() != resultType)
    return op->emitOpError()
           << name << " region must end with attn.yield of one " << resultType
           << " value";
  // Constants may be written outside (folding keeps its own inside, see
  // AttnFoldInterface): they carry no data the region could not hold.
  SetVector<Value> above;
  getUsedValuesDefinedAbove(region, above);
  for (Value v : above)
    if (Operation *def = v.getDefiningOp();
        !def || !def->hasTrait<OpTrait::ConstantLike>())
      return op->emitOpError()
             << name
             << " region uses a non-constant value defined outside it; pass "
                "tensors through 'captures' instead";
  return success();
}

/// `num * x / den` of a static `x` that `den` divides; dynamic otherwise.
static int64_t scaledSize(int64_t x, int64_t num, int64_t den) {
  if (ShapedType::isDynamic(x) || (x * num) % den != 0)
    return ShapedType::kDynamic;
  return x * num / den;
}

/// The part of verifyInputs for a paged cache (#attn.paged): K and V are
/// page pools, the page table and kv_len give the logical cache. A row of
/// a pool packs `codesPerByte` channels to an element (quantized codes).
static FailureOr<ProblemDims> verifyPagedInputs(AttentionOp op,
                                                int64_t codesPerByte = 1) {
  PagedAttr paged = op.getPagedAttr();
  if (!paged)
    return op.emitOpError()
           << "'page_table' operand given but the op has no #attn.paged "
              "attribute";
  if (!op.getPageTable())
    return op.emitOpError() << "#attn.paged needs a 'page_table' operand "
                               "([B, max_pages] i32)";
  if (!op.getKvLen())
    return op.emitOpError() << "#attn.paged needs a 'kv_len' operand (the "
                               "visible keys of each batch row)";
  auto qType = cast<RankedTensorType>(op.getQuery().getType());
  auto kType = cast<RankedTensorType>(op.getKey().getType());
  auto vType = cast<RankedTensorType>(op.getValue().getType());
  unsigned slot = paged.getSlotDim(), heads = paged.getKvHeadDim();
  StringRef pool = paged.getLayout() == PageLayout::nhd
                       ? "[pages, page_size, Hkv, D]"
                       : "[pages, Hkv, page_size, D]";
  for (auto [name, t] :
       {std::pair<StringRef, RankedTensorType>{"key", kType}, {"value", vType}})
    if (!compatible(t.getDimSize(slot), paged.getPageSize()))
      return op.emitOpError()
             << name << " page pool " << t << " must be " << pool
             << " with page_size = " << paged.getPageSize() << ", but dim "
             << slot << " is " << sizeStr(t.getDimSize(slot));
  if (!compatible(kType.getDimSize(0), vType.getDimSize(0)) ||
      !compatible(kType.getDimSize(heads), vType.getDimSize(heads)))
    return op.emitOpError() << "key and value page pools differ in pages or "
                               "heads: "
                            << kType << " and " << vType;
  unsigned s = op.getSeqDim(), h = op.getHeadDim();
  auto table = cast<RankedTensorType>(op.getPageTable().getType());
  int64_t maxPages = table.getRank() == 2 ? table.getDimSize(1) : 0;
  ProblemDims d{qType.getDimSize(0),
                qType.getDimSize(h),
                kType.getDimSize(heads),
                qType.getDimSize(s),
                ShapedType::isDynamic(maxPages)
                    ? ShapedType::kDynamic
                    : maxPages * paged.getPageSize(),
                qType.getDimSize(3),
                scaledSize(vType.getDimSize(3), codesPerByte, 1)};
  if (failed(checkOperandShape(
          op, op.getPageTable(), "page_table", {d.batch, ShapedType::kDynamic},
          [](Type t) { return t.isSignlessInteger(32); }, "i32")))
    return failure();
  if (!compatible(scaledSize(kType.getDimSize(3), codesPerByte, 1),
                  d.headDim))
    return op.emitOpError()
           << "query head dim " << sizeStr(d.headDim)
           << " differs from key head dim "
           << sizeStr(scaledSize(kType.getDimSize(3), codesPerByte, 1));
  if (!ShapedType::isDynamic(d.qHeads) && !ShapedType::isDynamic(d.kvHeads) &&
      (d.kvHeads == 0 || d.qHeads % d.kvHeads != 0))
    return op.emitOpError()
           << "query heads (" << d.qHeads
           << ") must be a multiple of key/value heads (" << d.kvHeads << ")";
  return d;
}

/// The part of verifyInputs for a quantized cache (#attn.quant): K and V
/// are packed codes, kv_quant holds the scales, zeros and residual.
static FailureOr<ProblemDims> verifyQuantInputs(AttentionOp op) {
  QuantAttr quant = op.getQuantAttr();
  if (!quant)
    return op.emitOpError() << "'kv_quant' operands given but the op has no "
                               "#attn.quant attribute";
  bool fp8 = quant.isFloat8();
  bool residual = quant.getResidual() > 0;
  size_t want = op.getNumQuantParams() + (residual ? 2 : 0);
  if (op.getKvQuant().size() != want)
    return op.emitOpError()
           << "#attn.quant" << (fp8 ? " (fp8)" : "")
           << (residual ? " with a residual" : "") << " needs " << want
           << " 'kv_quant' operands ("
           << (fp8 ? "key scale, value scale"
                   : "key scale, key zero, value scale, value zero")
           << (residual ? ", key residual, value residual" : "") << "), got "
           << op.getKvQuant().size();
  bool bshd = op.getLayoutOrDefault() == Layout::bshd;
  StringRef axes = bshd ? "[B, S, H, D]" : "[B, H, S, D]";
  auto qType = cast<RankedTensorType>(op.getQuery().getType());
  auto kType = cast<RankedTensorType>(op.getKey().getType());
  auto vType = cast<RankedTensorType>(op.getValue().getType());
  if (qType.getRank() != 4 || !isAttnFloat(qType.getElementType()))
    return op.emitOpError() << "query must be rank 4 " << axes
                            << " of f32, f16 or bf16, got " << qType;
  for (auto [name, t] :
       {std::pair<StringRef, RankedTensorType>{"key", kType}, {"value", vType}})
    if (t.getRank() != 4 || !t.getElementType().isSignlessInteger(8))
      return op.emitOpError()
             << "quantized " << name << " must be rank 4 " << axes
             << " of i8 (packed codes), got " << t;
  unsigned s = op.getSeqDim(), h = op.getHeadDim();
  int64_t per = quant.getCodesPerByte(), group = quant.getGroup();
  PagedAttr paged = op.getPagedAttr();
  if (!ShapedType::isDynamic(qType.getDimSize(3)) &&
      qType.getDimSize(3) % per != 0)
    return op.emitOpError() << "head dim " << qType.getDimSize(3)
                            << " must be a multiple of " << per
                            << " (codes per byte of " << quant.getBits()
                            << "-bit codes)";
  if (paged && paged.getPageSize() % group != 0)
    return op.emitOpError()
           << "page_size " << paged.getPageSize() << " must be a multiple of "
           << "the group size " << group << " (key groups lie within a page)";
  ProblemDims d{qType.getDimSize(0),
                qType.getDimSize(h),
                kType.getDimSize(h),
                qType.getDimSize(s),
                kType.getDimSize(s),
                qType.getDimSize(3),
                scaledSize(vType.getDimSize(3), per, 1)};
  if (paged || op.getPageTable()) {
    FailureOr<ProblemDims> pagedDims = verifyPagedInputs(op, per);
    if (failed(pagedDims))
      return failure();
    d = *pagedDims;
  }
  if (!ShapedType::isDynamic(d.headDim) && d.headDim % per != 0)
    return op.emitOpError() << "head dim " << d.headDim << " must be a "
                            << "multiple of " << per << " (codes per byte of "
                            << quant.getBits() << "-bit codes)";
  if (!compatible(kType.getDimSize(3), scaledSize(d.headDim, 1, per)))
    return op.emitOpError()
           << "quantized key must have D * bits / 8 = "
           << sizeStr(scaledSize(d.headDim, 1, per))
           << " bytes per token for head dim " << sizeStr(d.headDim)
           << ", got " << sizeStr(kType.getDimSize(3));
  if (!ShapedType::isDynamic(d.valueDim) && d.valueDim % group != 0)
    return op.emitOpError()
           << "value head dim " << d.valueDim << " must be a multiple of the "
           << "group size " << group << " (values are grouped along channels)";
  if (!paged && !ShapedType::isDynamic(d.kvLen) && d.kvLen % group != 0)
    return op.emitOpError()
           << "key length " << d.kvLen << " must be a multiple of the group "
           << "size " << group << " (keys are grouped along tokens)";
  for (auto [name, t] :
       {std::pair<StringRef, RankedTensorType>{"key", kType}, {"value", vType}})
    if (!paged && !compatible(t.getDimSize(0), d.batch))
      return op.emitOpError() << "batch sizes differ: query "
                              << sizeStr(d.batch) << ", " << name << " "
                              << sizeStr(t.getDimSize(0));
  if (!paged && (!compatible(vType.getDimSize(h), d.kvHeads) ||
                 !compatible(vType.getDimSize(s), d.kvLen)))
    return op.emitOpError() << "quantized key " << kType << " and value "
                            << vType << " differ in heads or length";
  if (!ShapedType::isDynamic(d.qHeads) && !ShapedType::isDynamic(d.kvHeads) &&
      (d.kvHeads == 0 || d.qHeads % d.kvHeads != 0))
    return op.emitOpError()
           << "query heads (" << d.qHeads
           << ") must be a multiple of key/value heads (" << d.kvHeads << ")";
  // Operand shapes in the op's layout: [B, H, S, last] or [B, S, H, last].
  auto shape = [&](int64_t seq, int64_t last) {
    SmallVector<int64_t> r = {d.batch, d.kvHeads, seq, last};
    if (bshd)
      std::swap(r[1], r[2]);
    return r;
  };
  // A paged cache's scales and zeros are pools like its codes:
  // [pages, slots, Hkv, last] (nhd) or [pages, Hkv, slots, last] (hnd).
  auto scaleShape = [&](int64_t slots, int64_t seq, int64_t last) {
    if (!paged)
      return shape(seq, last);
    SmallVector<int64_t> r = {kType.getDimSize(0), slots, d.kvHeads, last};
    if (paged.getLayout() == PageLayout::hnd)
      std::swap(r[1], r[2]);
    return r;
  };
  Type scaleType = quant.getScale();
  auto isScale = [&](Type t) { return t == scaleType; };
  std::string scaleDesc;
  llvm::raw_string_ostream(scaleDesc) << scaleType;
  int64_t keyGroups = ShapedType::isDynamic(d.kvLen) ? ShapedType::kDynamic
                                                      : d.kvLen / group;
  int64_t valueGroups = ShapedType::isDynamic(d.valueDim)
                            ? ShapedType::kDynamic
                            : d.valueDim / group;
  int64_t keySlots = paged ? paged.getPageSize() / group : 0;
  int64_t valueSlots = paged ? paged.getPageSize() : 0;
  struct Expect {
    StringRef name;
    SmallVector<int64_t> shape;
  } params[] = {
      {paged ? "key scale pool (page_size / group slots a page)"
             : "key scale [B, Hkv, Skv / group, D]",
       scaleShape(keySlots, keyGroups, d.headDim)},
      {paged ? "key zero pool (page_size / group slots a page)"
             : "key zero [B, Hkv, Skv / group, D]",
       scaleShape(keySlots, keyGroups, d.headDim)},
      {paged ? "value scale pool (page_size slots a page)"
             : "value scale [B, Hkv, Skv, Dv / group]",
       scaleShape(valueSlots, d.kvLen, valueGroups)},
      {paged ? "value zero pool (page_size slots a page)"
             : "value zero [B, Hkv, Skv, Dv / group]",
       scaleShape(valueSlots, d.kvLen, valueGroups)}};
  if (fp8) {
    // One scale per kv head.
    if (failed(checkOperandShape(op, op.getKeyScale(), "key scale [Hkv]",
                                 {d.kvHeads}, isScale, scaleDesc)) ||
        failed(checkOperandShape(op, op.getValueScale(), "value scale [Hkv]",
                                 {d.kvHeads}, isScale, scaleDesc)))
      return failure();
  } else {
    for (auto [i, p] : llvm::enumerate(params))
      if (failed(checkOperandShape(op, op.getKvQuant()[i], p.name, p.shape,
                                   isScale, scaleDesc)))
        return failure();
  }
  if (residual) {
    Type elem = qType.getElementType();
    auto isQueryElem = [&](Type t) { return t == elem; };
    std::string elemDesc;
    llvm::raw_string_ostream(elemDesc) << elem << " (the query's)";
    int64_t r = quant.getResidual();
    if (failed(checkOperandShape(op, op.getKeyResidual(),
                                 "key residual [B, Hkv, residual, D]",
                                 shape(r, d.headDim), isQueryElem,
                                 elemDesc)) ||
        failed(checkOperandShape(op, op.getValueResidual(),
                                 "value residual [B, Hkv, residual, Dv]",
                                 shape(r, d.valueDim), isQueryElem,
                                 elemDesc)))
      return failure();
  }
  return d;
}

/// Checks Q, K and V of a variant op (rank, element type, the dims they
/// share) and returns the problem sizes they give.
static FailureOr<ProblemDims> verifyInputs(VariantOpInterface op) {
  if (auto attention = dyn_cast<AttentionOp>(op.getOperation());
      attention && (attention.getQuantAttr() || !attention.getKvQuant().empty()))
    return verifyQuantInputs(attention);
  auto qType = cast<RankedTensorType>(op.getQuery().getType());
  auto kType = cast<RankedTensorType>(op.getKey().getType());
  auto vType = cast<RankedTensorType>(op.getValue().getType());
  for (auto [name, t] : {std::pair<StringRef, RankedTensorType>{"query", qType},
                         {"key", kType},
                         {"value", vType}}) {
    if (t.getRank() != 4)
      return op->emitOpError()
             << name << " must have rank 4 ("
             << (op.getLayoutOrDefault() == Layout::bhsd ? "[B, H, S, D]"
                                                         : "[B, S, H, D]")
             << "), got " << t;
    if (!isAttnFloat(t.getElementType()))
      return op->emitOpError()
             << name << " element type must be f32, f16 or bf16, got "
             << t.getElementType();
  }
  Type elemType = qType.getElementType();
  if (kType.getElementType() != elemType || vType.getElementType() != elemType)
    return op->emitOpError() << "query, key and value must share one element "
                                "type, got "
                             << elemType << ", " << kType.getElementType()
                             << ", " << vType.getElementType();
  if (auto attention = dyn_cast<AttentionOp>(op.getOperation());
      attention && (attention.getPagedAttr() || attention.getPageTable()))
    return verifyPagedInputs(attention);

  unsigned s = op.getSeqDim(), h = op.getHeadDim();
  ProblemDims d{qType.getDimSize(0), qType.getDimSize(h), kType.getDimSize(h),
                qType.getDimSize(s), kType.getDimSize(s), qType.getDimSize(3),
                vType.getDimSize(3)};
  if (!compatible(kType.getDimSize(0), d.batch) ||
      !compatible(vType.getDimSize(0), d.batch))
    return op->emitOpError() << "batch sizes differ: query " << sizeStr(d.batch)
                             << ", key " << sizeStr(kType.getDimSize(0))
                             << ", value " << sizeStr(vType.getDimSize(0));
  if (!compatible(kType.getDimSize(3), d.headDim))
    return op->emitOpError()
           << "query head dim " << sizeStr(d.headDim)
           << " differs from key head dim " << sizeStr(kType.getDimSize(3));
  if (!compatible(vType.getDimSize(h), d.kvHeads))
    return op->emitOpError()
           << "key has " << sizeStr(d.kvHeads) << " heads but value has "
           << sizeStr(vType.getDimSize(h));
  if (!compatible(vType.getDimSize(s), d.kvLen))
    return op->emitOpError()
           << "key length " << sizeStr(d.kvLen) << " differs from value length "
           << sizeStr(vType.getDimSize(s));
  if (!ShapedType::isDynamic(d.qHeads) && !ShapedType::isDynamic(d.kvHeads) &&
      (d.kvHeads == 0 || d.qHeads % d.kvHeads != 0))
    return op->emitOpError()
           << "query heads (" << d.qHeads
           << ") must be a multiple of key/value heads (" << d.kvHeads << ")";
  return d;
}

/// The shape of O (and dO) in the op's layout.
static SmallVector<int64_t> outputShape(VariantOpInterface op,
                                        const ProblemDims &d) {
  SmallVector<int64_t> shape = {d.batch, d.qHeads, d.qLen, d.valueDim};
  if (op.getLayoutOrDefault() == Layout::bshd)
    std::swap(shape[1], shape[2]);
  return shape;
}

/// Checks that the normalizer attribute is one.
static LogicalResult verifyNormalizerAttr(VariantOpInterface op) {
  Attribute normalizer = op.getNormalizerOrDefault();
  if (!isa<NormalizerAttrInterface>(normalizer))
    return op->emitOpError() << "'normalizer' must be a normalizer attribute "
                                "(#attn.softmax, #attn.sink_softmax, "
                                "#attn.sigmoid, #attn.softplus, #attn.relu), "
                                "got "
                             << normalizer;
  return success();
}

/// Checks the operand groups of the variant against its attributes (each
/// group present exactly when a mask leaf, score modifier or the
/// normalizer reads it, with the shape it is read with), the score
/// modifiers and the scale.
static LogicalResult verifyVariantOperands(VariantOpInterface op,
                                           const ProblemDims &d) {
  Operation *raw = op.getOperation();
  Attribute normalizer = op.getNormalizerOrDefault();
  // Sink logits belong to the sink softmax and nothing else.
  bool wantsSink = isa<SinkSoftmaxAttr>(normalizer);
  if (wantsSink != static_cast<bool>(op.getSink()))
    return op->emitOpError()
           << (wantsSink ? "#attn.sink_softmax needs a 'sink' "
                           "operand"
                         : "'sink' operand given but the "
                           "normalizer is not #attn.sink_softmax");
  if (op.getSink() && failed(checkOperandShape(raw, op.getSink(), "sink",
                                               {d.qHeads}, isF32Elem, "f32")))
    return failure();
  if (op.getKvLen() &&
      failed(checkOperandShape(raw, op.getKvLen(), "kv_len", {d.batch},
                               isIntElem, "i32 or i64")))
    return failure();

  // Mask: a mask expression whose data-dependent leaves have their operands.
  Attribute mask = op.getMaskOrDefault();
  if (!isa<MaskAttrInterface>(mask))
    return op->emitOpError() << "'mask' must be a mask attribute, got " << mask;
  auto requireOperand = [&](bool used, Value operand, StringRef leaf,
                            StringRef group) -> LogicalResult {
    if (used && !operand)
      return op->emitOpError()
             << leaf << " needs the '" << group << "' operand";
    if (!used && operand)
      return op->emitOpError()
             << "'" << group << "' operand given but no " << leaf << " uses it";
    return success();
  };
  // The custom syntax gives both ids or neither; the generic form need not.
  if (static_cast<bool>(op.getSegQ()) != static_cast<bool>(op.getSegKv()))
    return op->emitOpError()
           << "'segments' needs both the query and the key ids";
  if (failed(requireOperand(maskContains<DocumentMaskAttr>(mask), op.getSegQ(),
                            "mask #attn.document", "segments")) ||
      failed(requireOperand(maskContains<TreeMaskAttr>(mask),
                            op.getTreeParent(), "mask #attn.tree", "tree")) ||
      failed(requireOperand(maskContains<DenseMaskAttr>(mask) ||
                                maskContains<BlocksMaskAttr>(mask),
                            op.getDenseMask(),
                            "mask #attn.dense or #attn.blocks", "dense_mask")))
    return failure();
  if (maskContains<BlocksMaskAttr>(mask) && !isa<BlocksMaskAttr>(mask))
    return op->emitOpError()
           << "#attn.blocks must be the whole mask (its table overrides the "
              "mask inside it), got "
           << mask;
  if (op.getSegQ() &&
      (failed(checkOperandShape(raw, op.getSegQ(), "segments query ids",
                                {d.batch, d.qLen}, isIntElem, "i32 or i64")) ||
       failed(checkOperandShape(raw, op.getSegKv(), "segments key ids",
                                {d.batch, d.kvLen}, isIntElem, "i32 or i64"))))
    return failure();
  if (Value parent = op.getTreeParent()) {
    auto t = cast<RankedTensorType>(parent.getType());
    if (t.getRank() != 1 && t.getRank() != 2)
      return op->emitOpError()
             << "tree parents must be [T] or [B, T], got " << t;
    SmallVector<int64_t> want =
        t.getRank() == 1 ? SmallVector<int64_t>{ShapedType::kDynamic}
                         : SmallVector<int64_t>{d.batch, ShapedType::kDynamic};
    if (failed(checkOperandShape(raw, parent, "tree parents", want, isIntElem,
                                 "i32 or i64")))
      return failure();
  }
  SmallVector<int64_t> scoreShape = {d.batch, d.qHeads, d.qLen, d.kvLen};
  // Every dense leaf reads the one dense_mask operand, at one granularity.
  DenseMaskAttr dense;
  std::optional<DenseMaskAttr> clash;
  walkMask(mask, [&](Attribute a) {
    auto leaf = dyn_cast<DenseMaskAttr>(a);
    if (leaf && dense && leaf != dense && !clash)
      clash = leaf;
    if (leaf && !dense)
      dense = leaf;
  });
  if (clash)
    return op->emitOpError() << "every #attn.dense leaf reads the one "
                                "'dense_mask' operand, so they need the same "
                                "blocks; got "
                             << dense << " and " << *clash;
  if (op.getDenseMask()) {
    // Blocked: one entry per block of block_q x block_kv scores.
    auto blocks = [](int64_t n, int64_t block) -> int64_t {
      return ShapedType::isDynamic(n) ? n : (n + block - 1) / block;
    };
    auto table = dyn_cast<BlocksMaskAttr>(mask);
    int64_t bq = table ? table.getBlockQ() : dense.getBlockQ();
    int64_t bkv = table ? table.getBlockKv() : dense.getBlockKv();
    SmallVector<int64_t> shape = {d.batch, d.qHeads, blocks(d.qLen, bq),
                                  blocks(d.kvLen, bkv)};
    StringRef what = table               ? "dense_mask (the block table)"
                     : dense.isBlocked() ? "dense_mask (blocked)"
                                         : "dense_mask";
    if (failed(checkBroadcast(raw, op.getDenseMask(), what, shape, isBoolElem,
                              "i1 or i8")))
      return failure();
  }

  // Score modifiers, each a known modifier with its operand.
  SmallVector<Attribute> mods = op.getScoreModList();
  for (Attribute m : mods)
    if (!isa<ScoreModAttrInterface>(m))
      return op->emitOpError() << "'score_mods' entry " << m
                               << " is not a score modifier attribute";
  auto modCount = [&](auto tag) {
    using T = decltype(tag);
    return llvm::count_if(mods, [](Attribute a) { return isa<T>(a); });
  };
  for (auto [n, name] :
       {std::pair<int64_t, StringRef>{modCount(BiasAttr()), "#attn.bias"},
        {modCount(RelBiasAttr()), "#attn.rel_bias"},
        {modCount(TemperatureAttr()), "#attn.temperature"},
        {modCount(ScoreModRegionAttr()), "#attn.score_mod"}})
    if (n > 1)
      return op->emitOpError()
             << name << " may appear at most once in score_mods";
  if (failed(requireOperand(modCount(BiasAttr()) > 0, op.getBias(),
                            "score modifier #attn.bias", "bias")) ||
      failed(requireOperand(modCount(RelBiasAttr()) > 0, op.getRelBiasTable(),
                            "score modifier #attn.rel_bias",
                            "rel_bias_table")) ||
      failed(requireOperand(modCount(TemperatureAttr()) > 0,
                            op.getTemperature(),
                            "score modifier #attn.temperature", "temperature")))
    return failure();
  if (op.getBias() &&
      failed(checkBroadcast(raw, op.getBias(), "bias", scoreShape, isFloatElem,
                            "f32, f16 or bf16")))
    return failure();
  if (op.getTemperature() &&
      failed(checkOperandShape(raw, op.getTemperature(), "temperature",
                               {d.batch, d.qHeads, d.qLen}, isF32Elem, "f32")))
    return failure();
  for (Attribute m : mods) {
    if (auto rel = dyn_cast<RelBiasAttr>(m))
      if (failed(checkOperandShape(raw, op.getRelBiasTable(), "rel_bias_table",
                                   {d.qHeads, rel.getNumBuckets()}, isF32Elem,
                                   "f32")))
        return failure();
    auto checkPerHead = [&](StringRef what, size_t n) -> LogicalResult {
      if (ShapedType::isDynamic(d.qHeads))
        return op->emitOpError()
               << what
               << " lists one value per head, so the number of query heads "
                  "must be static";
      if (static_cast<int64_t>(n) != d.qHeads)
        return op->emitOpError()
               << what << " has " << n << " values but there are " << d.qHeads
               << " query heads";
      return success();
    };
    if (auto alibi = dyn_cast<AlibiAttr>(m);
        alibi && !asDoubles(alibi.getSlopes()).empty())
      if (failed(checkPerHead("#attn.alibi slopes",
                              asDoubles(alibi.getSlopes()).size())))
        return failure();
    if (auto gauss = dyn_cast<GaussianAttr>(m))
      if (failed(
              checkPerHead("#attn.gaussian", asDoubles(gauss.getMu()).size())))
        return failure();
  }

  if (FloatAttr scale = op.getScaleAttr())
    if (!std::isfinite(scale.getValueAsDouble()))
      return op->emitOpError() << "'scale' must be finite, got " << scale;
  return success();
}

LogicalResult AttentionOp::verify() {
  FailureOr<ProblemDims> dims = verifyInputs(*this);
  if (failed(dims))
    return failure();
  const ProblemDims &d = *dims;
  Type elemType = getQuery().getType().getElementType();

  // Outputs: O, and optionally LSE.
  auto outs = getOutputs();
  if (outs.empty() || outs.size() > 2)
    return emitOpError() << "expects 1 or 2 outs (O and optionally LSE), got "
                         << outs.size();
  if (getResults().size() != outs.size())
    return emitOpError() << "expects one result per out, got "
                         << getResults().size() << " results for "
                         << outs.size() << " outs";
  for (auto [out, res] : llvm::zip(outs, getResults()))
    if (out.getType() != res.getType())
      return emitOpError() << "result type " << res.getType()
                           << " differs from its out " << out.getType();
  if (failed(checkOperandShape(
          *this, outs[0], "output", outputShape(*this, d),
          [&](Type t) { return t == elemType; }, "the input's")))
    return failure();

  if (failed(verifyNormalizerAttr(*this)))
    return failure();
  Attribute normalizer = getNormalizerOrDefault();
  if (outs.size() == 2) {
    if (!normalizerHasLSE(normalizer))
      return emitOpError() << "normalizer '" << getNormalizerName(normalizer)
                           << "' has no LSE output, but an LSE out was given";
    if (failed(checkOperandShape(*this, outs[1], "LSE",
                                 {d.batch, d.qHeads, d.qLen}, isF32Elem,
                                 "f32")))
      return failure();
  }
  return verifyVariantOperands(*this, d);
}

/// Checks the regions of a variant op against its attributes and captures.
static LogicalResult verifyVariantRegions(VariantOpInterface op) {
  MLIRContext *ctx = op->getContext();
  Type idx = IndexType::get(ctx);
  Type f32 = Float32Type::get(ctx);
  bool usesScoreMod = llvm::any_of(op.getScoreModList(), [](Attribute a) {
    return isa<ScoreModRegionAttr>(a);
  });
  if (usesScoreMod != !op.getScoreModRegion().empty())
    return op->emitOpError()
           << (usesScoreMod ? "#attn.score_mod is listed in "
                              "score_mods but the op has no "
                              "score_mod region"
                            : "the op has a score_mod region but "
                              "score_mods does not list "
                              "#attn.score_mod");
  bool usesMaskMod = maskContains<MaskModAttr>(op.getMaskOrDefault());
  if (usesMaskMod != !op.getMaskModRegion().empty())
    return op->emitOpError()
           << (usesMaskMod ? "mask #attn.mask_mod needs a mask_mod "
                             "region"
                           : "the op has a mask_mod region but the "
                             "mask does not use #attn.mask_mod");
  if (usesScoreMod &&
      failed(verifyVariantRegion(op, op.getScoreModRegion(), "score_mod",
                                 {f32, idx, idx, idx, idx}, f32)))
    return failure();
  if (usesMaskMod && failed(verifyVariantRegion(
                         op, op.getMaskModRegion(), "mask_mod",
                         {idx, idx, idx, idx}, IntegerType::get(ctx, 1))))
    return failure();
  if (!op.getCaptures().empty() && !usesScoreMod && !usesMaskMod)
    return op->emitOpError() << "'captures' given but there is no score_mod "
                                "or mask_mod region to read them";
  return success();
}

LogicalResult AttentionOp::verifyRegions() {
  return verifyVariantRegions(*this);
}

//===----------------------------------------------------------------------===//
// AttentionGradOp
//===----------------------------------------------------------------------===//

bool AttentionGradOp::hasScoreModGradient(Attribute mod) {
  // The score_mod region: when its body has a forward-mode rule for every
  // op the score reaches (verify() names the first that has none).
  return isa<AlibiAttr, GaussianAttr, BiasAttr, RelBiasAttr, SoftcapAttr,
             TemperatureAttr, ScoreModRegionAttr>(mod);
}

/// The name of a score modifier attribute as written ("#attn.softcap").
static std::string scoreModName(Attribute mod) {
  std::string text;
  llvm::raw_string_ostream os(text);
  mod.print(os);
  return text.substr(0, text.find('<'));
}

Value AttentionGradOp::getGradOperand(StringRef name) {
  if (name == "sink")
    return getSink();
  if (name == "bias")
    return getBias();
  if (name == "rel_bias_table")
    return getRelBiasTable();
  if (name == "temperature")
    return getTemperature();
  unsigned capture;
  if (name.consume_front("capture") && !name.getAsInteger(10, capture) &&
      capture < getCaptures().size())
    return getCaptures()[capture];
  return Value();
}

std::optional<unsigned> AttentionGradOp::getGradCapture(StringRef name) {
  Value operand = getGradOperand(name);
  auto at = llvm::find(getCaptures(), operand);
  if (!operand || at == getCaptures().end())
    return std::nullopt;
  return static_cast<unsigned>(at - getCaptures().begin());
}

/// `wrt` names operands with a gradient, each once, with one f32
/// destination and result shaped as the operand (f32, f16 or bf16: the
/// gradient accumulates and is returned in f32 whatever the operand's type).
static LogicalResult verifyParamGrads(AttentionGradOp op) {
  ArrayAttr wrt = op.getWrtAttr();
  size_t n = wrt ? wrt.size() : 0;
  if (op.getParamGradInits().size() != n)
    return op.emitOpError() << "has " << op.getParamGradInits().size()
                            << " 'grads' destinations for " << n
                            << " 'wrt' entries";
  if (op.getParamGrads().size() != n)
    return op.emitOpError() << "has " << op.getParamGrads().size()
                            << " operand gradient results for " << n
                            << " 'wrt' entries";
  llvm::StringSet<> seen;
  for (auto [i, attr] : llvm::enumerate(wrt ? wrt.getValue()
                                            : ArrayRef<Attribute>())) {
    StringRef name = cast<StringAttr>(attr).getValue();
    if (!seen.insert(name).second)
      return op.emitOpError() << "'wrt' names '" << name << "' twice";
    Value operand = op.getGradOperand(name);
    if (!operand)
      return op.emitOpError() << "'wrt' entry '" << name
                              << "' names no operand with a gradient (sink, "
                                 "bias, rel_bias_table, temperature, or "
                                 "captureN for capture N of the op)";
    auto type = cast<RankedTensorType>(operand.getType());
    if (!isa<Float32Type, Float16Type, BFloat16Type>(type.getElementType()))
      return op.emitOpError()
             << "'wrt' entry '" << name
             << "' must be an f32, f16 or bf16 tensor, got " << type;
    Value init = op.getParamGradInits()[i];
    auto want = RankedTensorType::get(type.getShape(),
                                      Float32Type::get(op.getContext()));
    if (init.getType() != want)
      return op.emitOpError() << "gradient destination of '" << name
                              << "' must be " << want << ", got "
                              << init.getType();
    if (op.getParamGrads()[i].getType() != want)
      return op.emitOpError() << "gradient result of '" << name
                              << "' must be " << want << ", got "
                              << op.getParamGrads()[i].getType();
  }
  return success();
}

LogicalResult AttentionGradOp::verify() {
  FailureOr<ProblemDims> dims = verifyInputs(*this);
  if (failed(dims))
    return failure();
  const ProblemDims &d = *dims;
  Type elemType = getQuery().getType().getElementType();
  auto sameElem = [&](Type t) { return t == elemType; };

  // O and dO as the forward's output; dQ, dK, dV as Q, K, V.
  SmallVector<int64_t> oShape = outputShape(*this, d);
  if (failed(checkOperandShape(*this, getOut(), "out (O)", oShape, sameElem,
                               "the input's")) ||
      failed(checkOperandShape(*this, getGradOut(), "grad_out (dO)", oShape,
                               sameElem, "the input's")))
    return failure();
  for (auto [what, init, result, like] :
       {std::tuple<StringRef, Value, Value, Value>{"dQ", getGradQueryInit(),
                                                   getGradQuery(), getQuery()},
        {"dK", getGradKeyInit(), getGradKey(), getKey()},
        {"dV", getGradValueInit(), getGradValue(), getValue()}}) {
    auto likeType = cast<RankedTensorType>(like.getType());
    if (failed(checkOperandShape(*this, init, (what + " out").str(),
                                 likeType.getShape(), sameElem, "the input's")))
      return failure();
    if (result.getType() != init.getType())
      return emitOpError() << what << " result type " << result.getType()
                           << " differs from its out " << init.getType();
  }

  if (failed(verifyNormalizerAttr(*this)))
    return failure();
  Attribute normalizer = getNormalizerOrDefault();
  // The forward's row statistics, exactly when it has them.
  bool wantsLse = normalizerHasLSE(normalizer);
  if (wantsLse != static_cast<bool>(getLse()))
    return emitOpError() << (wantsLse ? "normalizer '" +
                                            getNormalizerName(normalizer) +
                                            "' needs the forward's 'lse'"
                                      : "normalizer '" +
                                            getNormalizerName(normalizer) +
                                            "' has no LSE, but 'lse' was "
                                            "given");
  if (getLse() &&
      failed(checkOperandShape(*this, getLse(), "lse",
                               {d.batch, d.qHeads, d.qLen}, isF32Elem, "f32")))
    return failure();

  if (failed(verifyVariantOperands(*this, d)) ||
      failed(verifyParamGrads(*this)))
    return failure();
  for (Attribute mod : getScoreModList())
    if (!hasScoreModGradient(mod))
      return emitOpError() << "score modifier " << scoreModName(mod)
                           << " has no gradient yet";
  return success();
}

/// A score_mod region must have a derivative with respect to the score (its
/// first argument), op by op.
static LogicalResult verifyScoreModDerivative(AttentionGradOp op) {
  if (op.getScoreModRegion().empty())
    return success();
  if (Operation *bad = firstUndifferentiable(op.getScoreModRegion(), 0)) {
    InFlightDiagnostic diag = op.emitOpError()
                              << "cannot differentiate the score_mod region "
                                 "with respect to the score: '"
                              << bad->getName() << "' has no derivative rule";
    diag.attachNote(bad->getLoc()) << "this op";
    return diag;
  }
  return success();
}

/// Each captured array in `wrt` must have a derivative through the
/// score_mod region's reads of it.
static LogicalResult verifyCaptureDerivatives(AttentionGradOp op) {
  ArrayAttr wrt = op.getWrtAttr();
  if (!wrt || op.getScoreModRegion().empty())
    return success();
  for (StringRef name : wrt.getAsValueRange<StringAttr>()) {
    std::optional<unsigned> capture = op.getGradCapture(name);
    if (!capture)
      continue;
    // score_mod arguments: (score, b, h, q_idx, kv_idx, captures...).
    if (Operation *bad =
            firstUndifferentiableRead(op.getScoreModRegion(), 5 + *capture)) {
      InFlightDiagnostic diag =
          op.emitOpError() << "cannot differentiate the score_mod region "
                              "with respect to '"
                           << name << "': '" << bad->getName()
                           << "' has no derivative rule";
      diag.attachNote(bad->getLoc()) << "this op";
      return diag;
    }
  }
  return success();
}

LogicalResult AttentionGradOp::verifyRegions() {
  if (failed(verifyVariantRegions(*this)) ||
      failed(verifyScoreModDerivative(*this)))
    return failure();
  return verifyCaptureDerivatives(*this);
}

/// Returns true if `simple` lacks a kind of data-dependent leaf that `mask`
/// has (each kind owns an operand group or a region of the op).
static bool dropsDataDependentLeaf(Attribute mask, Attribute simple) {
  auto kinds = [](Attribute m) {
    return std::make_tuple(
        maskContains<DocumentMaskAttr>(m), maskContains<TreeMaskAttr>(m),
        maskContains<DenseMaskAttr>(m), maskContains<MaskModAttr>(m));
  };
  return kinds(mask) != kinds(simple);
}

namespace {
/// Rewrites the mask into its simplest equivalent form (flattened and/or,
/// no `full` in conjunctions, no double negation), and drops defaults that
/// were spelled out.
template <typename OpT> struct SimplifyVariant : OpRewritePattern<OpT> {
  using OpRewritePattern<OpT>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpT op,
                                PatternRewriter &rewriter) const override {
    bool changed = false;
    if (Attribute mask = op.getMaskAttr()) {
      Attribute simple = simplifyMask(mask);
      // `x | full` loses x, but the op still carries x's operand or region
      // and would no longer verify; such a mask is kept as written.
      if (dropsDataDependentLeaf(mask, simple))
        simple = mask;
      if (isa<FullMaskAttr>(simple)) {
        rewriter.modifyOpInPlace(op, [&] { op.removeMaskAttr(); });
        changed = true;
      } else if (simple != mask) {
        rewriter.modifyOpInPlace(op, [&] { op.setMaskAttr(simple); });
        changed = true;
      }
    }
    if (isa_and_nonnull<SoftmaxAttr>(op.getNormalizerAttr())) {
      rewriter.modifyOpInPlace(op, [&] { op.removeNormalizerAttr(); });
      changed = true;
    }
    if (ArrayAttr mods = op.getScoreModsAttr(); mods && mods.empty()) {
      rewriter.modifyOpInPlace(op, [&] { op.removeScoreModsAttr(); });
      changed = true;
    }
    if (auto layout = op.getLayoutAttr();
        layout && layout.getValue() == Layout::bhsd) {
      rewriter.modifyOpInPlace(op, [&] { op.removeLayoutAttr(); });
      changed = true;
    }
    return success(changed);
  }
};
} // namespace

void AttentionOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                              MLIRContext *context) {
  results.add<SimplifyVariant<AttentionOp>>(context);
}

void AttentionGradOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                                  MLIRContext *context) {
  results.add<SimplifyVariant<AttentionGradOp>>(context);
}

//===----------------------------------------------------------------------===//
// MaskBlocksOp
//===----------------------------------------------------------------------===//

LogicalResult MaskBlocksOp::verify() {
  FailureOr<ProblemDims> dims = verifyInputs(*this);
  if (failed(dims))
    return failure();
  const ProblemDims &d = *dims;
  int64_t bq = getBlockQ(), bkv = getBlockKv();
  if (bq < 1 || bkv < 1)
    return emitOpError() << "block sizes must be positive, got block_q = "
                         << bq << " and block_kv = " << bkv;
  // Only the mask is classified: what the op would do to allowed scores
  // does not change which blocks allow anything.
  if (getNormalizerAttr() && !isa<SoftmaxAttr>(getNormalizerAttr()))
    return emitOpError() << "classifies the mask only and takes no "
                            "normalizer, got "
                         << getNormalizerAttr();
  if (!getScoreModList().empty() || !getScoreModRegion().empty())
    return emitOpError() << "classifies the mask only and takes no score "
                            "modifiers or score_mod region";
  auto blocks = [](int64_t n, int64_t block) {
    return ShapedType::isDynamic(n)
               ? n
               : static_cast<int64_t>(llvm::divideCeil(n, block));
  };
  if (failed(checkOperandShape(
          *this, getTableInit(), "table",
          {d.batch, d.qHeads, blocks(d.qLen, bq), blocks(d.kvLen, bkv)},
          [](Type t) { return t.isInteger(8); }, "i8")))
    return failure();
  if (getTable().getType() != getTableInit().getType())
    return emitOpError() << "result type " << getTable().getType()
                         << " differs from its out "
                         << getTableInit().getType();
  return verifyVariantOperands(*this, d);
}

LogicalResult MaskBlocksOp::verifyRegions() {
  return verifyVariantRegions(*this);
}

void MaskBlocksOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                               MLIRContext *context) {
  results.add<SimplifyVariant<MaskBlocksOp>>(context);
}

//===----------------------------------------------------------------------===//
// MergeOp
//===----------------------------------------------------------------------===//

LogicalResult MergeOp::verify() {
  if (getPartials().empty())
    return emitOpError() << "needs at least one partial result";
  if (getPartials().size() != getPartialLses().size())
    return emitOpError() << "has " << getPartials().size()
                         << " partial outputs but " << getPartialLses().size()
                         << " partial LSEs";
  auto oType = cast<RankedTensorType>(getOutInit().getType());
  if (oType.getRank() != 4 || !isAttnFloat(oType.getElementType()))
    return emitOpError() << "output must be a rank-4 f32, f16 or bf16 tensor, "
                            "got "
                         << oType;
  bool bshd = getLayoutOrDefault() == Layout::bshd;
  SmallVector<int64_t> lseShape = {oType.getDimSize(0),
                                   oType.getDimSize(bshd ? 2 : 1),
                                   oType.getDimSize(bshd ? 1 : 2)};
  for (auto [i, partial] : llvm::enumerate(getPartials()))
    if (failed(checkOperandShape(
            *this, partial, "partial output #" + std::to_string(i),
            oType.getShape(), [&](Type t) { return isAttnFloat(t); },
            "f32, f16 or bf16")))
      return failure();
  for (auto [i, lse] : llvm::enumerate(getPartialLses()))
    if (failed(checkOperandShape(*this, lse,
                                 "partial LSE #" + std::to_string(i), lseShape,
                                 isF32Elem, "f32")))
      return failure();
  if (failed(checkOperandShape(*this, getLseInit(), "LSE", lseShape, isF32Elem,
                               "f32")))
    return failure();
  if (getOutput().getType() != oType ||
      getLse().getType() != getLseInit().getType())
    return emitOpError() << "result types must equal the outs' types";
  return success();
}

//===----------------------------------------------------------------------===//
// PositionOp
//===----------------------------------------------------------------------===//

LogicalResult PositionOp::verify() {
  if (!(*this)->getParentOfType<VariantOpInterface>())
    return emitOpError() << "is only valid inside the score_mod or mask_mod "
                            "region of attn.attention or attn.attention_grad";
  return success();
}
