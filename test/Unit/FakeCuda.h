//===- FakeCuda.h - What the fake CUDA driver records ---------------------===//
//
// A stand-in libcuda.so.1 for testing the mgpu* runtime without a GPU:
// device memory is host memory, kernels never run, and every call is
// counted. Tests reach the record through fakeCudaRecord().
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TEST_UNIT_FAKECUDA_H
#define ATTN_TEST_UNIT_FAKECUDA_H

#include <cstdint>

struct FakeCudaRecord {
  int memAlloc = 0, memFree = 0, ctxSynchronize = 0;
  int streamCreate = 0, streamDestroy = 0;
  int launches = 0, setMaxDynamicShared = 0, tensorMapEncodes = 0;
  /// The last launch.
  unsigned grid[3] = {0, 0, 0}, block[3] = {0, 0, 0}, sharedBytes = 0;
  /// The last tensor map encoded (dims and box innermost first, strides in
  /// bytes of dims 1 to 3).
  int dataType = 0;
  void *base = nullptr;
  uint64_t dims[4] = {0, 0, 0, 0}, strides[3] = {0, 0, 0};
  unsigned box[4] = {0, 0, 0, 0};
  int swizzle = -1, oobFill = -1;
  /// cuMemcpyAsync and cuMemcpyHtoD calls.
  int memcpys = 0;
};

extern "C" FakeCudaRecord *fakeCudaRecord();

#endif // ATTN_TEST_UNIT_FAKECUDA_H
