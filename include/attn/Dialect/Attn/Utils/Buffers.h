//===- Buffers.h - Q/K/V/O buffers of the fused code generators -*- C++ -*-===//
//
// The fused CPU and GPU code generators work on memrefs of the op's tensors
// and index them in the op's layout; these two helpers are shared by both.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_UTILS_BUFFERS_H
#define ATTN_DIALECT_ATTN_UTILS_BUFFERS_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::attn {

/// `tensor` as a memref with the identity layout: function arguments
/// bufferize to exactly these, so outputs are written in place and returned
/// outs fold to the arguments; vector loads also need the unit innermost
/// stride.
inline Value toIdentityBuffer(ImplicitLocOpBuilder &b, Value tensor,
                              bool readOnly) {
  auto type = cast<RankedTensorType>(tensor.getType());
  return bufferization::ToBufferOp::create(
      b, MemRefType::get(type.getShape(), type.getElementType()), tensor,
      readOnly);
}

/// Indices of element (batch, head, position, dim) of a Q/K/V/O buffer in
/// the BHSD or BSHD layout.
inline SmallVector<Value> layoutIndices(bool bshd, Value batch, Value head,
                                        Value pos, Value dim) {
  return bshd ? SmallVector<Value>{batch, pos, head, dim}
              : SmallVector<Value>{batch, head, pos, dim};
}

/// Skv of `op` (index): K's sequence extent, or for a paged cache the
/// page table's capacity `max_pages * page_size`, which is 0 when the pool
/// has no pages so that no key is visited and no page read.
inline Value emitKvSeqLen(ImplicitLocOpBuilder &b, AttentionOp op) {
  PagedAttr paged = op.getPagedAttr();
  if (!paged)
    return tensor::DimOp::create(b, op.getKey(), op.getSeqDim());
  Value maxPages = tensor::DimOp::create(b, op.getPageTable(), 1);
  Value pages = tensor::DimOp::create(b, op.getKey(), 0);
  Value zero = arith::ConstantIndexOp::create(b, 0);
  Value capacity = arith::MulIOp::create(
      b, maxPages, arith::ConstantIndexOp::create(b, paged.getPageSize()));
  Value empty = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, pages, zero);
  return arith::SelectOp::create(b, empty, zero, capacity);
}

/// The op's Q, K, V, O (and LSE) buffers and the extents read from them.
struct AttentionBuffers {
  /// K and V are the page pools of a paged cache, read through the page
  /// table `pageTableB` ([B, max_pages] i32).
  Value qB, kB, vB, oB, lseB, pageTableB;
  Value batch, qHeads, kvHeads, qLen, kvLen;
  /// Query heads per key/value head (GQA).
  Value group;

  /// Emits the buffers (identity layouts) and dims of `op` at `b`.
  static AttentionBuffers emit(ImplicitLocOpBuilder &b, AttentionOp op) {
    AttentionBuffers r;
    r.qB = toIdentityBuffer(b, op.getQuery(), /*readOnly=*/true);
    r.kB = toIdentityBuffer(b, op.getKey(), /*readOnly=*/true);
    r.vB = toIdentityBuffer(b, op.getValue(), /*readOnly=*/true);
    r.oB = toIdentityBuffer(b, op.getOutputs()[0], /*readOnly=*/false);
    if (op.getLse())
      r.lseB = toIdentityBuffer(b, op.getOutputs()[1], /*readOnly=*/false);
    unsigned sDim = op.getSeqDim(), hDim = op.getHeadDim();
    auto dim = [&](Value buf, int64_t d) -> Value {
      return memref::DimOp::create(b, buf, d);
    };
    r.batch = dim(r.qB, 0);
    r.qHeads = dim(r.qB, hDim);
    r.kvHeads = dim(r.kB, hDim);
    r.qLen = dim(r.qB, sDim);
    r.kvLen = emitKvSeqLen(b, op);
    if (PagedAttr paged = op.getPagedAttr()) {
      r.pageTableB = toIdentityBuffer(b, op.getPageTable(), /*readOnly=*/true);
      r.kvHeads = dim(r.kB, paged.getKvHeadDim());
    }
    r.group = arith::DivUIOp::create(b, r.qHeads, r.kvHeads);
    return r;
  }

  /// The page-pool indices of logical key `key` of batch row `bi`, kv head
  /// `kvh` of a paged op, without the trailing dim: (page, slot, kvh) for
  /// `nhd` pools, (page, kvh, slot) for `hnd`. The table entry index is
  /// clamped to the table (keys of a last tile past it) and the page id
  /// into the pool: entries are the caller's to check, a bad one reads a
  /// wrong page, never past the pool.
  SmallVector<Value> pagedRowIndices(ImplicitLocOpBuilder &b, PagedAttr paged,
                                     Value bi, Value kvh, Value key) const {
    auto idx = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
    auto min = [&](Value x, Value y) { return arith::MinSIOp::create(b, x, y); };
    Value one = idx(1);
    Value pageSize = idx(paged.getPageSize());
    Value lastEntry =
        arith::SubIOp::create(b, memref::DimOp::create(b, pageTableB, 1), one);
    Value entry = min(arith::DivUIOp::create(b, key, pageSize), lastEntry);
    Value page = arith::IndexCastOp::create(
        b, b.getIndexType(),
        memref::LoadOp::create(b, pageTableB, ValueRange{bi, entry}));
    Value lastPage =
        arith::SubIOp::create(b, memref::DimOp::create(b, kB, 0), one);
    page = min(arith::MaxSIOp::create(b, page, idx(0)), lastPage);
    Value slot = arith::RemUIOp::create(b, key, pageSize);
    if (paged.getLayout() == PageLayout::nhd)
      return {page, slot, kvh};
    return {page, kvh, slot};
  }

