//===- CudaRuntime.cpp - The mgpu* runtime over the CUDA driver -----------===//
//
// The entry points generated host code calls, with the C signatures MLIR 22
// emits. The driver is reached only through function pointers resolved from
// libcuda.so.1, so this file needs no CUDA headers and the library builds
// and loads on machines without CUDA. Every driver error is recorded (first
// one wins) instead of aborting; later calls on null handles are no-ops.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/CudaRuntime.h"

#include "attn/Runtime/FirstError.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

using attn::runtime::copyMessage;

namespace {

using CUresult = int;
using CUdevice = int;
// Driver handles are opaque pointers (as in CudaRuntime.h's declarations).
using CUcontext = void *;
using CUmodule = void *;
using CUfunction = void *;
using CUstream = void *;
using CUevent = void *;
using CUdeviceptr = unsigned long long;

constexpr int kFuncAttributeMaxDynamicSharedSize = 8;
constexpr unsigned kStreamNonBlocking = 1;
constexpr unsigned kEventDisableTiming = 2;
constexpr unsigned kMemAttachGlobal = 1;
constexpr int kPointerMemoryType = 2, kPointerDeviceOrdinal = 9,
              kPointerRangeStart = 11, kPointerRangeSize = 12;
constexpr unsigned kMemoryTypeHost = 1;

/// The driver functions used, resolved by name from libcuda.so.1.
struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, CUstream, void **,
                             void **);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuStreamWaitEvent)(CUstream, CUevent, unsigned);
  CUresult (*cuEventCreate)(CUevent *, unsigned);
  CUresult (*cuEventDestroy)(CUevent);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuEventSynchronize)(CUevent);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemAllocManaged)(CUdeviceptr *, size_t, unsigned);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemsetD32Async)(CUdeviceptr, unsigned, size_t, CUstream);
  CUresult (*cuMemsetD16Async)(CUdeviceptr, unsigned short, size_t, CUstream);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuCtxSynchronize)();
  /// Optional: only the checks of caller-owned device memory use it.
  CUresult (*cuPointerGetAttribute)(void *, int, CUdeviceptr);
  /// Optional (drivers for CUDA 12 and later): only TMA kernels need it.
  CUresult (*cuTensorMapEncodeTiled)(void *, int, unsigned, void *,
                                     const uint64_t *, const uint64_t *,
                                     const unsigned *, const unsigned *, int,
                                     int, int, int);
};

/// CUtensorMap: 128 opaque bytes, 64-byte aligned.
struct alignas(64) TensorMap {
  uint64_t opaque[16];
};

/// A tensor map in device memory, by its encoded bytes.
struct CachedMap {
  TensorMap map{};
  CUdeviceptr device = 0;
  uint64_t lastUse = 0;
};

/// Tensor maps kept in device memory: calls on the same K / V buffers (a
/// benchmark, decoding steps over one cache) reuse the copy instead of
/// allocating, copying and synchronising again. The least recently used
/// one is freed (after a context synchronisation) when the cache is full.
constexpr size_t kMapCacheSize = 32;
/// Streams kept for reuse: host code creates and destroys one per call.
constexpr size_t kStreamPoolSize = 8;

struct State {
  std::mutex mutex;
  bool tried = false;
  bool ready = false;
  std::string why; // why the driver is not ready
  attn::runtime::FirstError error;
  Driver d{};
  CUcontext context = nullptr;
  std::vector<CachedMap> maps; // at most kMapCacheSize
  uint64_t mapClock = 0;
  std::vector<CUstream> streams; // idle, at most kStreamPoolSize
};

/// Set when a tensor map the next launch needs could not be made: the
/// launch is then skipped rather than run on a null map.
thread_local bool skipNextLaunch = false;

State &state() {
  static State s;
  return s;
}

template <typename T> bool resolve(void *lib, const char *name, T &fn) {
  fn = reinterpret_cast<T>(dlsym(lib, name));
  return fn != nullptr;
}

