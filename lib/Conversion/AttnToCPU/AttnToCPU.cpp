//===- AttnToCPU.cpp - attn.attention to fused CPU loops ------------------===//
//
// The entry points of the fused CPU code generator: on one op, as a
// pattern, and the attn-tile-cpu pass.
//
//===----------------------------------------------------------------------===//

#include "CPUTiler.h"

#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/Utils/Lowering.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNTILECPU
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

LogicalResult mlir::attn::tileAttentionForCPU(RewriterBase &rewriter,
                                              AttentionOp op,
                                              const CPUTilePlan &plan) {
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  b.setInsertionPoint(op);
  return CPUTiler(op, plan, b).run();
}

namespace {
/// Resolves the op's plan and tiles it.
struct TileAttentionForCPU : OpRewritePattern<AttentionOp> {
  TileAttentionForCPU(MLIRContext *context, const CPUTarget &target)
      : OpRewritePattern(context), target(target) {}
  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<CPUTilePlan> plan = resolveCPUTilePlan(op, target);
    if (failed(plan))
      return failure();
    return tileAttentionForCPU(rewriter, op, *plan);
  }
  CPUTarget target;
};

struct AttnTileCPUPass : attn::impl::AttnTileCPUBase<AttnTileCPUPass> {
  using AttnTileCPUBase::AttnTileCPUBase;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateAttnToCPUPatterns(patterns,
                              CPUTarget{vectorWidth, threads, bf16Dot});
    if (failed(applyPatternsOnce(getOperation(), std::move(patterns),
                                 [](Operation *op) {
                                   return isa<AttentionOp>(op);
                                 })))
      signalPassFailure();
  }
};
} // namespace

void mlir::attn::populateAttnToCPUPatterns(RewritePatternSet &patterns,
                                           const CPUTarget &target) {
  patterns.add<TileAttentionForCPU>(patterns.getContext(), target);
}
