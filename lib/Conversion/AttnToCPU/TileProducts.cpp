//===- TileProducts.cpp - Q K^T and P V micro-kernels ---------------------===//
//
// The register-blocked vector products of a tile: rank-one updates with
// the query rows in the lanes (f32 FMAs, or AVX512-BF16 pair dot products
// for Q K^T), and the packing of f16/bf16 K and V tiles to f32.
//
//===----------------------------------------------------------------------===//

#include "CPUTiler.h"

#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

#include "mlir/Dialect/X86Vector/X86VectorDialect.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

Value CPUTiler::loadLanes(Value tile, Value row, int64_t v) {
  return vector::LoadOp::create(b, vecType, tile,
                                ValueRange{row, o.idx(v * plan.vectorWidth)});
}

void CPUTiler::storeLanes(Value val, Value tile, Value row, int64_t v) {
  vector::StoreOp::create(b, val, tile,
                          ValueRange{row, o.idx(v * plan.vectorWidth)});
}

void mlir::attn::cpu::emitRankOneUpdates(
    ImplicitLocOpBuilder &b, VectorType vecType, int64_t rows, int64_t vecs,
    Value lb, Value ub, function_ref<Value(int64_t r, int64_t v)> init,
    function_ref<Value(int64_t r, Value k)> a,
    function_ref<Value(Value k, int64_t v)> bvec,
    function_ref<void(int64_t r, int64_t v, Value acc)> store,
    ZeroSkip skip) {
  Arith o{b};
  SmallVector<Value> accs;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t v = 0; v < vecs; ++v)
      accs.push_back(init(r, v));
  auto loop = scf::ForOp::create(
      b, lb, ub, arith::ConstantIndexOp::create(b, 1), accs,
      [&](OpBuilder &nb, Location, Value k, ValueRange acc) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        SmallVector<Value> bv, live;
        for (int64_t v = 0; v < vecs; ++v) {
          bv.push_back(bvec(k, v));
          if (skip == ZeroSkip::BLanes)
            live.push_back(o.nonZero(bv[v]));
        }
        SmallVector<Value> next;
        for (int64_t r = 0; r < rows; ++r) {
          Value as = a(r, k);
          Value ar = vector::BroadcastOp::create(b, vecType, as);
          // The compare of the broadcast vector, not of the scalar: a
          // scalar i1 select of vectors becomes a branch an FMA, a vector
          // one a masked FMA.
          Value liveA = skip == ZeroSkip::AScalar ? o.nonZero(ar) : Value();
          for (int64_t v = 0; v < vecs; ++v) {
            Value sum = vector::FMAOp::create(b, ar, bv[v], acc[r * vecs + v]);
            if (Value cond = liveA ? liveA : (live.empty() ? Value() : live[v]))
              sum = o.select(cond, sum, acc[r * vecs + v]);
            next.push_back(sum);
          }
        }
        scf::YieldOp::create(b, next);
      });
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t v = 0; v < vecs; ++v)
      store(r, v, loop.getResult(r * vecs + v));
}

void CPUTiler::emitRankOneUpdates(
    int64_t rows, Value lb, Value ub,
    function_ref<Value(int64_t r, int64_t v)> init,
    function_ref<Value(int64_t r, Value k)> a,
    function_ref<Value(Value k, int64_t v)> bvec,
    function_ref<void(int64_t r, int64_t v, Value acc)> store,
    ZeroSkip skip) {
  cpu::emitRankOneUpdates(b, vecType, rows, plan.vecs(), lb, ub, init, a, bvec,
                          store, skip);
}

void CPUTiler::emitKeyBlocks(
    Value j0, Value nkv,
    function_ref<void(Value jb, ArrayRef<Value> keys)> body) {
  // Blocks of R keys up to ceil(nkv / R) * R; rows past nkv read the last
  // key and are never used.
  int64_t rows = plan.unroll;
  Value last = o.add(j0, o.sub(nkv, o.idx(1)));
  Value end = o.mul(o.ceilDiv(nkv, o.idx(rows)), o.idx(rows));
  emitFor(o.idx(0), end, o.idx(rows), ValueRange{}, [&](Value jb, ValueRange) {
    SmallVector<Value> keys;
    for (int64_t r = 0; r < rows; ++r)
      keys.push_back(o.min(o.add(o.add(j0, jb), o.idx(r)), last));
    body(jb, keys);
    scf::YieldOp::create(b);
  });
}

