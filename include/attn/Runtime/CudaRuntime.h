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

#include <cstddef>

extern "C" {
/// Opens the driver and the first device if not done yet. Returns 1 when a
/// CUDA device is usable; otherwise 0, with the reason in `message` (at most
/// `size` bytes, NUL-terminated).
int attnCudaStatus(char *message, size_t size);

/// The first error any mgpu* function hit since the last call (cleared by
/// the call); 0 and an empty message when there was none.
int attnCudaTakeError(char *message, size_t size);
}

#endif // ATTN_RUNTIME_CUDARUNTIME_H
