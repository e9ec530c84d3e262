//===- Transforms.h - attn transformations on single ops --------*- C++ -*-===//
//
// Entry points of the attn transformations that operate on one op, so that
// passes, pipelines and tests can call them directly.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_TRANSFORMS_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_TRANSFORMS_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {

/// Replaces `op` with the reference computation (materialised scores).
LogicalResult lowerAttentionToLinalg(RewriterBase &rewriter, AttentionOp op);

/// Replaces `op` with the reference computation of its gradients
/// (materialised scores and weights, recomputed from the forward's LSE).
LogicalResult lowerAttentionGradToLinalg(RewriterBase &rewriter,
                                         AttentionGradOp op);

/// Replaces `op` with an elementwise LSE-weighted combination: two
/// linalg.generic ops on tensors, returned in order (the LSE of each row,
/// then each element of O, which reads that LSE).
FailureOr<SmallVector<linalg::GenericOp>>
lowerMergeToLinalg(RewriterBase &rewriter, MergeOp op);

/// Replaces `op` with loops that evaluate its mask block by block
/// (LowerMaskBlocks.cpp); a parallel loop over (batch, head, query block).
LogicalResult lowerMaskBlocks(RewriterBase &rewriter, MaskBlocksOp op);

/// Adds patterns that apply the four lowerings above.
void populateLowerToLinalgPatterns(RewritePatternSet &patterns);

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_TRANSFORMS_H
