//===- LowerGradToLinalg.cpp - Reference lowering of attn.attention_grad --===//
//
// The backward pass the way the forward's reference lowering computes the
// forward: per (batch, key/value head) and, inside, per query head of the
// group, the [Sq, Skv] scores are recomputed and materialised, the weights
// P rebuilt (from the forward's LSE where the normalizer divides by a row
// sum), and dQ, dK, dV accumulated in f32. dK and dV of a key/value head sum
// over its query heads, so the group is a sequential loop inside one parallel
// iteration and no two iterations write the same slice. O(Sq * Skv) memory per
// iteration; obviousness over speed, as in LowerToLinalg.cpp.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Transforms.h"
#include "attn/Dialect/Attn/Utils/Arith.h"
#include "attn/Dialect/Attn/Utils/Normalizer.h"
#include "attn/Dialect/Attn/Utils/ParamGrads.h"
#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

#include "LinalgBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::attn;

/// Adds dS'[i, j] * ds'/dx to accs[k][idx] for each read x =
/// operands[k][idx] by the score modifiers at every allowed (i, j) of head
/// (bi, hi), in row-major (i, j) order; reads out of range add nothing.
/// `scores` holds the unscaled Q K^T.
static SmallVector<Value>
scatterOperandGrads(ImplicitLocOpBuilder &b, const ScoreEmitter &emitter,
                    ArrayRef<Value> operands, Value bi, Value hi,
                    Value kvLenB, Value scale, Value scores, Value dSPrime,
                    ValueRange accs) {
  Arith a{b};
  Value qLen = tensor::DimOp::create(b, scores, 0);
  Value kvLen = tensor::DimOp::create(b, scores, 1);
  auto rows = scf::ForOp::create(
      b, a.idx(0), qLen, a.idx(1), accs,
      [&](OpBuilder &rb, Location loc, Value i, ValueRange rowAccs) {
        ImplicitLocOpBuilder ib(loc, rb);
        auto cols = scf::ForOp::create(
            ib, Arith{ib}.idx(0), kvLen, Arith{ib}.idx(1), rowAccs,
            [&](OpBuilder &cb, Location loc, Value j, ValueRange colAccs) {
              ImplicitLocOpBuilder eb(loc, cb);
              Arith ea{eb};
              ScorePoint pt = emitter.makePoint(eb, bi, hi, i, j, kvLenB);
              Value s = ea.fmul(
                  tensor::ExtractOp::create(eb, scores, ValueRange{i, j}),
                  scale);
              SmallVector<ScoreEmitter::OperandRead> reads;
              emitter.emitScoreModsAndSlope(eb, s, pt, operands, reads);
              Value allowed = emitter.emitAllowed(eb, pt);
              Value ds =
                  tensor::ExtractOp::create(eb, dSPrime, ValueRange{i, j});
              SmallVector<Value> next(colAccs);
              for (ScoreEmitter::OperandRead &read : reads) {
                unsigned k = llvm::find(operands, read.operand) -
                             operands.begin();
                Value acc = next[k];
                Value ok = allowed;
                for (auto [d, index] : llvm::enumerate(read.indices))
                  ok = ea.land(ok, ea.cmp(arith::CmpIPredicate::ult, index,
                                          tensor::DimOp::create(eb, acc, d)));
                auto ifOp = scf::IfOp::create(
                    eb, ok,
                    [&](OpBuilder &tb, Location loc) {
                      ImplicitLocOpBuilder xb(loc, tb);
                      Arith xa{xb};
                      Value old =
                          tensor::ExtractOp::create(xb, acc, read.indices);
                      Value sum = xa.fadd(old, xa.fmul(ds, read.tangent));
                      scf::YieldOp::create(
                          xb, tensor::InsertOp::create(xb, sum, acc,
                                                       read.indices)
                                  .getResult());
                    },
                    [&](OpBuilder &tb, Location loc) {
                      scf::YieldOp::create(tb, loc, acc);
                    });
                next[k] = ifOp.getResult(0);
              }
              scf::YieldOp::create(eb, next);
            });
        scf::YieldOp::create(ib, cols.getResults());
      });
  return SmallVector<Value>(rows.getResults());
}

