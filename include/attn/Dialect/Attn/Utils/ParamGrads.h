//===- ParamGrads.h - Gradients of float operands ---------------*- C++ -*-===//
//
// The gradients of attn.attention_grad's float operands (its `wrt` list)
// that both lowerings of the op share: those that need no per-element
// score, computed on tensors with linalg ops whose reductions run in a
// fixed order, so the results are bitwise reproducible.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_UTILS_PARAMGRADS_H
#define ATTN_DIALECT_ATTN_UTILS_PARAMGRADS_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::attn {

/// The gradient of the sink logits into `init` ([Hq] f32):
///   d sink[h] = -sum_{b,i} exp(sink[h] - LSE[b,h,i]) * Delta[b,h,i],
///   Delta[b,h,i] = sum_e dO[b,h,i,e] * O[b,h,i,e],
/// a row with LSE = -inf contributing 0.
Value emitSinkGradient(ImplicitLocOpBuilder &b, AttentionGradOp op,
                       Value init);

/// The results of the op's `wrt` entries, in order, emitted here: the
/// sink's, and null for the others (captures, bias, rel_bias_table,
/// temperature), whose gradients need the per-element dS' that each
/// lowering computes.
SmallVector<Value> emitParamGradients(ImplicitLocOpBuilder &b,
                                      AttentionGradOp op);

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_UTILS_PARAMGRADS_H
