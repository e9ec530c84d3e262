//===- CudaRuntime.h - The mgpu* runtime over the CUDA driver ---*- C++ -*-===//
//
// libattn_cuda_runtime.so implements the functions MLIR's gpu-to-llvm
// lowering calls (mgpuModuleLoad, mgpuLaunchKernel, ...) over the CUDA
// driver API, which it opens with dlopen("libcuda.so.1") on first use. A
// machine without a driver or a GPU therefore loads it fine; the functions
// then do nothing and record why, and callers ask `attnCudaStatus` before
// running anything, so the answer is a message and never a crash.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_CUDARUNTIME_H
#define ATTN_RUNTIME_CUDARUNTIME_H

#include "attn/Runtime/GpuRuntime.h"

#include <cstddef>
#include <cstdint>

extern "C" {
/// Opens the driver and the first device if not done yet. Returns 1 when a
/// CUDA device is usable; otherwise 0, with the reason in `message` (at most
/// `size` bytes, NUL-terminated).
int attnCudaStatus(char *message, size_t size);

/// Encodes a 4-D tiled tensor map (CUtensorMap: 128B swizzle, zero fill out
/// of bounds, dims and box innermost first, strides in bytes) for TMA and
/// returns its copy in device memory, or null with the error recorded (the
/// next launch of this thread is then skipped). Empty tensors give null
/// without an error. The copies are cached by their bytes (the 32 most
/// recently used), so calls on the same buffers and shapes allocate, copy
/// and synchronise once; attnCudaTensorMapFree hands a map back and leaves
/// it cached.
void *attnCudaTensorMap(void *base, int32_t dataType, int64_t dim0,
                        int64_t dim1, int64_t dim2, int64_t dim3,
                        int64_t stride1, int64_t stride2, int64_t stride3,
                        int32_t box0, int32_t box1, int32_t box2, int32_t box3);
void attnCudaTensorMapFree(void *map);

/// Whether `bytes` bytes at `ptr`, memory a caller owns, can be handed to
/// a kernel: CUDA device (or managed) memory of device 0, all in one
/// allocation. Returns 1 when so (or when the driver cannot tell); else 0
/// with the reason in `message`. For arguments that are already on the
/// GPU, so that a host address or a short buffer is an error message and
/// not a kernel fault.
int attnCudaCheckDeviceRange(const void *ptr, size_t bytes, char *message,
                             size_t size);

/// The mgpu* entry points that host code (and attn-run, for its device
/// buffers) calls; handles are opaque pointers.
void *mgpuMemAlloc(uint64_t sizeBytes, void *stream, bool isHostShared);
void mgpuMemFree(void *ptr, void *stream);
void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void *stream);
void mgpuStreamSynchronize(void *stream);
void *mgpuModuleLoad(void *data, size_t size);
void *mgpuModuleLoadJIT(void *data, int optLevel);
void mgpuModuleUnload(void *module);
void *mgpuModuleGetFunction(void *module, const char *name);
void mgpuLaunchKernel(void *fn, intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                      intptr_t blockX, intptr_t blockY, intptr_t blockZ,
                      int32_t smem, void *stream, void **params, void **extra,
                      size_t paramsCount);
/// Streams are pooled: a destroyed stream may come back from a later
/// create.
void *mgpuStreamCreate();
void mgpuStreamDestroy(void *stream);

/// This runtime's entry points and host-side functions (GpuRuntime.h).
const AttnGpuRuntime *attnCudaRuntime();

/// The first error any mgpu* function hit since the last call (cleared by
/// the call); 0 and an empty message when there was none.
int attnCudaTakeError(char *message, size_t size);
}

#endif // ATTN_RUNTIME_CUDARUNTIME_H
