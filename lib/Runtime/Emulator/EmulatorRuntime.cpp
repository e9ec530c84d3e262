//===- EmulatorRuntime.cpp - The mgpu* runtime over the GPU emulator ------===//
//
// EmulatorRuntime.h says what each entry point does. Built twice
// (CMakeLists.txt): as entry points of internal linkage, linked into the
// JIT beside the CUDA runtime and reached through attnEmulatorRuntime()'s
// symbol table; and with ATTN_EMULATOR_C_NAMES under the C names of
// CudaRuntime.h, whose declarations they must then match, as
// libattn_emulator_runtime.so.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/EmulatorRuntime.h"

#include "attn/Emulator/Emulator.h"
#include "attn/Runtime/FirstError.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#ifdef ATTN_EMULATOR_C_NAMES
#include "attn/Runtime/CudaRuntime.h"
#define ATTN_ENTRY_POINTS_BEGIN extern "C" {
#else
#define ATTN_ENTRY_POINTS_BEGIN namespace {
#endif
#define ATTN_ENTRY_POINTS_END }

using namespace attn::emu;
using attn::runtime::copyMessage;

namespace {

/// cudaMalloc's alignment.
constexpr size_t kAllocationAlignment = 256;
/// The limits cuLaunchKernel checks, for the largest chip attn targets
/// (sm_90a: 227 KiB of dynamic shared memory per block).
constexpr uint64_t kMaxThreadsPerBlock = 1024;
constexpr uint64_t kMaxGridYZ = 65535, kMaxGridX = (1ull << 31) - 1;
constexpr uint64_t kMaxDynamicSharedBytes = 227 * 1024;

/// Error codes of attnCudaTakeError.
enum ErrorCode : int { kMisuse = 1, kLaunchFailed = 2, kReports = 3 };

struct LoadedModule;

/// What mgpuModuleGetFunction returns.
struct Function {
  LoadedModule *owner;
  std::string name;
};

/// A kernel module, parsed at its first function lookup, and the function
/// handles given out for it. Host code loads modules from global
/// constructors, which in an attn-aot library run under the dynamic
/// loader's lock: parsing there (MLIR verifies on a thread pool whose
/// threads need that lock) would deadlock.
struct LoadedModule {
  std::string text;
  std::mutex mutex;
  /// Set by the first lookup: the module, or why it did not parse.
  bool parsed = false;
  std::unique_ptr<Module> module;
  std::string error;
  std::map<std::string, std::unique_ptr<Function>> functions;
};

struct State {
  std::mutex mutex;
  /// Device allocations, by start address: their sizes in bytes.
  std::map<uint64_t, uint64_t> allocations;
  attn::runtime::FirstError error;
};

/// Set when a tensor map the next launch needs could not be made: the
/// launch is then skipped rather than run on a null map (as the CUDA
/// runtime does).
thread_local bool skipNextLaunch = false;

State &state() {
  static State s;
  return s;
}

void record(int code, const std::string &message) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.error.record(code, message);
}

/// A registered allocation of `bytes` bytes (at least one).
void *allocate(uint64_t bytes) {
  uint64_t rounded = (std::max<uint64_t>(bytes, 1) + kAllocationAlignment - 1) /
                     kAllocationAlignment * kAllocationAlignment;
  void *ptr = std::aligned_alloc(kAllocationAlignment, rounded);
  if (!ptr)
    return nullptr;
  std::memset(ptr, 0xff, rounded);
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.allocations[reinterpret_cast<uint64_t>(ptr)] = bytes;
  return ptr;
}

/// Frees a registered allocation; false when `ptr` is none.
bool release(void *ptr) {
  State &s = state();
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (!s.allocations.erase(reinterpret_cast<uint64_t>(ptr)))
      return false;
  }
  std::free(ptr);
  return true;
}

/// The allocation holding address `ptr`, as (start, bytes), or (0, 0).
std::pair<uint64_t, uint64_t> allocationOf(const void *ptr) {
  auto address = reinterpret_cast<uint64_t>(ptr);
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  auto it = s.allocations.upper_bound(address);
  if (it == s.allocations.begin())
    return {0, 0};
  --it;
  if (address >= it->first + std::max<uint64_t>(it->second, 1))
    return {0, 0};
  return *it;
}

