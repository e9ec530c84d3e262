//===- Pipelines.cpp - attn pass pipelines --------------------------------===//
//
// The CPU pipeline. Upstream passes are added by their textual names so that
// the pipeline reads like its `attn-opt --dump-pass-pipeline` output; the
// registry is filled on first use.
//
//===----------------------------------------------------------------------===//

#include "attn/Pipelines/Pipelines.h"

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
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
/// Fails with `message` on the module: how a pipeline built from invalid
/// options reports them. Not in a Passes.td: it transforms nothing and
/// exists only inside pipelines that cannot run.
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
/// Rejects what LLVM 22's expand-strided-metadata crashes on (a segfault
/// in attn-opt, attn-run or the Python module instead of a message): an
/// expand_shape that splits one dimension into two or more dynamic sizes.
struct RejectDynamicSplitsPass
    : PassWrapper<RejectDynamicSplitsPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(RejectDynamicSplitsPass)
  StringRef getArgument() const override {
    return "attn-reject-dynamic-splits";
  }
  void runOnOperation() override {
    auto check = [&](Operation *op, ShapedType result,
                     ArrayRef<ReassociationIndices> groups) {
      for (const ReassociationIndices &group : groups)
        if (llvm::count_if(
                group, [&](int64_t d) { return result.isDynamicDim(d); }) > 1) {
          op->emitError() << "splits a dimension into several dynamic sizes, "
                             "which the lowering cannot take (LLVM 22's "
                             "expand-strided-metadata crashes on it); keep "
                             "at most one dynamic size per group, or index "
                             "the source directly";
          signalPassFailure();
          return;
        }
    };
    getOperation().walk([&](Operation *op) {
      if (auto e = dyn_cast<tensor::ExpandShapeOp>(op))
        check(op, e.getResultType(), e.getReassociationIndices());
      else if (auto e = dyn_cast<memref::ExpandShapeOp>(op))
        check(op, e.getResultType(), e.getReassociationIndices());
    });
  }
};
} // namespace

std::string
mlir::attn::validateCPUPipelineOptions(const CPUPipelineOptions &options) {
  if (options.lowering != "fused" && options.lowering != "reference")
    return "lowering must be 'fused' or 'reference', not '" +
           options.lowering.getValue() + "'";
  if (!ConfigAttr::isValidVectorWidth(options.vectorWidth))
    return "vector-width must be 0 (host), 4 (SSE), 8 (AVX2) or 16 "
           "(AVX-512), not " +
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
  pm.addPass(std::make_unique<RejectDynamicSplitsPass>());
  pm.addPass(createCanonicalizerPass());
  if (fused) {
    AttnTileCPUOptions tileOptions;
    tileOptions.vectorWidth = options.vectorWidth;
    tileOptions.bf16Dot = options.bf16Dot;
    tileOptions.useAmx = options.useAmx;
    tileOptions.f16Amx = options.f16Amx;
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
  pm.addPass(createAttnDropReturnedArguments());
  addPipeline(pm, "buffer-deallocation-pipeline");
  addPipeline(pm, "func.func(convert-linalg-to-loops,scf-forall-to-for)");
  if (fused && options.openmp) {
    addPipeline(pm, "convert-scf-to-openmp");
    pm.addPass(createAttnOpenMPDynamicSchedule());
  }
  if (fused) {
    pm.addPass(createAttnInlineAllocaScopes());
    pm.addPass(createAttnApproximateMath());
  }
  // Math ops with an LLVM intrinsic first (floor, fma, fabs stay vector
  // instructions), libm calls only for the rest (tanh, erf, ...). AMX tile
  // ops become LLVM's x86 AMX intrinsics, whose tile configuration
  // (ldtilecfg) the X86 backend inserts.
  addPipeline(pm, "expand-strided-metadata,lower-affine,"
                  "convert-math-to-llvm,convert-math-to-libm,"
                  "convert-vector-to-llvm{enable-x86vector enable-amx},"
                  "convert-scf-to-cf,"
                  "convert-cf-to-llvm,convert-arith-to-llvm,"
                  "convert-index-to-llvm,finalize-memref-to-llvm");
  if (options.cInterface)
    pm.addPass(createAttnEmitCInterface());
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
  if (options.emulate && options.format != "isa")
    return "emulate=true embeds MLIR text for the emulator; format=" +
           options.format.getValue() + " does not apply";
  return "";
}

void mlir::attn::buildCUDAPipeline(OpPassManager &pm,
                                   const CUDAPipelineOptions &options) {
  if (std::string why = validateCUDAPipelineOptions(options); !why.empty()) {
    pm.addPass(std::make_unique<FailPass>("attn-cuda-pipeline: " + why));
    return;
  }
  pm.addPass(std::make_unique<RejectDynamicSplitsPass>());
  pm.addPass(createCanonicalizerPass());
  AttnTileGPUOptions tileOptions;
  tileOptions.chip = options.chip;
  tileOptions.mma = options.mma;
  pm.addPass(createAttnTileGPU(tileOptions));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  addPipeline(pm, "one-shot-bufferize{bufferize-function-boundaries "
                  "function-boundary-type-conversion=identity-layout-map}");
  pm.addPass(createAttnDropReturnedArguments());
  pm.addPass(createAttnGPUElementwise());
  pm.addPass(createAttnGPUDeviceAllocs());
  pm.addPass(createAttnGPUSinkConstants());
  addPipeline(pm, "gpu-launch-sink-index-computations,gpu-kernel-outlining,"
                  "convert-nvgpu-to-nvvm,"
                  "convert-vector-to-scf,convert-scf-to-cf,"
                  "convert-nvvm-to-llvm,expand-strided-metadata");
  // sm_90a kernels use PTX 8.3 instructions (the tensormap proxy fence);
  // LLVM would otherwise emit PTX 8.0 for them.
  std::string features = options.chip == "sm_90a" ? " features=+ptx83" : "";
  addPipeline(pm, "nvvm-attach-target{chip=" + options.chip.getValue() +
                      features + " O=3}");
  pm.addNestedPass<gpu::GPUModuleOp>(createAttnGPUMath());
  // The emulator names the kernel op of each report by its location.
  std::string stripDebugInfo = options.emulate ? "" : "strip-debuginfo,";
  addPipeline(pm, "lower-affine,convert-arith-to-llvm,convert-index-to-llvm,"
                  "canonicalize,cse,"
                  "gpu.module(" +
                      stripDebugInfo +
                      "convert-gpu-to-nvvm,"
                      "llvm-optimize-for-nvvm-target,canonicalize,cse,"
                      "reconcile-unrealized-casts)");
  if (options.cInterface)
    pm.addPass(createAttnEmitCInterface());
  addPipeline(pm, "finalize-memref-to-llvm,convert-func-to-llvm,gpu-to-llvm");
  if (options.emulate)
    pm.addPass(createAttnGPUModuleToEmulatorBinary());
  else
    addPipeline(pm, "gpu-module-to-binary{format=" + options.format.getValue() +
                        "}");
  addPipeline(pm, "convert-math-to-llvm,canonicalize,cse,"
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
