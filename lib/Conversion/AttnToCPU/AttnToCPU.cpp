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
/// attn.attention_grad to the fused backward where it applies; the others
/// stay for the reference lowering.
struct TileAttentionGrad : OpRewritePattern<AttentionGradOp> {
  TileAttentionGrad(MLIRContext *context, CPUTarget target)
      : OpRewritePattern<AttentionGradOp>(context), target(target) {}
  LogicalResult matchAndRewrite(AttentionGradOp op,
                                PatternRewriter &rewriter) const override {
    if (whyNoFusedGrad(op))
      return failure();
    return tileAttentionGradForCPU(rewriter, op,
                                   resolveCPUGradPlan(op, target));
  }
  CPUTarget target;
};
} // namespace

void mlir::attn::populateAttnToCPUPatterns(RewritePatternSet &patterns,
                                           const CPUTarget &target) {
  patterns.add<ResolvePlanAndLower<CPUTarget, CPUTilePlan, resolveCPUTilePlan,
                                   tileAttentionForCPU>>(patterns.getContext(),
                                                         target);
  patterns.add<TileAttentionGrad>(patterns.getContext(), target);
}

namespace {
struct AttnTileCPUPass : attn::impl::AttnTileCPUBase<AttnTileCPUPass> {
  using AttnTileCPUBase::AttnTileCPUBase;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateAttnToCPUPatterns(
        patterns, CPUTarget{vectorWidth, threads, bf16Dot, useAmx, f16Amx});
    if (failed(lowerAttentionOps(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
