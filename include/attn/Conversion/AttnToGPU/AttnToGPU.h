//===- AttnToGPU.h - attn.attention to tensor-core kernels ------*- C++ -*-===//
//
// The fused GPU code generator's entry points (attn-tile-gpu): the target,
// the tile plan resolved per op from #attn.config and the target, and the
// lowering of one op under a plan.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTOGPU_ATTNTOGPU_H
#define ATTN_CONVERSION_ATTNTOGPU_ATTNTOGPU_H

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

#include <string>

namespace mlir::attn {

/// What the kernels are generated for.
struct GPUTarget {
  /// "sm_80" (mma.sync, cp.async; runs on Ampere and later) or "sm_90a"
  /// (Hopper: also wgmma and TMA).
  std::string chip = "sm_80";
  /// Tensor-core instructions when #attn.config leaves `mma` unset:
  /// "auto" (wgmma on sm_90a where the head dims allow it, else mma.sync),
  /// "sync" or "wgmma" (sm_90a; ops whose head dims wgmma cannot take fall
  /// back to mma.sync).
  std::string mma = "auto";
};

/// The tile plan of one op: every knob of the kernel, resolved.
struct GPUTilePlan {
  /// Warps per CTA; each computes 16 query rows (wgmma: one warpgroup).
  int64_t warps = 4;
  /// Query rows per CTA (16 * warps).
  int64_t blockQ = 64;
  /// Keys per kv tile.
  int64_t blockKv = 64;
  /// K/V shared-memory stages: tiles requested ahead of the one computed
  /// is stages - 1 (1: each tile is loaded, then computed).
  int64_t stages = 1;
  /// The sm_90a warpgroup kernel (TMA + wgmma) instead of mma.sync.
  bool wgmma = false;

  /// The plan as a complete #attn.config.
  ConfigAttr toConfig(MLIRContext *ctx) const;
};

/// Resolves the tile plan of `op` for `target`: the fields of the op's
/// #attn.config, and for every field it leaves at 0 or "" the default for
/// the target and the op (head dims, score modifiers, masks). Emits a
/// diagnostic on the op, naming the field, its value and the limit, when
/// the op or the combination is outside what the kernels support.
FailureOr<GPUTilePlan> resolveGPUTilePlan(AttentionOp op,
                                          const GPUTarget &target);

/// Replaces `op` by a gpu.launch of a tensor-core flash-attention kernel
/// (see attn-tile-gpu) with tile plan `plan`, which must come from
/// resolveGPUTilePlan for this op.
LogicalResult tileAttentionForGPU(RewriterBase &rewriter, AttentionOp op,
                                  const GPUTilePlan &plan);

/// The tile plan of the backward kernels of `op` for `target` (query and
/// key kernels: `warps` warps of 16 rows each, the other side in tiles of
/// `blockKv` rows), or a diagnostic on the op naming what they cannot
/// take.
FailureOr<GPUTilePlan> resolveGPUGradPlan(AttentionGradOp op,
                                          const GPUTarget &target);

/// Replaces `op` by the two gpu.launches of the mma.sync backward (dQ and
/// Delta, then dK and dV) under `plan` from resolveGPUGradPlan.
LogicalResult tileAttentionGradForGPU(RewriterBase &rewriter,
                                      AttentionGradOp op,
                                      const GPUTilePlan &plan);

/// Replaces `op`, an elementwise linalg.generic on buffers (parallel
/// iterators, one init with the identity indexing map, input maps of dims
/// and constants), by a gpu.launch with one thread per element of the init
/// (ElementwiseKernel.cpp). Emits a diagnostic on the op naming what it
/// cannot take.
LogicalResult lowerElementwiseToGPU(RewriterBase &rewriter,
                                    linalg::GenericOp op);

/// Adds the pattern that lowers attn.merge to its linalg form
/// (lowerMergeToLinalg), which attn-gpu-elementwise makes kernels of.
void populateMergeToGPUPatterns(RewritePatternSet &patterns);

/// Adds the pattern that applies lowerElementwiseToGPU.
void populateElementwiseToGPUPatterns(RewritePatternSet &patterns);

/// Adds the patterns that lower attn.attention and attn.attention_grad for
/// `target` (they resolve each op's plan and do not match ops whose plan is
/// invalid), and populateMergeToGPUPatterns'.
void populateAttnToGPUPatterns(RewritePatternSet &patterns,
                               const GPUTarget &target);

} // namespace mlir::attn

#endif // ATTN_CONVERSION_ATTNTOGPU_ATTNTOGPU_H
