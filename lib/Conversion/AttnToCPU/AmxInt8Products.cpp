//===- AmxInt8Products.cpp - Q K^T of int8 codes on AMX -------------------===//
//
// The opt-in dot = "amx_int8" for int8 quantized caches (#attn.quant, bits
// = 8): Q K^T from the key codes by AMX int8 tile products, TDPBUSD,
// C[16 x 16 i32] += A[16 x 64 u8] B, where B holds 16 rows of 16 dwords of
// 4 bytes (B[k / 4][4n + k % 4] is element (k, n) of the 64 x 16 right-hand
// matrix). KIVI keys are K[t, d] = s[g, d] code[t, d] + z[g, d] with g = t
// / group, so for a query row q (QT, already times the score scale):
//
//   q . K[t] = sum_d (q_d s[g, d]) code[t, d] + sum_d q_d z[g, d]
//
// Per key group the first factor u = q * s[g] is quantised per row: step
// r = max|u| / 127, iq = round_half_even(u * (127 / max|u|)) (int8, |iq|
// <= 127), and the score is r * (iq . (code[t] - 128)) + q . (z[g] + 128
// s[g]) (the centred codes halve the error the rounding of u makes), as
// r * (iq . code[t]) + QZ with QZ = q . (z[g] + 128 s[g]) - 128 r sum iq;
// iq . code[t] is exact in int32 (255 * 127 * D fits for any D below
// 66000). The layouts are the tile kernel's (CPUTiler.h):
//
//   ST = K Q^T: C = 16 keys x 16 query rows, A = 16 rows of 64 codes
//     straight from K (from KS8 when the tile's last 32-key block would
//     read past the end of K), B = QI (the int8 query in dwords of 4
//     head-dim elements), written by emitInt8Query when the group changes
//     (groups are multiples of 32 keys, so each 32-key block lies in one);
//     CI receives the int32 products of a 32-key block, which become ST
//     rows as QR * CI + QZ.
//
// Masks, modifiers and the epilogue are the FMA path's. With bf16 queries
// the weights and P V are the AMX path's (AmxTileProducts.cpp), whose
// shared V^T tiles (VT2) emitAmxDequantTranspose builds from the value
// codes, dequantised and rounded to bf16; with f32 queries they are the
// FMA path's, on the dequantised V tile. Tiles that reach the residual
// window (full precision newest tokens) are dequantised into KT and take
// the FMA product for Q K^T, and the guarded product (VT) for P V. The products are register-blocked 2 x
// 2: two A and two B tiles feed four accumulators (the 8 tile registers).
//
//===----------------------------------------------------------------------===//

#include "CPUTiler.h"

#include "attn/Dialect/Attn/Utils/Quant.h"
#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

#include "mlir/Dialect/AMX/AMXDialect.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

/// Rows of every tile, and i32 columns of the accumulators.
static constexpr int64_t kTileRows = 16;
/// Bytes in a row of an A or B tile: the k extent of one product.
static constexpr int64_t kTileK = 64;
/// Keys (and query rows) of a 2 x 2 block of accumulators.
static constexpr int64_t kBlock = 2 * kTileRows;
/// The largest int8 magnitude of the quantised query.
static constexpr double kInt8Max = 127.0;
/// The middle of the 8-bit codes' range, which the zero term takes out of
/// the codes (emitInt8Query).
static constexpr double kCodeCentre = 128.0;

void CPUTiler::emitAmxInt8Buffers(WorkItem &it) {
  int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  int64_t bq = plan.blockQ;
  IntegerAttr align = b.getI64IntegerAttr(64);
  auto scratch = [&](ArrayRef<int64_t> shape, Type type) -> Value {
    return memref::AllocaOp::create(b, MemRefType::get(shape, type), align);
  };
  Type i8 = b.getI8Type(), i32 = b.getI32Type();
  it.qi = scratch({d / 4, 4 * bq}, i8);
  it.qr = scratch({bq}, f32);
  it.qz = scratch({bq}, f32);
  it.ci = scratch({kBlock, bq}, i32);
  it.ks8 = scratch({plan.blockKv, d}, i8);
  it.qg = scratch({}, b.getIndexType());
  if (amxInt8Values())
    it.pb = scratch({plan.blockKv / 2, 2 * bq}, b.getBF16Type());
  memref::StoreOp::create(b, o.idx(-1), it.qg, ValueRange{});
}