void CPUTiler::emitScores(WorkItem &it, Value j0, Value nkv) {
  if (plan.dot == CPUDot::Amx)
    return emitScoresAmx(it, j0, nkv);
  if (plan.dot == CPUDot::Bf16)
    return emitScoresBf16(it, j0, nkv);
  if (plan.dot == CPUDot::AmxInt8)
    return emitScoresAmxInt8(it, j0, nkv);
  emitScoresFma(it, j0, nkv);
}

void CPUTiler::emitScoresFma(WorkItem &it, Value j0, Value nkv) {
  // ST[jj][:] = sum_d K[j0 + jj, d] * QT[d][:] for jj < ceil(nkv / R) * R;
  // rows past nkv read the last key and are never used.
  int64_t rows = plan.unroll;
  Value zeroVec = o.cst(vecType, 0.0);
  emitKeyBlocks(j0, nkv, [&](Value jb, ArrayRef<Value> keys) {
    emitRankOneUpdates(
        rows, o.idx(0), headDim, [&](int64_t, int64_t) { return zeroVec; },
        [&](int64_t r, Value d) -> Value {
          if (it.kt)
            return memref::LoadOp::create(b, it.kt,
                                          ValueRange{o.sub(keys[r], j0), d});
          return load4(kB, it.bi, it.kvh, keys[r], d);
        },
        [&](Value d, int64_t v) -> Value { return loadLanes(it.qt, d, v); },
        [&](int64_t r, int64_t v, Value acc) {
          storeLanes(acc, it.st, o.add(jb, o.idx(r)), v);
        });
  });
}

void CPUTiler::emitPackTile(WorkItem &it, Value dst, Value src, Value j0,
                            Value nkv, Value dim, int64_t staticDim) {
  if (quant)
    return emitDequantTile(it, dst, src == vB, j0, nkv, dim, staticDim);
  // Whole vectors when the head dim is a static multiple of the lanes,
  // else element by element.
  int64_t lanes = plan.vectorWidth;
  bool vectors = !ShapedType::isDynamic(staticDim) && staticDim % lanes == 0;
  Type elem = cast<MemRefType>(src.getType()).getElementType();
  emitFor(o.idx(0), nkv, o.idx(1), ValueRange{}, [&](Value jj, ValueRange) {
    SmallVector<Value, 4> row = kvRowIndices(it, o.add(j0, jj));
    auto at = [&](Value d) {
      SmallVector<Value, 4> idx(row);
      idx.push_back(d);
      return idx;
    };
    scf::ForOp::create(
        b, o.idx(0), dim, o.idx(vectors ? lanes : 1), ValueRange{},
        [&](OpBuilder &nb2, Location loc2, Value d, ValueRange) {
          OpBuilder::InsertionGuard g2(b);
          b.setInsertionPoint(nb2.getInsertionBlock(), nb2.getInsertionPoint());
          if (vectors) {
            Value x = vector::LoadOp::create(b, VectorType::get({lanes}, elem),
                                             src, at(d));
            if (!elem.isF32())
              x = arith::ExtFOp::create(b, vecType, x);
            vector::StoreOp::create(b, x, dst, ValueRange{jj, d});
          } else {
            memref::StoreOp::create(
                b, o.extF(memref::LoadOp::create(b, src, at(d))), dst,
                ValueRange{jj, d});
          }
          scf::YieldOp::create(b);
        });
    scf::YieldOp::create(b);
  });
}

