//===- CPUJit.h - JIT compilation and invocation on the CPU -----*- C++ -*-===//
//
// Compiles a module of attn ops through the CPU pipeline into native code with
// MLIR's ExecutionEngine, and calls its functions with strided memref
// descriptors of any rank. Shared by attn-run and the Python bindings.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_CPUJIT_H
#define ATTN_RUNTIME_CPUJIT_H

#include "attn/Pipelines/Pipelines.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace mlir::attn {

/// A memref descriptor as MLIR's C interface lays it out: allocated and
/// aligned pointers, offset, then `rank` sizes and `rank` strides, all
/// 64-bit words. It describes caller-owned, row-major memory.
class MemRefDescriptor {
public:
  MemRefDescriptor(void *data, ArrayRef<int64_t> shape);
  void *get() { return words.data(); }

private:
  std::vector<int64_t> words;
};

/// A module compiled for the host CPU.
class CPUKernel {
public:
  ~CPUKernel();

  /// Lowers `module` (a clone is taken) with the CPU pipeline and JIT
  /// compiles it for the host (loading libomp when the pipeline uses
  /// OpenMP). Returns null and sets `error` on failure; diagnostics of
  /// the pipeline go to the context's handler.
  static std::unique_ptr<CPUKernel>
  compile(ModuleOp module, const CPUPipelineOptions &options,
          std::string &error);

  /// Calls public function `name` with one descriptor per argument; outputs
  /// are written into their argument buffers (the pipeline drops returned
  /// outs). Returns false and sets `error` on failure.
  bool invoke(StringRef name, ArrayRef<MemRefDescriptor *> args,
              std::string &error);

private:
  CPUKernel() = default;
  std::unique_ptr<ExecutionEngine> engine;
};

} // namespace mlir::attn

#endif // ATTN_RUNTIME_CPUJIT_H
