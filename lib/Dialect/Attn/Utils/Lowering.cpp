//===- Lowering.cpp - Driving the attn lowering patterns ------------------===//

#include "attn/Dialect/Attn/Utils/Lowering.h"

#include "mlir/Transforms/WalkPatternRewriteDriver.h"

using namespace mlir;

LogicalResult mlir::attn::applyPatternsOnce(
    Operation *root, RewritePatternSet &&patterns,
    function_ref<bool(Operation *)> remains) {
  walkAndApplyPatterns(root, std::move(patterns));
  WalkResult left = root->walk([&](Operation *op) {
    return remains(op) ? WalkResult::interrupt() : WalkResult::advance();
  });
  return failure(left.wasInterrupted());
}
