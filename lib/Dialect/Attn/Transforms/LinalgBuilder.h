//===- LinalgBuilder.h - linalg.generic shorthands --------------*- C++ -*-===//
//
// Builders of the linalg ops the reference lowerings (LowerToLinalg.cpp,
// LowerGradToLinalg.cpp) are made of: fills, element-wise and reduction
// generics over 1-3 loops, the problem sizes and per-head slices.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_DIALECT_ATTN_TRANSFORMS_LINALGBUILDER_H
#define ATTN_LIB_DIALECT_ATTN_TRANSFORMS_LINALGBUILDER_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <limits>

namespace mlir::attn {
using IT = utils::IteratorType;

inline constexpr float kNegInf = -std::numeric_limits<float>::infinity();

/// Helpers for building linalg.generic ops over 1-3 loops.
/// A builder just before `op`, where a lowering of it emits its
/// replacement.
inline ImplicitLocOpBuilder builderBefore(RewriterBase &rewriter,
                                          Operation *op) {
  ImplicitLocOpBuilder b(op->getLoc(), rewriter);
  b.setInsertionPoint(op);
  return b;
}

struct GenericBuilder {
  ImplicitLocOpBuilder &b;

  AffineMap map(unsigned numDims, ArrayRef<unsigned> dims) {
    SmallVector<AffineExpr> exprs;
    for (unsigned d : dims)
      exprs.push_back(b.getAffineDimExpr(d));
    return AffineMap::get(numDims, 0, exprs, b.getContext());
  }
  Value empty(ArrayRef<OpFoldResult> sizes, Type elem) {
    return tensor::EmptyOp::create(b, sizes, elem);
  }
  Value filled(ArrayRef<OpFoldResult> sizes, float value) {
    Value init = empty(sizes, b.getF32Type());
    Value cst = arith::ConstantOp::create(b, b.getF32FloatAttr(value));
    return linalg::FillOp::create(b, cst, init).getResult(0);
  }
  Value generic(ValueRange ins, Value out, ArrayRef<AffineMap> maps,
                ArrayRef<IT> iters,
                function_ref<Value(ImplicitLocOpBuilder &, ValueRange)> body) {
    auto op = linalg::GenericOp::create(
        b, TypeRange{out.getType()}, ins, ValueRange{out}, maps, iters,
        [&](OpBuilder &nb, Location loc, ValueRange args) {
          ImplicitLocOpBuilder ib(loc, nb);
          linalg::YieldOp::create(ib, body(ib, args));
        });
    return op.getResult(0);
  }
  /// A generic with one result per `outs`; `body` yields one value each.
  SmallVector<Value>
  generics(ValueRange ins, ValueRange outs, ArrayRef<AffineMap> maps,
           ArrayRef<IT> iters,
           function_ref<SmallVector<Value>(ImplicitLocOpBuilder &, ValueRange)>
               body) {
    auto op = linalg::GenericOp::create(
        b, outs.getTypes(), ins, outs, maps, iters,
        [&](OpBuilder &nb, Location loc, ValueRange args) {
          ImplicitLocOpBuilder ib(loc, nb);
          linalg::YieldOp::create(ib, body(ib, args));
        });
    return SmallVector<Value>(op.getResults());
  }
  /// An element-wise generic over the rows (and columns) of the 1-D or 2-D
  /// `x` into `out` that also reads the per-row vector `row` when it is
  /// non-null: `body` gets x[i(, j)] and then row[i].
  Value rowwise(Value x, Value row, Value out,
                function_ref<Value(ImplicitLocOpBuilder &, ValueRange)> body) {
    unsigned rank = cast<ShapedType>(x.getType()).getRank();
    AffineMap all = b.getMultiDimIdentityMap(rank);
    SmallVector<Value> ins = {x};
    SmallVector<AffineMap> maps = {all};
    if (row) {
      ins.push_back(row);
      maps.push_back(map(rank, {0}));
    }
    maps.push_back(all);
    return generic(ins, out, maps, SmallVector<IT>(rank, IT::parallel), body);
  }
};

/// The problem sizes of a variant op read off Q, K and V: as fold results
/// (attributes where the types are static) for shapes, as index values for
/// arithmetic. `group` is Hq / Hkv.
struct ProblemSizes {
  OpFoldResult batch, qHeads, qLen, kvLen, valueDim;
  Value qHeadsV, kvHeadsV, qLenV, kvLenV, headDimV, group;

  static ProblemSizes emit(ImplicitLocOpBuilder &b, VariantOpInterface op) {
    unsigned sDim = op.getSeqDim(), hDim = op.getHeadDim();
    Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
    auto size = [&](Value t, int64_t d) {
      return tensor::getMixedSize(b, b.getLoc(), t, d);
    };
    auto sizeValue = [&](Value t, int64_t d) -> Value {
      return tensor::DimOp::create(b, t, d);
    };
    ProblemSizes p;
    p.batch = size(q, 0);
    p.qHeads = size(q, hDim);
    p.qLen = size(q, sDim);
    p.kvLen = size(k, sDim);
    p.valueDim = size(v, 3);
    p.qHeadsV = sizeValue(q, hDim);
    p.kvHeadsV = sizeValue(k, hDim);
    p.qLenV = sizeValue(q, sDim);
    p.kvLenV = sizeValue(k, sDim);
    p.headDimV = sizeValue(q, 3);
    p.group = arith::DivUIOp::create(b, p.qHeadsV, p.kvHeadsV);
    return p;
  }
};

/// The 2-D [S, D] slice at (batch, head) of a rank-4 Q/K/V/O tensor `t`
/// whose sequence and head dims are `seqDim` and `headDim`.
inline Value headSlice(ImplicitLocOpBuilder &b, Value t, Value batch,
                       Value head, unsigned seqDim, unsigned headDim) {
  auto type = cast<RankedTensorType>(t.getType());
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  SmallVector<OpFoldResult> offsets(4, zero), sizes(4, one), strides(4, one);
  offsets[0] = batch;
  offsets[headDim] = head;
  sizes[seqDim] = tensor::getMixedSize(b, b.getLoc(), t, seqDim);
  sizes[3] = tensor::getMixedSize(b, b.getLoc(), t, 3);
  auto resultType = RankedTensorType::get(
      {type.getDimSize(seqDim), type.getDimSize(3)}, type.getElementType());
  return tensor::ExtractSliceOp::create(b, resultType, t, offsets, sizes,
                                        strides);
}

} // namespace mlir::attn

#endif // ATTN_LIB_DIALECT_ATTN_TRANSFORMS_LINALGBUILDER_H
