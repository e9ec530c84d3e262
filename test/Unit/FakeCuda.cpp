//===- FakeCuda.cpp - A fake CUDA driver for runtime tests ----------------===//
//
// Built as libcuda.so.1 in its own directory, which only the fake-driver
// tests put on their search path. Implements the driver entry points the
// runtime resolves, with host memory and a record of the calls.
//
//===----------------------------------------------------------------------===//

#include "FakeCuda.h"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <map>

namespace {
FakeCudaRecord record;
/// Live allocations: address to size, for cuPointerGetAttribute.
std::map<unsigned long long, size_t> &allocations() {
  static std::map<unsigned long long, size_t> live;
  return live;
}
int streamIds = 0;
constexpr int kInvalidValue = 1;
} // namespace

extern "C" {

FakeCudaRecord *fakeCudaRecord() { return &record; }

int cuInit(unsigned) { return 0; }
int cuDeviceGet(int *device, int) {
  *device = 0;
  return 0;
}
int cuDevicePrimaryCtxRetain(void **context, int) {
  static int primary;
  *context = &primary;
  return 0;
}
int cuCtxSetCurrent(void *) { return 0; }
int cuGetErrorString(int code, const char **text) {
  *text = code == kInvalidValue ? "invalid argument (fake driver)"
                                : "error (fake driver)";
  return 0;
}
int cuModuleLoadData(void **module, const void *) {
  static int theModule;
  *module = &theModule;
  return 0;
}
int cuModuleUnload(void *) { return 0; }
int cuModuleGetFunction(void **fn, void *, const char *) {
  static int theFunction;
  *fn = &theFunction;
  return 0;
}
int cuFuncSetAttribute(void *, int attribute, int) {
  if (attribute == 8) // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
    ++record.setMaxDynamicShared;
  return 0;
}
int cuLaunchKernel(void *, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                   unsigned by, unsigned bz, unsigned smem, void *, void **,
                   void **) {
  ++record.launches;
  record.grid[0] = gx;
  record.grid[1] = gy;
  record.grid[2] = gz;
  record.block[0] = bx;
  record.block[1] = by;
  record.block[2] = bz;
  record.sharedBytes = smem;
  return 0;
}
int cuStreamCreate(void **stream, unsigned) {
  ++record.streamCreate;
  // Distinct non-null handles.
  *stream = reinterpret_cast<void *>(static_cast<uintptr_t>(++streamIds) << 4);
  return 0;
}
int cuStreamDestroy_v2(void *) {
  ++record.streamDestroy;
  return 0;
}
int cuStreamSynchronize(void *) { return 0; }
int cuStreamWaitEvent(void *, void *, unsigned) { return 0; }
int cuEventCreate(void **event, unsigned) {
  static int theEvent;
  *event = &theEvent;
  return 0;
}
int cuEventDestroy_v2(void *) { return 0; }
int cuEventRecord(void *, void *) { return 0; }
int cuEventSynchronize(void *) { return 0; }
int cuMemAlloc_v2(unsigned long long *ptr, size_t bytes) {
  ++record.memAlloc;
  *ptr = reinterpret_cast<unsigned long long>(std::malloc(bytes ? bytes : 1));
  allocations()[*ptr] = bytes;
  return 0;
}
int cuMemAllocManaged(unsigned long long *ptr, size_t bytes, unsigned) {
  return cuMemAlloc_v2(ptr, bytes);
}
int cuMemFree_v2(unsigned long long ptr) {
  ++record.memFree;
  allocations().erase(ptr);
  std::free(reinterpret_cast<void *>(ptr));
  return 0;
}
int cuMemcpyAsync(unsigned long long dst, unsigned long long src, size_t bytes,
                  void *) {
  ++record.memcpys;
  std::memcpy(reinterpret_cast<void *>(dst), reinterpret_cast<void *>(src),
              bytes);
  return 0;
}
int cuMemsetD32Async(unsigned long long dst, unsigned value, size_t count,
                     void *) {
  auto *p = reinterpret_cast<unsigned *>(dst);
  for (size_t i = 0; i < count; ++i)
    p[i] = value;
  return 0;
}
int cuMemsetD16Async(unsigned long long dst, unsigned short value, size_t count,
                     void *) {
  auto *p = reinterpret_cast<unsigned short *>(dst);
  for (size_t i = 0; i < count; ++i)
    p[i] = value;
  return 0;
}
int cuMemcpyHtoD_v2(unsigned long long dst, const void *src, size_t bytes) {
  ++record.memcpys;
  std::memcpy(reinterpret_cast<void *>(dst), src, bytes);
  return 0;
}
/// Device memory type, device 0 and the allocation's range, for addresses
/// inside a live cuMemAlloc block; CUDA_ERROR_INVALID_VALUE for others.
int cuPointerGetAttribute(void *data, int attribute, unsigned long long ptr) {
  auto it = allocations().upper_bound(ptr);
  if (it == allocations().begin())
    return kInvalidValue;
  --it;
  if (ptr >= it->first + (it->second ? it->second : 1))
    return kInvalidValue;
  switch (attribute) {
  case 2: // CU_POINTER_ATTRIBUTE_MEMORY_TYPE: CU_MEMORYTYPE_DEVICE
    *static_cast<unsigned *>(data) = 2;
    return 0;
  case 9: // CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL
    *static_cast<int *>(data) = 0;
    return 0;
  case 11: // CU_POINTER_ATTRIBUTE_RANGE_START_ADDR
    *static_cast<unsigned long long *>(data) = it->first;
    return 0;
  case 12: // CU_POINTER_ATTRIBUTE_RANGE_SIZE
    *static_cast<size_t *>(data) = it->second;
    return 0;
  default:
    return kInvalidValue;
  }
}
int cuCtxSynchronize() {
  ++record.ctxSynchronize;
  return 0;
}
int cuTensorMapEncodeTiled(void *map, int dataType, unsigned rank, void *base,
                           const uint64_t *dims, const uint64_t *strides,
                           const unsigned *box, const unsigned *,
                           int /*interleave*/, int swizzle, int /*l2*/,
                           int oobFill) {
  ++record.tensorMapEncodes;
  // The driver's documented requirements that the runtime relies on.
  if (rank != 4 || reinterpret_cast<uintptr_t>(base) % 16 != 0)
    return kInvalidValue;
  for (int i = 0; i < 3; ++i)
    if (strides[i] % 16 != 0)
      return kInvalidValue;
  for (int i = 0; i < 4; ++i)
    if (box[i] == 0 || box[i] > 256)
      return kInvalidValue;
  record.dataType = dataType;
  record.base = base;
  std::memcpy(record.dims, dims, sizeof(record.dims));
  std::memcpy(record.strides, strides, sizeof(record.strides));
  std::memcpy(record.box, box, sizeof(record.box));
  record.swizzle = swizzle;
  record.oobFill = oobFill;
  // The 128 bytes: a function of every argument, as the real encoding is.
  auto *out = static_cast<uint64_t *>(map);
  std::memset(out, 0, 128);
  out[0] = reinterpret_cast<uintptr_t>(base);
  out[1] = static_cast<uint64_t>(dataType);
  for (int i = 0; i < 4; ++i) {
    out[2 + i] = dims[i];
    out[9 + i] = box[i];
  }
  for (int i = 0; i < 3; ++i)
    out[6 + i] = strides[i];
  out[13] = static_cast<uint64_t>(swizzle);
  return 0;
}

} // extern "C"
