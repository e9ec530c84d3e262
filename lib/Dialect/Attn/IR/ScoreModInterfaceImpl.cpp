//===- ScoreModInterfaceImpl.cpp - ScoreModAttrInterface of modifiers -----===//
//
// Each declarative score modifier of AttnAttrs.td, emitted by itself as a
// function of the f32 score, the head and the query position / key index
// (signed `index` values). ScoreEmitter applies them in the op's order, into
// every code generator; the modifiers that read the op's operands (bias,
// temperature, T5 buckets) or a region stay with it.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/Utils/Arith.h"

using namespace mlir;
using namespace mlir::attn;

Value AlibiAttr::emitScoreMod(ImplicitLocOpBuilder &b, Value s,
                              const ScorePoint &pt, Value qHeads) const {
  Arith a{b};
  Value slope;
  if (!asDoubles(getSlopes()).empty()) {
    slope = a.tableF32(asDoubles(getSlopes()), pt.h);
  } else {
    // slope = 2^(-8 (h + 1) / Hq)
    Value num = a.toF32(a.add(pt.h, a.idx(1)));
    Value expo = a.fdiv(a.fmul(a.f32(-8.0), num), a.toF32(qHeads));
    slope = math::Exp2Op::create(b, expo);
  }
  Value dist = a.sub(pt.pos, pt.j);
  if (getSymmetric())
    dist = a.absI(dist);
  // s - slope * (p - j), or * |p - j| when symmetric
  return a.fsub(s, a.fmul(slope, a.toF32(dist)));
}

Value SoftcapAttr::emitScoreMod(ImplicitLocOpBuilder &b, Value s,
                                const ScorePoint &pt, Value qHeads) const {
  Arith a{b};
  // cap * tanh(s / cap)
  Value cap = a.f32(getCap().getValueAsDouble());
  return a.fmul(cap, math::TanhOp::create(b, a.fdiv(s, cap)));
}

Value GaussianAttr::emitScoreMod(ImplicitLocOpBuilder &b, Value s,
                                 const ScorePoint &pt, Value qHeads) const {
  Arith a{b};
  // s - (p - j - mu)^2 / (2 sigma^2)
  Value mu = a.tableF32(asDoubles(getMu()), pt.h);
  Value sigma = a.tableF32(asDoubles(getSigma()), pt.h);
  Value d = a.fsub(a.toF32(a.sub(pt.pos, pt.j)), mu);
  Value twoVar = a.fmul(a.f32(2.0), a.fmul(sigma, sigma));
  return a.fsub(s, a.fdiv(a.fmul(d, d), twoVar));
}
