//===- NormalizerInterfaceImpl.cpp - NormalizerAttrInterface --------------===//
//
// The streaming facts of every normalizer of AttnAttrs.td, stated once for
// the fused code generators (through StreamingNormalizer, on vectors of
// query rows or per-thread scalars) and the reference lowering (on whole
// rows): the row denominator Z, whether weights are taken relative to a
// row shift m, the shift's cap, sigmoid's additive bias, and the
// unnormalised weight of one modified score s. The weight of a masked key
// (s = -inf) is exactly 0.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/Utils/Arith.h"

using namespace mlir;
using namespace mlir::attn;

/// The constants 0 and 1 of the score's type (f32 or a vector of f32).
static std::pair<Value, Value> zeroAndOne(Arith &o, Type t) {
  Value zero = o.cst(t, 0.0), one = o.cst(t, 1.0);
  return {zero, one};
}

/// A masked key weighs exactly 0 whatever `w` is: sigmoid's default beta
/// is +inf for an empty cache, and -inf + inf would be NaN.
static Value zeroWhereMasked(Arith &o, Value s, Value zero, Value w) {
  return o.select(o.isNegInf(s), zero, w);
}

//===----------------------------------------------------------------------===//
// softmax, sink_softmax
//===----------------------------------------------------------------------===//

RowDenominator SoftmaxAttr::getRowDenominator() const {
  return RowDenominator::RowSum;
}
bool SoftmaxAttr::isShifted() const { return true; }

Value SoftmaxAttr::emitWeight(ImplicitLocOpBuilder &b, Value s, Value shift,
                              Value rowBias) const {
  Arith o{b};
  // exp(s - m); exp(-inf) = 0 covers masked keys.
  return o.exp(o.fsub(s, shift));
}

// The sink joins only the denominator (StreamingNormalizer::finalize), so
// the streaming form is softmax's.
static SoftmaxAttr softmaxOf(SinkSoftmaxAttr attr) {
  return SoftmaxAttr::get(attr.getContext());
}

RowDenominator SinkSoftmaxAttr::getRowDenominator() const {
  return softmaxOf(*this).getRowDenominator();
}
bool SinkSoftmaxAttr::isShifted() const { return softmaxOf(*this).isShifted(); }

Value SinkSoftmaxAttr::emitWeight(ImplicitLocOpBuilder &b, Value s, Value shift,
                                  Value rowBias) const {
  return softmaxOf(*this).emitWeight(b, s, shift, rowBias);
}

//===----------------------------------------------------------------------===//
// softplus
//===----------------------------------------------------------------------===//

RowDenominator SoftplusAttr::getRowDenominator() const {
  return RowDenominator::RowSum;
}
bool SoftplusAttr::isShifted() const { return true; }

/// m' = min(m, 0): softplus(s) >= exp(s), so a row whose scores are all far
/// below 0 keeps a representable Z once scaled by exp(-m').
Value SoftplusAttr::emitShiftCap(ImplicitLocOpBuilder &b, Value m) const {
  Arith o{b};
  return o.fmin(m, o.cst(m.getType(), 0.0));
}

Value SoftplusAttr::emitWeight(ImplicitLocOpBuilder &b, Value s, Value shift,
                               Value rowBias) const {
  Arith o{b};
  Type t = s.getType();
  auto [zero, oneF] = zeroAndOne(o, t);
  // softplus(s) * exp(-m) with m <= 0 capped as above: for s >= 0, m = 0 and
  // softplus(s) = s + log1p(exp(-s)); for s < 0, exp(s - m) * g(s) with
  // g(s) = log1p(exp(s)) / exp(s), which is 1 to f32 precision below -20.
  Value pos = o.fmax(s, zero);
  Value e = o.exp(arith::NegFOp::create(b, math::AbsFOp::create(b, s)));
  Value nonNeg = o.fadd(pos, math::Log1pOp::create(b, e));
  Value far = o.fcmp(arith::CmpFPredicate::OLT, s, o.cst(t, -20.0));
  Value sc = o.select(far, zero, s);
  Value g = o.fmul(math::Log1pOp::create(b, o.exp(sc)),
                   o.exp(arith::NegFOp::create(b, sc)));
  g = o.select(far, oneF, g);
  Value neg = o.fmul(o.exp(o.fsub(s, shift)), g);
  Value w = o.select(o.fcmp(arith::CmpFPredicate::OLT, s, zero), neg, nonNeg);
  return zeroWhereMasked(o, s, zero, w);
}

//===----------------------------------------------------------------------===//
// sigmoid
//===----------------------------------------------------------------------===//

RowDenominator SigmoidAttr::getRowDenominator() const {
  return RowDenominator::One;
}
bool SigmoidAttr::isShifted() const { return false; }

Value SigmoidAttr::emitRowBias(ImplicitLocOpBuilder &b, Value kvLenB) const {
  Arith o{b};
  // beta, or -log(kv_len(b)) by default
  if (FloatAttr given = getBeta())
    return o.f32(given.getValueAsDouble());
  return arith::NegFOp::create(b, o.log(o.toF32(kvLenB)));
}

Value SigmoidAttr::emitWeight(ImplicitLocOpBuilder &b, Value s, Value shift,
                              Value rowBias) const {
  Arith o{b};
  Type t = s.getType();
  auto [zero, oneF] = zeroAndOne(o, t);
  // 1 / (1 + exp(-(s + beta)))
  Value bias = isa<VectorType>(t) ? o.splat(t, rowBias) : rowBias;
  Value x = o.fadd(s, bias);
  Value w = o.fdiv(oneF, o.fadd(oneF, o.exp(arith::NegFOp::create(b, x))));
  return zeroWhereMasked(o, s, zero, w);
}

//===----------------------------------------------------------------------===//
// relu
//===----------------------------------------------------------------------===//

RowDenominator ReluAttr::getRowDenominator() const {
  switch (getNorm()) {
  case ReluNorm::none:
    return RowDenominator::One;
  case ReluNorm::seq_len:
    return RowDenominator::SeqLen;
  case ReluNorm::row_sum:
    return RowDenominator::RowSum;
  }
  llvm_unreachable("unknown relu norm");
}
bool ReluAttr::isShifted() const { return false; }

Value ReluAttr::emitWeight(ImplicitLocOpBuilder &b, Value s, Value shift,
                           Value rowBias) const {
  Arith o{b};
  auto [zero, oneF] = zeroAndOne(o, s.getType());
  // relu(s)^power, power in {1, 2}
  Value x = o.fmax(s, zero);
  Value w = getPower() == 2 ? o.fmul(x, x) : x;
  return zeroWhereMasked(o, s, zero, w);
}
