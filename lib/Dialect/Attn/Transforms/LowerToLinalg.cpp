//===- LowerToLinalg.cpp - Reference lowering of attn ops -----------------===//
//
// The reference lowering: every (b, h) pair materialises its [Sq, Skv] score
// matrix and runs the normalizer on whole rows. It handles every variant the
// dialect can state and is the baseline the fused code generators are
// differentially tested against, so it favours obviousness over speed.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Dialect/Attn/Transforms/Transforms.h"
#include "attn/Dialect/Attn/Utils/Arith.h"
#include "attn/Dialect/Attn/Utils/Buffers.h"
#include "attn/Dialect/Attn/Utils/Lowering.h"
#include "attn/Dialect/Attn/Utils/Quant.h"
#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

#include "LinalgBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERTOLINALG
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

//===----------------------------------------------------------------------===//
// attn.attention
//===----------------------------------------------------------------------===//

/// The contiguous cache [B, Hkv, Skv, D] (in the op's layout) of page pool
/// `pool` of a paged op: element (b, h, j, d) is pool[page, slot, h, d]
/// (nhd; hnd swaps slot and h) with page = page_table[b, j / slots],
/// clamped into the pool, and slot = j mod slots, for pools of `slots`
/// rows a page (page_size, or page_size / group for a quantized cache's
/// key scales and zeros; Skv shrinks likewise).
static Value gatherPages(ImplicitLocOpBuilder &b, AttentionOp op, Value pool,
                         int64_t slots) {
  PagedAttr paged = op.getPagedAttr();
  bool bshd = op.getLayoutOrDefault() == Layout::bshd;
  auto poolType = cast<RankedTensorType>(pool.getType());
  OpFoldResult batch = tensor::getMixedSize(b, b.getLoc(), op.getQuery(), 0);
  OpFoldResult heads =
      tensor::getMixedSize(b, b.getLoc(), pool, paged.getKvHeadDim());
  OpFoldResult dim = tensor::getMixedSize(b, b.getLoc(), pool, 3);
  Value len = emitKvSeqLen(b, op);
  if (slots != paged.getPageSize())
    len = Arith{b}.divU(len, Arith{b}.idx(paged.getPageSize() / slots));
  SmallVector<OpFoldResult> sizes = {batch, heads, len, dim};
  if (bshd)
    std::swap(sizes[1], sizes[2]);
  Value lastPage = arith::SubIOp::create(b, tensor::DimOp::create(b, pool, 0),
                                         arith::ConstantIndexOp::create(b, 1));
  GenericBuilder g{b};
  Value init = g.empty(sizes, poolType.getElementType());
  return g.generic(
      ValueRange{}, init, {b.getMultiDimIdentityMap(4)},
      SmallVector<IT>(4, IT::parallel),
      [&](ImplicitLocOpBuilder &nb, ValueRange) -> Value {
        Arith a{nb};
        Value bi = linalg::IndexOp::create(nb, 0);
        Value h = linalg::IndexOp::create(nb, bshd ? 2 : 1);
        Value j = linalg::IndexOp::create(nb, bshd ? 1 : 2);
        Value d = linalg::IndexOp::create(nb, 3);
        Value pageSize = a.idx(slots);
        Value entry = tensor::ExtractOp::create(
            nb, op.getPageTable(), ValueRange{bi, a.divU(j, pageSize)});
        Value page = arith::IndexCastOp::create(nb, nb.getIndexType(), entry);
        page = a.min(a.max(page, a.idx(0)), lastPage);
        Value slot = a.remU(j, pageSize);
        SmallVector<Value> at = {page, slot, h, d};
        if (paged.getLayout() == PageLayout::hnd)
          std::swap(at[1], at[2]);
        return tensor::ExtractOp::create(nb, pool, at);
      });
}

/// Replaces `op` by a clone that reads `k` and `v` as its K and V, after
/// `strip` has removed the cache form they replace from the clone.
static AttentionOp replaceCaches(RewriterBase &rewriter, AttentionOp op,
                                 Value k, Value v,
                                 function_ref<void(AttentionOp)> strip) {
  auto flat = cast<AttentionOp>(rewriter.clone(*op));
  flat.getKeyMutable().assign(k);
  flat.getValueMutable().assign(v);
  strip(flat);
  rewriter.replaceOp(op, flat->getResults());
  return flat;
}

