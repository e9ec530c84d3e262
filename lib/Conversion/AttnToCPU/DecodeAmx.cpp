//===- DecodeAmx.cpp - The row kernel's products on AMX tiles -------------===//
//
// Decoding from a bf16 cache on an AMX host (plan.rowAmx): the
// scores of a span of keys for all of a work item's query heads (a GQA
// group) come from TDPBF16PS tile products instead of f32 FMAs along the
// head dimension and a lane-sum tree per head:
//
//   ST^T[jj][c] = sum_d K[j0 + jj, d] Q[h0 + c, d]
//
// A = 16 K rows of 32 head-dim elements, read from the cache as they lie
// (row stride D, or Hkv D for BSHD; a span whose 16-key blocks reach past
// K's rows reads a copy, emitKeyTileProducts; a paged cache's span is
// always copied, through the page table), B = the heads' query rows
// in pairs of head-dim elements (QP, once per item: the heads are B's 16
// columns, padded with zeros; groups of more than 16 heads take several
// column blocks), C = 16 keys x 16 heads in f32. C goes through a 16 x 16
// f32 scratch and one 16 x 16 transpose into one row of 16 keys per head,
// which the head's pass (masks, modifiers, weights) reads as the scores
// the FMA product would have left. Products of bf16 are exact in f32, so
// only the order of the sums differs from the FMA path; the scale
// multiplies the f32 scores.
//
// P V, after every head's weights of the span (emitRowValuesAmx): C = the
// heads' accumulators (a row a head, 16 channels), A = the weights in
// bf16 (PA, a row a head), B = V's rows in pairs of keys (VP). A span
// whose values hold a NaN or inf takes the masked f32 product instead.
//
// For a group of 4 heads at D = 128 that is 4 tile products per 16 keys
// for Q K^T where the FMA path spends 512 FMAs, 8 K-row widenings and 4
// lane-sum trees, and neither K nor V is widened into an f32 tile.
//
//===----------------------------------------------------------------------===//

#include "CPUTiler.h"

#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

#include "mlir/Dialect/AMX/AMXDialect.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

/// Rows of an AMX tile and bf16 elements in a row of an A or B tile.
static constexpr int64_t kRows = 16;
static constexpr int64_t kPairK = 32;

Value CPUTiler::emitRowQueryPairsAmx(WorkItem &it, Value i, Value h0,
                                     Value heads, Value blocks) {
  // QP[cb D / 2 + p][2 c + t] = Q[b, h0 + 16 cb + c, i, 2 p + t] for the
  // item's heads, 0 for the padding columns of the last block.
  int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  Type bf16 = b.getBF16Type();
  Value zero = o.idx(0), one = o.idx(1);
  Value qp = memref::AllocaOp::create(
      b, MemRefType::get({ShapedType::kDynamic, 2 * kRows}, bf16),
      ValueRange{o.mul(blocks, o.idx(d / 2))}, b.getI64IntegerAttr(64));
  auto rowType = VectorType::get({2 * kRows}, bf16);
  Value zeros = arith::ConstantOp::create(
      b, rowType, cast<TypedAttr>(b.getZeroAttr(rowType)));
  emitFor(zero, o.mul(blocks, o.idx(d / 2)), one, ValueRange{},
          [&](Value r, ValueRange) {
            vector::StoreOp::create(b, zeros, qp, ValueRange{r, zero});
            scf::YieldOp::create(b);
          });
  emitFor(zero, heads, one, ValueRange{}, [&](Value g, ValueRange) {
    Value block = o.divU(g, o.idx(kRows)), c = o.remU(g, o.idx(kRows));
    Value base = o.mul(block, o.idx(d / 2));
    Value col = o.mul(c, o.idx(2));
    emitFor(zero, o.idx(d), one, ValueRange{}, [&](Value e, ValueRange) {
      Value x =
          memref::LoadOp::create(b, qB, indices4(it.bi, o.add(h0, g), i, e));
      memref::StoreOp::create(b, x, qp,
                              ValueRange{o.add(base, o.divU(e, o.idx(2))),
                                         o.add(col, o.remU(e, o.idx(2)))});
      scf::YieldOp::create(b);
    });
    scf::YieldOp::create(b);
  });
  return qp;
}

