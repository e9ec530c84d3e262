//===- CPUJit.h - JIT compilation and invocation on the CPU -----*- C++ -*-===//
//
// Compiles a module of attn ops through the CPU pipeline into native code with
// MLIR's ExecutionEngine, and calls its functions with strided memref
// descriptors of any rank. Shared by attn-run and the Python bindings.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_CPUJIT_H
#define ATTN_RUNTIME_CPUJIT_H

#include "attn/Pipelines/Pipelines.h"
#include "attn/Runtime/GpuRuntime.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace llvm::orc {
class LLJIT;
} // namespace llvm::orc

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace mlir::attn {

/// A memref descriptor as MLIR's C interface lays it out: allocated and
/// aligned pointers, offset, then `rank` sizes and `rank` strides, all
/// 64-bit words. It describes caller-owned, row-major memory.
class MemRefDescriptor {
public:
  MemRefDescriptor(void *data, ArrayRef<int64_t> shape);
  void *get() { return words.data(); }

private:
  std::vector<int64_t> words;
};

/// Device copies of a CUDA kernel's arguments, made by its runtime (the
/// CUDA driver's or the emulator's): every host buffer is copied to device
/// memory on construction, back with `copyBack`, and freed on destruction.
/// Errors of the runtime (no GPU, a failed copy or launch, emulator
/// reports) are collected by `takeError`.
class DeviceCopies {
public:
  /// One argument: host memory of `bytes` bytes with a device copy, which
  /// is filled from it when `copyIn` and copied back when `copyBack`; or,
  /// with `bytes` 0, an address passed as it is (device memory the caller
  /// owns, or an empty buffer).
  struct Host {
    void *data;
    size_t bytes;
    bool copyIn = true;
    bool copyBack = true;
  };
  DeviceCopies(ArrayRef<Host> host, const AttnGpuRuntime &runtime);
  ~DeviceCopies();
  DeviceCopies(const DeviceCopies &) = delete;
  DeviceCopies &operator=(const DeviceCopies &) = delete;

  /// The device copy of buffer `i` (its host address when it is empty).
  void *device(size_t i) const { return copies[i]; }
  /// Copies the buffers marked `copyBack` to the host and waits for it.
  void copyBack();
  /// The first error of `runtime` since the last call, or "" when there
  /// was none; taking it clears it.
  static std::string takeError(const AttnGpuRuntime &runtime);
  std::string takeError() const { return takeError(runtime); }

private:
  const AttnGpuRuntime &runtime;
  std::vector<Host> host;
  std::vector<void *> copies;
};

/// A module compiled for the host CPU.
class CPUKernel {
public:
  ~CPUKernel();

  /// Lowers `module` (a clone is taken) with the CPU pipeline and JIT
  /// compiles it for the host (loading libomp when the pipeline uses
  /// OpenMP). Returns null and sets `error` on failure; diagnostics of
  /// the pipeline go to the context's handler.
  static std::unique_ptr<CPUKernel> compile(ModuleOp module,
                                            const CPUPipelineOptions &options,
                                            std::string &error);

  /// The host side of a CUDA module: lowers `module` (a clone) with the
  /// CUDA pipeline and JIT compiles the host code, which loads the embedded
  /// kernels (at the first lookup) and launches them through the mgpu*
  /// runtime linked into this library: the CUDA driver's, or with
  /// `options.emulate` the emulator's (`gpuRuntime` says which). Arguments
  /// are then device pointers of that runtime. Compiling needs no GPU;
  /// running on the driver without one records the reason (attnCudaTakeError)
  /// and launches nothing.
  static std::unique_ptr<CPUKernel>
  compileCUDA(ModuleOp module, const CUDAPipelineOptions &options,
              std::string &error);

  /// Loads native code saved by `objectCode` (an ELF object for this host),
  /// linking it against the runtime libraries again. This is how compiled
  /// kernels come back from a disk cache without running any compiler.
  static std::unique_ptr<CPUKernel> load(StringRef objectCode, bool openmp,
                                         std::string &error);

  /// The kernel's native code as a relocatable object (empty when the kernel
  /// came from `load`, which already has it). Returns false and sets `error`
  /// when it cannot be written out.
  bool objectCode(std::string &code, std::string &error);

  /// The packed entry point of public function `name`: it takes an array
  /// with one pointer per argument, each pointing at a descriptor pointer.
  /// Returns null and sets `error` when there is no such function.
  using PackedFunction = void (*)(void **);
  PackedFunction lookup(StringRef name, std::string &error);

  /// Calls a looked-up entry point with one descriptor per argument;
  /// outputs are written into their argument buffers (the pipeline drops
  /// returned outs).
  static void call(PackedFunction fn, ArrayRef<MemRefDescriptor *> args);

  /// `call`, then the kernel's run-time check: returns 0, or the 1-based
  /// number of a captured array that a score_mod / mask_mod region indexed
  /// out of range (such reads read nothing and give 0; the outputs are then
  /// not meaningful). Calls of a kernel that has captures are serialised so
  /// that each one sees only its own reads.
  int callChecked(PackedFunction fn, ArrayRef<MemRefDescriptor *> args);

  /// The mgpu* runtime of a kernel from `compileCUDA`; null otherwise.
  const AttnGpuRuntime *gpuRuntime() const { return gpu; }

private:
  CPUKernel();
  const AttnGpuRuntime *gpu = nullptr;
  /// Finds the kernel's capture error word, when its module has one.
  void bindErrorWord();
  int32_t *captureError = nullptr;
  std::mutex callMutex;
  /// Either a freshly compiled engine or a JIT holding a loaded object.
  std::unique_ptr<ExecutionEngine> engine;
  std::unique_ptr<llvm::orc::LLJIT> loaded;
};

} // namespace mlir::attn

#endif // ATTN_RUNTIME_CPUJIT_H
