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
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/InitAllPasses.h"
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
} // namespace

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
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createAttnLowerToLinalg());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  addPipeline(pm, "one-shot-bufferize{bufferize-function-boundaries "
                  "function-boundary-type-conversion=identity-layout-map}");
  pm.addPass(std::make_unique<DropReturnedArgumentsPass>());
  addPipeline(pm, "buffer-deallocation-pipeline");
  addPipeline(pm, "func.func(convert-linalg-to-loops,scf-forall-to-for),"
                  "expand-strided-metadata,lower-affine,"
                  "convert-math-to-libm,convert-scf-to-cf,"
                  "convert-cf-to-llvm,convert-arith-to-llvm,"
                  "convert-math-to-llvm,convert-index-to-llvm,"
                  "finalize-memref-to-llvm");
  if (options.cInterface)
    pm.addPass(std::make_unique<EmitCInterfacePass>());
  addPipeline(pm, "convert-func-to-llvm,reconcile-unrealized-casts");
}

void mlir::attn::registerPipelines() {
  PassPipelineRegistration<CPUPipelineOptions>(
      "attn-cpu-pipeline",
      "Lower attn ops on tensors to the LLVM dialect for the host CPU",
      buildCPUPipeline);
}
