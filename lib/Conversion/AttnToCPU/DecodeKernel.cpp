//===- DecodeKernel.cpp - The row kernel for decoding ---------------------===//
//
// Few query rows per (b, h) leave the lanes of the tile kernel idle, so
// decoding gets a kernel whose lanes run along the head dimension. The kv
// range of each row is split across threads (kv_splits, or enough to keep
// the threads busy), and the partial results are merged by their
// log-sum-exp.
//
//===----------------------------------------------------------------------===//

#include "CPUTiler.h"

#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

Value CPUTiler::emitRowCoordinates(WorkItem &it, Value row) {
  // row = (b * Hq + h) * Sq + i
  Value i = o.remU(row, qLen);
  Value bh = o.divU(row, qLen);
  it.bi = o.divU(bh, qHeads);
  it.hi = o.remU(bh, qHeads);
  it.kvh = o.divU(it.hi, group);
  it.kvLenB = emitter->emitKvLength(b, it.bi);
  it.kvEnd = o.max(o.min(it.kvLenB, kvLen), o.idx(0));
  return i;
}

void CPUTiler::emitRowKernel(int64_t qVecs, int64_t vVecs) {
  // Items are rows (b, h, i) times kv splits. Splits keep every thread busy
  // when rows are fewer than threads: each split covers an equal share of
  // the row's non-empty kv tiles and leaves (acc, m, l) for emitRowMerge.
  Value rows = o.mul(o.mul(batch, qHeads), qLen);
  Value splits;
  if (plan.kvSplits > 0) {
    splits = o.idx(plan.kvSplits);
  } else {
    // ceil(2 * threads / rows), and no split smaller than 4 kv tiles.
    Value want = o.ceilDiv(o.idx(2 * plan.threads), o.max(rows, o.idx(1)));
    Value cap = o.ceilDiv(kvLen, o.idx(4 * plan.blockKv));
    splits = o.max(o.min(want, cap), o.idx(1));
  }
  Value items = o.mul(rows, splits);
  IntegerAttr align = b.getI64IntegerAttr(64);
  int64_t dyn = ShapedType::kDynamic;
  Value accP = memref::AllocOp::create(b, MemRefType::get({dyn, dyn}, f32),
                                       ValueRange{items, valueDim}, align);
  Value mP = memref::AllocOp::create(b, MemRefType::get({dyn}, f32),
                                     ValueRange{items}, align);
  Value lP = memref::AllocOp::create(b, MemRefType::get({dyn}, f32),
                                     ValueRange{items}, align);
  emitParallel(items, [&](Value item) {
    emitRowItem(item, splits, qVecs, vVecs, accP, mP, lP);
  });
  emitParallel(
      rows, [&](Value row) { emitRowMerge(row, splits, vVecs, accP, mP, lP); });
}

