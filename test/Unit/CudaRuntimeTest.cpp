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

/// The no-driver checks: skipped where a CUDA device is present; each
/// starts with no pending error and `why` holding the status message.
class CudaRuntime : public ::testing::Test {
protected:
  void SetUp() override {
    char message[512];
    if (attnCudaStatus(message, sizeof(message)) == 1)
      GTEST_SKIP() << "a CUDA device is present";
    why = message;
    attnCudaTakeError(message, sizeof(message));
  }

  std::string why;
};

TEST_F(CudaRuntime, StatusExplainsAMissingDriver) {
  EXPECT_NE(why.find("CUDA"), std::string::npos) << why;
}

TEST_F(CudaRuntime, EntryPointsAreSafeWithoutADriver) {
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

TEST_F(CudaRuntime, TensorMapsWithoutADriverSkipTheLaunch) {
  char message[512];
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

TEST_F(CudaRuntime, MessagesAreTruncatedToTheBuffer) {
  char tiny[8];
  attnCudaStatus(tiny, sizeof(tiny));
  EXPECT_EQ(std::string(tiny), why.substr(0, 7));
}

} // namespace