/// Replaces a paged `op` by the same op on the contiguous caches that
/// gatherPages reads out of its pools, which the rest of the reference
/// lowering then handles as any other op.
static AttentionOp gatherPagedCache(RewriterBase &rewriter, AttentionOp op) {
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  int64_t pageSize = op.getPagedAttr().getPageSize();
  Value k = gatherPages(b, op, op.getKey(), pageSize);
  Value v = gatherPages(b, op, op.getValue(), pageSize);
  // A quantized cache's scales and zeros are pools too (the residual rows
  // and fp8's per-head scales are not).
  SmallVector<Value> quant(op.getKvQuant());
  if (op.quantHasZeros())
    for (unsigned i = 0; i < 4; ++i)
      quant[i] = gatherPages(b, op, quant[i],
                             i < 2 ? pageSize / op.getQuantAttr().getGroup()
                                   : pageSize);
  return replaceCaches(rewriter, op, k, v, [&](AttentionOp flat) {
    flat.getPageTableMutable().clear();
    flat.removePagedAttr();
    flat.getKvQuantMutable().assign(quant);
  });
}

/// The float cache [B, Hkv, Skv, D] (in the op's layout, the query's
/// element type) of a quantized op's keys (`values` false) or values:
/// element (b, h, j, d) is scale * code + zero with the code cut out of
/// byte d / per of token j, and the scale and zero those of its group
/// (keys: [b, h, j / group, d], values: [b, h, j, d / group]), or for fp8
/// codes scale[h] * fp8(byte d); tokens j >= n(b) (emitQuantizedLength)
/// are row j - n(b) of the residual.
static Value dequantizeCache(ImplicitLocOpBuilder &b, AttentionOp op,
                             bool values) {
  QuantAttr quant = op.getQuantAttr();
  unsigned sDim = op.getSeqDim();
  Value codes = values ? op.getValue() : op.getKey();
  Value scales = values ? op.getValueScale() : op.getKeyScale();
  Value zeros = values ? op.getValueZero() : op.getKeyZero();
  Value residual = values ? op.getValueResidual() : op.getKeyResidual();
  Type elem = getElementTypeOrSelf(op.getQuery().getType());
  Location loc = b.getLoc();
  Value seqLen = tensor::DimOp::create(b, codes, sDim);
  int64_t per = quant.getCodesPerByte();
  Value bytes = tensor::DimOp::create(b, codes, 3);
  SmallVector<OpFoldResult> sizes = {
      tensor::getMixedSize(b, loc, codes, 0),
      tensor::getMixedSize(b, loc, codes, 1),
      tensor::getMixedSize(b, loc, codes, 2),
      OpFoldResult(Arith{b}.mul(bytes, Arith{b}.idx(per)))};
  GenericBuilder g{b};
  return g.generic(
      ValueRange{}, g.empty(sizes, elem), {b.getMultiDimIdentityMap(4)},
      SmallVector<IT>(4, IT::parallel),
      [&](ImplicitLocOpBuilder &nb, ValueRange) -> Value {
        Arith a{nb};
        SmallVector<Value> at;
        for (int64_t i = 0; i < 4; ++i)
          at.push_back(linalg::IndexOp::create(nb, i));
        Value j = at[sDim], d = at[3];
        Value byte = tensor::ExtractOp::create(
            nb, codes, ValueRange{at[0], at[1], at[2], a.divU(d, a.idx(per))});
        Value x;
        if (quant.isFloat8()) {
          // x = scale[h] * fp8(code)
          Value s = tensor::ExtractOp::create(nb, scales,
                                              ValueRange{at[op.getHeadDim()]});
          x = a.fmul(a.extF(s), emitFp8Value(a, quant, byte));
        } else {
          SmallVector<Value> groupAt(at);
          if (values)
            groupAt[3] = a.divU(d, a.idx(quant.getGroup()));
          else
            groupAt[sDim] = a.divU(j, a.idx(quant.getGroup()));
          // x = scale * code + zero
          Value code =
              emitUnpackCode(a, quant, byte, emitCodeShift(a, quant, d));
          x = a.fadd(
              a.fmul(a.extF(tensor::ExtractOp::create(nb, scales, groupAt)),
                     code),
              a.extF(tensor::ExtractOp::create(nb, zeros, groupAt)));
        }
        if (residual) {
          Value kvEnd = seqLen;
          if (Value kvLen = op.getKvLen())
            kvEnd = a.min(
                a.max(a.toIndex(tensor::ExtractOp::create(nb, kvLen, at[0])),
                      a.idx(0)),
                seqLen);
          Value n = emitQuantizedLength(a, quant, kvEnd);
          Value fresh = a.ge(j, n);
          // Rows past kv_len are never read; keep their index in range.
          SmallVector<Value> resAt(at);
          resAt[sDim] = a.min(a.max(a.sub(j, n), a.idx(0)),
                              a.idx(quant.getResidual() - 1));
          Value r = a.extF(tensor::ExtractOp::create(nb, residual, resAt));
          x = a.select(fresh, r, x);
        }
        return a.truncF(x, elem);
      });
}

