/*===- AotAbi.h - C ABI of the libraries attn-aot writes ----------*- C -*-===*\
|*                                                                            *|
|* A library from `attn-aot in.mlir -o lib.so` exports, for every public     *|
|* function `f` of the module (attn.compile names it `attention`):           *|
|*                                                                            *|
|*   void _mlir_ciface_f(MemRef4 *q, MemRef4 *k, MemRef4 *v,                  *|
|*                       [one descriptor per operand and capture],           *|
|*                       MemRef4 *o [, MemRef3 *lse]);                        *|
|*                                                                            *|
|* in the order of the function's arguments. Every buffer is DEVICE memory   *|
|* (cudaMalloc, torch.cuda tensors, ...), row-major and contiguous: strides  *|
|* are the row-major strides of `sizes`, in elements. The call launches the  *|
|* kernel on a stream of its own and returns when it has finished.           *|
|*                                                                            *|
|* The kernels (PTX or cubin) are loaded when the library is loaded, through *|
|* the CUDA driver's primary context of device 0, which is the context the   *|
|* CUDA runtime (and PyTorch) use, so their device pointers are valid here.  *|
|* Without a usable driver nothing is launched and nothing crashes: check    *|
|* attnCudaStatus before calling, and attnCudaTakeError after.               *|
|*                                                                            *|
|* A library from `attn-aot --emulate` has the same ABI but runs the kernels *|
|* on the GPU emulator (libattn_emulator_runtime.so of the build that wrote  *|
|* it): device memory is then host memory from the mgpuMemAlloc it exports   *|
|* (copied with mgpuMemcpy), attnCudaStatus is always 1, and                 *|
|* attnCudaTakeError also returns the emulator's reports of a launch.        *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef ATTN_RUNTIME_AOTABI_H
#define ATTN_RUNTIME_AOTABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* MLIR's ranked memref descriptor. */
typedef struct {
  void *allocated;
  void *aligned; /* the data: allocated and aligned may be equal */
  int64_t offset; /* in elements, usually 0 */
  int64_t sizes[4];
  int64_t strides[4];
} AttnMemRef4;

typedef struct {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[3];
  int64_t strides[3];
} AttnMemRef3;

typedef struct {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[1];
  int64_t strides[1];
} AttnMemRef1;

/* 1 when a CUDA device is usable; otherwise 0 and the reason. */
int attnCudaStatus(char *message, size_t size);
/* The first error since the last call (0 and "" when none), then clears it. */
int attnCudaTakeError(char *message, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_RUNTIME_AOTABI_H */