void CPUTiler::emitRowScoresAmx(WorkItem &it, Value qp, Value blocks,
                                Value scores, Value staging, Value j0,
                                Value nkv) {
  // scores[16 cb + c][jj] = ST^T[jj][c] of column block cb, for jj below
  // nkv rounded up to 16 (rows past nkv are never read as scores).
  int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  Type bf16 = b.getBF16Type(), f32 = b.getF32Type();
  auto aType = amx::TileType::get({kRows, kPairK}, bf16);
  auto cType = amx::TileType::get({kRows, kRows}, f32);
  Value zero = o.idx(0), one = o.idx(1);
  Value rowsEnd = o.mul(o.ceilDiv(nkv, o.idx(kRows)), o.idx(kRows));
  Value cs = memref::AllocaOp::create(b, MemRefType::get({kRows, kRows}, f32),
                                      b.getI64IntegerAttr(64));
  auto product = [&](Value base, Value stride,
                     function_ref<SmallVector<Value>(Value, int64_t)> rowAt) {
    emitFor(
        zero, rowsEnd, o.idx(kRows), ValueRange{}, [&](Value jb, ValueRange) {
          emitFor(zero, blocks, one, ValueRange{}, [&](Value cb, ValueRange) {
            Value acc = amx::TileZeroOp::create(b, cType);
            for (int64_t s = 0; s < d / kPairK; ++s) {
              Value a = amx::TileLoadOp::create(b, aType, base,
                                                rowAt(jb, s * kPairK), stride);
              Value q = amx::TileLoadOp::create(
                  b, aType, qp,
                  ValueRange{
                      o.add(o.mul(cb, o.idx(d / 2)), o.idx(s * kPairK / 2)),
                      zero},
                  Value());
              acc = amx::TileMulFOp::create(b, cType, a, q, acc);
            }
            amx::TileStoreOp::create(b, cs, ValueRange{zero, zero}, acc,
                                     Value());
            SmallVector<Value> keys;
            for (int64_t r = 0; r < kRows; ++r)
              keys.push_back(vector::LoadOp::create(
                  b, vecType, cs, ValueRange{o.idx(r), zero}));
            SmallVector<Value> perHead = transpose16x16(b, keys);
            Value row0 = o.mul(cb, o.idx(kRows));
            for (int64_t c = 0; c < kRows; ++c)
              vector::StoreOp::create(b, perHead[c], scores,
                                      ValueRange{o.add(row0, o.idx(c)), jb});
            scf::YieldOp::create(b);
          });
          scf::YieldOp::create(b);
        });
  };
  auto rowType = VectorType::get({kPairK}, bf16);
  if (!paged)
    return emitKeyTileProducts(it, j0, nkv, rowsEnd, d, staging, rowType,
                               product);
  // A paged span's K rows, through the page table, into the copy (rows
  // past nkv only feed scores that are never read).
  emitFor(zero, nkv, one, ValueRange{}, [&](Value jj, ValueRange) {
    SmallVector<Value, 4> row = kvRowIndices(it, o.add(j0, jj));
    for (int64_t d0 = 0; d0 < d; d0 += kPairK) {
      SmallVector<Value, 4> idx(row);
      idx.push_back(o.idx(d0));
      vector::StoreOp::create(b, vector::LoadOp::create(b, rowType, kB, idx),
                              staging, ValueRange{jj, o.idx(d0)});
    }
    scf::YieldOp::create(b);
  });
  product(staging, Value(), [&](Value jj, int64_t d0) {
    return SmallVector<Value>{jj, o.idx(d0)};
  });
}

void CPUTiler::emitRowValuesAmx(Value pa, Value vp, Value acc, Value blocks) {
  // acc[16 cb + c][16 n + e] += sum_p PA[16 cb + c][2p + t] VP[p][32 n +
  // 2e + t] over all of VP's pairs, 16 pairs (32 keys) a product. (The
  // products are unrolled: a tile carried by a loop has no lowering.)
  int64_t dv = cast<MemRefType>(vp.getType()).getDimSize(1) / 2;
  int64_t pairs = cast<MemRefType>(vp.getType()).getDimSize(0);
  Type bf16 = b.getBF16Type(), f32 = b.getF32Type();
  auto aType = amx::TileType::get({kRows, kPairK}, bf16);
  auto cType = amx::TileType::get({kRows, kRows}, f32);
  Value zero = o.idx(0), one = o.idx(1);
  emitFor(zero, blocks, one, ValueRange{}, [&](Value cb, ValueRange) {
    Value row0 = o.mul(cb, o.idx(kRows));
    for (int64_t n = 0; n < dv / kRows; ++n) {
      Value col = o.idx(n * kRows);
      Value c = amx::TileLoadOp::create(b, cType, acc, ValueRange{row0, col},
                                        Value());
      for (int64_t p = 0; p < pairs; p += kRows) {
        Value a = amx::TileLoadOp::create(
            b, aType, pa, ValueRange{row0, o.idx(2 * p)}, Value());
        Value v = amx::TileLoadOp::create(
            b, aType, vp, ValueRange{o.idx(p), o.idx(2 * n * kRows)}, Value());
        c = amx::TileMulFOp::create(b, cType, a, v, c);
      }
      amx::TileStoreOp::create(b, acc, ValueRange{row0, col}, c, Value());
    }
    scf::YieldOp::create(b);
  });
}