/// Replaces a quantized `op` by the same op on the float caches that
/// dequantizeCache computes.
static AttentionOp dequantizeQuantCache(RewriterBase &rewriter,
                                        AttentionOp op) {
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Value k = dequantizeCache(b, op, /*values=*/false);
  Value v = dequantizeCache(b, op, /*values=*/true);
  return replaceCaches(rewriter, op, k, v, [](AttentionOp flat) {
    flat.getKvQuantMutable().clear();
    flat.removeQuantAttr();
  });
}

LogicalResult mlir::attn::lowerAttentionToLinalg(RewriterBase &rewriter,
                                                 AttentionOp op) {
  if (op.getPagedAttr())
    op = gatherPagedCache(rewriter, op);
  if (op.getQuantAttr())
    op = dequantizeQuantCache(rewriter, op);
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  GenericBuilder g{b};
  unsigned sDim = op.getSeqDim(), hDim = op.getHeadDim();
  Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
  Type elemType = cast<RankedTensorType>(q.getType()).getElementType();
  Type f32 = b.getF32Type();

  ProblemSizes sz = ProblemSizes::emit(b, op);
  OpFoldResult batch = sz.batch, qHeads = sz.qHeads, qLen = sz.qLen;
  OpFoldResult kvLen = sz.kvLen, valueDim = sz.valueDim;
  Value group = sz.group;

  // The weights and the denominator are the normalizer's own
  // (NormalizerInterfaceImpl.cpp), as in the fused code generators.
  auto normalizer = cast<NormalizerAttrInterface>(op.getNormalizerOrDefault());
  RowDenominator denom = normalizer.getRowDenominator();
  bool wantLse = static_cast<bool>(op.getLse());
  ScoreEmitter emitter(op, sz.qHeadsV, sz.qLenV, sz.kvLenV);
  // Sizes read per element (broadcast operands, captures' bounds checks)
  // once here, not in the loop bodies.
  emitter.hoistOperandDims(b);
  emitter.setCaptureErrorFlag(ScoreEmitter::emitCaptureErrorFlag(b, op));

  auto forall = scf::ForallOp::create(b, ArrayRef<OpFoldResult>{batch, qHeads},
                                      op.getOutputs(), std::nullopt);
  Block *body = forall.getBody();
  b.setInsertionPointToStart(body);
  Value bi = forall.getInductionVar(0), hi = forall.getInductionVar(1);
  Value kvh = arith::DivUIOp::create(b, hi, group);
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);

  // Q[b, h, :, :], K[b, kvh, :, :], V[b, kvh, :, :] as 2-D slices.
  Value qs = headSlice(b, q, bi, hi, sDim, hDim),
        ks = headSlice(b, k, bi, kvh, sDim, hDim),
        vs = headSlice(b, v, bi, kvh, sDim, hDim);

  // S[i, j] = sum_d Q[i, d] * K[j, d], accumulated in f32.
  Value scores =
      g.generic(ValueRange{qs, ks}, g.filled({qLen, kvLen}, 0.0f),
                {g.map(3, {0, 2}), g.map(3, {1, 2}), g.map(3, {0, 1})},
                {IT::parallel, IT::parallel, IT::reduction},
                [&](ImplicitLocOpBuilder &nb, ValueRange a) -> Value {
                  Value prod = arith::MulFOp::create(nb, Arith{nb}.extF(a[0]),
                                                     Arith{nb}.extF(a[1]));
                  return arith::AddFOp::create(nb, a[2], prod);
                });

  // S'[i, j] = allowed ? mods(scale * S[i, j]) : -inf
  Value kvLenB = emitter.emitKvLength(b, bi);
  Value scale = emitter.emitScale(b, sz.headDimV);
  Value modified = g.generic(
      ValueRange{}, scores, {g.map(2, {0, 1})}, {IT::parallel, IT::parallel},
      [&](ImplicitLocOpBuilder &nb, ValueRange a) -> Value {
        Value i = linalg::IndexOp::create(nb, 0);
        Value j = linalg::IndexOp::create(nb, 1);
        ScorePoint pt = emitter.makePoint(nb, bi, hi, i, j, kvLenB);
        Value s = arith::MulFOp::create(nb, a[0], scale);
        s = emitter.emitScoreMods(nb, s, pt);
        Value allowed = emitter.emitAllowed(nb, pt);
        return arith::SelectOp::create(nb, allowed, s, Arith{nb}.f32(kNegInf));
      });

  Value sinkLogit;
  if (isa<SinkSoftmaxAttr>(normalizer))
    sinkLogit = tensor::ExtractOp::create(b, op.getSink(), ValueRange{hi});

  // Row shift mz, 0 if -inf. Softmax: mz = max(rowmax, sink), for
  // stability. Softplus-l1 caps it, mz = min(rowmax, 0); its weights are
  // scaled by exp(-mz), which the normalisation cancels, so that a row whose
  // scores are all far below 0 does not underflow to Z = 0 in f32.
  Value shift;
  if (normalizer.isShifted()) {
    Value rowMax = g.generic(
        ValueRange{modified}, g.filled({qLen}, kNegInf),
        {g.map(2, {0, 1}), g.map(2, {0})}, {IT::parallel, IT::reduction},
        [&](ImplicitLocOpBuilder &nb, ValueRange a) -> Value {
          return arith::MaximumFOp::create(nb, a[0], a[1]);
        });
    shift = g.generic(
        ValueRange{}, rowMax, {g.map(1, {0})}, {IT::parallel},
        [&](ImplicitLocOpBuilder &nb, ValueRange a) -> Value {
          Value m = a[0];
          if (sinkLogit)
            m = arith::MaximumFOp::create(nb, m, sinkLogit);
          m = normalizer.emitShiftCap(nb, m);
          Value isInf = arith::CmpFOp::create(nb, arith::CmpFPredicate::OEQ, m,
                                              Arith{nb}.f32(kNegInf));
          return arith::SelectOp::create(nb, isInf, Arith{nb}.f32(0.0f), m);
        });
  }

  // W[i, j]: unnormalised weights, 0 where masked (S' = -inf).
  Value rowBias = normalizer.emitRowBias(b, kvLenB);
  Value weights = g.rowwise(
      modified, shift, g.empty({qLen, kvLen}, f32),
      [&](ImplicitLocOpBuilder &nb, ValueRange a) -> Value {
        return normalizer.emitWeight(nb, a[0], shift ? a[1] : Value(), rowBias);
      });

  // Z[i]: the row denominator.
  Value rowSum;
  if (denom == RowDenominator::RowSum)
    rowSum = g.generic(ValueRange{weights}, g.filled({qLen}, 0.0f),
                       {g.map(2, {0, 1}), g.map(2, {0})},
                       {IT::parallel, IT::reduction},
                       [&](ImplicitLocOpBuilder &nb, ValueRange a) -> Value {
                         return arith::AddFOp::create(nb, a[0], a[1]);
                       });
  if (sinkLogit) {
    // The sink adds exp(sink - mz) to the denominator only.
    rowSum = g.generic(ValueRange{shift}, rowSum,
                       {g.map(1, {0}), g.map(1, {0})}, {IT::parallel},
                       [&](ImplicitLocOpBuilder &nb, ValueRange a) -> Value {
                         Value e = math::ExpOp::create(
                             nb, arith::SubFOp::create(nb, sinkLogit, a[0]));
                         return arith::AddFOp::create(nb, a[1], e);
                       });
  }

  // O[i, e] = sum_j W[i, j] V[j, e] / Z[i], 0 when Z = 0. Zero weights
  // (masked keys) add nothing, not 0 * V: a NaN or inf in a masked key's
  // value never reaches the row (README, "Masked keys").
  Value acc =
      g.generic(ValueRange{weights, vs}, g.filled({qLen, valueDim}, 0.0f),
                {g.map(3, {0, 2}), g.map(3, {2, 1}), g.map(3, {0, 1})},
                {IT::parallel, IT::parallel, IT::reduction},
                [&](ImplicitLocOpBuilder &nb, ValueRange a) -> Value {
                  Arith ar{nb};
                  return ar.addWeighted(a[2], a[0], ar.extF(a[1]));
                });
  Value denomValue;
  if (denom == RowDenominator::SeqLen)
    denomValue = arith::SIToFPOp::create(
        b, f32, arith::IndexCastOp::create(b, b.getI64Type(), kvLenB));
  Value out = g.rowwise(
      acc, rowSum, g.empty({qLen, valueDim}, elemType),
      [&](ImplicitLocOpBuilder &nb, ValueRange a) -> Value {
        Value o = a[0];
        Value z = rowSum ? a[1] : denomValue;
        if (z) {
          Value isZero = arith::CmpFOp::create(nb, arith::CmpFPredicate::OEQ, z,
                                               Arith{nb}.f32(0.0f));
          Value safe =
              arith::SelectOp::create(nb, isZero, Arith{nb}.f32(1.0f), z);
          o = arith::SelectOp::create(nb, isZero, Arith{nb}.f32(0.0f),
                                      arith::DivFOp::create(nb, o, safe));
        }
        if (elemType != f32)
          o = arith::TruncFOp::create(nb, elemType, o);
        return o;
      });

  // LSE[i] = mz + log Z (softmax) or log Z, -inf when Z = 0.
  Value lse;
  if (wantLse) {
    lse = g.rowwise(
        rowSum, shift, g.empty({qLen}, f32),
        [&](ImplicitLocOpBuilder &nb, ValueRange a) -> Value {
          Value z = a[0];
          Value l = math::LogOp::create(nb, z);
          if (shift)
            l = arith::AddFOp::create(nb, l, a[1]);
          Value isZero = arith::CmpFOp::create(nb, arith::CmpFPredicate::OEQ, z,
                                               Arith{nb}.f32(0.0f));
          return arith::SelectOp::create(nb, isZero, Arith{nb}.f32(kNegInf), l);
        });
  }

  // Write the (b, h) slices into the shared outputs.
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  SmallVector<OpFoldResult> oOffsets(4, zero), oSizes(4, one), strides4(4, one);
  oOffsets[0] = bi;
  oOffsets[hDim] = hi;
  oSizes[sDim] = qLen;
  oSizes[3] = valueDim;
  tensor::ParallelInsertSliceOp::create(b, out, forall.getRegionIterArgs()[0],
                                        oOffsets, oSizes, strides4);
  if (wantLse) {
    SmallVector<OpFoldResult> lOffsets = {bi, hi, zero},
                              lSizes = {one, one, qLen}, strides3(3, one);
    tensor::ParallelInsertSliceOp::create(b, lse, forall.getRegionIterArgs()[1],
                                          lOffsets, lSizes, strides3);
  }
  rewriter.replaceOp(op, forall.getResults());
  return success();
}

