//===- Pipelines.cpp - attn pass pipelines --------------------------------===//
//
// The CPU pipeline. Upstream passes are added by their textual names so that
// the pipeline reads like its `attn-opt --dump-pass-pipeline` output; the
// registry is filled on first use.
//
//===----------------------------------------------------------------------===//

#include "attn/Pipelines/Pipelines.h"

#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/ErrorHandling.h"

#include <mutex>

using namespace mlir;
using namespace mlir::attn;

namespace {
/// Tags every public function definition with llvm.emit_c_interface.
struct EmitCInterfacePass
    : PassWrapper<EmitCInterfacePass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(EmitCInterfacePass)
  StringRef getArgument() const override { return "attn-emit-c-interface"; }
  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>())
      if (fn.isPublic() && !fn.isExternal())
        fn->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                    UnitAttr::get(&getContext()));
  }
};

/// After bufferization, a destination-passing function returns the very
/// buffers it was given. Drops those results so that callers (the JIT, AOT
/// users) pass outputs as arguments and nothing is cloned or leaked; any
/// other result is an error, since the caller could not own it.
struct DropReturnedArgumentsPass
    : PassWrapper<DropReturnedArgumentsPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(DropReturnedArgumentsPass)
  StringRef getArgument() const override {
    return "attn-drop-returned-arguments";
  }
  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>()) {
      if (fn.isExternal() || fn.getNumResults() == 0)
        continue;
      if (!fn.getBody().hasOneBlock()) {
        fn.emitError("attn: a kernel function must have a single block");
        return signalPassFailure();
      }
      auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
      for (Value v : ret.getOperands()) {
        auto arg = dyn_cast<BlockArgument>(v);
        if (!arg || arg.getOwner() != &fn.getBody().front()) {
          ret.emitError("attn: kernel functions may only return their outs "
                        "(destination-passing style); this result is a new "
                        "value");
          return signalPassFailure();
        }
      }
      ret->setOperands({});
      fn.setType(FunctionType::get(&getContext(), fn.getArgumentTypes(), {}));
    }
  }
};
/// Fails with `message` on the module: how a pipeline built from invalid
/// options reports them.
struct FailPass : PassWrapper<FailPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(FailPass)
  explicit FailPass(std::string message) : message(std::move(message)) {}
  StringRef getArgument() const override { return "attn-fail"; }
  void runOnOperation() override {
    getOperation().emitError(message);
    signalPassFailure();
  }
  std::string message;
};

/// Gives every OpenMP worksharing loop a dynamic schedule with chunk 1. The
/// fused path orders its work items heaviest first (causal and windowed
/// q-tiles differ in cost), so dynamic dispatch balances the threads.
struct DynamicScheduleOpenMPPass
    : PassWrapper<DynamicScheduleOpenMPPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(DynamicScheduleOpenMPPass)
  StringRef getArgument() const override {
    return "attn-openmp-dynamic-schedule";
  }
  void runOnOperation() override {
    auto kind = omp::ClauseScheduleKindAttr::get(
        &getContext(), omp::ClauseScheduleKind::Dynamic);
    getOperation()->walk([&](omp::WsloopOp loop) {
      if (!loop.getScheduleKindAttr())
        loop.setScheduleKindAttr(kind);
    });
  }
};

/// Inlines memref.alloca_scope regions between llvm.intr.stacksave and
/// stackrestore. Both the fused path and convert-scf-to-openmp scope the
/// stack scratch of each loop iteration this way, and the scopes must go
/// before convert-scf-to-cf, which would give their regions several blocks.
struct InlineAllocaScopesPass
    : PassWrapper<InlineAllocaScopesPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(InlineAllocaScopesPass)
  StringRef getArgument() const override { return "attn-inline-alloca-scopes"; }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<LLVM::LLVMDialect>();
  }
  void runOnOperation() override {
    SmallVector<memref::AllocaScopeOp> scopes;
    getOperation()->walk(
        [&](memref::AllocaScopeOp scope) { scopes.push_back(scope); });
    for (memref::AllocaScopeOp scope : scopes) {
      if (scope.getNumResults() != 0 || !scope.getBodyRegion().hasOneBlock()) {
        scope.emitError("attn: cannot inline an alloca scope with results "
                        "or several blocks");
        return signalPassFailure();
      }
      OpBuilder b(scope);
      Value sp = LLVM::StackSaveOp::create(
          b, scope.getLoc(), LLVM::LLVMPointerType::get(&getContext()));
      Block &body = scope.getBodyRegion().front();
      body.getTerminator()->erase();
      scope->getBlock()->getOperations().splice(scope->getIterator(),
                                                body.getOperations());
      LLVM::StackRestoreOp::create(b, scope.getLoc(), sp);
      scope.erase();
    }
  }
};

