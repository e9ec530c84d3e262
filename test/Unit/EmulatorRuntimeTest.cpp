//===- EmulatorRuntimeTest.cpp - The mgpu* runtime over the emulator ------===//
//
// The emulator runtime through the symbol table the JIT binds (the same
// names as the CUDA runtime's): device memory as registered host memory,
// tensor maps checked and encoded as the driver would, the error channel,
// and a hand-written kernel module from text, as
// attn-gpu-module-to-emulator-binary embeds it, launched over a grid.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/EmulatorRuntime.h"
#include "attn/Runtime/CudaRuntime.h"

#include "attn/Emulator/Emulator.h"
#include "attn/Transforms/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

const AttnGpuRuntime &emulator() { return *attnEmulatorRuntime(); }

/// The emulator's entry point `name`, as host code finds it.
template <typename Fn> Fn entry(const char *name) {
  const AttnGpuRuntime &rt = emulator();
  for (size_t i = 0; i < rt.symbolCount; ++i)
    if (std::strcmp(rt.symbols[i].name, name) == 0)
      return reinterpret_cast<Fn>(rt.symbols[i].address);
  ADD_FAILURE() << "no entry point " << name;
  return nullptr;
}

std::string takeError() {
  char message[4096];
  return emulator().takeError(message, sizeof(message)) ? message : "";
}

std::string checkRange(const void *ptr, size_t bytes) {
  char why[512];
  int ok = emulator().checkDeviceRange(ptr, bytes, why, sizeof(why));
  EXPECT_EQ(ok == 1, std::string(why).empty()) << why;
  return why;
}

using ModuleLoad = void *(*)(void *, size_t);
using ModuleGetFunction = void *(*)(void *, const char *);
using ModuleUnload = void (*)(void *);
using LaunchKernel = void (*)(void *, intptr_t, intptr_t, intptr_t, intptr_t,
                              intptr_t, intptr_t, int32_t, void *, void **,
                              void **, size_t);
using TensorMap = void *(*)(void *, int32_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t, int64_t, int64_t, int32_t, int32_t,
                            int32_t, int32_t);
using TensorMapFree = void (*)(void *);

/// Every thread stores its global index: out[ctaid.x * ntid.x + tid.x].
const char *kStoreIndex = R"mlir(
module attributes {gpu.container_module} {
  gpu.module @kernels [#nvvm.target<chip = "sm_80">] {
    llvm.func @store_index(%out: !llvm.ptr) attributes {gpu.kernel, nvvm.kernel} {
      %tid = nvvm.read.ptx.sreg.tid.x : i32
      %cta = nvvm.read.ptx.sreg.ctaid.x : i32
      %n = nvvm.read.ptx.sreg.ntid.x : i32
      %base = llvm.mul %cta, %n : i32
      %i = llvm.add %base, %tid : i32
      %p = llvm.getelementptr %out[%i] : (!llvm.ptr, i32) -> !llvm.ptr, i32
      llvm.store %i, %p : i32, !llvm.ptr
      llvm.return
    }
  }
}
)mlir";

/// The text attn-gpu-module-to-emulator-binary embeds for kStoreIndex,
/// parsed back in `ctx`; empty when the pass or the parse failed.
std::string embeddedText(mlir::MLIRContext &ctx) {
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kStoreIndex, &ctx);
  if (!module)
    return "";
  mlir::PassManager pm(&ctx);
  pm.addPass(mlir::attn::createAttnGPUModuleToEmulatorBinary());
  if (mlir::failed(pm.run(*module)))
    return "";
  auto binaries = module->getOps<mlir::gpu::BinaryOp>();
  if (std::distance(binaries.begin(), binaries.end()) != 1)
    return "";
  auto object =
      llvm::cast<mlir::gpu::ObjectAttr>((*binaries.begin()).getObjects()[0]);
  EXPECT_EQ(object.getFormat(), mlir::gpu::CompilationTarget::Binary);
  return object.getObject().getValue().str();
}

