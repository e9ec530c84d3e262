//===- Lowering.h - Driving the attn lowering patterns ----------*- C++ -*-===//
//
// How the lowering passes (attn-lower-to-linalg, attn-tile-cpu,
// attn-tile-gpu) apply their patterns, so that they fail alike, and the
// pattern shape the code generators share: resolve a tile plan, lower.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_UTILS_LOWERING_H
#define ATTN_DIALECT_ATTN_UTILS_LOWERING_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {

/// Applies `patterns` once to every op under `root` with the walk driver:
/// the lowerings create no ops they would match again, and no folding keeps
/// the output as the patterns wrote it. Fails when an op that `remains`
/// accepts is left afterwards: its pattern failed and reported why on it.
LogicalResult applyPatternsOnce(Operation *root, RewritePatternSet &&patterns,
                                function_ref<bool(Operation *)> remains);

/// applyPatternsOnce for a code generator's pass: fails when an
/// attn.attention is left.
inline LogicalResult lowerAttentionOps(Operation *root,
                                       RewritePatternSet &&patterns) {
  return applyPatternsOnce(root, std::move(patterns),
                           [](Operation *op) { return isa<AttentionOp>(op); });
}

/// Lowers each op of type OpT (attn.attention, attn.attention_grad) for a
/// target: resolves the op's tile plan with `resolve` (which reports on the
/// op why a plan cannot be made, and fails: the op stays, for
/// applyPatternsOnce to fail on) and lowers the op under that plan with
/// `lower`.
template <typename OpT, typename TargetT, typename PlanT,
          FailureOr<PlanT> (*resolve)(OpT, const TargetT &),
          LogicalResult (*lower)(RewriterBase &, OpT, const PlanT &)>
struct ResolvePlanAndLowerOp : OpRewritePattern<OpT> {
  ResolvePlanAndLowerOp(MLIRContext *context, TargetT target)
      : OpRewritePattern<OpT>(context), target(std::move(target)) {}
  LogicalResult matchAndRewrite(OpT op,
                                PatternRewriter &rewriter) const override {
    FailureOr<PlanT> plan = resolve(op, target);
    if (failed(plan))
      return failure();
    return lower(rewriter, op, *plan);
  }
  TargetT target;
};

/// ResolvePlanAndLowerOp of attn.attention.
template <typename TargetT, typename PlanT,
          FailureOr<PlanT> (*resolve)(AttentionOp, const TargetT &),
          LogicalResult (*lower)(RewriterBase &, AttentionOp, const PlanT &)>
using ResolvePlanAndLower =
    ResolvePlanAndLowerOp<AttentionOp, TargetT, PlanT, resolve, lower>;

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_UTILS_LOWERING_H
