//===- Api.cpp - What the Python module needs of the compiler -------------===//
//
// Each call builds its own MLIRContext: the Python side compiles rarely (the
// kernel cache sits in front of it) and contexts are then never shared
// between threads.
//
//===----------------------------------------------------------------------===//

#include "Api.h"

#include "attn/Conversion/AttnToCPU/AttnToCPU.h"
#include "attn/InitAll.h"
#include "attn/Runtime/CPUJit.h"
#include "attn/Runtime/CudaRuntime.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/LLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"

#include <mutex>

using namespace mlir;

namespace attn::python {
namespace {

/// A context with every dialect attn's IR and pipelines can contain, whose
/// diagnostics are collected as text with their source locations.
struct Session {
  // Dialects load on demand (the parser and the passes ask for theirs).
  Session() : context(makeRegistry(), MLIRContext::Threading::DISABLED) {}

  static DialectRegistry makeRegistry() {
    DialectRegistry registry;
    mlir::attn::registerAllDialects(registry);
    return registry;
  }

  /// Parses `ir` as "attn.mlir"; diagnostics go to `diagnostics`.
  OwningOpRef<ModuleOp> parse(const std::string &ir) {
    sourceMgr.AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBufferCopy(ir, "attn.mlir"), llvm::SMLoc());
    return parseSourceFile<ModuleOp>(sourceMgr, &context);
  }

  std::string takeDiagnostics() {
    stream.flush();
    std::string text = std::move(diagnostics);
    diagnostics.clear();
    while (!text.empty() && text.back() == '\n')
      text.pop_back();
    return text;
  }

  MLIRContext context;
  llvm::SourceMgr sourceMgr;
  std::string diagnostics;
  llvm::raw_string_ostream stream{diagnostics};
  SourceMgrDiagnosticHandler handler{sourceMgr, &context, stream};
};

void registerPassesOnce() { mlir::attn::registerAllPasses(); }

/// `what`, then the diagnostics when there are any.
std::string withDiagnostics(Session &session, const std::string &what) {
  std::string diagnostics = session.takeDiagnostics();
  return diagnostics.empty() ? what : what + ":\n" + diagnostics;
}

} // namespace

bool parseModule(const std::string &ir, std::string &printed,
                 std::string &error) {
  Session session;
  OwningOpRef<ModuleOp> module = session.parse(ir);
  if (!module) {
    error = withDiagnostics(session, "invalid IR");
    return false;
  }
  llvm::raw_string_ostream os(printed);
  module->print(os);
  return true;
}

bool lowerModule(const std::string &ir, const std::string &pipeline,
                 std::string &lowered, std::string &error,
                 std::string *remarks) {
  registerPassesOnce();
  Session session;
  OwningOpRef<ModuleOp> module = session.parse(ir);
  if (!module) {
    error = withDiagnostics(session, "invalid IR");
    return false;
  }
  PassManager pm(&session.context);
  std::string parseErrors;
  llvm::raw_string_ostream errs(parseErrors);
  // The pass manager is anchored on the module already: a pipeline given
  // as "builtin.module(...)" is parsed from its inside (parsing the wrapper
  // into it would nest a second module level that matches nothing).
  StringRef text = StringRef(pipeline).trim();
  if (text.consume_front("builtin.module(") && text.consume_back(")"))
    text = text.trim();
  if (failed(parsePassPipeline(text, pm, errs))) {
    error = "invalid pass pipeline '" + pipeline + "': " + parseErrors;
    while (!error.empty() && error.back() == '\n')
      error.pop_back();
    return false;
  }
  if (failed(pm.run(*module))) {
    error = withDiagnostics(session, "the pipeline '" + pipeline + "' failed");
    return false;
  }
  if (remarks)
    *remarks = session.takeDiagnostics();
  llvm::raw_string_ostream os(lowered);
  module->print(os);
  return true;
}

std::string hostCPU() {
  std::string text = llvm::sys::getHostCPUName().str();
  SmallVector<std::string> enabled;
  for (const auto &feature : llvm::sys::getHostCPUFeatures())
    if (feature.getValue())
      enabled.push_back(feature.getKey().str());
  llvm::sort(enabled);
  for (const std::string &f : enabled)
    text += "," + f;
  // Compiled kernels use AMX only where this process may (hostAmx): a
  // process without tile-data permission, or with $ATTN_NO_AMX, must not
  // load their object code.
  if (!mlir::attn::hostAmx().usable)
    text += ",-amx-usable";
  return text;
}

Kernel::Kernel() = default;
Kernel::~Kernel() = default;

/// Parses `ir`, reads `options` of a pipeline (`Options`, named `which`
/// in messages) and compiles with `compileWith`.
template <typename Options, typename CompileFn>
static std::unique_ptr<mlir::attn::CPUKernel>
compileKernel(const std::string &ir, const std::string &options,
              const char *which, CompileFn compileWith, std::string &error) {
  Session session;
  OwningOpRef<ModuleOp> module = session.parse(ir);
  if (!module) {
    error = withDiagnostics(session, "invalid IR");
    return nullptr;
  }
  auto parsed = Options::createFromString(options);
  if (!parsed) {
    error =
        std::string("invalid ") + which + " pipeline options '" + options + "'";
    return nullptr;
  }
  std::string why;
  std::unique_ptr<mlir::attn::CPUKernel> impl =
      compileWith(*module, *parsed, why);
  if (!impl)
    error = withDiagnostics(session, why);
  return impl;
}