void loadDialects(mlir::MLIRContext &ctx) {
  ctx.loadDialect<mlir::gpu::GPUDialect, mlir::LLVM::LLVMDialect,
                  mlir::NVVM::NVVMDialect>();
}

TEST(EmulatorRuntime, HasEveryEntryPointOfTheCudaRuntime) {
  const AttnGpuRuntime &cuda = *attnCudaRuntime();
  ASSERT_EQ(emulator().symbolCount, cuda.symbolCount);
  for (size_t i = 0; i < cuda.symbolCount; ++i) {
    EXPECT_STREQ(emulator().symbols[i].name, cuda.symbols[i].name);
    EXPECT_NE(emulator().symbols[i].address, cuda.symbols[i].address);
  }
  EXPECT_STREQ(emulator().target, "cuda-emulator");
  char why[64] = "x";
  EXPECT_EQ(emulator().status(why, sizeof(why)), 1);
  EXPECT_STREQ(why, "");
}

TEST(EmulatorRuntime, DeviceMemoryIsRegisteredHostMemory) {
  takeError();
  const AttnGpuRuntime &rt = emulator();
  auto *device = static_cast<uint8_t *>(rt.memAlloc(100, nullptr, false));
  ASSERT_NE(device, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(device) % 256, 0u);
  // Memory nothing wrote reads as NaN in every float type.
  EXPECT_EQ(device[0], 0xff);
  EXPECT_EQ(device[99], 0xff);
  EXPECT_EQ(checkRange(device, 100), "");
  EXPECT_EQ(checkRange(device + 50, 51),
            "its allocation ends 50 bytes after it, and the kernel reads 51");
  uint8_t host[100];
  EXPECT_EQ(checkRange(host, 1),
            "it is not memory of the emulator's mgpuMemAlloc");
  EXPECT_EQ(checkRange(host, 0), "");

  for (int i = 0; i < 100; ++i)
    host[i] = i;
  rt.memcpy(device, host, 100, nullptr);
  uint8_t back[100] = {};
  rt.memcpy(back, device, 100, nullptr);
  rt.streamSynchronize(nullptr);
  EXPECT_EQ(std::memcmp(back, host, 100), 0);
  EXPECT_EQ(takeError(), "");

  // A copy past the allocation is refused, as the driver refuses it.
  rt.memcpy(device + 90, host, 20, nullptr);
  EXPECT_EQ(takeError(), "mgpuMemcpy: the destination overruns its device "
                         "allocation: 20 bytes from 90 bytes into one of 100");
  EXPECT_EQ(device[99], 99);

  using Memset32 = void (*)(void *, unsigned, size_t, void *);
  entry<Memset32>("mgpuMemset32")(device, 0x01020304u, 25, nullptr);
  uint32_t word;
  std::memcpy(&word, device + 96, 4);
  EXPECT_EQ(word, 0x01020304u);
  EXPECT_EQ(takeError(), "");

  rt.memFree(device, nullptr);
  EXPECT_EQ(checkRange(device, 1),
            "it is not memory of the emulator's mgpuMemAlloc");
  rt.memFree(host, nullptr);
  EXPECT_EQ(takeError(), "mgpuMemFree: the address is not an allocation of "
                         "the emulator's mgpuMemAlloc");
}

TEST(EmulatorRuntime, ErrorChannelKeepsTheFirstErrorUntilTaken) {
  takeError();
  char host[4];
  emulator().memFree(host, nullptr);
  entry<ModuleLoad>("mgpuModuleLoad")(host, 0);
  char message[4096];
  EXPECT_EQ(emulator().takeError(message, sizeof(message)), 1);
  EXPECT_NE(std::string(message).find("mgpuMemFree"), std::string::npos)
      << message;
  EXPECT_EQ(emulator().takeError(message, sizeof(message)), 0);
  EXPECT_STREQ(message, "");
}

