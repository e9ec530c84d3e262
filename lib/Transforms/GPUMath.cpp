//===- GPUMath.cpp - Math in GPU kernels without libdevice ----------------===//
//
// The attn-gpu-math pass (Passes.td).
//
//===----------------------------------------------------------------------===//

#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNGPUMATH
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {
/// Math in GPU kernels without libdevice: exp and log through the PTX
/// approximations ex2.approx / lg2.approx (about 2 ulp, as FlashAttention's
/// exp2f), log1p, expm1 and tanh as MLIR's polynomials, and fma, floor,
/// ceil, fabs and sqrt as LLVM intrinsics that NVPTX selects natively.
/// convert-gpu-to-nvvm would otherwise call libdevice for all of them,
/// which only links when the CUDA toolkit is found at compile time.
struct AttnGPUMathPass : attn::impl::AttnGPUMathBase<AttnGPUMathPass> {

  template <typename Op> struct ToIntrinsic : OpRewritePattern<Op> {
    ToIntrinsic(MLIRContext *ctx, StringRef name, double inScale = 1.0,
                double outScale = 1.0)
        : OpRewritePattern<Op>(ctx), name(name), inScale(inScale),
          outScale(outScale) {}
    LogicalResult matchAndRewrite(Op op,
                                  PatternRewriter &rewriter) const override {
      Type f32 = rewriter.getF32Type();
      if (op->getResult(0).getType() != f32)
        return rewriter.notifyMatchFailure(op, "only scalar f32");
      Location loc = op.getLoc();
      auto scaled = [&](Value v, double k) -> Value {
        if (k == 1.0)
          return v;
        Value c = arith::ConstantOp::create(rewriter, loc,
                                            rewriter.getF32FloatAttr(k));
        return arith::MulFOp::create(rewriter, loc, v, c);
      };
      SmallVector<Value> args(op->getOperands());
      args[0] = scaled(args[0], inScale);
      Value r = LLVM::CallIntrinsicOp::create(
                    rewriter, loc, f32, rewriter.getStringAttr(name), args)
                    .getResult(0);
      rewriter.replaceOp(op, scaled(r, outScale));
      return success();
    }
    std::string name;
    double inScale, outScale;
  };

  /// |x| of integers and indices as a compare and select (the GPU
  /// conversion has no pattern for math.absi on index).
  struct AbsIToSelect : OpRewritePattern<math::AbsIOp> {
    using OpRewritePattern::OpRewritePattern;
    LogicalResult matchAndRewrite(math::AbsIOp op,
                                  PatternRewriter &rewriter) const override {
      Location loc = op.getLoc();
      Value x = op.getOperand();
      Value zero = arith::ConstantOp::create(rewriter, loc,
                                             rewriter.getZeroAttr(x.getType()));
      Value neg = arith::SubIOp::create(rewriter, loc, zero, x);
      Value isNeg = arith::CmpIOp::create(rewriter, loc,
                                          arith::CmpIPredicate::slt, x, zero);
      rewriter.replaceOpWithNewOp<arith::SelectOp>(op, isNeg, neg, x);
      return success();
    }
  };

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    populateMathPolynomialApproximationPatterns(patterns, [](StringRef name) {
      return llvm::is_contained({"math.expm1", "math.log1p", "math.tanh",
                                 "math.sin", "math.cos"},
                                name);
    });
    // powf as exp(b * log(a)) with the sign and zero cases, then the
    // intrinsics below.
    math::populateExpansionPatterns(patterns, {"powf"});
    patterns.add<AbsIToSelect>(ctx);
    constexpr double kLog2E = 1.4426950408889634, kLn2 = 0.6931471805599453;
    patterns.add<ToIntrinsic<math::ExpOp>>(ctx, "llvm.nvvm.ex2.approx.f32",
                                           kLog2E);
    patterns.add<ToIntrinsic<math::Exp2Op>>(ctx, "llvm.nvvm.ex2.approx.f32");
    patterns.add<ToIntrinsic<math::LogOp>>(ctx, "llvm.nvvm.lg2.approx.f", 1.0,
                                           kLn2);
    patterns.add<ToIntrinsic<math::Log2Op>>(ctx, "llvm.nvvm.lg2.approx.f");
    patterns.add<ToIntrinsic<math::FmaOp>>(ctx, "llvm.fma.f32");
    patterns.add<ToIntrinsic<math::FloorOp>>(ctx, "llvm.floor.f32");
    patterns.add<ToIntrinsic<math::CeilOp>>(ctx, "llvm.ceil.f32");
    patterns.add<ToIntrinsic<math::AbsFOp>>(ctx, "llvm.fabs.f32");
    patterns.add<ToIntrinsic<math::SqrtOp>>(ctx, "llvm.sqrt.f32");
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
