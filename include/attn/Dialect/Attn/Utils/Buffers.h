//===- Buffers.h - Q/K/V/O buffers of the fused code generators -*- C++ -*-===//
//
// The fused CPU and GPU code generators work on memrefs of the op's tensors
// and index them in the op's layout; these two helpers are shared by both.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_UTILS_BUFFERS_H
#define ATTN_DIALECT_ATTN_UTILS_BUFFERS_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
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

/// The op's Q, K, V, O (and LSE) buffers and the extents read from them.
struct AttentionBuffers {
  Value qB, kB, vB, oB, lseB;
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
    r.kvLen = dim(r.kB, sDim);
    r.group = arith::DivUIOp::create(b, r.qHeads, r.kvHeads);
    return r;
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

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_UTILS_BUFFERS_H