/// Loads the driver and makes the primary context of device 0 current.
/// Caller holds the mutex.
bool openLocked(State &s) {
  if (s.tried) {
    if (s.ready && s.context)
      s.d.cuCtxSetCurrent(s.context); // this thread may be new
    return s.ready;
  }
  s.tried = true;
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *e = dlerror();
    s.why = std::string("no CUDA driver: cannot load libcuda.so.1 (") +
            (e ? e : "unknown reason") + ")";
    return false;
  }
  Driver &d = s.d;
  bool ok =
      resolve(lib, "cuInit", d.cuInit) &&
      resolve(lib, "cuDeviceGet", d.cuDeviceGet) &&
      resolve(lib, "cuDevicePrimaryCtxRetain", d.cuDevicePrimaryCtxRetain) &&
      resolve(lib, "cuCtxSetCurrent", d.cuCtxSetCurrent) &&
      resolve(lib, "cuGetErrorString", d.cuGetErrorString) &&
      resolve(lib, "cuModuleLoadData", d.cuModuleLoadData) &&
      resolve(lib, "cuModuleUnload", d.cuModuleUnload) &&
      resolve(lib, "cuModuleGetFunction", d.cuModuleGetFunction) &&
      resolve(lib, "cuFuncSetAttribute", d.cuFuncSetAttribute) &&
      resolve(lib, "cuLaunchKernel", d.cuLaunchKernel) &&
      resolve(lib, "cuStreamCreate", d.cuStreamCreate) &&
      resolve(lib, "cuStreamDestroy_v2", d.cuStreamDestroy) &&
      resolve(lib, "cuStreamSynchronize", d.cuStreamSynchronize) &&
      resolve(lib, "cuStreamWaitEvent", d.cuStreamWaitEvent) &&
      resolve(lib, "cuEventCreate", d.cuEventCreate) &&
      resolve(lib, "cuEventDestroy_v2", d.cuEventDestroy) &&
      resolve(lib, "cuEventRecord", d.cuEventRecord) &&
      resolve(lib, "cuEventSynchronize", d.cuEventSynchronize) &&
      resolve(lib, "cuMemAlloc_v2", d.cuMemAlloc) &&
      resolve(lib, "cuMemAllocManaged", d.cuMemAllocManaged) &&
      resolve(lib, "cuMemFree_v2", d.cuMemFree) &&
      resolve(lib, "cuMemcpyAsync", d.cuMemcpyAsync) &&
      resolve(lib, "cuMemsetD32Async", d.cuMemsetD32Async) &&
      resolve(lib, "cuMemsetD16Async", d.cuMemsetD16Async) &&
      resolve(lib, "cuMemcpyHtoD_v2", d.cuMemcpyHtoD) &&
      resolve(lib, "cuCtxSynchronize", d.cuCtxSynchronize);
  resolve(lib, "cuTensorMapEncodeTiled", d.cuTensorMapEncodeTiled);
  resolve(lib, "cuPointerGetAttribute", d.cuPointerGetAttribute);
  if (!ok) {
    s.why = "libcuda.so.1 lacks a driver function attn needs (driver too old?)";
    return false;
  }
  CUdevice device = 0;
  CUresult r = d.cuInit(0);
  if (r == 0)
    r = d.cuDeviceGet(&device, 0);
  if (r == 0)
    r = d.cuDevicePrimaryCtxRetain(&s.context, device);
  if (r == 0)
    r = d.cuCtxSetCurrent(s.context);
  if (r != 0) {
    const char *text = nullptr;
    d.cuGetErrorString(r, &text);
    s.why = std::string("the CUDA driver found no usable GPU: ") +
            (text ? text : "error " + std::to_string(r));
    return false;
  }
  s.ready = true;
  return true;
}

/// The driver when usable, or null after recording why.
Driver *driver() {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (openLocked(s))
    return &s.d;
  s.error.record(-1, s.why);
  return nullptr;
}

/// Records the first failing driver call; the caller holds the mutex.
bool checkLocked(State &s, CUresult r, const char *call) {
  if (r == 0)
    return true;
  if (s.error.empty()) {
    const char *text = nullptr;
    if (s.d.cuGetErrorString)
      s.d.cuGetErrorString(r, &text);
    s.error.record(r, std::string(call) + " failed: " +
                          (text ? text : "error " + std::to_string(r)));
  }
  return false;
}

