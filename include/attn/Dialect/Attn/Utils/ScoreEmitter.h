//===- ScoreEmitter.h - Scalar IR for masks and score modifiers -*- C++ -*-===//
//
// Emits the scalar computation of one score element: the query position, the
// mask predicate and the chain of score modifiers of an attn.attention (or
// attn.attention_grad) op, at given (b, h, i, j) coordinates. Every code
// generator (the reference lowering, the fused CPU path, the GPU path) builds
// its loops and calls this in its innermost body, so the variant semantics live
// in one place.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_UTILS_SCOREEMITTER_H
#define ATTN_DIALECT_ATTN_UTILS_SCOREEMITTER_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <utility>

namespace mlir::attn {

/// Emits scalar IR for the variant of one attn.attention or
/// attn.attention_grad op. Operand tensors of the op (segments, bias,
/// captures, ...) are read with tensor.extract, so the emitted code may sit
/// inside linalg bodies or loops that are later bufferized.
class ScoreEmitter {
public:
  /// `qLen` and `kvLen` are the (index) extents Sq and Skv, `qHeads` is Hq.
  ScoreEmitter(VariantOpInterface op, Value qHeads, Value qLen, Value kvLen)
      : op(op), qHeads(qHeads), qLen(qLen), kvSeqLen(kvLen) {}

  /// kv_len[b] when the op has a kv_len operand, else Skv.
  Value emitKvLength(ImplicitLocOpBuilder &b, Value batch) const;

  /// p = i + (kvLenB - Sq) + q_offset.
  Value emitPosition(ImplicitLocOpBuilder &b, Value i, Value kvLenB) const;

  /// Fills in `pos` of a point given b, h, i, j and `kvLenB`, the
  /// emitKvLength of `batch` (computed once per batch row by the caller).
  ScorePoint makePoint(ImplicitLocOpBuilder &b, Value batch, Value head,
                       Value i, Value j, Value kvLenB) const;

  /// The i1 predicate "key j is allowed for query i": the op's mask
  /// expression and, with kv_len, j < kv_len[b].
  Value emitAllowed(ImplicitLocOpBuilder &b, const ScorePoint &pt) const;
  /// The same with `mask` (a mask a tiler has simplified) for the op's.
  Value emitAllowed(ImplicitLocOpBuilder &b, const ScorePoint &pt,
                    Attribute mask) const;

  /// Applies the op's score modifiers in order to the f32 score `s`.
  Value emitScoreMods(ImplicitLocOpBuilder &b, Value s,
                      const ScorePoint &pt) const;
  /// The same, and the derivative ds'/ds of the chain at `s` (the product
  /// of each modifier's derivative at its own input): (s', ds'/ds). Only
  /// for modifiers with AttentionGradOp::hasScoreModGradient; a score_mod
  /// region's by forward-mode differentiation of its body.
  std::pair<Value, Value> emitScoreModsAndSlope(ImplicitLocOpBuilder &b,
                                                Value s,
                                                const ScorePoint &pt) const;

  /// One read of a float operand by the score modifiers: the operand (a
  /// capture read by the score_mod region, or the bias, rel_bias_table or
  /// temperature operand), the indices it was read at (captures:
  /// unchecked), and ds'/dx, the derivative of the whole modifier chain's
  /// result with respect to the value x read (forward mode, as the slope;
  /// 0 where x does not reach the score).
  struct OperandRead {
    Value operand;
    SmallVector<Value, 4> indices;
    Value tangent;
  };
  /// emitScoreModsAndSlope that also appends to `reads` every read of the
  /// operands in `operands` (captures among them must pass
  /// attn::firstUndifferentiableRead).
  std::pair<Value, Value>
  emitScoreModsAndSlope(ImplicitLocOpBuilder &b, Value s, const ScorePoint &pt,
                        ArrayRef<Value> operands,
                        SmallVectorImpl<OperandRead> &reads) const;

  /// #attn.tree: (first draft query row Sq - T, first draft key
  /// kvLenB - T, T) for a batch row with `kvLenB` visible keys.
  struct DraftBlock {
    Value firstQuery, firstKey, size;
  };
  DraftBlock emitDraftBlock(ImplicitLocOpBuilder &b, Value kvLenB) const;

  /// #attn.tree as a tile class: (skip, full) of the query rows [i0, i1)
  /// at positions [p0, p1) and the keys [j0, j1) of a batch row with
  /// `kvLenB` visible keys. Rows before the draft block are causal (by
  /// position): empty past p1 - 1, full up to p0. Draft rows see every key
  /// before the draft keys.
  std::pair<Value, Value> emitTreeTile(ImplicitLocOpBuilder &b, Value kvLenB,
                                       Value i0, Value i1, Value p0, Value p1,
                                       Value j0, Value j1) const;