TEST(EmulatorRuntime, TensorMapIsCheckedAndEncodedAsTheDriverWould) {
  takeError();
  const AttnGpuRuntime &rt = emulator();
  // K as [B=2, H=3, S=100, D=64] bf16: dims and box innermost first.
  const int64_t d = 64, s = 100, h = 3, b = 2;
  void *k = rt.memAlloc(b * h * s * d * 2, nullptr, false);
  auto make = entry<TensorMap>("attnCudaTensorMap");
  auto release = entry<TensorMapFree>("attnCudaTensorMapFree");
  void *map = make(k, /*BFLOAT16*/ 9, d, s, h, b, d * 2, s * d * 2,
                   h * s * d * 2, 64, 32, 1, 1);
  ASSERT_NE(map, nullptr) << takeError();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(map) % 64, 0u);
  EXPECT_EQ(checkRange(map, 128), "");
  attn::emu::TensorMap encoded;
  std::memcpy(&encoded, map, sizeof(encoded));
  EXPECT_EQ(encoded.magic, attn::emu::TensorMap::kMagic);
  EXPECT_EQ(encoded.base, reinterpret_cast<uint64_t>(k));
  EXPECT_EQ(encoded.elementBytes, 2u);
  EXPECT_EQ(encoded.rank, 4u);
  const uint64_t dims[4] = {d, s, h, b};
  const uint64_t strides[3] = {d * 2, s * d * 2, h * s * d * 2};
  const uint32_t box[4] = {64, 32, 1, 1};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(encoded.dims[i], dims[i]);
    EXPECT_EQ(encoded.box[i], box[i]);
  }
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(encoded.strides[i], strides[i]);
  EXPECT_EQ(encoded.swizzle, 3u);
  release(map);
  EXPECT_NE(checkRange(map, 128), "");
  EXPECT_EQ(takeError(), "");

  // An empty tensor needs no map and is no error.
  EXPECT_EQ(make(k, 9, d, 0, h, b, d * 2, 0, 0, 64, 32, 1, 1), nullptr);
  EXPECT_EQ(takeError(), "");

  struct Case {
    void *base;
    int32_t type;
    int64_t stride1;
    int32_t box0;
    const char *error;
  };
  char *base = static_cast<char *>(k);
  for (const Case &c : std::vector<Case>{
           {base + 8, 9, d * 2, 64,
            "attnCudaTensorMap: the global address must be 16-byte aligned"},
           {base, 6, d * 2 + 2, 64,
            "attnCudaTensorMap: stride 1 must be a multiple of 16 bytes "
            "below 2^40"},
           {base, 9, d * 2, 128,
            "attnCudaTensorMap: with 128-byte swizzle the box's inner dim "
            "must span at most 128 bytes"},
           {base, 9, d * 2, 4,
            "attnCudaTensorMap: the box's inner dim must span a multiple of "
            "16 bytes"},
           {base, 8, d * 2, 8,
            "attnCudaTensorMap: data type 8 is not one the emulator takes"},
       }) {
    EXPECT_EQ(make(c.base, c.type, d, s, h, b, c.stride1, s * d * 2,
                   h * s * d * 2, c.box0, 32, 1, 1),
              nullptr);
    EXPECT_EQ(takeError(), c.error);
  }
  // A failed map also makes this thread's next launch a no-op (as in the
  // CUDA runtime; RunsAHandWrittenKernel checks it): spend it.
  entry<LaunchKernel>("mgpuLaunchKernel")(nullptr, 1, 1, 1, 1, 1, 1, 0, nullptr,
                                          nullptr, nullptr, 0);
  rt.memFree(k, nullptr);
}

