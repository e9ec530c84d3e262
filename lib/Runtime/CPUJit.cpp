//===- CPUJit.cpp - JIT compilation and invocation on the CPU -------------===//
//
// Runs the CPU pipeline on a clone of the module and hands the LLVM dialect to
// ExecutionEngine. Functions are called through their C interface
// (`_mlir_ciface_<name>`), whose memref arguments are descriptor pointers.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/CPUJit.h"

#include "attn/Conversion/AttnToCPU/AttnToCPU.h"

#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"
#include "attn/Pipelines/Pipelines.h"
#include "attn/Runtime/CudaRuntime.h"
#include "attn/Runtime/EmulatorRuntime.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/RTDyldObjectLinkingLayer.h"
#include "llvm/ExecutionEngine/SectionMemoryManager.h"
#include "llvm/Support/DynamicLibrary.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
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

DeviceCopies::DeviceCopies(ArrayRef<Host> hostBuffers,
                           const AttnGpuRuntime &runtime)
    : runtime(runtime), host(hostBuffers.begin(), hostBuffers.end()) {
  for (const Host &h : host) {
    void *copy = h.data;
    if (h.bytes) {
      copy = runtime.memAlloc(h.bytes, nullptr, false);
      if (h.copyIn)
        runtime.memcpy(copy, h.data, h.bytes, nullptr);
    }
    copies.push_back(copy);
  }
  runtime.streamSynchronize(nullptr);
}

DeviceCopies::~DeviceCopies() {
  for (size_t i = 0; i < host.size(); ++i)
    if (host[i].bytes)
      runtime.memFree(copies[i], nullptr);
}

void DeviceCopies::copyBack() {
  for (size_t i = 0; i < host.size(); ++i)
    if (host[i].bytes && host[i].copyBack)
      runtime.memcpy(host[i].data, copies[i], host[i].bytes, nullptr);
  runtime.streamSynchronize(nullptr);
}

std::string DeviceCopies::takeError(const AttnGpuRuntime &runtime) {
  // Room for the emulator's reports.
  char message[4096];
  return runtime.takeError(message, sizeof(message)) ? message : "";
}

CPUKernel::CPUKernel() = default;
CPUKernel::~CPUKernel() = default;

static void initializeNativeTarget() {
  static bool initialized = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)initialized;
}

/// The host's JIT target machine builder, or none with `error` set.
static std::optional<llvm::orc::JITTargetMachineBuilder>
detectHost(std::string &error) {
  auto tmBuilder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!tmBuilder) {
    error =
        "cannot detect the host CPU: " + llvm::toString(tmBuilder.takeError());
    return std::nullopt;
  }
  return std::move(*tmBuilder);
}

/// The shared libraries compiled kernels call into.
static SmallVector<StringRef> runtimeLibraries(bool openmp) {
  SmallVector<StringRef> libs = {ATTN_RUNNER_UTILS_LIB};
  if (openmp)
    libs.push_back(ATTN_OPENMP_LIB);
  return libs;
}

/// Runs the pipeline `build` makes of `options` on a clone of `module`, in a
/// context that also has the LLVM IR translations `addTranslations`
/// registers (beyond builtin and LLVM). Returns null with `error` set when
/// `validate` rejects the options or the pipeline fails.
template <typename Options>
static OwningOpRef<ModuleOp>
lowerClone(ModuleOp module, const Options &options,
           std::string (*validate)(const Options &),
           void (*build)(OpPassManager &, const Options &),
           function_ref<void(DialectRegistry &)> addTranslations,
           StringRef which, std::string &error) {
  if (std::string why = validate(options); !why.empty()) {
    error = why;
    return nullptr;
  }
  initializeNativeTarget();
  OwningOpRef<ModuleOp> lowered(module.clone());
  MLIRContext *ctx = lowered->getContext();
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  addTranslations(registry);
  ctx->appendDialectRegistry(registry);
  PassManager pm(ctx);
  build(pm, options);
  if (failed(pm.run(*lowered))) {
    error =
        ("the " + which + " pipeline failed (see the diagnostics above)").str();
    return nullptr;
  }
  return lowered;
}

/// JIT-compiles the LLVM dialect module `lowered`; null with `error` set
/// when that fails.
static std::unique_ptr<ExecutionEngine>
createEngine(ModuleOp lowered, const ExecutionEngineOptions &engineOptions,
             std::string &error) {
  auto engine = ExecutionEngine::create(lowered, engineOptions);
  if (!engine) {
    error = "JIT compilation failed: " + llvm::toString(engine.takeError());
    return nullptr;
  }
  return std::move(*engine);
}