void CPUTiler::emitRowItem(Value item, Value splits, int64_t qVecs,
                           int64_t vVecs, Value accP, Value mP, Value lP) {
  WorkItem it;
  Value zero = o.idx(0), one = o.idx(1);
  Value row = o.divU(item, splits), split = o.remU(item, splits);
  Value i = emitRowCoordinates(it, row);
  it.i0 = i;
  it.nq = one;
  it.rowLo = it.rowHi = it.rowSeg = Value();
  emitItemSetup(it);

  // Scores of one kv tile: st is [keys x 1] for the shared mask code, and
  // its 1-D view `sr` serves the vector passes over keys.
  int64_t keys =
      llvm::divideCeil(plan.blockKv, plan.vectorWidth) * plan.vectorWidth;
  it.st = memref::AllocaOp::create(b, MemRefType::get({keys, 1}, f32),
                                   b.getI64IntegerAttr(64));
  Value sr = memref::CollapseShapeOp::create(
      b, it.st, ArrayRef<ReassociationIndices>{{0, 1}});

  unsigned numRanges = std::max<unsigned>(classes.bound.size(), 1);
  auto rangeType = MemRefType::get({numRanges}, b.getIndexType());
  Value rangeLo = memref::AllocaOp::create(b, rangeType);
  Value rangeHi = memref::AllocaOp::create(b, rangeType);
  Value count = emitTileRanges(it, rangeLo, rangeHi);
  auto totalLoop = scf::ForOp::create(
      b, zero, count, one, ValueRange{zero},
      [&](OpBuilder &nb, Location loc, Value k, ValueRange acc) {
        ImplicitLocOpBuilder ib(loc, nb);
        Value lo = memref::LoadOp::create(ib, rangeLo, ValueRange{k});
        Value hiT = memref::LoadOp::create(ib, rangeHi, ValueRange{k});
        Arith io{ib};
        scf::YieldOp::create(ib, io.add(acc[0], io.sub(hiT, lo)));
      });
  Value total = totalLoop.getResult(0);
  // This split's tiles, by ordinal among the row's non-empty tiles.
  Value begin = o.divU(o.mul(split, total), splits);
  Value end = o.divU(o.mul(o.add(split, one), total), splits);

  // The query row, scaled, in registers.
  // Vector `c` of a row whose leading indices are `row`.
  auto rowVec = [&](Value buf, ArrayRef<Value> row, int64_t c) {
    Type elem = cast<MemRefType>(buf.getType()).getElementType();
    SmallVector<Value, 4> idx(row);
    idx.push_back(o.idx(c * plan.vectorWidth));
    Value v = vector::LoadOp::create(
        b, VectorType::get({plan.vectorWidth}, elem), buf, idx);
    return elem.isF32() ? v : Value(arith::ExtFOp::create(b, vecType, v));
  };
  SmallVector<Value> qv;
  Value scaleV = o.splat(vecType, scale);
  SmallVector<Value> qRow = indices4(it.bi, it.hi, i, zero);
  qRow.pop_back();
  for (int64_t c = 0; c < qVecs; ++c)
    qv.push_back(o.fmul(rowVec(qB, qRow, c), scaleV));

  int64_t keyVecs = keys / plan.vectorWidth;
  Value zeroVec = o.cst(vecType, 0.0);
  auto tileBody = [&](Value t, ValueRange state,
                      Value dataFull) -> SmallVector<Value> {
    Value m = state[0], l = state[1];
    ValueRange acc = state.drop_front(2);
    Value j0 = o.mul(t, o.idx(plan.blockKv));
    Value nkv = o.min(o.idx(plan.blockKv), o.sub(it.kvEnd, j0));
    Value isFull = emitIsFull(it, j0);
    if (dataFull)
      isFull = o.land(isFull, dataFull);
    // sr[jj] = sum_d q[d] K[j0 + jj, d]: lanes along d, one reduction per
    // key.
    emitFor(zero, nkv, one, ValueRange{}, [&](Value jj, ValueRange) {
      SmallVector<Value, 4> kRow = kvRowIndices(it, o.add(j0, jj));
      Value dot = zeroVec;
      for (int64_t c = 0; c < qVecs; ++c)
        dot = vector::FMAOp::create(b, qv[c], rowVec(kB, kRow, c), dot);
      Value sc =
          vector::ReductionOp::create(b, vector::CombiningKind::ADD, dot);
      memref::StoreOp::create(b, sc, sr, ValueRange{jj});
      scf::YieldOp::create(b);
    });
    emitMaskAndMods(it, j0, nkv, isFull);
    // Keys past the tile weigh nothing in the vector passes below.
    Value negInf = o.f32(kNegInf);
    scf::ForOp::create(b, nkv, o.idx(keys), one, ValueRange{},
                       [&](OpBuilder &nb, Location loc, Value jj, ValueRange) {
                         memref::StoreOp::create(nb, loc, negInf, sr,
                                                 ValueRange{jj});
                         scf::YieldOp::create(nb, loc);
                       });
    auto loadKeys = [&](int64_t v) -> Value {
      return vector::LoadOp::create(b, vecType, sr,
                                    ValueRange{o.idx(v * plan.vectorWidth)});
    };
    Value alpha, safe;
    Value mNew = m;
    if (shifted) {
      Value mx = loadKeys(0);
      for (int64_t v = 1; v < keyVecs; ++v)
        mx = o.fmax(mx, loadKeys(v));
      mNew = o.fmax(m, vector::ReductionOp::create(
                           b, vector::CombiningKind::MAXIMUMF, mx));
      mNew = normalizer->capShift(o, mNew);
      safe = o.select(o.isNegInf(mNew), o.f32(0.0), mNew);
      alpha = o.exp(o.fsub(m, safe));
    }
    Value sum = zeroVec;
    for (int64_t v = 0; v < keyVecs; ++v) {
      Value w = weight(loadKeys(v), safe ? o.splat(vecType, safe) : Value());
      vector::StoreOp::create(b, w, sr,
                              ValueRange{o.idx(v * plan.vectorWidth)});
      sum = o.fadd(sum, w);
    }
    Value lNew = l;
    if (denom == Denom::RowSum) {
      Value part =
          vector::ReductionOp::create(b, vector::CombiningKind::ADD, sum);
      lNew = shifted ? o.fadd(o.fmul(l, alpha), part) : o.fadd(l, part);
    }
    // acc = alpha * acc + sum_jj w[jj] V[j0 + jj, :]
    SmallVector<Value> accInit;
    for (int64_t c = 0; c < vVecs; ++c)
      accInit.push_back(alpha ? o.fmul(acc[c], o.splat(vecType, alpha))
                              : acc[c]);
    auto pv = emitFor(zero, nkv, one, accInit, [&](Value jj, ValueRange a) {
      Value w = o.splat(vecType, memref::LoadOp::create(b, sr, ValueRange{jj}));
      SmallVector<Value, 4> vRow = kvRowIndices(it, o.add(j0, jj));
      SmallVector<Value> next;
      for (int64_t c = 0; c < vVecs; ++c)
        next.push_back(vector::FMAOp::create(b, w, rowVec(vB, vRow, c), a[c]));
      scf::YieldOp::create(b, next);
    });
    SmallVector<Value> next = {mNew, lNew};
    llvm::append_range(next, pv.getResults());
    return next;
  };

  SmallVector<Value> init = {zero, o.f32(kNegInf), o.f32(0.0)};
  init.append(vVecs, zeroVec);
  auto outer = emitFor(zero, count, one, init, [&](Value k, ValueRange state) {
    Value lo = memref::LoadOp::create(b, rangeLo, ValueRange{k});
    Value hiT = memref::LoadOp::create(b, rangeHi, ValueRange{k});
    Value len = o.sub(hiT, lo), off = state[0];
    auto clampTo = [&](Value x) {
      return o.max(o.min(o.sub(x, off), len), zero);
    };
    auto inner = scf::ForOp::create(
        b, o.add(lo, clampTo(begin)), o.add(lo, clampTo(end)), one,
        state.drop_front(),
        [&](OpBuilder &nb2, Location loc2, Value t, ValueRange st2) {
          OpBuilder::InsertionGuard g2(b);
          b.setInsertionPoint(nb2.getInsertionBlock(), nb2.getInsertionPoint());
          scf::YieldOp::create(b,
                               emitRuntimeSkip(it, t, st2, [&](Value dataFull) {
                                 return tileBody(t, st2, dataFull);
                               }));
        });
    SmallVector<Value> next = {o.add(off, len)};
    llvm::append_range(next, inner.getResults());
    scf::YieldOp::create(b, next);
  });
  ValueRange state = outer.getResults().drop_front();
  memref::StoreOp::create(b, state[0], mP, ValueRange{item});
  memref::StoreOp::create(b, state[1], lP, ValueRange{item});
  for (int64_t c = 0; c < vVecs; ++c)
    vector::StoreOp::create(b, state[2 + c], accP,
                            ValueRange{item, o.idx(c * plan.vectorWidth)});
}

