//===- EmulatorRuntime.h - The mgpu* runtime over the emulator --*- C++ -*-===//
//
// The entry points of CudaRuntime.h with the GPU emulator (lib/Emulator) in
// place of the driver, for host code from the CUDA pipeline with
// `emulate=true` (its kernels embedded as MLIR text):
//   - device memory is host memory: mgpuMemAlloc allocates it (256-byte
//     aligned, filled with 0xff bytes, a NaN in every float type, so that
//     reads of memory nothing wrote show), and its allocations are the
//     global memory a kernel may touch; copies are memcpy; streams and
//     events exist only as handles, since every launch runs to completion;
//   - mgpuModuleLoad keeps the kernel module's text, mgpuModuleGetFunction
//     parses it (the first time) and names one of its kernels,
//     mgpuLaunchKernel runs it over the grid with the launch's kernel
//     parameters, after the checks of the driver's launch (block size,
//     dynamic shared memory);
//   - attnCudaTensorMap checks its arguments as cuTensorMapEncodeTiled does
//     and writes an attn::emu::TensorMap into 128 bytes of device memory;
//   - every failure, and every launch with reports (races, out-of-bounds
//     accesses, ...), is recorded for attnCudaTakeError: the first one, as
//     with the driver, with the first few reports' kind, location and
//     message.
//
// The JIT reaches it through attnEmulatorRuntime(); attn-aot --emulate
// links libattn_emulator_runtime.so, which exports the same functions
// under their C names.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_EMULATORRUNTIME_H
#define ATTN_RUNTIME_EMULATORRUNTIME_H

#include "attn/Runtime/GpuRuntime.h"

#include <string>

extern "C" {
/// The emulator runtime's entry points and host-side functions.
const AttnGpuRuntime *attnEmulatorRuntime();
}

namespace attn::emu {
struct LaunchConfig;
struct LaunchResult;

/// How many reports of one launch an error message lists.
constexpr size_t kReportsListed = 5;

/// The error message of kernel `name`'s launch that failed or has reports
/// (what attnCudaTakeError returns for it); "" when it has neither.
std::string describeLaunch(const std::string &name, const LaunchConfig &config,
                           const LaunchResult &result);
} // namespace attn::emu

#endif // ATTN_RUNTIME_EMULATORRUNTIME_H
