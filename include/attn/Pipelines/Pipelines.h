//===- Pipelines.h - attn pass pipelines ------------------------*- C++ -*-===//
//
// Named pass pipelines from attn.attention down to the LLVM dialect. They are
// built here once and shared by attn-opt, attn-run and the Python bindings.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_PIPELINES_PIPELINES_H
#define ATTN_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::attn {

/// Options of `--attn-cpu-pipeline`.
struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  PassOptions::Option<bool> cInterface{
      *this, "c-interface",
      llvm::cl::desc("Tag public functions with llvm.emit_c_interface so that "
                     "a JIT or C caller can pass memref descriptors"),
      llvm::cl::init(true)};
};

/// Lowers a module holding attn ops on tensors to the LLVM dialect for the
/// host CPU: attn-lower-to-linalg, bufferization across function boundaries
/// (outs become in-place buffer arguments and returned outs are dropped, so
/// kernel functions return nothing), loops, and LLVM conversion.
void buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options);

/// Registers the named pipelines with the global pass registry.
void registerPipelines();

} // namespace mlir::attn

#endif // ATTN_PIPELINES_PIPELINES_H
