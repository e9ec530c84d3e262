//===- FakeDriverTest.cpp - The mgpu* runtime over a fake driver ----------===//
//
// Runs the runtime against FakeCuda (a libcuda.so.1 that records calls and
// runs nothing), so that what it does with a driver is tested on machines
// without one: tensor-map caching and eviction, stream pooling, skipped
// launches after a failed map, the shared-memory opt-in, copies and the
// checks of caller-owned device memory.
//
//===----------------------------------------------------------------------===//

#include "FakeCuda.h"
#include "attn/Runtime/CudaRuntime.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

/// 16-byte aligned stand-ins for K or V buffers, one per map wanted. They
/// come from one arena and are never reused, so no test meets a map that
/// an earlier one cached.
struct Buffers {
  explicit Buffers(size_t n) : first(next) {
    next += n;
    EXPECT_LE(next, kSlots);
  }
  void *at(size_t i) { return &arena[(first + i) % kSlots * 64]; }

  static constexpr size_t kSlots = 1024;
  alignas(64) static inline char arena[kSlots * 64];
  static inline size_t next = 0;
  size_t first;
};

/// A bf16 BHSD map of [1, 2, 100, 64] with 64 x 64 boxes at `base`.
void *mapAt(void *base) {
  return attnCudaTensorMap(base, 9, 64, 100, 2, 1, 128, 128 * 100,
                           128 * 100 * 2, 64, 64, 1, 1);
}

std::string takeError() {
  char message[512];
  attnCudaTakeError(message, sizeof(message));
  return message;
}

class FakeDriver : public ::testing::Test {
protected:
  void SetUp() override {
    char message[512];
    ASSERT_EQ(attnCudaStatus(message, sizeof(message)), 1) << message;
    takeError();
  }
  FakeCudaRecord &rec = *fakeCudaRecord();
};

TEST_F(FakeDriver, TensorMapsAreEncodedAsAsked) {
  Buffers bufs(1);
  ASSERT_NE(mapAt(bufs.at(0)), nullptr);
  EXPECT_EQ(rec.dataType, 9);
  EXPECT_EQ(rec.base, bufs.at(0));
  EXPECT_EQ(rec.dims[0], 64u);
  EXPECT_EQ(rec.dims[1], 100u);
  EXPECT_EQ(rec.dims[2], 2u);
  EXPECT_EQ(rec.dims[3], 1u);
  EXPECT_EQ(rec.strides[0], 128u);
  EXPECT_EQ(rec.strides[2], 25600u);
  EXPECT_EQ(rec.box[0], 64u);
  EXPECT_EQ(rec.box[1], 64u);
  EXPECT_EQ(rec.swizzle, 3); // 128B
  EXPECT_EQ(rec.oobFill, 0); // zeros
  EXPECT_EQ(takeError(), "");
}

TEST_F(FakeDriver, TensorMapsAreCachedByContent) {
  Buffers bufs(2);
  int allocs = rec.memAlloc, syncs = rec.ctxSynchronize;
  void *first = mapAt(bufs.at(0));
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(rec.memAlloc, allocs + 1);
  // One synchronisation after the copy (and one more if the cache was
  // full and evicted a map).
  EXPECT_GE(rec.ctxSynchronize, syncs + 1);
  syncs = rec.ctxSynchronize;
  attnCudaTensorMapFree(first);
  // The same map again: no allocation, copy or synchronisation.
  EXPECT_EQ(mapAt(bufs.at(0)), first);
  EXPECT_EQ(rec.memAlloc, allocs + 1);
  EXPECT_EQ(rec.ctxSynchronize, syncs);
  // Another buffer is another map.
  void *second = mapAt(bufs.at(1));
  EXPECT_NE(second, nullptr);
  EXPECT_NE(second, first);
  EXPECT_EQ(rec.memAlloc, allocs + 2);
  EXPECT_EQ(takeError(), "");
}

TEST_F(FakeDriver, FullCacheEvictsTheLeastRecentlyUsedMap) {
  // More maps than the cache holds, each used once, then the first one
  // touched again: the next new map evicts the second, not the first.
  constexpr size_t kMany = 40;
  Buffers bufs(kMany + 1);
  std::vector<void *> maps;
  for (size_t i = 0; i < kMany; ++i)
    maps.push_back(mapAt(bufs.at(i)));
  int allocs = rec.memAlloc, frees = rec.memFree;
  void *recent = mapAt(bufs.at(kMany - 1));
  EXPECT_EQ(recent, maps.back());
  EXPECT_EQ(rec.memAlloc, allocs);
  ASSERT_NE(mapAt(bufs.at(kMany)), nullptr);
  EXPECT_EQ(rec.memAlloc, allocs + 1);
  EXPECT_EQ(rec.memFree, frees + 1);
  // The most recent maps stayed; the oldest must be made again.
  EXPECT_EQ(mapAt(bufs.at(kMany - 1)), recent);
  EXPECT_EQ(rec.memAlloc, allocs + 1);
  mapAt(bufs.at(0));
  EXPECT_EQ(rec.memAlloc, allocs + 2);
  EXPECT_EQ(takeError(), "");
}

