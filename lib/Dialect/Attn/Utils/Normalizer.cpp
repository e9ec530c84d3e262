//===- Normalizer.cpp - Streaming weights and row finalisation ------------===//
//
// The per-element facts come from the normalizer attribute
// (NormalizerInterfaceImpl.cpp); the row epilogue, which only the fused
// code generators share, is here.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Utils/Normalizer.h"

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
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
    Value mSink = o.fmax(mv, sink);
    outScale = o.exp(o.fsub(mv, mSink));
    lv = o.fadd(o.fmul(lv, outScale), o.exp(o.fsub(sink, mSink)));
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