std::unique_ptr<CPUKernel> CPUKernel::compile(ModuleOp module,
                                              const CPUPipelineOptions &options,
                                              std::string &error) {
  OwningOpRef<ModuleOp> lowered = lowerClone(
      module, options, validateCPUPipelineOptions, buildCPUPipeline,
      [](DialectRegistry &registry) {
        registerOpenMPDialectTranslation(registry);
      },
      "CPU", error);
  if (!lowered)
    return nullptr;

  // Optimise for the host CPU: without a target machine the LLVM pipeline
  // has no cost model for AVX-512 and leaves the micro-kernels slower.
  auto tmBuilder = detectHost(error);
  if (!tmBuilder)
    return nullptr;
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
  SmallVector<StringRef> libs = runtimeLibraries(options.openmp);
  engineOptions.sharedLibPaths = libs;
  engineOptions.enableObjectDump = true;
  std::unique_ptr<ExecutionEngine> engine =
      createEngine(*lowered, engineOptions, error);
  if (!engine)
    return nullptr;
  std::unique_ptr<CPUKernel> kernel(new CPUKernel());
  kernel->engine = std::move(engine);
  kernel->bindErrorWord();
  return kernel;
}

std::unique_ptr<CPUKernel>
CPUKernel::compileCUDA(ModuleOp module, const CUDAPipelineOptions &options,
                       std::string &error) {
  OwningOpRef<ModuleOp> lowered = lowerClone(
      module, options, validateCUDAPipelineOptions, buildCUDAPipeline,
      [](DialectRegistry &registry) {
        registerGPUDialectTranslation(registry);
        gpu::registerOffloadingLLVMTranslationInterfaceExternalModels(registry);
        registerNVVMDialectTranslation(registry);
        NVVM::registerNVVMTargetInterfaceExternalModels(registry);
      },
      "CUDA", error);
  if (!lowered)
    return nullptr;
  ExecutionEngineOptions engineOptions;
  engineOptions.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Default;
  std::unique_ptr<ExecutionEngine> engine =
      createEngine(*lowered, engineOptions, error);
  if (!engine)
    return nullptr;
  // The runtimes are linked into this library, which Python loads
  // privately: the entry points are handed to the JIT by address, not found
  // by dlsym, and the emulator's under the same names as the driver's.
  const AttnGpuRuntime *runtime =
      options.emulate ? attnEmulatorRuntime() : attnCudaRuntime();
  engine->registerSymbols([&](llvm::orc::MangleAndInterner mangle) {
    llvm::orc::SymbolMap map;
    for (size_t i = 0; i < runtime->symbolCount; ++i)
      map[mangle(runtime->symbols[i].name)] = {
          llvm::orc::ExecutorAddr::fromPtr(runtime->symbols[i].address),
          llvm::JITSymbolFlags::Exported};
    return map;
  });
  // Runs the global constructors, which load the embedded kernels (without
  // a driver the load records why and later launches do nothing).
  engine->initialize();
  std::unique_ptr<CPUKernel> kernel(new CPUKernel());
  kernel->gpu = runtime;
  kernel->engine = std::move(engine);
  kernel->bindErrorWord();
  return kernel;
}