/// Why `bytes` bytes at `ptr`, which lies in device memory when any of it
/// does, cannot be copied or set; "" when they can.
std::string checkCopy(const void *ptr, size_t bytes, const char *side) {
  auto [start, size] = allocationOf(ptr);
  auto address = reinterpret_cast<uint64_t>(ptr);
  if (size == 0 || address + bytes <= start + size)
    return "";
  return std::string(side) +
         " overruns its device allocation: " + std::to_string(bytes) +
         " bytes from " + std::to_string(address - start) +
         " bytes into one of " + std::to_string(size);
}

/// mgpuMemset32 and mgpuMemset16: `count` copies of `value` at `dst`.
template <typename T>
void fill(void *dst, T value, size_t count, const char *who) {
  if (!dst || !count)
    return;
  if (std::string why = checkCopy(dst, count * sizeof(T), "the destination");
      !why.empty())
    return record(kMisuse, std::string(who) + ": " + why);
  std::fill(static_cast<T *>(dst), static_cast<T *>(dst) + count, value);
}

std::vector<GlobalRange> globalRanges() {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  std::vector<GlobalRange> ranges;
  for (auto [begin, bytes] : s.allocations)
    ranges.push_back({begin, bytes});
  return ranges;
}

/// Why cuLaunchKernel would refuse a launch of a non-empty grid, or "".
std::string checkLaunch(const intptr_t grid[3], const intptr_t block[3],
                        int32_t smem) {
  if (block[0] <= 0 || block[1] <= 0 || block[2] <= 0 ||
      uint64_t(block[0]) * block[1] * block[2] > kMaxThreadsPerBlock)
    return "a block of " + std::to_string(block[0]) + "x" +
           std::to_string(block[1]) + "x" + std::to_string(block[2]) +
           " threads (at most " + std::to_string(kMaxThreadsPerBlock) + ")";
  if (uint64_t(grid[0]) > kMaxGridX || uint64_t(grid[1]) > kMaxGridYZ ||
      uint64_t(grid[2]) > kMaxGridYZ)
    return "a grid beyond " + std::to_string(kMaxGridX) + "x" +
           std::to_string(kMaxGridYZ) + "x" + std::to_string(kMaxGridYZ);
  if (smem < 0 || uint64_t(smem) > kMaxDynamicSharedBytes)
    return std::to_string(smem) + " bytes of dynamic shared memory (at most " +
           std::to_string(kMaxDynamicSharedBytes) + ")";
  return "";
}

/// The bytes of one element of a CUtensorMapDataType, or 0 for the types
/// the emulator's TensorMap does not take (64-bit ones, unknown codes).
uint32_t tensorMapElementBytes(int32_t dataType) {
  switch (dataType) {
  case 0: // UINT8
    return 1;
  case 1: // UINT16
  case 6: // FLOAT16
  case 9: // BFLOAT16
    return 2;
  case 2:  // UINT32
  case 3:  // INT32
  case 7:  // FLOAT32
  case 10: // FLOAT32_FTZ
  case 11: // TFLOAT32
  case 12: // TFLOAT32_FTZ
    return 4;
  default:
    return 0;
  }
}

/// Why cuTensorMapEncodeTiled would refuse a map, or "": the requirements
/// of its documentation for 128-byte swizzle without interleave.
std::string checkTensorMap(const TensorMap &map, int32_t dataType) {
  if (map.elementBytes == 0)
    return "data type " + std::to_string(dataType) +
           " is not one the emulator takes";
  if (map.base % 16)
    return "the global address must be 16-byte aligned";
  for (unsigned i = 0; i < map.rank; ++i) {
    if (map.dims[i] == 0 || map.dims[i] > (1ull << 32))
      return "dim " + std::to_string(i) + " must be in [1, 2^32]";
    if (map.box[i] == 0 || map.box[i] > 256)
      return "box dim " + std::to_string(i) + " must be in [1, 256]";
  }
  for (unsigned i = 0; i + 1 < map.rank; ++i)
    if (map.strides[i] % 16 || map.strides[i] >= (1ull << 40))
      return "stride " + std::to_string(i + 1) +
             " must be a multiple of 16 bytes below 2^40";
  uint64_t innerBytes = uint64_t(map.box[0]) * map.elementBytes;
  if (innerBytes % 16)
    return "the box's inner dim must span a multiple of 16 bytes";
  if (innerBytes > 128)
    return "with 128-byte swizzle the box's inner dim must span at most 128 "
           "bytes";
  return "";
}

} // namespace