void CPUTiler::emitScoresBf16(WorkItem &it, Value j0, Value nkv) {
  // As emitScores, with one dot instruction per pair of head-dim elements:
  // lane c of acc += K[j, 2p] Q[c, 2p] + K[j, 2p + 1] Q[c, 2p + 1], the K
  // pair broadcast as one 32-bit word. Products of bf16 are exact in f32;
  // the scale is applied to the f32 result.
  int64_t rows = plan.unroll, vecs = plan.vecs(), lanes = plan.vectorWidth;
  Value zeroVec = o.cst(vecType, 0.0);
  Value scaleVec = o.splat(vecType, scale);
  Value pairs = memref::DimOp::create(b, it.qt2, 0);
  auto pairType = VectorType::get({2}, b.getBF16Type());
  auto wordType = VectorType::get({1}, b.getI32Type());
  auto wordsType = VectorType::get({lanes}, b.getI32Type());
  auto qType = VectorType::get({2 * lanes}, b.getBF16Type());
  emitKeyBlocks(j0, nkv, [&](Value jb, ArrayRef<Value> keys) {
    SmallVector<Value> init(rows * vecs, zeroVec);
    auto loop =
        emitFor(o.idx(0), pairs, o.idx(1), init, [&](Value p, ValueRange acc) {
          SmallVector<Value> qv;
          for (int64_t v = 0; v < vecs; ++v)
            qv.push_back(vector::LoadOp::create(
                b, qType, it.qt2, ValueRange{p, o.idx(v * 2 * lanes)}));
          Value d = o.mul(p, o.idx(2));
          SmallVector<Value> next;
          for (int64_t r = 0; r < rows; ++r) {
            Value pair = vector::LoadOp::create(
                b, pairType, kB, indices4(it.bi, it.kvh, keys[r], d));
            Value word = vector::BitCastOp::create(b, wordType, pair);
            Value words = vector::BroadcastOp::create(b, wordsType, word);
            Value kv = vector::BitCastOp::create(b, qType, words);
            for (int64_t v = 0; v < vecs; ++v)
              next.push_back(x86vector::DotBF16Op::create(b, acc[r * vecs + v],
                                                          kv, qv[v]));
          }
          scf::YieldOp::create(b, next);
        });
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t v = 0; v < vecs; ++v)
        storeLanes(o.fmul(loop.getResult(r * vecs + v), scaleVec), it.st,
                   o.add(jb, o.idx(r)), v);
  });
}

void CPUTiler::emitValues(WorkItem &it, Value j0, Value nkv,
                          ArrayRef<Value> alpha, Value isFull) {
  if (amxValues())
    return emitValuesAmx(it, j0, nkv, alpha);
  // Score modifiers may give -inf, and relu weighs negative scores 0, on
  // any tile.
  if (hasMods || norm == Norm::Relu)
    return emitValueProduct(it, j0, nkv, alpha, /*skip=*/true);
  auto ifOp = scf::IfOp::create(b, TypeRange{}, isFull,
                                /*withElseRegion=*/true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  emitValueProduct(it, j0, nkv, alpha, /*skip=*/false);
  b.setInsertionPointToStart(ifOp.elseBlock());
  emitValueProduct(it, j0, nkv, alpha, /*skip=*/true);
}

void CPUTiler::emitValueProduct(WorkItem &it, Value j0, Value nkv,
                                ArrayRef<Value> alpha, bool skip) {
  // OT[e][:] = alpha * OT[e][:] + sum_jj V[j0 + jj, e] * ST[jj][:], in
  // register blocks of `valueRows` rows of e, then single rows.
  auto block = [&](int64_t rows, Value e0) {
    emitRankOneUpdates(
        rows, o.idx(0), nkv,
        [&](int64_t r, int64_t v) -> Value {
          Value acc = loadLanes(it.ot, o.add(e0, o.idx(r)), v);
          return alpha.empty() ? acc : o.fmul(acc, alpha[v]);
        },
        [&](int64_t r, Value jj) -> Value {
          if (it.vt)
            return memref::LoadOp::create(b, it.vt,
                                          ValueRange{jj, o.add(e0, o.idx(r))});
          return load4(vB, it.bi, it.kvh, o.add(j0, jj), o.add(e0, o.idx(r)));
        },
        [&](Value jj, int64_t v) -> Value { return loadLanes(it.st, jj, v); },
        [&](int64_t r, int64_t v, Value acc) {
          storeLanes(acc, it.ot, o.add(e0, o.idx(r)), v);
        },
        skip ? ZeroSkip::BLanes : ZeroSkip::None);
  };
  auto blockLoop = [&](Value lb, Value ub, int64_t rows) {
    scf::ForOp::create(b, lb, ub, o.idx(rows), ValueRange{},
                       [&](OpBuilder &nb, Location loc, Value e0, ValueRange) {
                         OpBuilder::InsertionGuard g(b);
                         b.setInsertionPoint(nb.getInsertionBlock(),
                                             nb.getInsertionPoint());
                         block(rows, e0);
                         scf::YieldOp::create(b);
                       });
  };
  int64_t rows = plan.unroll;
  Value blocked = o.mul(o.floorDiv(valueDim, o.idx(rows)), o.idx(rows));
  blockLoop(o.idx(0), blocked, rows);
  // The rest of a static value dim as one block (Dv = 64: 10 blocks of 6
  // rows, then one of 4 rather than 4 single rows, which load as many
  // vectors as they multiply).
  int64_t dv = cast<ShapedType>(op.getValue().getType()).getDimSize(3);
  int64_t rest =
      ShapedType::isDynamic(dv) ? 1 : std::max<int64_t>(dv % rows, 1);
  blockLoop(blocked, valueDim, rest);
}
