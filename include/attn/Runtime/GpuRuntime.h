//===- GpuRuntime.h - What every mgpu* runtime provides ---------*- C++ -*-===//
//
// The host code of the CUDA pipeline calls a fixed set of entry points
// (ATTN_GPU_ENTRY_POINTS): MLIR's mgpu* functions and attn's tensor-map
// functions. Two runtimes implement them: the CUDA driver's
// (CudaRuntime.h) and the GPU emulator's (EmulatorRuntime.h). Each
// describes itself by an AttnGpuRuntime, so that the JIT, the device copies
// of attn-run and Python, and their messages work with either.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_GPURUNTIME_H
#define ATTN_RUNTIME_GPURUNTIME_H

#include <cstddef>
#include <cstdint>

extern "C" {
/// One entry point of a runtime, by the name host code calls it.
struct AttnRuntimeSymbol {
  const char *name;
  void *address;
};

/// An mgpu* runtime.
struct AttnGpuRuntime {
  /// The target it runs, as attn-run and Python name it: "cuda" or
  /// "cuda-emulator".
  const char *target;
  /// Every entry point generated host code may call, for a JIT that links
  /// the runtime in statically and resolves them by name.
  const AttnRuntimeSymbol *symbols;
  size_t symbolCount;
  /// 1 when kernels can run; otherwise 0 with the reason in `message` (at
  /// most `size` bytes, NUL-terminated).
  int (*status)(char *message, size_t size);
  /// The first error since the last call, which clears it: a non-zero code
  /// and its message, or 0 and "".
  int (*takeError)(char *message, size_t size);
  /// Whether `bytes` bytes at `ptr` are device memory of this runtime, all
  /// in one allocation: 1, or 0 with the reason in `message`.
  int (*checkDeviceRange)(const void *ptr, size_t bytes, char *message,
                          size_t size);
  /// The runtime's mgpuMemAlloc, mgpuMemFree, mgpuMemcpy and
  /// mgpuStreamSynchronize.
  void *(*memAlloc)(uint64_t sizeBytes, void *stream, bool isHostShared);
  void (*memFree)(void *ptr, void *stream);
  void (*memcpy)(void *dst, void *src, size_t sizeBytes, void *stream);
  void (*streamSynchronize)(void *stream);
};
}

/// The entry points of host code, as X(name) for each.
#define ATTN_GPU_ENTRY_POINTS(X)                                               \
  X(mgpuModuleLoad)                                                            \
  X(mgpuModuleLoadJIT)                                                         \
  X(mgpuModuleUnload)                                                          \
  X(mgpuModuleGetFunction)                                                     \
  X(mgpuLaunchKernel)                                                          \
  X(mgpuStreamCreate)                                                          \
  X(mgpuStreamDestroy)                                                         \
  X(mgpuStreamSynchronize)                                                     \
  X(mgpuStreamWaitEvent)                                                       \
  X(mgpuEventCreate)                                                           \
  X(mgpuEventDestroy)                                                          \
  X(mgpuEventSynchronize)                                                      \
  X(mgpuEventRecord)                                                           \
  X(mgpuMemAlloc)                                                              \
  X(mgpuMemFree)                                                               \
  X(mgpuMemcpy)                                                                \
  X(mgpuMemset32)                                                              \
  X(mgpuMemset16)                                                              \
  X(mgpuSetDefaultDevice)                                                      \
  X(attnCudaTensorMap)                                                         \
  X(attnCudaTensorMapFree)

/// Defines `getter`, returning the AttnGpuRuntime of `target` made of the
/// entry points that unqualified lookup finds where it is expanded.
#define ATTN_DEFINE_GPU_RUNTIME(getter, target)                                \
  const AttnGpuRuntime *getter() {                                             \
    static const AttnRuntimeSymbol symbols[] = {                               \
        ATTN_GPU_ENTRY_POINTS(ATTN_GPU_RUNTIME_SYMBOL)};                       \
    static const AttnGpuRuntime runtime = {target,                             \
                                           symbols,                            \
                                           sizeof(symbols) /                   \
                                               sizeof(symbols[0]),             \
                                           attnCudaStatus,                     \
                                           attnCudaTakeError,                  \
                                           attnCudaCheckDeviceRange,           \
                                           mgpuMemAlloc,                       \
                                           mgpuMemFree,                        \
                                           mgpuMemcpy,                         \
                                           mgpuStreamSynchronize};             \
    return &runtime;                                                           \
  }
#define ATTN_GPU_RUNTIME_SYMBOL(fn) {#fn, reinterpret_cast<void *>(&fn)},

#endif // ATTN_RUNTIME_GPURUNTIME_H
