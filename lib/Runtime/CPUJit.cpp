//===- CPUJit.cpp - JIT compilation and invocation on the CPU -------------===//
//
// Runs the CPU pipeline on a clone of the module and hands the LLVM dialect to
// ExecutionEngine. Functions are called through their C interface
// (`_mlir_ciface_<name>`), whose memref arguments are descriptor pointers.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/CPUJit.h"

#include "attn/Pipelines/Pipelines.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"

#ifndef ATTN_RUNNER_UTILS_LIB
#error "ATTN_RUNNER_UTILS_LIB must name libmlir_c_runner_utils.so"
#endif
#ifndef ATTN_OPENMP_LIB
#error "ATTN_OPENMP_LIB must name libomp.so"
#endif

using namespace mlir;
using namespace mlir::attn;

MemRefDescriptor::MemRefDescriptor(void *data, ArrayRef<int64_t> shape) {
  int64_t rank = shape.size();
  words.assign(3 + 2 * rank, 0);
  auto ptr = static_cast<int64_t>(reinterpret_cast<intptr_t>(data));
  words[0] = ptr;
  words[1] = ptr;
  int64_t stride = 1;
  for (int64_t d = rank - 1; d >= 0; --d) {
    words[3 + d] = shape[d];
    words[3 + rank + d] = stride;
    stride *= shape[d];
  }
}

CPUKernel::~CPUKernel() = default;

std::unique_ptr<CPUKernel>
CPUKernel::compile(ModuleOp module, const CPUPipelineOptions &options,
                   std::string &error) {
  if (std::string why = validateCPUPipelineOptions(options); !why.empty()) {
    error = why;
    return nullptr;
  }
  static bool initialized = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)initialized;

  OwningOpRef<ModuleOp> lowered(module.clone());
  MLIRContext *ctx = lowered->getContext();
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerOpenMPDialectTranslation(registry);
  ctx->appendDialectRegistry(registry);

  PassManager pm(ctx);
  buildCPUPipeline(pm, options);
  if (failed(pm.run(*lowered))) {
    error = "the CPU pipeline failed (see the diagnostics above)";
    return nullptr;
  }

  // Optimise for the host CPU: without a target machine the LLVM pipeline
  // has no cost model for AVX-512 and leaves the micro-kernels slower.
  auto tmBuilder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!tmBuilder) {
    error = "cannot detect the host CPU: " +
            llvm::toString(tmBuilder.takeError());
    return nullptr;
  }
  auto tm = tmBuilder->createTargetMachine();
  if (!tm) {
    error = "cannot create a target machine for the host: " +
            llvm::toString(tm.takeError());
    return nullptr;
  }
  // ExecutionEngineOptions holds a function_ref: keep the callee alive.
  std::function<llvm::Error(llvm::Module *)> optimize =
      makeOptimizingTransformer(3, 0, tm->get());
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = optimize;
  engineOptions.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  SmallVector<StringRef> libs = {ATTN_RUNNER_UTILS_LIB};
  if (options.openmp)
    libs.push_back(ATTN_OPENMP_LIB);
  engineOptions.sharedLibPaths = libs;
  auto engine = ExecutionEngine::create(*lowered, engineOptions);
  if (!engine) {
    error = "JIT compilation failed: " + llvm::toString(engine.takeError());
    return nullptr;
  }
  std::unique_ptr<CPUKernel> kernel(new CPUKernel());
  kernel->engine = std::move(*engine);
  return kernel;
}

bool CPUKernel::invoke(StringRef name, ArrayRef<MemRefDescriptor *> args,
                       std::string &error) {
  SmallVector<void *> pointers;
  for (MemRefDescriptor *d : args)
    pointers.push_back(d->get());
  SmallVector<void *> packed;
  for (void *&p : pointers)
    packed.push_back(&p);
  std::string symbol = ("_mlir_ciface_" + name).str();
  if (llvm::Error err = engine->invokePacked(symbol, packed)) {
    error = "cannot call '" + symbol + "': " + llvm::toString(std::move(err));
    return false;
  }
  return true;
}