//===----------------------------------------------------------------------===//
// attn.merge
//===----------------------------------------------------------------------===//

FailureOr<SmallVector<linalg::GenericOp>>
mlir::attn::lowerMergeToLinalg(RewriterBase &rewriter, MergeOp op) {
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  b.setInsertionPoint(op);
  GenericBuilder g{b};
  bool bshd = op.getLayoutOrDefault() == Layout::bshd;
  size_t n = op.getPartials().size();
  auto oType = cast<RankedTensorType>(op.getOutInit().getType());
  Type elemType = oType.getElementType();

  // LSE = m + log sum_k exp(LSE_k - m), m = max_k LSE_k; -inf if m = -inf.
  SmallVector<AffineMap> lseMaps(n + 1, g.map(3, {0, 1, 2}));
  SmallVector<IT> par3(3, IT::parallel);
  Value lse = g.generic(
      op.getPartialLses(), op.getLseInit(), lseMaps, par3,
      [&](ImplicitLocOpBuilder &nb, ValueRange a) -> Value {
        Value m = a[0];
        for (size_t k = 1; k < n; ++k)
          m = arith::MaximumFOp::create(nb, m, a[k]);
        Value isInf = arith::CmpFOp::create(nb, arith::CmpFPredicate::OEQ, m,
                                            Arith{nb}.f32(kNegInf));
        Value safeM =
            arith::SelectOp::create(nb, isInf, Arith{nb}.f32(0.0f), m);
        Value sum = Arith{nb}.f32(0.0f);
        for (size_t k = 0; k < n; ++k)
          sum = arith::AddFOp::create(
              nb, sum,
              math::ExpOp::create(nb, arith::SubFOp::create(nb, a[k], safeM)));
        Value l =
            arith::AddFOp::create(nb, safeM, math::LogOp::create(nb, sum));
        return arith::SelectOp::create(nb, isInf, Arith{nb}.f32(kNegInf), l);
      });

  // O = sum_k exp(LSE_k - LSE) O_k, 0 where LSE = -inf.
  AffineMap oMap = g.map(4, {0, 1, 2, 3});
  AffineMap lseOfO = bshd ? g.map(4, {0, 2, 1}) : g.map(4, {0, 1, 2});
  SmallVector<Value> ins(op.getPartials());
  llvm::append_range(ins, op.getPartialLses());
  ins.push_back(lse);
  SmallVector<AffineMap> maps(n, oMap);
  maps.append(n + 1, lseOfO);
  maps.push_back(oMap);
  Value out = g.generic(
      ins, op.getOutInit(), maps, SmallVector<IT>(4, IT::parallel),
      [&](ImplicitLocOpBuilder &nb, ValueRange a) -> Value {
        Value total = a[2 * n];
        Value isInf = arith::CmpFOp::create(nb, arith::CmpFPredicate::OEQ,
                                            total, Arith{nb}.f32(kNegInf));
        Value acc = Arith{nb}.f32(0.0f);
        for (size_t k = 0; k < n; ++k) {
          Value w = math::ExpOp::create(
              nb, arith::SubFOp::create(nb, a[n + k], total));
          acc = arith::AddFOp::create(
              nb, acc, arith::MulFOp::create(nb, w, Arith{nb}.extF(a[k])));
        }
        acc = arith::SelectOp::create(nb, isInf, Arith{nb}.f32(0.0f), acc);
        if (elemType != nb.getF32Type())
          acc = arith::TruncFOp::create(nb, elemType, acc);
        return acc;
      });
  rewriter.replaceOp(op, ValueRange{out, lse});
  return SmallVector<linalg::GenericOp>{lse.getDefiningOp<linalg::GenericOp>(),
                                        out.getDefiningOp<linalg::GenericOp>()};
}

