//===- Lowering.h - Driving the attn lowering patterns ----------*- C++ -*-===//
//
// How the lowering passes (attn-lower-to-linalg, attn-tile-cpu,
// attn-tile-gpu) apply their patterns, so that they fail alike.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_UTILS_LOWERING_H
#define ATTN_DIALECT_ATTN_UTILS_LOWERING_H

#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {

/// Applies `patterns` once to every op under `root` with the walk driver:
/// the lowerings create no ops they would match again, and no folding keeps
/// the output as the patterns wrote it. Fails when an op that `remains`
/// accepts is left afterwards: its pattern failed and reported why on it.
LogicalResult applyPatternsOnce(Operation *root, RewritePatternSet &&patterns,
                                function_ref<bool(Operation *)> remains);

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_UTILS_LOWERING_H