TEST_F(FakeDriver, AFailedMapSkipsOnlyTheNextLaunch) {
  Buffers bufs(1);
  void *misaligned = static_cast<char *>(bufs.at(0)) + 2;
  EXPECT_EQ(mapAt(misaligned), nullptr);
  void *module = mgpuModuleLoad(nullptr, 0);
  void *fn = mgpuModuleGetFunction(module, "attention_kernel");
  ASSERT_NE(fn, nullptr);
  int launches = rec.launches;
  mgpuLaunchKernel(fn, 2, 3, 1, 128, 1, 1, 1024, nullptr, nullptr, nullptr, 0);
  EXPECT_EQ(rec.launches, launches);
  std::string error = takeError();
  EXPECT_NE(error.find("cuTensorMapEncodeTiled"), std::string::npos) << error;
  EXPECT_NE(error.find("16-byte aligned"), std::string::npos) << error;
  mgpuLaunchKernel(fn, 2, 3, 1, 128, 1, 1, 1024, nullptr, nullptr, nullptr, 0);
  EXPECT_EQ(rec.launches, launches + 1);
  EXPECT_EQ(rec.grid[0], 2u);
  EXPECT_EQ(rec.grid[1], 3u);
  EXPECT_EQ(rec.block[0], 128u);
  mgpuModuleUnload(module);
}

TEST_F(FakeDriver, LargeSharedMemoryOptsIn) {
  void *fn = mgpuModuleGetFunction(mgpuModuleLoad(nullptr, 0), "k");
  int optIns = rec.setMaxDynamicShared;
  mgpuLaunchKernel(fn, 1, 1, 1, 128, 1, 1, 48 * 1024, nullptr, nullptr, nullptr,
                   0);
  EXPECT_EQ(rec.setMaxDynamicShared, optIns);
  mgpuLaunchKernel(fn, 1, 1, 1, 128, 1, 1, 66576, nullptr, nullptr, nullptr, 0);
  EXPECT_EQ(rec.setMaxDynamicShared, optIns + 1);
  EXPECT_EQ(rec.sharedBytes, 66576u);
  // An empty grid launches nothing.
  int launches = rec.launches;
  mgpuLaunchKernel(fn, 0, 1, 1, 128, 1, 1, 0, nullptr, nullptr, nullptr, 0);
  EXPECT_EQ(rec.launches, launches);
}

TEST_F(FakeDriver, DestroyedStreamsAreReused) {
  int created = rec.streamCreate, destroyed = rec.streamDestroy;
  void *a = mgpuStreamCreate();
  void *b = mgpuStreamCreate();
  ASSERT_NE(a, nullptr);
  EXPECT_NE(a, b);
  mgpuStreamDestroy(a);
  mgpuStreamDestroy(b);
  EXPECT_EQ(rec.streamDestroy, destroyed);
  void *again = mgpuStreamCreate();
  EXPECT_TRUE(again == a || again == b);
  mgpuStreamDestroy(again);
  EXPECT_LE(rec.streamCreate, created + 2);
  // Beyond the pool's size, streams are really destroyed.
  std::vector<void *> many;
  for (int i = 0; i < 20; ++i)
    many.push_back(mgpuStreamCreate());
  for (void *s : many)
    mgpuStreamDestroy(s);
  EXPECT_GT(rec.streamDestroy, destroyed);
  EXPECT_EQ(takeError(), "");
}

TEST_F(FakeDriver, CopiesRoundTrip) {
  std::vector<float> in = {1, 2, 3, 4}, out(4, 0);
  void *device = mgpuMemAlloc(in.size() * sizeof(float), nullptr, false);
  ASSERT_NE(device, nullptr);
  mgpuMemcpy(device, in.data(), in.size() * sizeof(float), nullptr);
  mgpuMemcpy(out.data(), device, out.size() * sizeof(float), nullptr);
  mgpuStreamSynchronize(nullptr);
  mgpuMemFree(device, nullptr);
  EXPECT_EQ(out, in);
  EXPECT_EQ(takeError(), "");
}

TEST_F(FakeDriver, DeviceRangesAreChecked) {
  char why[256];
  void *device = mgpuMemAlloc(1000, nullptr, false);
  EXPECT_EQ(attnCudaCheckDeviceRange(device, 1000, why, sizeof(why)), 1) << why;
  EXPECT_EQ(attnCudaCheckDeviceRange(static_cast<char *>(device) + 200, 800,
                                     why, sizeof(why)),
            1)
      << why;
  // One byte past the allocation.
  EXPECT_EQ(attnCudaCheckDeviceRange(static_cast<char *>(device) + 200, 801,
                                     why, sizeof(why)),
            0);
  EXPECT_NE(std::string(why).find("ends 800 bytes after it"), std::string::npos)
      << why;
  // Host memory the driver never allocated.
  std::vector<char> host(64);
  EXPECT_EQ(attnCudaCheckDeviceRange(host.data(), 64, why, sizeof(why)), 0);
  EXPECT_NE(std::string(why).find("not memory the CUDA driver knows"),
            std::string::npos)
      << why;
  // Nothing is read from an empty range.
  EXPECT_EQ(attnCudaCheckDeviceRange(host.data(), 0, why, sizeof(why)), 1);
  mgpuMemFree(device, nullptr);
  EXPECT_EQ(takeError(), "");
}

} // namespace
