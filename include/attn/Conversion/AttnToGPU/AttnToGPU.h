//===- AttnToGPU.h - attn.attention to tensor-core kernels ------*- C++ -*-===//
//
// The fused GPU code generator's entry points (attn-tile-gpu).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTOGPU_ATTNTOGPU_H
#define ATTN_CONVERSION_ATTNTOGPU_ATTNTOGPU_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {

/// Lowers `op` (f16/bf16, static head dims that are multiples of 16 up to
/// 128) to a gpu.launch of a tensor-core flash-attention kernel (nvgpu
/// mma.sync, ldmatrix, cp.async). Fails with a diagnostic on the op when it
/// is outside what the kernel supports. With `wgmma`, ops whose head dims
/// are 64 or 128 get the sm_90a kernel (TMA loads, wgmma.mma_async).
LogicalResult tileAttentionForGPU(RewriterBase &rewriter, AttentionOp op,
                                  bool wgmma = false);

} // namespace mlir::attn

#endif // ATTN_CONVERSION_ATTNTOGPU_ATTNTOGPU_H