/// Records the first failing driver call.
bool check(CUresult r, const char *call) {
  if (r == 0)
    return true;
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return checkLocked(s, r, call);
}

/// The device copy of `map`: the cached one, or a new one (evicting the
/// least recently used map when the cache is full). Null after recording
/// the error.
void *cachedTensorMap(Driver &d, const TensorMap &map) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  ++s.mapClock;
  for (CachedMap &entry : s.maps)
    if (std::memcmp(&entry.map, &map, sizeof(TensorMap)) == 0) {
      entry.lastUse = s.mapClock;
      return reinterpret_cast<void *>(entry.device);
    }
  auto call = [&](CUresult r, const char *name) {
    return checkLocked(s, r, name);
  };
  if (s.maps.size() == kMapCacheSize) {
    auto lru = std::min_element(s.maps.begin(), s.maps.end(),
                                [](const CachedMap &x, const CachedMap &y) {
                                  return x.lastUse < y.lastUse;
                                });
    // A kernel still running may read the evicted map.
    bool freed = call(d.cuCtxSynchronize(), "cuCtxSynchronize") &&
                 call(d.cuMemFree(lru->device), "cuMemFree");
    s.maps.erase(lru);
    if (!freed)
      return nullptr;
  }
  CUdeviceptr device = 0;
  bool ok =
      call(d.cuMemAlloc(&device, sizeof(TensorMap)), "cuMemAlloc") &&
      call(d.cuMemcpyHtoD(device, &map, sizeof(TensorMap)), "cuMemcpyHtoD") &&
      // From pageable memory the copy may still be in flight when it
      // returns, and kernels run on non-blocking streams.
      call(d.cuCtxSynchronize(), "cuCtxSynchronize");
  if (!ok) {
    if (device)
      d.cuMemFree(device);
    return nullptr;
  }
  s.maps.push_back({map, device, s.mapClock});
  return reinterpret_cast<void *>(device);
}

} // namespace

extern "C" {

int attnCudaStatus(char *message, size_t size) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  bool ok = openLocked(s);
  copyMessage(ok ? std::string() : s.why, message, size);
  return ok ? 1 : 0;
}

int attnCudaTakeError(char *message, size_t size) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return s.error.take(message, size);
}

CUmodule mgpuModuleLoad(void *data, size_t /*gpuBlobSize*/) {
  CUmodule module = nullptr;
  if (Driver *d = driver())
    check(d->cuModuleLoadData(&module, data), "cuModuleLoadData");
  return module;
}

CUmodule mgpuModuleLoadJIT(void *data, int /*optLevel*/) {
  // PTX text: cuModuleLoadData JIT-compiles it for the current device.
  return mgpuModuleLoad(data, 0);
}

void mgpuModuleUnload(CUmodule module) {
  if (!module)
    return;
  if (Driver *d = driver())
    check(d->cuModuleUnload(module), "cuModuleUnload");
}

CUfunction mgpuModuleGetFunction(CUmodule module, const char *name) {
  CUfunction fn = nullptr;
  if (!module)
    return nullptr;
  if (Driver *d = driver())
    check(d->cuModuleGetFunction(&fn, module, name), "cuModuleGetFunction");
  return fn;
}

void mgpuLaunchKernel(CUfunction fn, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, CUstream stream,
                      void **params, void **extra, size_t /*paramsCount*/) {
  if (std::exchange(skipNextLaunch, false))
    return; // its tensor map failed; the error is recorded
  if (!fn || gridX <= 0 || gridY <= 0 || gridZ <= 0)
    return; // an empty grid launches nothing
  Driver *d = driver();
  if (!d)
    return;
  // Kernels needing more than 48 KiB of dynamic shared memory must opt in.
  if (smem > 48 * 1024 &&
      !check(
          d->cuFuncSetAttribute(fn, kFuncAttributeMaxDynamicSharedSize, smem),
          "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)"))
    return;
  check(d->cuLaunchKernel(fn, gridX, gridY, gridZ, blockX, blockY, blockZ, smem,
                          stream, params, extra),
        "cuLaunchKernel");
}