std::string attn::emu::describeLaunch(const std::string &name,
                                      const LaunchConfig &config,
                                      const LaunchResult &result) {
  if (result.error.empty() && result.reports.empty())
    return "";
  std::string text =
      "kernel '" + name + "' (grid " + std::to_string(config.grid[0]) + "x" +
      std::to_string(config.grid[1]) + "x" + std::to_string(config.grid[2]) +
      ", block " + std::to_string(config.block[0]) + "x" +
      std::to_string(config.block[1]) + "x" + std::to_string(config.block[2]) +
      ", " + std::to_string(config.dynamicSharedBytes) +
      " bytes of dynamic shared memory)";
  if (!result.error.empty())
    return text + " could not run on the emulator: " + result.error;
  uint64_t total = result.reports.size() + result.suppressed;
  text += " has " + std::to_string(total) +
          (total == 1 ? " emulator report" : " emulator reports");
  size_t listed = std::min(result.reports.size(), kReportsListed);
  for (size_t i = 0; i < listed; ++i) {
    const Report &r = result.reports[i];
    text += "\n  " + r.kind + " at " + r.where + ": " + r.message;
  }
  if (total > listed)
    text += "\n  (and " + std::to_string(total - listed) + " more)";
  return text;
}

ATTN_ENTRY_POINTS_BEGIN

int attnCudaStatus(char *message, size_t size) {
  copyMessage("", message, size);
  return 1;
}

int attnCudaTakeError(char *message, size_t size) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return s.error.take(message, size);
}

void *mgpuModuleLoad(void *data, size_t size) {
  std::string text(static_cast<const char *>(data), size);
  if (text.find("gpu.module") == std::string::npos) {
    record(kMisuse, "the emulator runs kernels embedded as MLIR text (the "
                    "CUDA pipeline's emulate=true), not PTX or cubin");
    return nullptr;
  }
  auto *loaded = new LoadedModule();
  loaded->text = std::move(text);
  return loaded;
}

void *mgpuModuleLoadJIT(void *data, int /*optLevel*/) {
  // Host code loads PTX this way; emulated kernels come through
  // mgpuModuleLoad, which gives this message too.
  return mgpuModuleLoad(data, std::strlen(static_cast<const char *>(data)));
}

void mgpuModuleUnload(void *module) {
  delete static_cast<LoadedModule *>(module);
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  if (!module)
    return nullptr; // its load failed, and said why
  auto *loaded = static_cast<LoadedModule *>(module);
  std::lock_guard<std::mutex> lock(loaded->mutex);
  if (!std::exchange(loaded->parsed, true))
    loaded->module = Module::parse(loaded->text, loaded->error);
  if (!loaded->module) {
    record(kMisuse,
           "the emulator cannot load the kernel module: " + loaded->error);
    return nullptr;
  }
  if (!loaded->module->hasKernel(name)) {
    record(kMisuse,
           std::string("the emulated module has no kernel '") + name + "'");
    return nullptr;
  }
  std::unique_ptr<Function> &fn = loaded->functions[name];
  if (!fn)
    fn.reset(new Function{loaded, name});
  return fn.get();
}

void mgpuLaunchKernel(void *fn, intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                      intptr_t blockX, intptr_t blockY, intptr_t blockZ,
                      int32_t smem, void * /*stream*/, void **params,
                      void **extra, size_t paramsCount) {
  if (std::exchange(skipNextLaunch, false))
    return; // its tensor map failed; the error is recorded
  if (!fn || gridX <= 0 || gridY <= 0 || gridZ <= 0)
    return; // an empty grid launches nothing
  auto *function = static_cast<Function *>(fn);
  intptr_t grid[3] = {gridX, gridY, gridZ}, block[3] = {blockX, blockY, blockZ};
  std::string why = extra ? "kernel parameters passed as `extra`, which the "
                            "emulator does not take"
                          : checkLaunch(grid, block, smem);
  if (!why.empty()) {
    record(kLaunchFailed, "kernel '" + function->name +
                              "': cuLaunchKernel would refuse " + why);
    return;
  }
  LaunchConfig config;
  for (unsigned i = 0; i < 3; ++i) {
    config.grid[i] = grid[i];
    config.block[i] = block[i];
  }
  config.dynamicSharedBytes = smem;
  config.argCount = paramsCount;
  LaunchResult result = function->owner->module->launch(function->name, config,
                                                        params, globalRanges());
  if (std::string text = describeLaunch(function->name, config, result);
      !text.empty())
    record(result.error.empty() ? kReports : kLaunchFailed, text);
}

// Every launch runs to completion: streams and events are handles only.
void *mgpuStreamCreate() {
  static char stream;
  return &stream;
}

void mgpuStreamDestroy(void * /*stream*/) {}