//===----------------------------------------------------------------------===//
// Patterns and pass
//===----------------------------------------------------------------------===//

namespace {
struct LowerAttention : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    return lowerAttentionToLinalg(rewriter, op);
  }
};

struct LowerAttentionGrad : OpRewritePattern<AttentionGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttentionGradOp op,
                                PatternRewriter &rewriter) const override {
    return lowerAttentionGradToLinalg(rewriter, op);
  }
};

struct LowerMerge : OpRewritePattern<MergeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MergeOp op,
                                PatternRewriter &rewriter) const override {
    return success(succeeded(lowerMergeToLinalg(rewriter, op)));
  }
};

struct LowerMaskBlocksOp : OpRewritePattern<MaskBlocksOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MaskBlocksOp op,
                                PatternRewriter &rewriter) const override {
    return lowerMaskBlocks(rewriter, op);
  }
};

struct AttnLowerToLinalgPass
    : attn::impl::AttnLowerToLinalgBase<AttnLowerToLinalgPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateLowerToLinalgPatterns(patterns);
    if (failed(applyPatternsOnce(
            getOperation(), std::move(patterns), [](Operation *op) {
              return isa<AttentionOp, AttentionGradOp, MergeOp, MaskBlocksOp>(op);
            })))
      signalPassFailure();
  }
};
} // namespace

void mlir::attn::populateLowerToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerAttention, LowerAttentionGrad, LowerMerge,
               LowerMaskBlocksOp>(patterns.getContext());
}
