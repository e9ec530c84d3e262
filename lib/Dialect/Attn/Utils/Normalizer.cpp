//===- Normalizer.cpp - Streaming weights and row finalisation ------------===//

#include "attn/Dialect/Attn/Utils/Normalizer.h"

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "llvm/ADT/TypeSwitch.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;

StreamingNormalizer::StreamingNormalizer(AttentionOp op) {
  TypeSwitch<Attribute>(op.getNormalizerOrDefault())
      .Case<SoftmaxAttr>([&](auto) { norm = Kind::Softmax; })
      .Case<SinkSoftmaxAttr>([&](auto) { norm = Kind::SinkSoftmax; })
      .Case<SoftplusAttr>([&](auto) { norm = Kind::Softplus; })
      .Case<SigmoidAttr>([&](SigmoidAttr s) {
        norm = Kind::Sigmoid;
        den = Denom::One;
        if (FloatAttr given = s.getBeta())
          beta = given.getValueAsDouble();
      })
      .Case<ReluAttr>([&](ReluAttr r) {
        norm = Kind::Relu;
        reluPower = r.getPower();
        switch (r.getNorm()) {
        case ReluNorm::none:
          den = Denom::One;
          break;
        case ReluNorm::seq_len:
          den = Denom::SeqLen;
          break;
        case ReluNorm::row_sum:
          den = Denom::RowSum;
          break;
        }
      });
}

Value StreamingNormalizer::emitSigmoidBeta(ImplicitLocOpBuilder &b,
                                           Value kvLenB) {
  if (norm != Kind::Sigmoid)
    return sigmoidBeta = Value();
  Arith o{b};
  sigmoidBeta =
      beta ? o.f32(*beta) : arith::NegFOp::create(b, o.log(o.toF32(kvLenB)));
  return sigmoidBeta;
}

Value StreamingNormalizer::capShift(Arith &o, Value m) const {
  if (norm != Kind::Softplus)
    return m;
  return o.fmin(m, o.cst(m.getType(), 0.0));
}

Value StreamingNormalizer::weight(ImplicitLocOpBuilder &b, Value s,
                                  Value shift) const {
  Arith o{b};
  Type t = s.getType();
  Value zero = o.cst(t, 0.0), oneF = o.cst(t, 1.0);
  Value w;
  switch (norm) {
  case Kind::Softmax:
  case Kind::SinkSoftmax:
    // exp(s - m); exp(-inf) = 0 covers masked keys.
    return o.exp(o.fsub(s, shift));
  case Kind::Softplus: {
    // softplus(s) * exp(-m) with m = min(running max, 0) (see the
    // reference lowering): for s >= 0, m = 0 and softplus(s) =
    // s + log1p(exp(-s)); for s < 0, exp(s - m) * g(s) with
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
    w = o.select(o.fcmp(arith::CmpFPredicate::OLT, s, zero), neg, nonNeg);
    break;
  }
  case Kind::Sigmoid: {
    Value bias = isa<VectorType>(t) ? o.splat(t, sigmoidBeta) : sigmoidBeta;
    Value x = o.fadd(s, bias);
    w = o.fdiv(oneF, o.fadd(oneF, o.exp(arith::NegFOp::create(b, x))));
    break;
  }
  case Kind::Relu: {
    Value x = o.fmax(s, zero);
    w = reluPower == 2 ? o.fmul(x, x) : x;
    break;
  }
  }
  // A masked key weighs exactly 0 (sigmoid's default beta is +inf for an
  // empty cache, and -inf + inf would be NaN).
  return o.select(o.isNegInf(s), zero, w);
}

std::pair<Value, Value> StreamingNormalizer::finalize(ImplicitLocOpBuilder &b,
                                                      Value mv, Value lv,
                                                      Value sink, Value kvLenB,
                                                      bool wantLse) const {
  // inv = 1 / Z (0 when Z = 0); LSE = m + log Z (-inf when Z = 0). The sink
  // of sink softmax joins the denominator only.
  Arith o{b};
  Type t = mv.getType();
  Value zeroV = o.cst(t, 0.0), oneV = o.cst(t, 1.0), outScale = oneV;
  if (norm == Kind::SinkSoftmax) {
    if (isa<VectorType>(t))
      sink = o.splat(t, sink);
    Value mSink = o.fmax(mv, sink);
    outScale = o.exp(o.fsub(mv, mSink));
    lv = o.fadd(o.fmul(lv, outScale), o.exp(o.fsub(sink, mSink)));
    mv = mSink;
  }
  Value z;
  switch (den) {
  case Denom::One:
    z = oneV;
    break;
  case Denom::SeqLen: {
    Value len = o.toF32(kvLenB);
    z = isa<VectorType>(t) ? o.splat(t, len) : len;
    break;
  }
  case Denom::RowSum:
    z = lv;
    break;
  }
  Value isZero = o.fcmp(arith::CmpFPredicate::OEQ, z, zeroV);
  Value inv =
      o.select(isZero, zeroV, o.fdiv(outScale, o.select(isZero, oneV, z)));
  Value lse;
  if (wantLse) {
    Value base = o.log(o.select(isZero, oneV, z));
    if (norm != Kind::Relu)
      base = o.fadd(base, o.select(o.isNegInf(mv), zeroV, mv));
    lse = o.select(isZero, o.cst(t, -std::numeric_limits<double>::infinity()),
                   base);
  }
  return {inv, lse};
}