/// Replaces f32 exp/log/tanh (scalar or vector) by polynomial
/// approximations, so that vectorised code has no scalar libm calls.
struct ApproximateMathPass
    : PassWrapper<ApproximateMathPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(ApproximateMathPass)
  StringRef getArgument() const override { return "attn-approximate-math"; }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<arith::ArithDialect, math::MathDialect,
                    vector::VectorDialect>();
  }
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns, [](StringRef name) {
      return llvm::is_contained({"math.exp", "math.expm1", "math.log",
                                 "math.log1p", "math.log2", "math.tanh"},
                                name);
    });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

/// Math in GPU kernels without libdevice: exp and log through the PTX
/// approximations ex2.approx / lg2.approx (about 2 ulp, as FlashAttention's
/// exp2f), log1p, expm1 and tanh as MLIR's polynomials, and fma, floor,
/// ceil, fabs and sqrt as LLVM intrinsics that NVPTX selects natively.
/// convert-gpu-to-nvvm would otherwise call libdevice for all of them,
/// which only links when the CUDA toolkit is found at compile time.
struct GPUMathPass : PassWrapper<GPUMathPass, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(GPUMathPass)
  StringRef getArgument() const override { return "attn-gpu-math"; }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<arith::ArithDialect, LLVM::LLVMDialect, math::MathDialect,
                    vector::VectorDialect>();
  }

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
      return llvm::is_contained({"math.expm1", "math.log1p", "math.tanh"},
                                name);
    });
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

std::string
mlir::attn::validateCPUPipelineOptions(const CPUPipelineOptions &options) {
  if (options.lowering != "fused" && options.lowering != "reference")
    return "lowering must be 'fused' or 'reference', not '" +
           options.lowering.getValue() + "'";
  if (!llvm::is_contained({0, 8, 16}, int64_t(options.vectorWidth)))
    return "vector-width must be 0 (host), 8 (AVX2) or 16 (AVX-512), not " +
           std::to_string(options.vectorWidth);
  return "";
}

static void addPipeline(OpPassManager &pm, StringRef text) {
  // Textual pipelines look passes up in the global registry, which tools
  // like attn-run and the Python module do not fill themselves.
  static std::once_flag registered;
  std::call_once(registered, [] { registerAllPasses(); });
  if (failed(parsePassPipeline(text, pm, llvm::errs())))
    llvm::report_fatal_error("attn: malformed built-in pipeline");
}

void mlir::attn::buildCPUPipeline(OpPassManager &pm,
                                  const CPUPipelineOptions &options) {
  if (std::string why = validateCPUPipelineOptions(options); !why.empty()) {
    // A bad option is a user error: the pipeline reports it on the module
    // and fails, rather than aborting the process.
    pm.addPass(std::make_unique<FailPass>("attn-cpu-pipeline: " + why));
    return;
  }
  bool fused = options.lowering == "fused";
  pm.addPass(createCanonicalizerPass());
  if (fused) {
    AttnTileCPUOptions tileOptions;
    tileOptions.vectorWidth = options.vectorWidth;
    tileOptions.bf16Dot = options.bf16Dot;
    if (!options.openmp)
      tileOptions.threads = 1;
    pm.addPass(createAttnTileCPU(tileOptions));
  }
  // attn.merge, and every attn.attention on the reference path.
  pm.addPass(createAttnLowerToLinalg());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  addPipeline(pm, "one-shot-bufferize{bufferize-function-boundaries "
                  "function-boundary-type-conversion=identity-layout-map}");
  pm.addPass(std::make_unique<DropReturnedArgumentsPass>());
  addPipeline(pm, "buffer-deallocation-pipeline");
  addPipeline(pm, "func.func(convert-linalg-to-loops,scf-forall-to-for)");
  if (fused && options.openmp) {
    addPipeline(pm, "convert-scf-to-openmp");
    pm.addPass(std::make_unique<DynamicScheduleOpenMPPass>());
  }
  if (fused) {
    pm.addPass(std::make_unique<InlineAllocaScopesPass>());
    pm.addPass(std::make_unique<ApproximateMathPass>());
  }
  // Math ops with an LLVM intrinsic first (floor, fma, fabs stay vector
  // instructions), libm calls only for the rest (tanh, erf, ...).
  addPipeline(pm, "expand-strided-metadata,lower-affine,"
                  "convert-math-to-llvm,convert-math-to-libm,"
                  "convert-vector-to-llvm{enable-x86vector},convert-scf-to-cf,"
                  "convert-cf-to-llvm,convert-arith-to-llvm,"
                  "convert-index-to-llvm,finalize-memref-to-llvm");
  if (options.cInterface)
    pm.addPass(std::make_unique<EmitCInterfacePass>());
  // After convert-func-to-llvm: the OpenMP conversion also rewrites
  // functions, which would hide them from the C-interface tagging above.
  addPipeline(pm, "convert-func-to-llvm,convert-openmp-to-llvm,"
                  "reconcile-unrealized-casts");
}