std::unique_ptr<Kernel>
Kernel::wrap(std::unique_ptr<mlir::attn::CPUKernel> impl) {
  if (!impl)
    return nullptr;
  std::unique_ptr<Kernel> kernel(new Kernel());
  kernel->impl = std::move(impl);
  return kernel;
}

std::unique_ptr<Kernel> Kernel::compile(const std::string &ir,
                                        const std::string &options,
                                        std::string &error) {
  return wrap(compileKernel<mlir::attn::CPUPipelineOptions>(
      ir, options, "CPU", &mlir::attn::CPUKernel::compile, error));
}

std::unique_ptr<Kernel> Kernel::compileCUDA(const std::string &ir,
                                            const std::string &options,
                                            std::string &error) {
  return wrap(compileKernel<mlir::attn::CUDAPipelineOptions>(
      ir, options, "CUDA", &mlir::attn::CPUKernel::compileCUDA, error));
}

bool cudaStatus(std::string &why) {
  char message[512];
  bool ok = attnCudaStatus(message, sizeof(message)) == 1;
  why = message;
  return ok;
}

namespace {
/// Runs `calls` (mgpu* functions) and returns whether they recorded no
/// error; the first one is left in `error`.
template <typename Calls> bool cudaCalls(Calls calls, std::string &error) {
  const AttnGpuRuntime &cuda = *attnCudaRuntime();
  mlir::attn::DeviceCopies::takeError(cuda); // start clean
  calls();
  error = mlir::attn::DeviceCopies::takeError(cuda);
  return error.empty();
}

void *address(uintptr_t value) { return reinterpret_cast<void *>(value); }
} // namespace

bool cudaAlloc(size_t bytes, uintptr_t &result, std::string &error) {
  return cudaCalls(
      [&] {
        result =
            reinterpret_cast<uintptr_t>(mgpuMemAlloc(bytes, nullptr, false));
      },
      error);
}

bool cudaFree(uintptr_t value, std::string &error) {
  return cudaCalls([&] { mgpuMemFree(address(value), nullptr); }, error);
}

bool cudaCopy(uintptr_t dst, uintptr_t src, size_t bytes, std::string &error) {
  return cudaCalls(
      [&] {
        mgpuMemcpy(address(dst), address(src), bytes, nullptr);
        mgpuStreamSynchronize(nullptr);
      },
      error);
}

bool cudaStreamSynchronize(uintptr_t stream, std::string &error) {
  return cudaCalls([&] { mgpuStreamSynchronize(address(stream)); }, error);
}

bool cudaCheckDeviceRange(uintptr_t value, size_t bytes, std::string &why) {
  char message[512];
  bool ok = attnCudaCheckDeviceRange(address(value), bytes, message,
                                     sizeof(message)) == 1;
  why = message;
  return ok;
}

std::unique_ptr<Kernel> Kernel::load(const std::string &object, bool openmp,
                                     std::string &error) {
  return wrap(mlir::attn::CPUKernel::load(object, openmp, error));
}

bool Kernel::objectCode(std::string &code, std::string &error) {
  return impl->objectCode(code, error);
}

std::string Kernel::target() const {
  return impl->gpuRuntime() ? impl->gpuRuntime()->target : "cpu";
}

bool Kernel::bind(const std::string &name, std::string &error) {
  entry = impl->lookup(name, error);
  return entry != nullptr;
}

int Kernel::call(const std::vector<Buffer> &args) const {
  std::vector<mlir::attn::MemRefDescriptor> descriptors;
  descriptors.reserve(args.size());
  for (const Buffer &b : args)
    descriptors.emplace_back(b.data, b.shape);
  std::vector<mlir::attn::MemRefDescriptor *> pointers;
  for (auto &d : descriptors)
    pointers.push_back(&d);
  return impl->callChecked(entry, pointers);
}

bool Kernel::callOnDevice(const std::vector<Buffer> &args,
                          const std::vector<size_t> &bytes,
                          const std::vector<bool> &isOutput,
                          int &badCapture, std::string &error) const {
  const AttnGpuRuntime &runtime = *impl->gpuRuntime();
  badCapture = 0;
  mlir::attn::DeviceCopies::takeError(runtime); // start clean
  std::vector<mlir::attn::DeviceCopies::Host> host;
  for (size_t i = 0; i < args.size(); ++i)
    host.push_back({args[i].data, bytes[i], !isOutput[i], isOutput[i]});
  mlir::attn::DeviceCopies device(host, runtime);
  std::vector<Buffer> onDevice = args;
  for (size_t i = 0; i < args.size(); ++i)
    onDevice[i].data = device.device(i);
  if ((error = device.takeError()).empty()) {
    badCapture = call(onDevice);
    if ((error = device.takeError()).empty()) {
      device.copyBack();
      error = device.takeError();
    }
  }
  return error.empty();
}

} // namespace attn::python