  /// Entry [batch, head, row, col] of the dense_mask operand as an
  /// unsigned i32 (size-1 batch / head dims broadcast). For a blocked
  /// #attn.dense or #attn.blocks, row and col count blocks.
  Value emitDenseValue(ImplicitLocOpBuilder &b, Value batch, Value head,
                       Value row, Value col) const;
  /// i1: an entry from emitDenseValue is at least `level` (1: non-zero).
  static Value atLeast(ImplicitLocOpBuilder &b, Value entry, int64_t level);
  /// i1: emitDenseValue's entry is at least `level`.
  Value emitDenseEntry(ImplicitLocOpBuilder &b, Value batch, Value head,
                       Value row, Value col, int64_t level = 1) const {
    return atLeast(b, emitDenseValue(b, batch, head, row, col), level);
  }

  /// Emits here, once, the dynamic batch / head sizes of the operands read
  /// with broadcasting (dense mask, bias) and the dynamic sizes of the
  /// captured arrays (for their bounds checks); later reads use them
  /// instead of a tensor.dim each. The GPU tiler calls it on the host, so
  /// the sizes reach kernels as arguments: a memref.dim inside a kernel is
  /// lowered through a local-memory copy of the whole size array.
  void hoistOperandDims(ImplicitLocOpBuilder &b);

  /// Reads of captured arrays in score_mod / mask_mod regions are
  /// bounds-checked: an index out of range reads nothing and gives zero.
  /// With a flag (a memref<i32>, see emitCaptureErrorFlag; on the GPU a
  /// device word), such a read also raises it to the capture's 1-based
  /// number (atomic max), for the caller to report after the call.
  void setCaptureErrorFlag(Value flag) { captureErrorFlag = flag; }

  /// Name of the module's error word for captured-array reads out of range
  /// (an i32, 0 when none happened; the host reads and clears it).
  static constexpr llvm::StringLiteral kCaptureErrorSymbol =
      "__attn_capture_error";
  /// Declares the error word in the module around `op` (once) and returns
  /// it as a memref<i32> here; null when `op` has no captures.
  static Value emitCaptureErrorFlag(ImplicitLocOpBuilder &b,
                                    VariantOpInterface op);

  /// The score scale: the op's `scale`, or 1/sqrt(D) from `headDim`.
  Value emitScale(ImplicitLocOpBuilder &b, Value headDim) const;

private:
  Value emitMask(ImplicitLocOpBuilder &b, Attribute mask,
                 const ScorePoint &pt) const;
  Value emitTreeMask(ImplicitLocOpBuilder &b, const ScorePoint &pt) const;
  Value emitScoreMod(ImplicitLocOpBuilder &b, Attribute mod, Value s,
                     const ScorePoint &pt) const;
  /// The T5 bucket (index) of `pt` for the rel_bias_table.
  Value emitRelBucket(ImplicitLocOpBuilder &b, RelBiasAttr rel,
                      const ScorePoint &pt) const;
  /// Inlines `region` with its leading arguments bound to `leading` and the
  /// rest to the captures; returns the yielded value, and with `tangent` its
  /// derivative with respect to the first argument (forward mode; the
  /// region must pass attn::firstUndifferentiable), and with `reads` the
  /// derivatives with respect to each read of the captures in
  /// `wrtCaptures`.
  Value inlineRegion(ImplicitLocOpBuilder &b, Region &region,
                     ValueRange leading, Value *tangent = nullptr,
                     ArrayRef<unsigned> wrtCaptures = {},
                     SmallVectorImpl<OperandRead> *reads = nullptr) const;
  /// The read `read` of captured array number `capture` under its bounds
  /// check (see setCaptureErrorFlag), emitted before `read`, which the
  /// caller replaces.
  Value guardCaptureRead(ImplicitLocOpBuilder &b, tensor::ExtractOp read,
                         unsigned capture) const;
  /// Size `d` of `tensor`: hoisted or static when known, else a tensor.dim.
  Value emitDim(ImplicitLocOpBuilder &b, Value tensor, int64_t d) const;
  /// The indices of `tensor` at the trailing coordinates of [b, h, i, j],
  /// with numpy broadcasting of size-1 leading dims.
  SmallVector<Value> broadcastIndices(ImplicitLocOpBuilder &b, Value tensor,
                                      const ScorePoint &pt) const;

  /// Op handles are value types whose accessors are not const.
  mutable VariantOpInterface op;
  Value qHeads, qLen, kvSeqLen;
  /// From hoistOperandDims: per operand, the sizes of its dims (null for
  /// those not needed).
  DenseMap<Value, SmallVector<Value, 4>> hoistedDims;
  Value captureErrorFlag;
};

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_UTILS_SCOREEMITTER_H