std::string
mlir::attn::validateCUDAPipelineOptions(const CUDAPipelineOptions &options) {
  if (options.chip != "sm_80" && options.chip != "sm_90a")
    return "chip must be 'sm_80' or 'sm_90a', not '" + options.chip.getValue() +
           "'";
  if (!llvm::is_contained({"auto", "sync", "wgmma"}, options.mma.getValue()))
    return "mma must be 'auto', 'sync' or 'wgmma', not '" +
           options.mma.getValue() + "'";
  if (options.mma == "wgmma" && options.chip != "sm_90a")
    return "mma=wgmma needs chip=sm_90a";
  if (!llvm::is_contained({"isa", "bin", "fatbin"}, options.format.getValue()))
    return "format must be 'isa', 'bin' or 'fatbin', not '" +
           options.format.getValue() + "'";
  return "";
}

void mlir::attn::buildCUDAPipeline(OpPassManager &pm,
                                   const CUDAPipelineOptions &options) {
  if (std::string why = validateCUDAPipelineOptions(options); !why.empty()) {
    pm.addPass(std::make_unique<FailPass>("attn-cuda-pipeline: " + why));
    return;
  }
  pm.addPass(createCanonicalizerPass());
  AttnTileGPUOptions tileOptions;
  tileOptions.wgmma = options.mma == "wgmma" ||
                      (options.mma == "auto" && options.chip == "sm_90a");
  pm.addPass(createAttnTileGPU(tileOptions));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  addPipeline(pm, "one-shot-bufferize{bufferize-function-boundaries "
                  "function-boundary-type-conversion=identity-layout-map}");
  pm.addPass(std::make_unique<DropReturnedArgumentsPass>());
  addPipeline(pm, "gpu-kernel-outlining,convert-nvgpu-to-nvvm,"
                  "convert-vector-to-scf,convert-scf-to-cf,"
                  "convert-nvvm-to-llvm,expand-strided-metadata");
  // sm_90a kernels use PTX 8.3 instructions (the tensormap proxy fence);
  // LLVM would otherwise emit PTX 8.0 for them.
  std::string features = options.chip == "sm_90a" ? " features=+ptx83" : "";
  addPipeline(pm, "nvvm-attach-target{chip=" + options.chip.getValue() +
                      features + " O=3}");
  pm.addNestedPass<gpu::GPUModuleOp>(std::make_unique<GPUMathPass>());
  addPipeline(pm, "lower-affine,convert-arith-to-llvm,convert-index-to-llvm,"
                  "canonicalize,cse,"
                  "gpu.module(strip-debuginfo,convert-gpu-to-nvvm,"
                  "llvm-optimize-for-nvvm-target,canonicalize,cse,"
                  "reconcile-unrealized-casts)");
  if (options.cInterface)
    pm.addPass(std::make_unique<EmitCInterfacePass>());
  addPipeline(pm, "finalize-memref-to-llvm,convert-func-to-llvm,gpu-to-llvm,"
                  "gpu-module-to-binary{format=" +
                      options.format.getValue() +
                      "},convert-math-to-llvm,canonicalize,cse,"
                      "reconcile-unrealized-casts");
}

void mlir::attn::registerPipelines() {
  PassPipelineRegistration<CUDAPipelineOptions>(
      "attn-cuda-pipeline",
      "Lower attn ops on tensors to the LLVM dialect with NVIDIA GPU kernels "
      "(tensor cores) embedded as a gpu.binary",
      buildCUDAPipeline);
  PassPipelineRegistration<CPUPipelineOptions>(
      "attn-cpu-pipeline",
      "Lower attn ops on tensors to the LLVM dialect for the host CPU",
      buildCPUPipeline);
}
