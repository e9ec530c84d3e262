//===- Transforms.h - attn transformations on single ops --------*- C++ -*-===//
//
// Entry points of the attn transformations that operate on one op, so that
// passes, pipelines and tests can call them directly.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_TRANSFORMS_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_TRANSFORMS_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {

/// Replaces `op` with the reference computation (materialised scores).
LogicalResult lowerAttentionToLinalg(RewriterBase &rewriter, AttentionOp op);

/// Replaces `op` with an elementwise LSE-weighted combination.
LogicalResult lowerMergeToLinalg(RewriterBase &rewriter, MergeOp op);

/// Replaces `op` with fused, tiled flash-attention loops over memory for the
/// CPU (see attn-tile-cpu). `vectorWidth` is the number of f32 lanes, 0 for
/// the host's widest; `threads` (0: the host's cores) sizes the automatic
/// kv split of decoding; `bf16Dot` allows AVX512-BF16 dot products for
/// bf16 Q K^T where the host has them; `#attn.config` on the op overrides
/// tile sizes.
LogicalResult tileAttentionForCPU(RewriterBase &rewriter, AttentionOp op,
                                  int64_t vectorWidth, int64_t threads,
                                  bool bf16Dot = false);

/// f32 lanes of the host's widest vector unit: 16 with AVX-512, 8 with
/// AVX2 + FMA, else 4.
int64_t hostVectorWidth();

/// Whether the host has AVX512-BF16 (vdpbf16ps).
bool hostHasBf16Dot();

/// Lowers `op` (f16/bf16, static head dims that are multiples of 16 up to
/// 128) to a gpu.launch of a tensor-core flash-attention kernel (nvgpu
/// mma.sync, ldmatrix, cp.async). Fails with a diagnostic on the op when it
/// is outside what the kernel supports. With `wgmma`, ops whose head dims
/// are 64 or 128 get the sm_90a kernel (TMA loads, wgmma.mma_async).
LogicalResult tileAttentionForGPU(RewriterBase &rewriter, AttentionOp op,
                                  bool wgmma = false);

/// Adds patterns that apply the two reference lowerings above.
void populateLowerToLinalgPatterns(RewritePatternSet &patterns);

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_TRANSFORMS_H