std::unique_ptr<CPUKernel> CPUKernel::load(StringRef objectCode, bool openmp,
                                           std::string &error) {
  initializeNativeTarget();
  // Object code compiled with AMX tiles runs only after this process has
  // tile-data permission, which compiling requests (resolveCPUTilePlan)
  // and loading must too. Python's disk cache keys objects by the host CPU
  // and whether AMX is usable (python/src/Api.cpp, hostCPU), so an AMX
  // object is only loaded where it is.
  (void)hostAmx();
  // The object's undefined symbols (libomp, the runner utilities, libc) are
  // resolved against the process, so the libraries are made global first.
  for (StringRef lib : runtimeLibraries(openmp)) {
    std::string why;
    if (llvm::sys::DynamicLibrary::LoadLibraryPermanently(lib.str().c_str(),
                                                          &why)) {
      error = "cannot load " + lib.str() + ": " + why;
      return nullptr;
    }
  }
  auto tmBuilder = detectHost(error);
  if (!tmBuilder)
    return nullptr;
  // The same linking layer as ExecutionEngine's, so that objects it wrote
  // link the same way.
  auto jit =
      llvm::orc::LLJITBuilder()
          .setJITTargetMachineBuilder(std::move(*tmBuilder))
          .setObjectLinkingLayerCreator(
              [](llvm::orc::ExecutionSession &es)
                  -> llvm::Expected<std::unique_ptr<llvm::orc::ObjectLayer>> {
                return std::make_unique<llvm::orc::RTDyldObjectLinkingLayer>(
                    es, [](const llvm::MemoryBuffer &) {
                      return std::make_unique<llvm::SectionMemoryManager>();
                    });
              })
          .create();
  if (!jit) {
    error = "cannot create a JIT: " + llvm::toString(jit.takeError());
    return nullptr;
  }
  llvm::orc::JITDylib &dylib = (*jit)->getMainJITDylib();
  auto processSymbols =
      llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
          (*jit)->getDataLayout().getGlobalPrefix());
  if (!processSymbols) {
    error = "cannot search the process for symbols: " +
            llvm::toString(processSymbols.takeError());
    return nullptr;
  }
  dylib.addGenerator(std::move(*processSymbols));
  if (llvm::Error err = (*jit)->addObjectFile(
          llvm::MemoryBuffer::getMemBufferCopy(objectCode, "attn-kernel.o"))) {
    error = "cannot load the object code: " + llvm::toString(std::move(err));
    return nullptr;
  }
  std::unique_ptr<CPUKernel> kernel(new CPUKernel());
  kernel->loaded = std::move(*jit);
  kernel->bindErrorWord();
  return kernel;
}

bool CPUKernel::objectCode(std::string &code, std::string &error) {
  if (!engine) {
    error = "a loaded kernel has no object code to write";
    return false;
  }
  SmallString<128> path;
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile("attn-kernel", "o", path)) {
    error = "cannot create a temporary file: " + ec.message();
    return false;
  }
  engine->dumpToObjectFile(path);
  auto buffer = llvm::MemoryBuffer::getFile(path);
  llvm::sys::fs::remove(path);
  if (!buffer || (*buffer)->getBufferSize() == 0) {
    error = "the JIT wrote no object code";
    return false;
  }
  code = (*buffer)->getBuffer().str();
  return true;
}

CPUKernel::PackedFunction CPUKernel::lookup(StringRef name,
                                            std::string &error) {
  // ExecutionEngine names the packed wrapper of `f` "_mlir_f"; public
  // functions are called through their C interface `_mlir_ciface_<name>`.
  std::string symbol = ("_mlir__mlir_ciface_" + name).str();
  if (engine) {
    auto fn = engine->lookup(symbol);
    if (!fn) {
      error = "cannot find '" + symbol + "': " + llvm::toString(fn.takeError());
      return nullptr;
    }
    return reinterpret_cast<PackedFunction>(*fn);
  }
  auto addr = loaded->lookup(symbol);
  if (!addr) {
    error = "cannot find '" + symbol + "': " + llvm::toString(addr.takeError());
    return nullptr;
  }
  return addr->toPtr<PackedFunction>();
}

void CPUKernel::bindErrorWord() {
  StringRef name = ScoreEmitter::kCaptureErrorSymbol;
  if (engine) {
    if (auto addr = engine->lookup(name))
      captureError = static_cast<int32_t *>(*addr);
    else
      llvm::consumeError(addr.takeError());
    return;
  }
  if (auto addr = loaded->lookup(name))
    captureError = addr->toPtr<int32_t *>();
  else
    llvm::consumeError(addr.takeError());
}

int CPUKernel::callChecked(PackedFunction fn,
                           ArrayRef<MemRefDescriptor *> args) {
  if (!captureError) {
    call(fn, args);
    return 0;
  }
  std::lock_guard<std::mutex> lock(callMutex);
  *captureError = 0;
  call(fn, args);
  return std::exchange(*captureError, 0);
}

void CPUKernel::call(PackedFunction fn, ArrayRef<MemRefDescriptor *> args) {
  SmallVector<void *> pointers;
  for (MemRefDescriptor *d : args)
    pointers.push_back(d->get());
  SmallVector<void *> packed;
  for (void *&p : pointers)
    packed.push_back(&p);
  fn(packed.data());
}
