//===- attn-aot.cpp - Export attention kernels as self-contained libraries ===//
//
// Compiles a module of attn ops with --attn-cuda-pipeline and writes a
// shared library that runs it with nothing but the CUDA driver: the host
// glue as native code, the kernels as embedded PTX (or cubin), and the mgpu*
// runtime linked in statically. No LLVM or MLIR is needed where it runs.
//
// The library's C ABI (include/attn/Runtime/AotAbi.h):
//   - every public function `f` of the module as `_mlir_ciface_f`, taking
//     one pointer to a memref descriptor per argument (device pointers);
//   - attnCudaStatus / attnCudaTakeError from the runtime.
//
// With --emulate the kernels are embedded as MLIR text and the library
// links the GPU emulator's runtime (libattn_emulator_runtime.so of this
// build, found through an rpath, with libMLIR) in place of the CUDA one:
// the same ABI, run on the CPU, for checking and debugging.
//
//===----------------------------------------------------------------------===//

#include "CUDAToolOptions.h"

#include "attn/InitAll.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"

#ifndef ATTN_AOT_LINKER
#error "ATTN_AOT_LINKER must name the C++ compiler driver used to link"
#endif
#ifndef ATTN_AOT_RUNTIME
#error "ATTN_AOT_RUNTIME must name the static mgpu* runtime archive"
#endif
#ifndef ATTN_AOT_EMULATOR_RUNTIME
#error "ATTN_AOT_EMULATOR_RUNTIME must name libattn_emulator_runtime.so"
#endif

using namespace mlir;
using namespace llvm;

static cl::OptionCategory aotCat("attn-aot options");
static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<input.mlir>"),
                                      cl::Required, cl::cat(aotCat));
static cl::opt<std::string> outputFile("o", cl::desc("Output shared library"),
                                       cl::value_desc("lib.so"), cl::Required,
                                       cl::cat(aotCat));
static attn::CUDAToolOptions
    cuda(aotCat, "sm_80", "GPU architecture: sm_80 or sm_90a",
         "Tensor-core instructions: auto (wgmma + TMA on sm_90a, "
         "mma.sync on sm_80), sync or wgmma");
static cl::opt<std::string> kernelFormat(
    "format",
    cl::desc("Embedded kernels: isa (PTX, compiled by the driver at "
             "load; no CUDA toolkit needed here), bin (cubin) or "
             "fatbin (both run ptxas here)"),
    cl::init("isa"), cl::cat(aotCat));
static cl::opt<bool> emulate(
    "emulate",
    cl::desc("Run the kernels on the GPU emulator instead of a GPU: they are "
             "embedded as MLIR text and the library links the emulator "
             "runtime of this build (by an rpath to it) in place of the CUDA "
             "one; device memory is then host memory from the library's "
             "mgpuMemAlloc. For correctness checks and debugging"),
    cl::init(false), cl::cat(aotCat));
static cl::opt<std::string>
    objectFile("emit-object",
               cl::desc("Also keep the host object file at this path"),
               cl::value_desc("file.o"), cl::cat(aotCat));

static int fail(const Twine &message) {
  errs() << "attn-aot: " << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(aotCat);
  cl::ParseCommandLineOptions(
      argc, argv,
      "attn-aot: compile attn ops for NVIDIA GPUs into a shared library that "
      "needs only the CUDA driver (or, with --emulate, runs them on the GPU "
      "emulator)\n");

  DialectRegistry registry;
  attn::registerAllDialects(registry);
  MLIRContext context(registry);

  std::string error;
  auto input = openInputFile(inputFile, &error);
  if (!input)
    return fail(error);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(input), SMLoc());
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;

  attn::CUDAPipelineOptions options;
  cuda.applyTo(options);
  options.format = kernelFormat;
  options.emulate = emulate;
  mlir::PassManager pm(&context);
  attn::buildCUDAPipeline(pm, options);
  if (failed(pm.run(*module)))
    return 1;

  InitializeNativeTarget();
  InitializeNativeTargetAsmPrinter();
  LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*module, llvmContext, "attn-aot");
  if (!llvmModule)
    return fail("translation to LLVM IR failed");

  // Position-independent code for the host CPU family (x86-64 baseline: the
  // library may run on another machine than this one).
  Triple triple(sys::getDefaultTargetTriple());
  const Target *target = TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return fail(error);
  // The kernel module is loaded by a global constructor: it must go to
  // .init_array, which the dynamic loader runs (lld does not turn legacy
  // .ctors into it).
  TargetOptions targetOptions;
  targetOptions.UseInitArray = true;
  std::unique_ptr<TargetMachine> tm(target->createTargetMachine(
      triple, "x86-64", "", targetOptions, Reloc::PIC_));
  llvmModule->setDataLayout(tm->createDataLayout());
  llvmModule->setTargetTriple(triple);

  SmallString<128> objPath(objectFile);
  if (objPath.empty() && sys::fs::createTemporaryFile("attn-aot", "o", objPath))
    return fail("cannot create a temporary object file");
  {
    std::error_code ec;
    ToolOutputFile obj(objPath, ec, sys::fs::OF_None);
    if (ec)
      return fail("cannot write " + objPath + ": " + ec.message());
    legacy::PassManager codegen;
    if (tm->addPassesToEmitFile(codegen, obj.os(), nullptr,
                                CodeGenFileType::ObjectFile))
      return fail("the host target cannot emit object files");
    codegen.run(*llvmModule);
    obj.keep();
  }

  // Link the object and the runtime archive into one shared library, or,
  // emulated, the object against the emulator runtime.
  std::string linker = ATTN_AOT_LINKER;
  SmallVector<std::string> args = {linker, "-shared", "-o", outputFile,
                                   std::string(objPath)};
  if (emulate) {
    StringRef runtime = ATTN_AOT_EMULATOR_RUNTIME;
    args.append({runtime.str(),
                 ("-Wl,-rpath," + sys::path::parent_path(runtime)).str()});
  } else {
    args.append({"-Wl,--whole-archive", ATTN_AOT_RUNTIME,
                 "-Wl,--no-whole-archive", "-ldl"});
  }
  args.push_back("-fuse-ld=lld");
  SmallVector<StringRef> argRefs(args.begin(), args.end());
  std::string linkError;
  int rc =
      sys::ExecuteAndWait(linker, argRefs, std::nullopt, {}, 0, 0, &linkError);
  if (objectFile.empty())
    sys::fs::remove(objPath);
  if (rc != 0)
    return fail("linking " + outputFile + " with " + linker + " failed" +
                (linkError.empty() ? "" : ": " + linkError));
  return 0;
}
