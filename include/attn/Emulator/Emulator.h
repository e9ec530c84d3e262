//===- Emulator.h - Run generated CUDA kernels on the CPU -------*- C++ -*-===//
//
// The GPU emulator's interpreter (issue 15, lib/Emulator/README.md): it runs
// the kernels of a `gpu.module` as the CUDA pipeline hands it to NVVM
// serialisation (LLVM and NVVM dialect ops, the inline assembly the kernels
// use), every thread of a CTA in lock-step, and reports what would be
// undefined or wrong on the hardware: races in shared memory, reads of data
// still in flight, out-of-bounds accesses, divergent collectives, deadlocks.
//
// The interpreter knows nothing of attn's code generator; the warp-level
// semantics come from Fragments.h, transcribed from the PTX ISA.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_EMULATOR_EMULATOR_H
#define ATTN_EMULATOR_EMULATOR_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace attn::emu {

/// One finding of a launch. `kind` is one of "race", "in-flight",
/// "out-of-bounds", "divergence", "deadlock", "misaligned",
/// "uninitialised" (an mbarrier used before init), "invalid" (a malformed
/// tensor map or wgmma descriptor) and "undefined" (integer division by
/// zero, an out-of-range shift); `where` names the op: its name, its
/// position in the kernel and its location when the module has one.
struct Report {
  std::string kind;
  std::string where;
  std::string message;
};

/// The grid and CTA shape of a launch, as cuLaunchKernel takes them.
struct LaunchConfig {
  uint32_t grid[3] = {1, 1, 1};
  uint32_t block[3] = {1, 1, 1};
  uint32_t dynamicSharedBytes = 0;
  /// The number of kernel arguments the host passes (cuLaunchKernel's
  /// kernelParams), checked against the kernel's signature; SIZE_MAX when
  /// the caller does not know it.
  size_t argCount = SIZE_MAX;
};

/// The emulator's own encoding of a TMA tensor map (what the host's
/// cuTensorMapEncodeTiled call is given), stored by the emulator runtime in
/// the 128-byte CUtensorMap object the kernel receives a pointer to. The
/// kernel's `cp.async.bulk.tensor` decodes it from that memory.
struct TensorMap {
  static constexpr uint64_t kMagic = 0x41545441'4d415031ull; // "1PAMATTA"
  uint64_t magic = kMagic;
  uint64_t base = 0;         // global address of element (0, 0, 0, 0)
  uint32_t elementBytes = 0; // 1, 2 or 4
  uint32_t rank = 0;         // 1..5; attn uses 4
  uint64_t dims[5] = {};     // innermost first, in elements
  uint64_t strides[4] = {};  // bytes between consecutive dims[1..rank-1]
  uint32_t box[5] = {};      // the box copied, innermost first, in elements
  uint32_t swizzle = 0;      // 0 none, 1 32B, 2 64B, 3 128B (CUtensorMapSwizzle)
};
static_assert(sizeof(TensorMap) <= 128, "must fit a CUtensorMap");

/// What global memory the kernel may touch: the emulator runtime's device
/// allocations. An access outside every range is reported and not done.
/// An empty list allows every address (unit tests with plain host arrays).
struct GlobalRange {
  uint64_t begin = 0;
  uint64_t bytes = 0;
};

struct LaunchResult {
  /// Findings, at most a few per kind and location (the first of each is
  /// kept; `suppressed` counts the rest).
  std::vector<Report> reports;
  uint64_t suppressed = 0;
  /// A launch that could not run (unknown kernel, a CTA shape or shared
  /// size CUDA rejects, an endless loop) sets `error`; nothing of the
  /// kernel's output is then to be trusted.
  std::string error;
  /// Work done, for the user's idea of speed: thread-instructions executed.
  uint64_t threadInstructions = 0;
};

/// A parsed gpu.module whose kernels can be launched. Thread-safe for
/// concurrent launches.
class Module {
public:
  /// Parses MLIR text (generic or custom form) holding one `gpu.module`
  /// (or a builtin.module around one) in the LLVM and NVVM dialects, and
  /// compiles its kernels. An op, type or inline-assembly string the
  /// emulator does not model fails here (null, `error` naming it), before
  /// anything runs.
  static std::unique_ptr<Module> parse(const std::string &text,
                                       std::string &error);
  virtual ~Module();

  virtual bool hasKernel(const std::string &name) const = 0;

  /// Runs kernel `name` over the grid. `args[i]` points at the i-th kernel
  /// argument, as cuLaunchKernel's kernelParams; argument sizes come from
  /// the kernel's signature.
  virtual LaunchResult launch(const std::string &name,
                              const LaunchConfig &config, void **args,
                              const std::vector<GlobalRange> &global) = 0;
};

} // namespace attn::emu

#endif // ATTN_EMULATOR_EMULATOR_H