void mgpuStreamSynchronize(void * /*stream*/) {}

void mgpuStreamWaitEvent(void * /*stream*/, void * /*event*/) {}

void *mgpuEventCreate() {
  static char event;
  return &event;
}

void mgpuEventDestroy(void * /*event*/) {}

void mgpuEventSynchronize(void * /*event*/) {}

void mgpuEventRecord(void * /*event*/, void * /*stream*/) {}

void *mgpuMemAlloc(uint64_t sizeBytes, void * /*stream*/,
                   bool /*isHostShared*/) {
  if (sizeBytes == 0)
    return nullptr;
  void *ptr = allocate(sizeBytes);
  if (!ptr)
    record(kMisuse, "mgpuMemAlloc: out of host memory for " +
                        std::to_string(sizeBytes) + " bytes");
  return ptr;
}

void mgpuMemFree(void *ptr, void * /*stream*/) {
  if (ptr && !release(ptr))
    record(kMisuse, "mgpuMemFree: the address is not an allocation of the "
                    "emulator's mgpuMemAlloc");
}

void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void * /*stream*/) {
  if (sizeBytes == 0 || !dst || !src)
    return;
  std::string why = checkCopy(dst, sizeBytes, "the destination");
  if (why.empty())
    why = checkCopy(src, sizeBytes, "the source");
  if (!why.empty()) {
    record(kMisuse, "mgpuMemcpy: " + why);
    return;
  }
  std::memmove(dst, src, sizeBytes);
}

void mgpuMemset32(void *dst, unsigned value, size_t count, void * /*stream*/) {
  fill<uint32_t>(dst, value, count, "mgpuMemset32");
}

void mgpuMemset16(void *dst, unsigned short value, size_t count,
                  void * /*stream*/) {
  fill<uint16_t>(dst, value, count, "mgpuMemset16");
}

void mgpuSetDefaultDevice(int32_t /*device*/) {}

void *attnCudaTensorMap(void *base, int32_t dataType, int64_t dim0,
                        int64_t dim1, int64_t dim2, int64_t dim3,
                        int64_t stride1, int64_t stride2, int64_t stride3,
                        int32_t box0, int32_t box1, int32_t box2,
                        int32_t box3) {
  // An empty tensor is never read: its kernel has no tiles or no CTAs.
  if (dim0 <= 0 || dim1 <= 0 || dim2 <= 0 || dim3 <= 0)
    return nullptr;
  TensorMap map;
  map.base = reinterpret_cast<uint64_t>(base);
  map.elementBytes = tensorMapElementBytes(dataType);
  map.rank = 4;
  int64_t dims[4] = {dim0, dim1, dim2, dim3};
  int64_t strides[3] = {stride1, stride2, stride3};
  int32_t box[4] = {box0, box1, box2, box3};
  for (unsigned i = 0; i < 4; ++i) {
    map.dims[i] = uint64_t(dims[i]);
    map.box[i] = uint32_t(std::max(box[i], 0));
  }
  for (unsigned i = 0; i < 3; ++i)
    map.strides[i] = uint64_t(std::max<int64_t>(strides[i], 0));
  map.swizzle = 3; // 128B, as the CUDA runtime encodes it
  std::string why = checkTensorMap(map, dataType);
  void *device = why.empty() ? allocate(128) : nullptr;
  if (!device) {
    record(kMisuse,
           "attnCudaTensorMap: " + (why.empty() ? "out of host memory" : why));
    skipNextLaunch = true;
    return nullptr;
  }
  std::memcpy(device, &map, sizeof(map));
  return device;
}

void attnCudaTensorMapFree(void *map) {
  if (map)
    release(map);
}

int attnCudaCheckDeviceRange(const void *ptr, size_t bytes, char *message,
                             size_t size) {
  copyMessage("", message, size);
  if (bytes == 0)
    return 1;
  auto [start, allocated] = allocationOf(ptr);
  std::string why;
  if (allocated == 0)
    why = "it is not memory of the emulator's mgpuMemAlloc";
  else if (reinterpret_cast<uint64_t>(ptr) + bytes > start + allocated)
    why = "its allocation ends " +
          std::to_string(start + allocated - reinterpret_cast<uint64_t>(ptr)) +
          " bytes after it, and the kernel reads " + std::to_string(bytes);
  copyMessage(why, message, size);
  return why.empty() ? 1 : 0;
}

ATTN_ENTRY_POINTS_END

extern "C" ATTN_DEFINE_GPU_RUNTIME(attnEmulatorRuntime, "cuda-emulator")