CUstream mgpuStreamCreate() {
  Driver *d = driver();
  if (!d)
    return nullptr;
  {
    State &s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    if (!s.streams.empty()) {
      CUstream stream = s.streams.back();
      s.streams.pop_back();
      return stream;
    }
  }
  CUstream stream = nullptr;
  check(d->cuStreamCreate(&stream, kStreamNonBlocking), "cuStreamCreate");
  return stream;
}

void mgpuStreamDestroy(CUstream stream) {
  Driver *d = stream ? driver() : nullptr;
  if (!d)
    return;
  {
    // Back to the pool: work still queued on it stays ordered before
    // whatever the next user queues.
    State &s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.streams.size() < kStreamPoolSize) {
      s.streams.push_back(stream);
      return;
    }
  }
  check(d->cuStreamDestroy(stream), "cuStreamDestroy");
}

void mgpuStreamSynchronize(CUstream stream) {
  if (Driver *d = driver())
    check(d->cuStreamSynchronize(stream), "cuStreamSynchronize");
}

void mgpuStreamWaitEvent(CUstream stream, CUevent event) {
  if (Driver *d = event ? driver() : nullptr)
    check(d->cuStreamWaitEvent(stream, event, 0), "cuStreamWaitEvent");
}

CUevent mgpuEventCreate() {
  CUevent event = nullptr;
  if (Driver *d = driver())
    check(d->cuEventCreate(&event, kEventDisableTiming), "cuEventCreate");
  return event;
}

void mgpuEventDestroy(CUevent event) {
  if (Driver *d = event ? driver() : nullptr)
    check(d->cuEventDestroy(event), "cuEventDestroy");
}

void mgpuEventSynchronize(CUevent event) {
  if (Driver *d = event ? driver() : nullptr)
    check(d->cuEventSynchronize(event), "cuEventSynchronize");
}

void mgpuEventRecord(CUevent event, CUstream stream) {
  if (Driver *d = event ? driver() : nullptr)
    check(d->cuEventRecord(event, stream), "cuEventRecord");
}

void *mgpuMemAlloc(uint64_t sizeBytes, CUstream /*stream*/, bool isHostShared) {
  if (sizeBytes == 0)
    return nullptr;
  CUdeviceptr ptr = 0;
  if (Driver *d = driver()) {
    if (isHostShared)
      check(d->cuMemAllocManaged(&ptr, sizeBytes, kMemAttachGlobal),
            "cuMemAllocManaged");
    else
      check(d->cuMemAlloc(&ptr, sizeBytes), "cuMemAlloc");
  }
  return reinterpret_cast<void *>(ptr);
}

void mgpuMemFree(void *ptr, CUstream /*stream*/) {
  if (Driver *d = ptr ? driver() : nullptr)
    check(d->cuMemFree(reinterpret_cast<CUdeviceptr>(ptr)), "cuMemFree");
}

void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, CUstream stream) {
  if (sizeBytes == 0 || !dst || !src)
    return;
  if (Driver *d = driver())
    check(d->cuMemcpyAsync(reinterpret_cast<CUdeviceptr>(dst),
                           reinterpret_cast<CUdeviceptr>(src), sizeBytes,
                           stream),
          "cuMemcpyAsync");
}

void mgpuMemset32(void *dst, unsigned value, size_t count, CUstream stream) {
  if (Driver *d = dst && count ? driver() : nullptr)
    check(d->cuMemsetD32Async(reinterpret_cast<CUdeviceptr>(dst), value, count,
                              stream),
          "cuMemsetD32Async");
}

void mgpuMemset16(void *dst, unsigned short value, size_t count,
                  CUstream stream) {
  if (Driver *d = dst && count ? driver() : nullptr)
    check(d->cuMemsetD16Async(reinterpret_cast<CUdeviceptr>(dst), value, count,
                              stream),
          "cuMemsetD16Async");
}