TEST(EmulatorRuntime, RefusesModulesThatAreNotEmulatorText) {
  takeError();
  char ptx[] = ".version 8.3\n.target sm_90a\n.address_size 64\n";
  EXPECT_EQ(entry<ModuleLoad>("mgpuModuleLoad")(ptx, sizeof(ptx) - 1), nullptr);
  EXPECT_EQ(takeError(),
            "the emulator runs kernels embedded as MLIR text (the CUDA "
            "pipeline's emulate=true), not PTX or cubin");
  using ModuleLoadJIT = void *(*)(void *, int);
  EXPECT_EQ(entry<ModuleLoadJIT>("mgpuModuleLoadJIT")(ptx, 3), nullptr);
  EXPECT_NE(takeError(), "");
  // Host code goes on with the null handles; nothing more is reported.
  EXPECT_EQ(entry<ModuleGetFunction>("mgpuModuleGetFunction")(nullptr, "k"),
            nullptr);
  entry<LaunchKernel>("mgpuLaunchKernel")(nullptr, 1, 1, 1, 32, 1, 1, 0,
                                          nullptr, nullptr, nullptr, 0);
  EXPECT_EQ(takeError(), "");
}

/// kStoreIndex loaded by the runtime as host code loads it.
class EmulatorModule : public ::testing::Test {
protected:
  void SetUp() override {
    loadDialects(ctx);
    std::string text = embeddedText(ctx);
    ASSERT_FALSE(text.empty());
    takeError();
    module = entry<ModuleLoad>("mgpuModuleLoad")(text.data(), text.size());
    ASSERT_NE(module, nullptr) << takeError();
  }
  void TearDown() override { entry<ModuleUnload>("mgpuModuleUnload")(module); }
  mlir::MLIRContext ctx;
  void *module = nullptr;
};

TEST_F(EmulatorModule, UnknownKernelIsAnError) {
  EXPECT_EQ(entry<ModuleGetFunction>("mgpuModuleGetFunction")(module, "nope"),
            nullptr);
  EXPECT_EQ(takeError(), "the emulated module has no kernel 'nope'");
}

TEST(EmulatorRuntime, LaunchFailuresListTheFirstReports) {
  attn::emu::LaunchConfig config;
  config.grid[0] = 3;
  config.grid[1] = 4;
  config.block[0] = 128;
  config.dynamicSharedBytes = 33808;
  attn::emu::LaunchResult result;
  EXPECT_EQ(attn::emu::describeLaunch("k", config, result), "");
  for (int i = 0; i < 7; ++i)
    result.reports.push_back(
        {"race", "k.mlir:" + std::to_string(10 + i) + ":3",
         "thread 5 writes what thread 9 read since the last barrier"});
  result.suppressed = 2;
  EXPECT_EQ(attn::emu::describeLaunch("k", config, result),
            "kernel 'k' (grid 3x4x1, block 128x1x1, 33808 bytes of dynamic "
            "shared memory) has 9 emulator reports\n"
            "  race at k.mlir:10:3: thread 5 writes what thread 9 read since "
            "the last barrier\n"
            "  race at k.mlir:11:3: thread 5 writes what thread 9 read since "
            "the last barrier\n"
            "  race at k.mlir:12:3: thread 5 writes what thread 9 read since "
            "the last barrier\n"
            "  race at k.mlir:13:3: thread 5 writes what thread 9 read since "
            "the last barrier\n"
            "  race at k.mlir:14:3: thread 5 writes what thread 9 read since "
            "the last barrier\n"
            "  (and 4 more)");
  result.error = "unknown inline assembly 'foo;'";
  EXPECT_EQ(attn::emu::describeLaunch("k", config, result),
            "kernel 'k' (grid 3x4x1, block 128x1x1, 33808 bytes of dynamic "
            "shared memory) could not run on the emulator: unknown inline "
            "assembly 'foo;'");
}