void CPUTiler::emitInt8Query(WorkItem &it, Value g) {
  // With u = QT[d][c] s[g, d]: pass 1, QR[c] = max_d |u| / 127 and the
  // zero term sum_d QT[d][c] (z[g, d] + 128 s[g, d]); pass 2, QI's dword
  // p, lane c = the bytes iq = round(u (127 / max_d |u|)) of d = 4p + t, t
  // = 0..3 (0 for a row whose u is all 0), and QZ[c] = the zero term - 128
  // QR[c] sum_d iq. The score r (iq . code) + QZ is then r (iq . (code -
  // 128)) + sum_d QT (z + 128 s): the query's rounding error multiplies
  // the centred codes, half as large as the codes (about a third for
  // codes of Gaussian keys).
  int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  int64_t vecs = plan.vecs();
  // A key past the scales' last group (a dynamic Skv that group does not
  // divide) reads the last one, as emitDequantTile does.
  Value lastGroup =
      o.sub(memref::DimOp::create(b, keyScaleB, op.getSeqDim()), o.idx(1));
  SmallVector<Value, 4> row = kvRowIndices(it, o.min(g, lastGroup));
  auto channel = [&](Value buf, Value c) {
    SmallVector<Value, 4> idx(row);
    idx.push_back(c);
    return o.splat(vecType, o.extF(memref::LoadOp::create(b, buf, idx)));
  };
  Value centre = o.cst(vecType, kCodeCentre);
  SmallVector<Value> init(2 * vecs, o.cst(vecType, 0.0));
  auto stats =
      emitFor(o.idx(0), o.idx(d), o.idx(1), init, [&](Value c, ValueRange acc) {
        Value s = channel(keyScaleB, c);
        Value z = vector::FMAOp::create(b, s, centre, channel(keyZeroB, c));
        SmallVector<Value> next;
        for (int64_t v = 0; v < vecs; ++v) {
          Value q = loadLanes(it.qt, c, v);
          next.push_back(arith::MaxNumFOp::create(
              b, acc[v], math::AbsFOp::create(b, o.fmul(q, s))));
        }
        for (int64_t v = 0; v < vecs; ++v)
          next.push_back(vector::FMAOp::create(b, loadLanes(it.qt, c, v), z,
                                               acc[vecs + v]));
        scf::YieldOp::create(b, next);
      });
  SmallVector<Value> inv, step;
  Value zeroVec = o.cst(vecType, 0.0);
  for (int64_t v = 0; v < vecs; ++v) {
    Value top = stats.getResult(v);
    step.push_back(o.fmul(top, o.cst(vecType, 1.0 / kInt8Max)));
    vector::StoreOp::create(b, step[v], it.qr,
                            ValueRange{o.idx(v * plan.vectorWidth)});
    inv.push_back(o.select(o.fcmp(arith::CmpFPredicate::OGT, top, zeroVec),
                           o.fdiv(o.cst(vecType, kInt8Max), top), zeroVec));
  }
  auto words = VectorType::get({plan.vectorWidth}, b.getI32Type());
  auto bytes = VectorType::get({4 * plan.vectorWidth}, b.getI8Type());
  auto wordConst = [&](int64_t x) {
    return o.splat(words, arith::ConstantIntOp::create(b, x, 32));
  };
  Value lowByte = wordConst(0xFF);
  SmallVector<Value> noSums(vecs, wordConst(0));
  auto sums = emitFor(
      o.idx(0), o.idx(d / 4), o.idx(1), noSums, [&](Value p, ValueRange acc) {
        SmallVector<Value> packed(vecs, wordConst(0)), next(acc);
        for (int64_t t = 0; t < 4; ++t) {
          Value c = o.add(o.mul(p, o.idx(4)), o.idx(t));
          Value s = channel(keyScaleB, c);
          for (int64_t v = 0; v < vecs; ++v) {
            Value u = o.fmul(o.fmul(loadLanes(it.qt, c, v), s), inv[v]);
            Value i = arith::FPToSIOp::create(b, words,
                                              math::RoundEvenOp::create(b, u));
            next[v] = arith::AddIOp::create(b, next[v], i);
            Value byte = arith::AndIOp::create(b, i, lowByte);
            if (t)
              byte = arith::ShLIOp::create(b, byte, wordConst(8 * t));
            packed[v] = arith::OrIOp::create(b, packed[v], byte);
          }
        }
        for (int64_t v = 0; v < vecs; ++v)
          vector::StoreOp::create(
              b, vector::BitCastOp::create(b, bytes, packed[v]), it.qi,
              ValueRange{p, o.idx(4 * v * plan.vectorWidth)});
        scf::YieldOp::create(b, next);
      });
  for (int64_t v = 0; v < vecs; ++v) {
    Value sum = arith::SIToFPOp::create(b, vecType, sums.getResult(v));
    Value offset = o.fmul(o.fmul(step[v], centre), sum);
    vector::StoreOp::create(b, o.fsub(stats.getResult(vecs + v), offset), it.qz,
                            ValueRange{o.idx(v * plan.vectorWidth)});
  }
}

