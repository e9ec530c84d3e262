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
  PassOptions::Option<std::string> lowering{
      *this, "lowering",
      llvm::cl::desc("How attn.attention is lowered: 'fused' (tiled "
                     "flash-attention loops, attn-tile-cpu) or 'reference' "
                     "(materialised scores, attn-lower-to-linalg, for "
                     "differential testing)"),
      llvm::cl::init("fused")};
  PassOptions::Option<int64_t> vectorWidth{
      *this, "vector-width",
      llvm::cl::desc("f32 lanes of the fused path: 16 (AVX-512), 8 (AVX2), "
                     "0 = chosen from the host CPU"),
      llvm::cl::init(0)};
  PassOptions::Option<bool> openmp{
      *this, "openmp",
      llvm::cl::desc("Run the fused path's parallel loop with OpenMP (the "
                     "JIT loads libomp); off: sequential loops"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> bf16Dot{
      *this, "bf16-dot",
      llvm::cl::desc("bf16 inputs: Q K^T of the fused path by AVX512-BF16 "
                     "dot products where the host has them (default off: "
                     "bf16 widened to f32 FMAs, faster where measured)"),
      llvm::cl::init(false)};
  PassOptions::Option<bool> useAmx{
      *this, "amx",
      llvm::cl::desc("bf16 inputs: both products of the fused path by AMX "
                     "tiles where the host has AMX-BF16 and they apply "
                     "(default on; off: the AVX-512 paths)"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> f16Amx{
      *this, "f16-amx",
      llvm::cl::desc("f16 inputs: both products of the fused path by AMX "
                     "tiles where they apply, Q, K and V rounded to bf16 "
                     "(nearest even; default off: f16 widened to f32 FMAs)"),
      llvm::cl::init(false)};
};

/// Lowers a module holding attn ops on tensors to the LLVM dialect for the
/// host CPU: attn-tile-cpu (or, with lowering=reference, the reference
/// attn-lower-to-linalg), bufferization across function boundaries
/// (outs become in-place buffer arguments and returned outs are dropped, so
/// kernel functions return nothing), loops, and LLVM conversion.
void buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options);

/// Returns an error message for option values the pipeline cannot honour,
/// or "" when they are valid.
std::string validateCPUPipelineOptions(const CPUPipelineOptions &options);

/// Options of `--attn-cuda-pipeline`.
struct CUDAPipelineOptions : public PassPipelineOptions<CUDAPipelineOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip",
      llvm::cl::desc("GPU architecture: sm_80 (Ampere and later, mma.sync) "
                     "or sm_90a (Hopper)"),
      llvm::cl::init("sm_80")};
  PassOptions::Option<std::string> format{
      *this, "format",
      llvm::cl::desc("What the gpu.binary embeds: 'isa' (PTX text, JIT "
                     "compiled by the driver; no CUDA toolkit needed), 'bin' "
                     "(cubin) or 'fatbin' (both need ptxas from the CUDA "
                     "toolkit)"),
      llvm::cl::init("isa")};
  PassOptions::Option<std::string> mma{
      *this, "mma",
      llvm::cl::desc("Tensor-core instructions: 'auto' (wgmma with TMA "
                     "loads on sm_90a, mma.sync with cp.async on sm_80), "
                     "'sync' (mma.sync on either chip) or 'wgmma' (sm_90a "
                     "only). wgmma needs head dims of 64 or 128; other "
                     "head dims use mma.sync"),
      llvm::cl::init("auto")};
  PassOptions::Option<bool> cInterface{
      *this, "c-interface",
      llvm::cl::desc("Tag public host functions with llvm.emit_c_interface"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> emulate{
      *this, "emulate",
      llvm::cl::desc("Embed the kernels as MLIR text for the GPU emulator "
                     "(attn-gpu-module-to-emulator-binary, debug locations "
                     "kept) instead of PTX or cubin: the host code then runs "
                     "on the emulator runtime (lib/Runtime/Emulator) in "
                     "place of the CUDA driver. format must stay 'isa' (its "
                     "default), since nothing is serialised for a GPU"),
      llvm::cl::init(false)};
};

/// Lowers a module holding attn ops on tensors to the LLVM dialect with the
/// kernels in a gpu.binary: attn-tile-gpu, bufferization across function
/// boundaries (buffers are device pointers), kernel outlining, NVVM
/// conversion, and serialisation for `chip` (or, with `emulate`, the
/// kernels' MLIR text for the emulator). Host code calls the mgpu* runtime
/// (libattn_cuda_runtime.so, or the emulator's).
void buildCUDAPipeline(OpPassManager &pm, const CUDAPipelineOptions &options);

/// Returns an error message for option values the pipeline cannot honour,
/// or "" when they are valid.
std::string validateCUDAPipelineOptions(const CUDAPipelineOptions &options);

/// Registers the named pipelines with the global pass registry.
void registerPipelines();

} // namespace mlir::attn

#endif // ATTN_PIPELINES_PIPELINES_H