void *attnCudaTensorMap(void *base, int32_t dataType, int64_t dim0,
                        int64_t dim1, int64_t dim2, int64_t dim3,
                        int64_t stride1, int64_t stride2, int64_t stride3,
                        int32_t box0, int32_t box1, int32_t box2,
                        int32_t box3) {
  uint64_t dims[4] = {uint64_t(dim0), uint64_t(dim1), uint64_t(dim2),
                      uint64_t(dim3)};
  // An empty tensor is never read: its kernel has no tiles or no CTAs.
  if (dim0 <= 0 || dim1 <= 0 || dim2 <= 0 || dim3 <= 0)
    return nullptr;
  Driver *d = driver();
  if (!d) {
    skipNextLaunch = true;
    return nullptr;
  }
  if (!d->cuTensorMapEncodeTiled) {
    check(-1, "cuTensorMapEncodeTiled (the driver predates CUDA 12; TMA "
              "kernels need a newer one)");
    skipNextLaunch = true;
    return nullptr;
  }
  uint64_t strides[3] = {uint64_t(stride1), uint64_t(stride2),
                         uint64_t(stride3)};
  unsigned box[4] = {unsigned(box0), unsigned(box1), unsigned(box2),
                     unsigned(box3)};
  unsigned elementStrides[4] = {1, 1, 1, 1};
  constexpr int kInterleaveNone = 0, kSwizzle128B = 3, kL2Promotion128B = 2,
                kOobFillZero = 0;
  TensorMap map{};
  if (!check(d->cuTensorMapEncodeTiled(
                 &map, dataType, 4, base, dims, strides, box, elementStrides,
                 kInterleaveNone, kSwizzle128B, kL2Promotion128B, kOobFillZero),
             "cuTensorMapEncodeTiled (K or V must be 16-byte aligned with "
             "16-byte aligned strides)")) {
    skipNextLaunch = true;
    return nullptr;
  }
  if (void *cached = cachedTensorMap(*d, map))
    return cached;
  skipNextLaunch = true;
  return nullptr;
}

int attnCudaCheckDeviceRange(const void *ptr, size_t bytes, char *message,
                             size_t size) {
  auto fail = [&](const std::string &why) {
    copyMessage(why, message, size);
    return 0;
  };
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!openLocked(s))
    return fail(s.why);
  copyMessage("", message, size);
  Driver &d = s.d;
  if (!d.cuPointerGetAttribute || bytes == 0)
    return 1; // nothing to check with, or nothing read
  auto address = reinterpret_cast<CUdeviceptr>(ptr);
  unsigned memoryType = 0;
  if (d.cuPointerGetAttribute(&memoryType, kPointerMemoryType, address) != 0)
    return fail("it is not memory the CUDA driver knows (a host address?)");
  if (memoryType == kMemoryTypeHost)
    return fail("it is page-locked host memory, not device memory");
  int ordinal = -1;
  if (d.cuPointerGetAttribute(&ordinal, kPointerDeviceOrdinal, address) == 0 &&
      ordinal != 0)
    return fail("it is memory of device " + std::to_string(ordinal) +
                ", and attn runs on device 0 (choose the GPU with "
                "CUDA_VISIBLE_DEVICES)");
  CUdeviceptr start = 0;
  size_t rangeBytes = 0;
  if (d.cuPointerGetAttribute(&start, kPointerRangeStart, address) == 0 &&
      d.cuPointerGetAttribute(&rangeBytes, kPointerRangeSize, address) == 0 &&
      address + bytes > start + rangeBytes)
    return fail(
        "its allocation ends " + std::to_string(start + rangeBytes - address) +
        " bytes after it, and the kernel reads " + std::to_string(bytes));
  return 1;
}

void attnCudaTensorMapFree(void * /*map*/) {
  // Maps stay in the cache (cachedTensorMap) for later calls.
}

void mgpuSetDefaultDevice(int32_t /*device*/) {
  // attn runs on device 0; the primary context is made current on first use.
}

ATTN_DEFINE_GPU_RUNTIME(attnCudaRuntime, "cuda")

} // extern "C"
