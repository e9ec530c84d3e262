//===- Differentiate.h - Which region ops have derivatives ------*- C++ -*-===//
//
// A score_mod region's derivative with respect to the score, ds'/ds, is
// computed by forward-mode differentiation of its arith/math body
// (ScoreEmitter emits it; the rules are in ScoreEmitter.cpp). This header
// says which ops have a rule, so that the verifier of attn.attention_grad can
// name the first op of a region it cannot differentiate.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_DIFFERENTIATE_H
#define ATTN_DIALECT_ATTN_IR_DIFFERENTIATE_H

#include "mlir/IR/Operation.h"
#include "mlir/IR/Region.h"

namespace mlir::attn {

/// Whether `op` has a forward-mode rule: float arithmetic (add, sub, mul,
/// div, neg, min/max, select, abs, floor-like roundings, extf/truncf, fma)
/// and the math functions exp, exp2, log, log2, tanh, sqrt, rsqrt, sin,
/// cos, powf.
bool hasTangentRule(Operation *op);

/// The first op of `region`'s block whose float results depend on block
/// argument `arg` and that has no tangent rule (or holds regions); null when
/// the region can be differentiated with respect to `arg`. Integer and i1
/// results (comparisons, conversions to integers) carry no derivative.
Operation *firstUndifferentiable(Region &region, unsigned arg);

/// The same with respect to the values read from block argument `arg` (a
/// captured tensor) by tensor.extract ops of the block; a read nested in
/// an op's region is itself returned.
Operation *firstUndifferentiableRead(Region &region, unsigned arg);

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_IR_DIFFERENTIATE_H