  /// Replaces `op` by tensors of the O and LSE buffers it was lowered to.
  void replaceOp(ImplicitLocOpBuilder &b, AttentionOp op) const {
    SmallVector<Value> results;
    results.push_back(bufferization::ToTensorOp::create(
        b, op.getResult(0).getType(), oB, /*restrict=*/true,
        /*writable=*/true));
    if (op.getLse())
      results.push_back(bufferization::ToTensorOp::create(
          b, op.getLse().getType(), lseB, /*restrict=*/true,
          /*writable=*/true));
    op->replaceAllUsesWith(results);
    op->erase();
  }
};

/// The kv_quant buffers of a quantized cache (#attn.quant), read-only with
/// identity layouts, each null where the op has no such operand (all of
/// them without #attn.quant; fp8 caches have no zeros): the key and value
/// scales and zeros and, with a residual window, the full precision newest
/// rows. K and V themselves are AttentionBuffers' kB and vB.
struct QuantBuffers {
  Value keyScaleB, keyZeroB, valueScaleB, valueZeroB, keyResidualB,
      valueResidualB;

  /// Emits the buffers of `op`'s kv_quant operands at `b`.
  static QuantBuffers emit(ImplicitLocOpBuilder &b, AttentionOp op) {
    auto in = [&](Value t) {
      return t ? toIdentityBuffer(b, t, /*readOnly=*/true) : Value();
    };
    QuantBuffers r;
    r.keyScaleB = in(op.getKeyScale());
    r.keyZeroB = in(op.getKeyZero());
    r.valueScaleB = in(op.getValueScale());
    r.valueZeroB = in(op.getValueZero());
    r.keyResidualB = in(op.getKeyResidual());
    r.valueResidualB = in(op.getValueResidual());
    return r;
  }
};

/// The buffers of an attn.attention_grad op and the extents read from them:
/// Q, K, V, O, dO, the LSE (with `withLse`: normalizers that divide by a
/// row sum), and the gradients, written in place.
struct GradBuffers {
  Value qB, kB, vB, oB, doB, lseB, dqB, dkB, dvB;
  Value batch, qHeads, kvHeads, qLen, kvLen;
  /// Query heads per key/value head (GQA).
  Value group;

  static GradBuffers emit(ImplicitLocOpBuilder &b, AttentionGradOp op,
                          bool withLse) {
    GradBuffers r;
    auto in = [&](Value t) {
      return toIdentityBuffer(b, t, /*readOnly=*/true);
    };
    auto out = [&](Value t) {
      return toIdentityBuffer(b, t, /*readOnly=*/false);
    };
    r.qB = in(op.getQuery());
    r.kB = in(op.getKey());
    r.vB = in(op.getValue());
    r.oB = in(op.getOut());
    r.doB = in(op.getGradOut());
    if (withLse)
      r.lseB = in(op.getLse());
    r.dqB = out(op.getGradQueryInit());
    r.dkB = out(op.getGradKeyInit());
    r.dvB = out(op.getGradValueInit());
    unsigned sDim = op.getSeqDim(), hDim = op.getHeadDim();
    r.batch = memref::DimOp::create(b, r.qB, 0);
    r.qHeads = memref::DimOp::create(b, r.qB, hDim);
    r.kvHeads = memref::DimOp::create(b, r.kB, hDim);
    r.qLen = memref::DimOp::create(b, r.qB, sDim);
    r.kvLen = memref::DimOp::create(b, r.kB, sDim);
    r.group = arith::DivUIOp::create(b, r.qHeads, r.kvHeads);
    return r;
  }

  /// Replaces `op` by tensors of the gradient buffers it was lowered to,
  /// then `operandGrads` (the results for the op's `wrt` operands).
  void replaceOp(ImplicitLocOpBuilder &b, AttentionGradOp op,
                 ArrayRef<Value> operandGrads = {}) const {
    SmallVector<Value> results;
    Value bufs[] = {dqB, dkB, dvB};
    for (unsigned r = 0; r < 3; ++r)
      results.push_back(bufferization::ToTensorOp::create(
          b, op->getResult(r).getType(), bufs[r], /*restrict=*/true,
          /*writable=*/true));
    results.append(operandGrads.begin(), operandGrads.end());
    op->replaceAllUsesWith(results);
    op->erase();
  }
};

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_UTILS_BUFFERS_H