LogicalResult mlir::attn::lowerAttentionGradToLinalg(RewriterBase &rewriter,
                                                     AttentionGradOp op) {
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  GenericBuilder g{b};
  SmallVector<Value> paramGrads = emitParamGradients(b, op);
  unsigned sDim = op.getSeqDim(), hDim = op.getHeadDim();
  bool bshd = op.getLayoutOrDefault() == Layout::bshd;
  Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
  Value o = op.getOut(), dO = op.getGradOut(), lse = op.getLse();
  Type elemType = cast<RankedTensorType>(q.getType()).getElementType();
  Type f32 = b.getF32Type();

  ProblemSizes sz = ProblemSizes::emit(b, op);
  OpFoldResult batch = sz.batch, qLen = sz.qLen, kvLen = sz.kvLen;
  OpFoldResult valueDim = sz.valueDim;
  OpFoldResult kvHeads = tensor::getMixedSize(b, b.getLoc(), k, hDim);
  OpFoldResult headDim = tensor::getMixedSize(b, b.getLoc(), q, 3);
  Value group = sz.group;

  auto normalizer = cast<NormalizerAttrInterface>(op.getNormalizerOrDefault());
  // P = w(s') / Z. A row-sum Z couples the row: dS'_j = w'(s'_j) / Z *
  // (dP_j - sum_k P_k dP_k), and sum_k P_k dP_k = rowsum(dO * O); a
  // constant Z does not: dS'_j = w'(s'_j) / Z * dP_j. The row-sum
  // normalizers are those with an LSE (Z = exp(LSE)); a sink adds to Z
  // only, nothing to O.
  bool rowSum = normalizer.getRowDenominator() == RowDenominator::RowSum;
  assert(rowSum == static_cast<bool>(lse) && "verified: LSE iff row sum");
  ScoreEmitter emitter(op, sz.qHeadsV, sz.qLenV, sz.kvLenV);
  emitter.hoistOperandDims(b);
  emitter.setCaptureErrorFlag(ScoreEmitter::emitCaptureErrorFlag(b, op));
  Value scale = emitter.emitScale(b, sz.headDimV);

  // Operands read by the score modifiers with a gradient (captures, bias,
  // rel_bias_table, temperature): each (b, kv head) item scatters dS' *
  // ds'/dx into its own accumulator, a slice of [B * Hkv, shape...]; the
  // slices are summed in item order after the loop (no atomics, the same
  // bits every run).
  SmallVector<Value> wrtOperands;
  SmallVector<Value> operandAccs;
  for (auto [name, grad] :
       llvm::zip_equal(op.getWrtAttr() ? op.getWrtAttr().getValue()
                                       : ArrayRef<Attribute>(),
                       paramGrads))
    if (!grad) {
      Value operand =
          op.getGradOperand(cast<StringAttr>(name).getValue());
      wrtOperands.push_back(operand);
      SmallVector<OpFoldResult> sizes =
          tensor::getMixedSizes(b, b.getLoc(), operand);
      sizes.insert(sizes.begin(),
                   b.createOrFold<arith::MulIOp>(
                       getValueOrCreateConstantIndexOp(b, b.getLoc(), batch),
                       getValueOrCreateConstantIndexOp(b, b.getLoc(),
                                                       kvHeads)));
      operandAccs.push_back(g.filled(sizes, 0.0f));
    }

  SmallVector<Value> inits = {op.getGradQueryInit(), op.getGradKeyInit(),
                              op.getGradValueInit()};
  llvm::append_range(inits, operandAccs);
  auto forall = scf::ForallOp::create(b, ArrayRef<OpFoldResult>{batch, kvHeads},
                                      inits, std::nullopt);
  b.setInsertionPointToStart(forall.getBody());
  Value bi = forall.getInductionVar(0), kvh = forall.getInductionVar(1);
  Value kvLenB = emitter.emitKvLength(b, bi);
  Value rowBias = normalizer.emitRowBias(b, kvLenB);
  Value ks = headSlice(b, k, bi, kvh, sDim, hDim);
  Value vs = headSlice(b, v, bi, kvh, sDim, hDim);
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);

  // The group's dQ, [1, G, Sq, D] (bshd: [1, Sq, G, D]) in the input type,
  // and dK, dV of this key/value head accumulated in f32.
  SmallVector<OpFoldResult> groupSizes = {one, group, qLen, headDim};
  if (bshd)
    std::swap(groupSizes[1], groupSizes[2]);
  Value dqGroup0 = g.empty(groupSizes, elemType);
  Value dkAcc0 = g.filled({kvLen, headDim}, 0.0f);
  Value dvAcc0 = g.filled({kvLen, valueDim}, 0.0f);
  SmallVector<Value> loopInits = {dqGroup0, dkAcc0, dvAcc0};
  for (Value operand : wrtOperands)
    loopInits.push_back(
        g.filled(tensor::getMixedSizes(b, b.getLoc(), operand), 0.0f));

  Arith a{b};
  auto loop = scf::ForOp::create(
      b, a.idx(0), group, a.idx(1), loopInits,
      [&](OpBuilder &lb, Location loc, Value gi, ValueRange iter) {
        ImplicitLocOpBuilder nb(loc, lb);
        GenericBuilder ng{nb};
        Value hi = arith::AddIOp::create(
            nb, arith::MulIOp::create(nb, kvh, group), gi);
        Value qs = headSlice(nb, q, bi, hi, sDim, hDim);
        Value os = headSlice(nb, o, bi, hi, sDim, hDim);
        Value dos = headSlice(nb, dO, bi, hi, sDim, hDim);

        // S[i, j] = sum_d Q[i, d] K[j, d] and dP[i, j] = sum_e dO[i, e]
        // V[j, e], in f32.
        auto rowDotRow = [&](Value x, Value y) {
          return ng.generic(
              ValueRange{x, y}, ng.filled({qLen, kvLen}, 0.0f),
              {ng.map(3, {0, 2}), ng.map(3, {1, 2}), ng.map(3, {0, 1})},
              {IT::parallel, IT::parallel, IT::reduction},
              [&](ImplicitLocOpBuilder &eb, ValueRange e) -> Value {
                Arith ea{eb};
                return ea.fadd(e[2], ea.fmul(ea.extF(e[0]), ea.extF(e[1])));
              });
        };
        Value scores = rowDotRow(qs, ks);
        Value dP = rowDotRow(dos, vs);

        // P[i, j] (0 where masked) and G[i, j] = w'(s')/Z * ds'/ds.
        SmallVector<Value> ins = {scores};
        SmallVector<AffineMap> maps = {ng.map(2, {0, 1})};
        if (rowSum) {
          Value lseRow = tensor::ExtractSliceOp::create(
              nb,
              RankedTensorType::get(
                  {cast<RankedTensorType>(lse.getType()).getDimSize(2)}, f32),
              lse, SmallVector<OpFoldResult>{bi, hi, zero},
              SmallVector<OpFoldResult>{one, one, qLen},
              SmallVector<OpFoldResult>(3, one));
          ins.push_back(lseRow);
          maps.push_back(ng.map(2, {0}));
        }
        // With operands to differentiate, also F[i, j] = w'(s')/Z alone.
        unsigned numOuts = wrtOperands.empty() ? 2 : 3;
        maps.append(numOuts, ng.map(2, {0, 1}));
        SmallVector<Value> outs;
        for (unsigned r = 0; r < numOuts; ++r)
          outs.push_back(ng.empty({qLen, kvLen}, f32));
        SmallVector<Value> pAndG = ng.generics(
            ins, outs, maps, {IT::parallel, IT::parallel},
            [&](ImplicitLocOpBuilder &eb, ValueRange e) -> SmallVector<Value> {
              Arith ea{eb};
              Value i = linalg::IndexOp::create(eb, 0);
              Value j = linalg::IndexOp::create(eb, 1);
              ScorePoint pt = emitter.makePoint(eb, bi, hi, i, j, kvLenB);
              auto [s, slope] =
                  emitter.emitScoreModsAndSlope(eb, ea.fmul(e[0], scale), pt);
              Value allowed = emitter.emitAllowed(eb, pt);
              // A masked score is -inf, as in the forward.
              s = ea.select(allowed, s, ea.f32(kNegInf));
              auto [p, factor] = emitGradWeightAndFactor(
                  eb, normalizer, s, rowSum ? e[1] : Value(), rowBias, kvLenB);
              SmallVector<Value> results = {p, ea.fmul(factor, slope)};
              if (numOuts == 3)
                results.push_back(factor);
              return results;
            });
        Value p = pAndG[0], g = pAndG[1];

        // D[i] = sum_e dO[i, e] O[i, e] = sum_j P[i, j] dP[i, j].
        Value rowDot;
        if (rowSum)
          rowDot = ng.generic(
              ValueRange{dos, os}, ng.filled({qLen}, 0.0f),
              {ng.map(2, {0, 1}), ng.map(2, {0, 1}), ng.map(2, {0})},
              {IT::parallel, IT::reduction},
              [&](ImplicitLocOpBuilder &eb, ValueRange e) -> Value {
                Arith ea{eb};
                return ea.fadd(e[2], ea.fmul(ea.extF(e[0]), ea.extF(e[1])));
              });

        // dS[i, j] = scale * G[i, j] * (dP[i, j] - D[i]) (or without D),
        // the gradient of the unscaled Q K^T.
        SmallVector<Value> dsIns = {g, dP};
        SmallVector<AffineMap> dsMaps(2, ng.map(2, {0, 1}));
        if (rowDot) {
          dsIns.push_back(rowDot);
          dsMaps.push_back(ng.map(2, {0}));
        }
        dsMaps.push_back(ng.map(2, {0, 1}));
        Value dS =
            ng.generic(dsIns, ng.empty({qLen, kvLen}, f32), dsMaps,
                       {IT::parallel, IT::parallel},
                       [&](ImplicitLocOpBuilder &eb, ValueRange e) -> Value {
                         Arith ea{eb};
                         Value dp = rowDot ? ea.fsub(e[1], e[2]) : e[1];
                         // 0 where G is 0 (a masked key), whatever a
                         // NaN or inf value made of dP.
                         return ea.select(ea.nonZero(e[0]),
                                          ea.fmul(ea.fmul(e[0], dp), scale),
                                          ea.f32(0.0));
                       });

        // dQ[i, d] = sum_j dS[i, j] K[j, d], into the group's dQ; here
        // and in dK, dV, zero weights add nothing (README, "Masked keys").
        Value dqF32 = ng.generic(
            ValueRange{dS, ks}, ng.filled({qLen, headDim}, 0.0f),
            {ng.map(3, {0, 2}), ng.map(3, {2, 1}), ng.map(3, {0, 1})},
            {IT::parallel, IT::parallel, IT::reduction},
            [&](ImplicitLocOpBuilder &eb, ValueRange e) -> Value {
              Arith ea{eb};
              return ea.addWeighted(e[2], e[0], ea.extF(e[1]));
            });
        Value dqOut =
            ng.rowwise(dqF32, Value(), ng.empty({qLen, headDim}, elemType),
                       [&](ImplicitLocOpBuilder &eb, ValueRange e) -> Value {
                         return Arith{eb}.truncF(e[0], elemType);
                       });
        SmallVector<OpFoldResult> qOffsets = {zero, gi, zero, zero};
        SmallVector<OpFoldResult> qSizes = {one, one, qLen, headDim};
        if (bshd) {
          std::swap(qOffsets[1], qOffsets[2]);
          std::swap(qSizes[1], qSizes[2]);
        }
        Value dqGroup =
            tensor::InsertSliceOp::create(nb, dqOut, iter[0], qOffsets, qSizes,
                                          SmallVector<OpFoldResult>(4, one));

        // dK[j, d] += sum_i dS[i, j] Q[i, d]; dV[j, e] += sum_i P[i, j]
        // dO[i, e].
        auto accumulateColDot = [&](Value x, Value y, Value acc) {
          return ng.generic(
              ValueRange{x, y}, acc,
              {ng.map(3, {2, 0}), ng.map(3, {2, 1}), ng.map(3, {0, 1})},
              {IT::parallel, IT::parallel, IT::reduction},
              [&](ImplicitLocOpBuilder &eb, ValueRange e) -> Value {
                Arith ea{eb};
                return ea.addWeighted(e[2], e[0], ea.extF(e[1]));
              });
        };
        Value dkAcc = accumulateColDot(dS, qs, iter[1]);
        Value dvAcc = accumulateColDot(p, dos, iter[2]);
        SmallVector<Value> yielded = {dqGroup, dkAcc, dvAcc};
        if (!wrtOperands.empty()) {
          // dS'[i, j] = F[i, j] * (dP[i, j] - D[i]) (or without D): the
          // gradient of the modified score s'.
          SmallVector<Value> ins = {pAndG[2], dP};
          SmallVector<AffineMap> maps(2, ng.map(2, {0, 1}));
          if (rowDot) {
            ins.push_back(rowDot);
            maps.push_back(ng.map(2, {0}));
          }
          maps.push_back(ng.map(2, {0, 1}));
          Value dSPrime = ng.generic(
              ins, ng.empty({qLen, kvLen}, f32), maps,
              {IT::parallel, IT::parallel},
              [&](ImplicitLocOpBuilder &eb, ValueRange e) -> Value {
                Arith ea{eb};
                // 0 where F is 0, as dS above.
                return ea.select(
                    ea.nonZero(e[0]),
                    ea.fmul(e[0], rowDot ? ea.fsub(e[1], e[2]) : e[1]),
                    ea.f32(0.0));
              });
          llvm::append_range(
              yielded, scatterOperandGrads(nb, emitter, wrtOperands, bi, hi,
                                           kvLenB, scale, scores, dSPrime,
                                           iter.drop_front(3)));
        }
        scf::YieldOp::create(nb, yielded);
      });

  auto toElem = [&](Value acc, OpFoldResult cols) {
    return g.rowwise(acc, Value(), g.empty({kvLen, cols}, elemType),
                     [&](ImplicitLocOpBuilder &eb, ValueRange e) -> Value {
                       return Arith{eb}.truncF(e[0], elemType);
                     });
  };
  Value dk = toElem(loop.getResult(1), headDim);
  Value dv = toElem(loop.getResult(2), valueDim);

  // Write the group's dQ and this head's dK, dV into the shared outputs.
  Value firstHead = arith::MulIOp::create(b, kvh, group);
  // The item's row of the operand gradients' per-item accumulators
  // (offsets and sizes made here: the terminator holds only the inserts).
  Value itemRow = arith::AddIOp::create(
      b,
      arith::MulIOp::create(
          b, bi, getValueOrCreateConstantIndexOp(b, b.getLoc(), kvHeads)),
      kvh);
  SmallVector<SmallVector<OpFoldResult>> operandSizes;
  for (Value operand : wrtOperands) {
    operandSizes.push_back({one});
    llvm::append_range(operandSizes.back(),
                       tensor::getMixedSizes(b, b.getLoc(), operand));
  }
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  SmallVector<OpFoldResult> strides(4, one);
  SmallVector<OpFoldResult> qOffsets = {bi, firstHead, zero, zero};
  if (bshd)
    std::swap(qOffsets[1], qOffsets[2]);
  tensor::ParallelInsertSliceOp::create(b, loop.getResult(0),
                                        forall.getRegionIterArgs()[0], qOffsets,
                                        groupSizes, strides);
  auto insertHead = [&](Value slice, Value dest, OpFoldResult cols) {
    SmallVector<OpFoldResult> offsets(4, zero), sizes(4, one);
    offsets[0] = bi;
    offsets[hDim] = kvh;
    sizes[sDim] = kvLen;
    sizes[3] = cols;
    tensor::ParallelInsertSliceOp::create(b, slice, dest, offsets, sizes,
                                          strides);
  };
  insertHead(dk, forall.getRegionIterArgs()[1], headDim);
  insertHead(dv, forall.getRegionIterArgs()[2], valueDim);
  // This item's operand gradients into row bi * Hkv + kvh of theirs.
  for (auto [k, acc] : llvm::enumerate(loop.getResults().drop_front(3))) {
    auto type = cast<RankedTensorType>(acc.getType());
    SmallVector<OpFoldResult> offsets(type.getRank() + 1, zero);
    offsets[0] = itemRow;
    tensor::ParallelInsertSliceOp::create(
        b, acc, forall.getRegionIterArgs()[3 + k], offsets, operandSizes[k],
        SmallVector<OpFoldResult>(type.getRank() + 1, one));
  }

  // The items' operand gradients summed in item order.
  b.setInsertionPointAfter(forall);
  SmallVector<Value> results(forall.getResults().take_front(3));
  unsigned nextOperand = 0;
  for (auto [grad, init] : llvm::zip_equal(paramGrads, op.getParamGradInits())) {
    if (!grad) {
      Value perItem = forall.getResult(3 + nextOperand++);
      unsigned rank = cast<RankedTensorType>(init.getType()).getRank();
      SmallVector<unsigned> inDims = {rank}, outDims;
      for (unsigned d = 0; d < rank; ++d) {
        inDims.push_back(d);
        outDims.push_back(d);
      }
      SmallVector<IT> iters(rank, IT::parallel);
      iters.push_back(IT::reduction);
      Value zeroF = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
      grad = g.generic(perItem,
                       linalg::FillOp::create(b, zeroF, init).getResult(0),
                       {g.map(rank + 1, inDims), g.map(rank + 1, outDims)},
                       iters,
                       [&](ImplicitLocOpBuilder &eb, ValueRange e) -> Value {
                         return Arith{eb}.fadd(e[1], e[0]);
                       });
    }
    results.push_back(grad);
  }
  rewriter.replaceOp(op, results);
  return success();
}
