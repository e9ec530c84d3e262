//===- Normalizer.cpp - Streaming weights and row finalisation ------------===//
//
// The per-element facts come from the normalizer attribute
// (NormalizerInterfaceImpl.cpp); the row epilogue, which only the fused
// code generators share, is here.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Utils/Normalizer.h"

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "llvm/ADT/TypeSwitch.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;

StreamingNormalizer::StreamingNormalizer(AttentionOp op)
    : attr(cast<NormalizerAttrInterface>(op.getNormalizerOrDefault())) {
  norm = TypeSwitch<Attribute, Kind>(attr)
             .Case<SoftmaxAttr>([](auto) { return Kind::Softmax; })
             .Case<SinkSoftmaxAttr>([](auto) { return Kind::SinkSoftmax; })
             .Case<SoftplusAttr>([](auto) { return Kind::Softplus; })
             .Case<SigmoidAttr>([](auto) { return Kind::Sigmoid; })
             .Case<ReluAttr>([](auto) { return Kind::Relu; });
}

Value StreamingNormalizer::emitSigmoidBeta(ImplicitLocOpBuilder &b,
                                           Value kvLenB) {
  return sigmoidBeta = attr.emitRowBias(b, kvLenB);
}

Value StreamingNormalizer::capShift(Arith &o, Value m) const {
  return attr.emitShiftCap(o.b, m);
}

Value StreamingNormalizer::weight(ImplicitLocOpBuilder &b, Value s,
                                  Value shift) const {
  return attr.emitWeight(b, s, shift, sigmoidBeta);
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
    // Shifted by 0 where both are -inf (a fully masked row without a
    // sink: Z = 0, not exp(-inf - -inf) = NaN).
    Value mSink = o.fmax(mv, sink);
    Value shift = o.select(o.isNegInf(mSink), zeroV, mSink);
    outScale = o.exp(o.fsub(mv, shift));
    lv = o.fadd(o.fmul(lv, outScale), o.exp(o.fsub(sink, shift)));
    mv = mSink;
  }
  Value z;
  switch (denom()) {
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

std::pair<Value, Value>
mlir::attn::emitGradWeightAndFactor(ImplicitLocOpBuilder &b,
                                    NormalizerAttrInterface normalizer, Value s,
                                    Value lse, Value rowBias, Value kvLenB) {
  Arith a{b};
  Type t = s.getType();
  Value zero = a.cst(t, 0.0), one = a.cst(t, 1.0);
  Value negInf = a.cst(t, -std::numeric_limits<float>::infinity());
  auto notNegInf = [&](Value x) {
    return a.fcmp(arith::CmpFPredicate::UNE, x, negInf);
  };
  Value live = notNegInf(s);
  if (lse)
    live = a.land(live, notNegInf(lse));
  // exp(x - LSE) where live, else 0.
  auto overZ = [&](Value logW) {
    return a.select(live, a.exp(a.fsub(logW, lse)), zero);
  };
  return TypeSwitch<Attribute, std::pair<Value, Value>>(normalizer)
      // w = exp(s'): P = exp(s' - LSE), w'/Z = P. The sink is in the LSE
      // only.
      .Case<SoftmaxAttr, SinkSoftmaxAttr>([&](auto) {
        Value p = overZ(s);
        return std::make_pair(p, p);
      })
      // Z = 1, w = sigmoid(s' + beta): w' = P (1 - P).
      .Case<SigmoidAttr>([&](auto) {
        Value p = normalizer.emitWeight(b, s, Value(), rowBias);
        return std::make_pair(p, a.fmul(p, a.fsub(one, p)));
      })
      // w = softplus(s'), w' = sigmoid(s'), Z = exp(LSE), both taken as
      // exp(log(.) - LSE) so that rows of very negative scores (tiny Z) do
      // not underflow: log softplus(x) = x below -20 (to f32 precision),
      // log sigmoid(x) = min(x, 0) - log1p(exp(-|x|)).
      .Case<SoftplusAttr>([&](auto) {
        Value x = a.select(live, s, zero);
        Value tail = math::Log1pOp::create(
            b, a.exp(arith::NegFOp::create(b, math::AbsFOp::create(b, x))));
        Value softplus = a.fadd(a.fmax(x, zero), tail);
        Value far = a.fcmp(arith::CmpFPredicate::OLT, x, a.cst(t, -20.0));
        Value logW = a.select(far, x, a.log(softplus));
        Value logSig = a.fsub(a.fmin(x, zero), tail);
        return std::make_pair(overZ(logW), overZ(logSig));
      })
      // w = relu(s')^k, w' = k relu(s')^(k-1) (0 at s' = 0), Z = 1,
      // kv_len(b) or exp(LSE).
      .Case<ReluAttr>([&](ReluAttr relu) {
        Value r = a.fmax(s, zero);
        bool square = relu.getPower() == 2;
        Value w = square ? a.fmul(r, r) : r;
        Value dw = square ? a.fmul(a.cst(t, 2.0), r)
                          : a.select(a.fcmp(arith::CmpFPredicate::OGT, s, zero),
                                     one, zero);
        Value zInv;
        switch (relu.getNorm()) {
        case ReluNorm::none:
          zInv = one;
          break;
        case ReluNorm::seq_len: {
          // 1 / kv_len(b), 0 for an empty cache: a scalar per row.
          Value len = a.toF32(kvLenB);
          Value zeroS = a.f32(0.0), oneS = a.f32(1.0);
          Value empty = a.fcmp(arith::CmpFPredicate::OEQ, len, zeroS);
          zInv =
              a.select(empty, zeroS, a.fdiv(oneS, a.select(empty, oneS, len)));
          if (isa<VectorType>(t))
            zInv = a.splat(t, zInv);
          break;
        }
        case ReluNorm::row_sum:
          zInv = overZ(zero);
          break;
        }
        return std::make_pair(a.fmul(w, zInv), a.fmul(dw, zInv));
      })
      .Default([](Attribute) -> std::pair<Value, Value> {
        llvm_unreachable("the verifier admits only normalizers");
      });
}
