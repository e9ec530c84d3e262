//===- Api.h - What the Python module needs of the compiler -----*- C++ -*-===//
//
// A narrow interface over the dialect, the pipelines and the CPU JIT in plain
// standard-library types. The Python extension is compiled with RTTI and
// exceptions (nanobind needs both) while LLVM and MLIR are built without;
// keeping every LLVM/MLIR header out of the extension's own translation unit
// avoids mixing the two ABIs. Failures return false with a message that
// holds the compiler's diagnostics (file:line:col: error: ...).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_PYTHON_API_H
#define ATTN_PYTHON_API_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mlir::attn {
class CPUKernel;
} // namespace mlir::attn

namespace attn::python {

/// Parses and verifies `ir`; on success `printed` is the module as the
/// compiler prints it.
bool parseModule(const std::string &ir, std::string &printed,
                 std::string &error);

/// Runs a textual pass pipeline (as attn-opt takes it, e.g.
/// "attn-cpu-pipeline{lowering=reference}" or
/// "builtin.module(attn-tile-cpu,canonicalize)") over `ir` and prints the
/// result.
/// `remarks`, when given, receives the diagnostics of a successful run
/// (remarks, warnings) as text.
bool lowerModule(const std::string &ir, const std::string &pipeline,
                 std::string &lowered, std::string &error,
                 std::string *remarks = nullptr);

/// A description of the host CPU that changes whenever the native code the
/// JIT emits for it could: its name and feature set.
std::string hostCPU();

/// Whether a CUDA GPU is usable; otherwise the reason in `why`.
bool cudaStatus(std::string &why);

/// Device memory for arrays that stay on the GPU between calls. Each
/// returns false with the runtime's message when the driver fails.
bool cudaAlloc(size_t bytes, uintptr_t &address, std::string &error);
bool cudaFree(uintptr_t address, std::string &error);
/// Copies `bytes` between any two addresses the driver knows (host or
/// device) and waits for the copy.
bool cudaCopy(uintptr_t dst, uintptr_t src, size_t bytes, std::string &error);
/// Waits for the work queued on a CUDA stream (a CUstream handle, or 1 and
/// 2 for the legacy and per-thread default streams).
bool cudaStreamSynchronize(uintptr_t stream, std::string &error);
/// Whether `bytes` bytes at `address` are device memory a kernel can be
/// given (attnCudaCheckDeviceRange); otherwise why not.
bool cudaCheckDeviceRange(uintptr_t address, size_t bytes, std::string &why);

/// One argument of a kernel call: caller-owned, row-major memory.
struct Buffer {
  void *data = nullptr;
  std::vector<int64_t> shape;
};

/// Native code for the host CPU, from the compiler or from a cache.
class Kernel {
public:
  ~Kernel();

  /// Lowers `ir` with `--attn-cpu-pipeline` and the given options (the
  /// pipeline's own syntax: "lowering=fused vector-width=0") and JIT
  /// compiles it.
  static std::unique_ptr<Kernel> compile(const std::string &ir,
                                         const std::string &options,
                                         std::string &error);
  /// Lowers `ir` with `--attn-cuda-pipeline` and the given options
  /// ("chip=sm_90a mma=auto", with "emulate=true" for the GPU emulator)
  /// and JIT compiles the host code.
  static std::unique_ptr<Kernel> compileCUDA(const std::string &ir,
                                             const std::string &options,
                                             std::string &error);
  /// Loads object code written by `objectCode`.
  static std::unique_ptr<Kernel> load(const std::string &object, bool openmp,
                                      std::string &error);

  bool objectCode(std::string &code, std::string &error);

  /// Where the kernel runs: "cpu", "cuda" or "cuda-emulator".
  std::string target() const;

  /// Resolves public function `name`; false when it does not exist.
  bool bind(const std::string &name, std::string &error);
  /// Calls the bound function. Safe to call from several threads. Returns
  /// 0, or the 1-based number of a captured array that the kernel indexed
  /// out of range (CPUKernel::callChecked).
  int call(const std::vector<Buffer> &args) const;
  /// For a CUDA kernel: gives each host argument (`bytes[i]` > 0 bytes of
  /// host memory) a device copy, filled from it for inputs and copied back
  /// for outputs (`isOutput[i]`), and calls the bound function with the
  /// copies and the other arguments' addresses (device memory,
  /// `bytes[i]` == 0) as they are. Returns false with the runtime's error
  /// message when a driver call failed (or there is no GPU), or, on the
  /// emulator, when a launch failed or has reports. `badCapture` is what
  /// call returns: the 1-based number of a capture read out of range, or 0.
  bool callOnDevice(const std::vector<Buffer> &args,
                    const std::vector<size_t> &bytes,
                    const std::vector<bool> &isOutput, int &badCapture,
                    std::string &error) const;

private:
  Kernel();
  /// A Kernel around `impl`, or null when it is null.
  static std::unique_ptr<Kernel>
  wrap(std::unique_ptr<mlir::attn::CPUKernel> impl);
  std::unique_ptr<mlir::attn::CPUKernel> impl;
  void (*entry)(void **) = nullptr;
};

} // namespace attn::python

#endif // ATTN_PYTHON_API_H
