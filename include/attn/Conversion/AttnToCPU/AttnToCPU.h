//===- AttnToCPU.h - attn.attention to fused CPU loops ----------*- C++ -*-===//
//
// The fused CPU code generator's entry points (attn-tile-cpu).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTOCPU_ATTNTOCPU_H
#define ATTN_CONVERSION_ATTNTOCPU_ATTNTOCPU_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn {

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

} // namespace mlir::attn

#endif // ATTN_CONVERSION_ATTNTOCPU_ATTNTOCPU_H