void CPUTiler::emitScoresAmxInt8(WorkItem &it, Value j0, Value nkv) {
  int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  int64_t bq = plan.blockQ, vecs = plan.vecs();
  Type i8 = b.getI8Type(), i32 = b.getI32Type();
  auto operandTile = amx::TileType::get({kTileRows, kTileK}, i8);
  auto accTile = amx::TileType::get({kTileRows, kTileRows}, i32);
  Value rowsEnd = o.mul(o.ceilDiv(nkv, o.idx(kBlock)), o.idx(kBlock));
  // ST rows [jb, jb + 32) for each 32-key block, codes from `base` (row
  // jj, byte d0 at kRows(jj, d0), row stride `stride`, null: the
  // buffer's own).
  auto product = [&](Value base, Value stride,
                     function_ref<SmallVector<Value>(Value, int64_t)> kRows) {
    emitFor(
        o.idx(0), rowsEnd, o.idx(kBlock), ValueRange{},
        [&](Value jb, ValueRange) {
          Value g = o.divU(o.add(j0, jb), o.idx(quant.getGroup()));
          Value held = memref::LoadOp::create(b, it.qg, ValueRange{});
          auto requant = scf::IfOp::create(
              b, TypeRange{}, o.cmp(arith::CmpIPredicate::ne, held, g),
              /*withElseRegion=*/false);
          {
            OpBuilder::InsertionGuard guard(b);
            b.setInsertionPointToStart(requant.thenBlock());
            emitInt8Query(it, g);
            memref::StoreOp::create(b, g, it.qg, ValueRange{});
          }
          for (int64_t cb = 0; cb < bq; cb += kBlock) {
            Value acc[2][2];
            for (auto &accRow : acc)
              for (Value &a : accRow)
                a = amx::TileZeroOp::create(b, accTile);
            for (int64_t s = 0; s < d / kTileK; ++s) {
              Value lhs[2], rhs[2];
              for (int64_t x = 0; x < 2; ++x) {
                lhs[x] = amx::TileLoadOp::create(
                    b, operandTile, base,
                    kRows(o.add(jb, o.idx(x * kTileRows)), s * kTileK), stride);
                rhs[x] = amx::TileLoadOp::create(
                    b, operandTile, it.qi,
                    ValueRange{o.idx(s * kTileK / 4),
                               o.idx(4 * (cb + x * kTileRows))},
                    Value());
              }
              // Codes are unsigned (zero-extended), the query signed.
              for (int64_t x = 0; x < 2; ++x)
                for (int64_t y = 0; y < 2; ++y)
                  acc[x][y] = amx::TileMulIOp::create(
                      b, accTile, lhs[x], rhs[y], acc[x][y],
                      /*isZextLhs=*/true, /*isZextRhs=*/false);
            }
            for (int64_t x = 0; x < 2; ++x)
              for (int64_t y = 0; y < 2; ++y)
                amx::TileStoreOp::create(
                    b, it.ci,
                    ValueRange{o.idx(x * kTileRows), o.idx(cb + y * kTileRows)},
                    acc[x][y], Value());
          }
          SmallVector<Value> r, z;
          for (int64_t v = 0; v < vecs; ++v) {
            Value lane = o.idx(v * plan.vectorWidth);
            r.push_back(
                vector::LoadOp::create(b, vecType, it.qr, ValueRange{lane}));
            z.push_back(
                vector::LoadOp::create(b, vecType, it.qz, ValueRange{lane}));
          }
          auto words = VectorType::get({plan.vectorWidth}, i32);
          emitFor(o.idx(0), o.idx(kBlock), o.idx(1), ValueRange{},
                  [&](Value jj, ValueRange) {
                    for (int64_t v = 0; v < vecs; ++v) {
                      Value c = vector::LoadOp::create(
                          b, words, it.ci,
                          ValueRange{jj, o.idx(v * plan.vectorWidth)});
                      Value x = arith::SIToFPOp::create(b, vecType, c);
                      storeLanes(vector::FMAOp::create(b, x, r[v], z[v]), it.st,
                                 o.add(jb, jj), v);
                    }
                    scf::YieldOp::create(b);
                  });
          scf::YieldOp::create(b);
        });
  };

  // Every key of the tile a code: the int8 products, straight from K when
  // every row they read lies in it, else from KS8; a tile that reaches
  // the residual window: KT and the FMA product.
  Value coded = o.le(o.add(j0, nkv), emitQuantizedLength(o, quant, it.kvEnd));
  auto codedIf = scf::IfOp::create(b, TypeRange{}, coded,
                                   /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(codedIf.elseBlock());
  emitPackTile(it, it.kt, kB, j0, nkv, headDim, d);
  emitScoresFma(it, j0, nkv);
  // With AMX P V VT is read only by the guarded product of such a tile
  // (emitAmxDequantTranspose), so only such a tile packs it.
  if (amxInt8Values())
    emitPackTile(it, it.vt, vB, j0, nkv, valueDim,
                 cast<ShapedType>(op.getValue().getType()).getDimSize(3));

  b.setInsertionPointToStart(codedIf.thenBlock());
  emitKeyTileProducts(it, j0, nkv, rowsEnd, d, it.ks8,
                      VectorType::get({kTileK}, i8), product);
}

bool CPUTiler::amxInt8Values() {
  return plan.dot == CPUDot::AmxInt8 &&
         getElementTypeOrSelf(op.getQuery().getType()).isBF16();
}

Value CPUTiler::emitAmxDequantTranspose(WorkItem &it, Value j0, Value nkv,
                                        Value tile) {
  // VT2[tile][e][jj] = bf16(s[t, e / G] code[t, e] + z[t, e / G]) with t =
  // j0 + min(jj, nkv - 1), for every jj < block_kv. Per 32 keys x 16
  // value columns (one value group: G is a multiple of 32): 32 rows of 16
  // codes dequantised and rounded, pairs of rows interleaved into 32-bit
  // key pairs, one 16 x 16 transpose, 16 stores (emitAmxValueTranspose's
  // layout).
  int64_t dv = cast<ShapedType>(op.getValue().getType()).getDimSize(3);
  Type bf16 = b.getBF16Type();
  auto codeRow = VectorType::get({kTileRows}, b.getI8Type());
  auto halfRow = VectorType::get({kTileRows}, bf16);
  auto pairRow = VectorType::get({2 * kTileRows}, bf16);
  auto words = VectorType::get({kTileRows}, b.getI32Type());
  Value last = o.add(j0, o.sub(nkv, o.idx(1)));
  emitFor(o.idx(0), o.idx(plan.blockKv), o.idx(kBlock), ValueRange{},
          [&](Value kb, ValueRange) {
            SmallVector<Value> keys;
            for (int64_t r = 0; r < kBlock; ++r)
              keys.push_back(o.min(o.add(o.add(j0, kb), o.idx(r)), last));
            emitFor(
                o.idx(0), o.idx(dv), o.idx(kTileRows), ValueRange{},
                [&](Value e0, ValueRange) {
                  Value g = o.divU(e0, o.idx(quant.getGroup()));
                  auto row = [&](Value key) -> Value {
                    SmallVector<Value, 4> rowAt = kvRowIndices(it, key);
                    auto at = [&](Value col) {
                      SmallVector<Value, 4> idx(rowAt);
                      idx.push_back(col);
                      return idx;
                    };
                    Value code = arith::UIToFPOp::create(
                        b, vecType,
                        vector::LoadOp::create(b, codeRow, vB, at(e0)));
                    Value s = o.splat(vecType, o.extF(memref::LoadOp::create(
                                                   b, valueScaleB, at(g))));
                    Value z = o.splat(vecType, o.extF(memref::LoadOp::create(
                                                   b, valueZeroB, at(g))));
                    return arith::TruncFOp::create(
                        b, halfRow, vector::FMAOp::create(b, s, code, z));
                  };
                  SmallVector<Value> pairs;
                  for (int64_t p = 0; p < kTileRows; ++p)
                    pairs.push_back(vector::BitCastOp::create(
                        b, words,
                        vector::InterleaveOp::create(b, row(keys[2 * p]),
                                                     row(keys[2 * p + 1]))));
                  SmallVector<Value> cols = transpose16x16(b, pairs);
                  for (int64_t e = 0; e < kTileRows; ++e)
                    vector::StoreOp::create(
                        b, vector::BitCastOp::create(b, pairRow, cols[e]),
                        amxVT2, ValueRange{tile, o.add(e0, o.idx(e)), kb});
                  scf::YieldOp::create(b);
                });
            scf::YieldOp::create(b);
          });
  // The residual window's rows are not codes: such a tile takes the
  // guarded product, which reads VT (emitAmxValuesGuarded).
  return o.lt(emitQuantizedLength(o, quant, it.kvEnd), o.add(j0, nkv));
}