void CPUTiler::emitRowMerge(Value row, Value splits, int64_t vVecs, Value accP,
                            Value mP, Value lP) {
  WorkItem it;
  // m = max_s m_s; with f_s = exp(m_s - m): l = sum_s f_s l_s,
  // acc = sum_s f_s acc_s (f_s = 1 for the unshifted normalizers).
  Value zero = o.idx(0), one = o.idx(1);
  Value i = emitRowCoordinates(it, row);
  Value base = o.mul(row, splits);
  Value m = o.f32(kNegInf), safe;
  if (shifted) {
    auto maxLoop = scf::ForOp::create(
        b, zero, splits, one, ValueRange{m},
        [&](OpBuilder &nb, Location loc, Value sIdx, ValueRange acc) {
          ImplicitLocOpBuilder ib(loc, nb);
          Value ms = memref::LoadOp::create(
              ib, mP, ValueRange{Arith{ib}.add(base, sIdx)});
          scf::YieldOp::create(ib, Arith{ib}.fmax(acc[0], ms));
        });
    m = maxLoop.getResult(0);
    safe = o.select(o.isNegInf(m), o.f32(0.0), m);
  }
  SmallVector<Value> init = {o.f32(0.0)};
  init.append(vVecs, o.cst(vecType, 0.0));
  auto sumLoop =
      emitFor(zero, splits, one, init, [&](Value sIdx, ValueRange acc) {
        Value item = o.add(base, sIdx);
        Value f =
            shifted
                ? o.exp(o.fsub(memref::LoadOp::create(b, mP, ValueRange{item}),
                               safe))
                : o.f32(1.0);
        SmallVector<Value> next = {
            o.fadd(acc[0],
                   o.fmul(f, memref::LoadOp::create(b, lP, ValueRange{item})))};
        Value fv = o.splat(vecType, f);
        for (int64_t c = 0; c < vVecs; ++c) {
          Value part = vector::LoadOp::create(
              b, vecType, accP, ValueRange{item, o.idx(c * plan.vectorWidth)});
          next.push_back(vector::FMAOp::create(b, fv, part, acc[1 + c]));
        }
        scf::YieldOp::create(b, next);
      });
  auto [inv, lse] = finalize(it, m, sumLoop.getResult(0));
  Value invV = o.splat(vecType, inv);
  Type elem = cast<MemRefType>(oB.getType()).getElementType();
  for (int64_t c = 0; c < vVecs; ++c) {
    Value out = o.fmul(sumLoop.getResult(1 + c), invV);
    if (!elem.isF32())
      out = arith::TruncFOp::create(
          b, VectorType::get({plan.vectorWidth}, elem), out);
    vector::StoreOp::create(
        b, out, oB, indices4(it.bi, it.hi, i, o.idx(c * plan.vectorWidth)));
  }
  if (lseB)
    memref::StoreOp::create(b, lse, lseB, ValueRange{it.bi, it.hi, i});
}
