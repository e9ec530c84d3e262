//===- CudaRuntimeTest.cpp - The mgpu* runtime without (or with) a GPU ----===//
//
// On a machine without a CUDA driver every entry point must return quietly
// (null handles, no launch) and report why through attnCudaTakeError; with
// a GPU, the status call says so and the no-driver checks are skipped.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/CudaRuntime.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace {

bool haveGpu(std::string &why) {
  char message[512];
  int ok = attnCudaStatus(message, sizeof(message));
  why = message;
  return ok == 1;
}

TEST(CudaRuntime, StatusExplainsAMissingDriver) {
  std::string why;
  if (haveGpu(why))
    GTEST_SKIP() << "a CUDA device is present";
  EXPECT_NE(why.find("CUDA"), std::string::npos) << why;
}

TEST(CudaRuntime, EntryPointsAreSafeWithoutADriver) {
  std::string why;
  if (haveGpu(why))
    GTEST_SKIP() << "a CUDA device is present";
  char drained[512];
  attnCudaTakeError(drained, sizeof(drained));

  char ptx[] = ".version 7.0\n.target sm_80\n.address_size 64\n";
  void *module = mgpuModuleLoadJIT(ptx, 3);
  EXPECT_EQ(module, nullptr);
  void *fn = mgpuModuleGetFunction(module, "kernel");
  EXPECT_EQ(fn, nullptr);
  void *stream = mgpuStreamCreate();
  mgpuLaunchKernel(fn, 1, 1, 1, 32, 1, 1, 0, stream, nullptr, nullptr, 0);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
  void *buf = mgpuMemAlloc(1024, nullptr, false);
  EXPECT_EQ(buf, nullptr);
  char host[16] = {};
  mgpuMemcpy(buf, host, sizeof(host), nullptr);
  mgpuMemFree(buf, nullptr);
  mgpuModuleUnload(module);
  char rangeWhy[512];
  EXPECT_EQ(
      attnCudaCheckDeviceRange(host, sizeof(host), rangeWhy, sizeof(rangeWhy)),
      0);
  EXPECT_EQ(std::string(rangeWhy), why);

  char message[512];
  EXPECT_NE(attnCudaTakeError(message, sizeof(message)), 0);
  EXPECT_EQ(std::string(message), why);
  // Taking the error clears it.
  EXPECT_EQ(attnCudaTakeError(message, sizeof(message)), 0);
  EXPECT_EQ(std::string(message), "");
}

TEST(CudaRuntime, TensorMapsWithoutADriverSkipTheLaunch) {
  std::string why;
  if (haveGpu(why))
    GTEST_SKIP() << "a CUDA device is present";
  char message[512];
  attnCudaTakeError(message, sizeof(message));
  char tensor[64];
  // An empty tensor needs no map and records nothing.
  EXPECT_EQ(
      attnCudaTensorMap(tensor, 9, 64, 0, 1, 1, 128, 128, 128, 64, 64, 1, 1),
      nullptr);
  EXPECT_EQ(attnCudaTakeError(message, sizeof(message)), 0);
  // A real one fails with the driver's absence, and the next launch of
  // this thread is skipped (with no function it would be skipped anyway;
  // what matters is that nothing crashes and the error is the reason).
  EXPECT_EQ(attnCudaTensorMap(tensor, 9, 64, 100, 2, 1, 128, 12800, 25600, 64,
                              64, 1, 1),
            nullptr);
  mgpuLaunchKernel(nullptr, 1, 1, 1, 128, 1, 1, 66576, nullptr, nullptr,
                   nullptr, 0);
  attnCudaTensorMapFree(nullptr);
  EXPECT_NE(attnCudaTakeError(message, sizeof(message)), 0);
  EXPECT_EQ(std::string(message), why);
}

TEST(CudaRuntime, MessagesAreTruncatedToTheBuffer) {
  std::string why;
  if (haveGpu(why))
    GTEST_SKIP() << "a CUDA device is present";
  char tiny[8];
  attnCudaStatus(tiny, sizeof(tiny));
  EXPECT_EQ(std::string(tiny), why.substr(0, 7));
}

} // namespace