TEST(EmulatorBinary, EmbeddedTextParsesBackWithItsLocations) {
  mlir::MLIRContext ctx;
  loadDialects(ctx);
  std::string text = embeddedText(ctx);
  ASSERT_FALSE(text.empty());
  mlir::MLIRContext fresh;
  loadDialects(fresh);
  auto parsed = mlir::parseSourceString<mlir::ModuleOp>(text, &fresh);
  ASSERT_TRUE(parsed);
  auto kernels = parsed->lookupSymbol<mlir::gpu::GPUModuleOp>("kernels");
  ASSERT_TRUE(kernels);
  auto fn = kernels.lookupSymbol<mlir::LLVM::LLVMFuncOp>("store_index");
  ASSERT_TRUE(fn);
  EXPECT_TRUE(fn->hasAttr("gpu.kernel"));
  // The store's location is its line in kStoreIndex.
  mlir::Operation *store = nullptr;
  fn.walk([&](mlir::LLVM::StoreOp op) { store = op; });
  ASSERT_TRUE(store);
  auto loc = llvm::dyn_cast<mlir::FileLineColLoc>(store->getLoc());
  ASSERT_TRUE(loc);
  EXPECT_EQ(loc.getLine(), 11u);
}

// Fails while lib/Emulator/Interpreter.cpp is a placeholder (its modules
// have no kernels).
TEST_F(EmulatorModule, RunsAHandWrittenKernel) {
  const AttnGpuRuntime &rt = emulator();
  void *fn =
      entry<ModuleGetFunction>("mgpuModuleGetFunction")(module, "store_index");
  ASSERT_NE(fn, nullptr) << takeError();
  auto launch = entry<LaunchKernel>("mgpuLaunchKernel");

  const int blocks = 3, threads = 64;
  void *out = rt.memAlloc(blocks * threads * 4, nullptr, false);
  void *params[] = {&out};
  launch(fn, blocks, 1, 1, threads, 1, 1, 0, nullptr, params, nullptr, 1);
  EXPECT_EQ(takeError(), "");
  std::vector<int32_t> values(blocks * threads);
  rt.memcpy(values.data(), out, values.size() * 4, nullptr);
  for (int i = 0; i < blocks * threads; ++i)
    EXPECT_EQ(values[i], i);

  // One CTA too many: the store of CTA 3 is outside every allocation.
  launch(fn, blocks + 1, 1, 1, threads, 1, 1, 0, nullptr, params, nullptr, 1);
  std::string reports = takeError();
  EXPECT_NE(reports.find("has "), std::string::npos) << reports;
  EXPECT_NE(reports.find("out-of-bounds at "), std::string::npos) << reports;

  // Launches the driver refuses are refused before the emulator runs them.
  launch(fn, 1, 1, 1, 2048, 1, 1, 0, nullptr, params, nullptr, 1);
  EXPECT_EQ(takeError(), "kernel 'store_index': cuLaunchKernel would refuse "
                         "a block of 2048x1x1 threads (at most 1024)");
  launch(fn, 1, 1, 1, 32, 1, 1, 300 * 1024, nullptr, params, nullptr, 1);
  EXPECT_EQ(takeError(),
            "kernel 'store_index': cuLaunchKernel would refuse 307200 bytes "
            "of dynamic shared memory (at most 232448)");

  // After a tensor map the driver would refuse, the launch that needed it
  // does not run.
  std::vector<int32_t> before(blocks * threads, -1);
  rt.memcpy(out, before.data(), before.size() * 4, nullptr);
  char *misaligned = static_cast<char *>(out) + 8;
  EXPECT_EQ(entry<TensorMap>("attnCudaTensorMap")(misaligned, 9, 64, 1, 1, 1,
                                                  128, 128, 128, 64, 1, 1, 1),
            nullptr);
  EXPECT_NE(takeError(), "");
  launch(fn, blocks, 1, 1, threads, 1, 1, 0, nullptr, params, nullptr, 1);
  EXPECT_EQ(takeError(), "");
  rt.memcpy(values.data(), out, values.size() * 4, nullptr);
  EXPECT_EQ(values, before);

  rt.memFree(out, nullptr);
}

} // namespace
