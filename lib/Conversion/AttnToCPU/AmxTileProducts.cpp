//===- AmxTileProducts.cpp - Q K^T and P V on AMX tiles -------------------===//
//
// The two products of a kv tile for bf16 inputs on AMX (plan.dot ==
// CPUDot::Amx): TDPBF16PS, C[16 x 16 f32] += A[16 x 32 bf16] B, where B
// holds 16 rows of 16 pairs of bf16 ("VNNI" layout: B[k / 2][2n + k % 2]
// is element (k, n) of the 32 x 16 right-hand matrix). Everything else of
// the tile kernel (masks, modifiers, online normalisation, epilogue) stays
// in AVX-512 on the f32 scratch tiles of CPUTiler.h, whose layouts the
// products keep:
//
//   Q K^T as ST = K Q^T: C = ST[jj..jj+16][c..c+16], A = 16 K rows of 32
//     head-dim elements (straight from K, or from KS when the tile's last
//     32-key block would read past the end of K), B = QT2 (Q^T in pairs of
//     head-dim elements, packed once per work item). ST is then scaled
//     in f32, as the other paths do; without score modifiers a positive
//     constant scale is instead folded into emitWeights (the row max of
//     the raw scores times the scale; the weights' exponent by one FMA).
//   P V as OT = V^T P^T: C = OT[e..e+16][c..c+16], A = VT2 (V^T, 16
//     value rows of 32 keys, transposed with 16 x 16 transposes of 32-bit
//     key pairs once per (batch, kv head, kv tile), by the first work item
//     that reaches the tile, into a buffer of V's size that every q-tile
//     of the head reads), B = PB (the weights in pairs of
//     keys: emitWeights computes them two keys at a time and stores them
//     converted to bf16 and interleaved, instead of back into ST).
//
// Both products are register-blocked 2 x 2: two A and two B tiles feed
// four accumulators, the 8 tile registers of AMX. The tile shapes are all
// 16 rows of 64 bytes; LLVM's X86 backend configures them (ldtilecfg).
// Keys past the kv tile's end get zero weights in PB; their ST rows and
// VT2 columns hold finite values or are never read, so no NaN reaches OT.
//
// f16 inputs take these products only where #attn.config asks for them
// (dot = "amx", or the f16-amx option): Q, K and V are rounded to bf16
// (nearest even, loadBf16) where they are packed (QT2, VT2) or staged
// (KS, for every kv tile, since the tile loads read bf16 only).
//
//===----------------------------------------------------------------------===//

#include "CPUTiler.h"

#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

#include "mlir/Dialect/AMX/AMXDialect.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

/// Rows and 32-bit columns of every AMX tile here (16 x 64 bytes).
static constexpr int64_t kTileRows = 16;
/// bf16 elements in a row of an A or B tile: the k extent of one product.
static constexpr int64_t kTileK = 32;

SmallVector<Value> mlir::attn::cpu::transpose16x16(ImplicitLocOpBuilder &b,
                                                   ArrayRef<Value> rows) {
  SmallVector<Value> r(rows);
  for (int64_t s : {8, 4, 2, 1}) {
    SmallVector<int64_t> lo, hi;
    for (int64_t c = 0; c < kTileRows; ++c) {
      bool right = c & s;
      lo.push_back(right ? kTileRows + c - s : c);
      hi.push_back(right ? kTileRows + c : c + s);
    }
    SmallVector<Value> next(r);
    for (int64_t i = 0; i < kTileRows; ++i) {
      if (i & s)
        continue;
      next[i] = vector::ShuffleOp::create(b, r[i], r[i + s], lo);
      next[i + s] = vector::ShuffleOp::create(b, r[i], r[i + s], hi);
    }
    r = std::move(next);
  }
  return r;
}

Value mlir::attn::cpu::loadBf16(ImplicitLocOpBuilder &b, int64_t n, Value buf,
                                ValueRange indices) {
  Type elem = cast<MemRefType>(buf.getType()).getElementType();
  auto bf16 = VectorType::get({n}, b.getBF16Type());
  if (elem.isBF16())
    return vector::LoadOp::create(b, bf16, buf, indices);
  Value x = vector::LoadOp::create(b, VectorType::get({n}, elem), buf, indices);
  Value wide =
      arith::ExtFOp::create(b, VectorType::get({n}, b.getF32Type()), x);
  return arith::TruncFOp::create(b, bf16, wide);
}

/// The A and B operand tiles (16 rows of 32 bf16) and the accumulators.
static amx::TileType operandTile(Builder &b) {
  return amx::TileType::get({kTileRows, kTileK}, b.getBF16Type());
}
static amx::TileType accTile(Builder &b) {
  return amx::TileType::get({kTileRows, kTileRows}, b.getF32Type());
}

/// Two A and two B tiles feed four accumulators: the 8 tile registers of
/// AMX.
void mlir::attn::cpu::emitTileBlock(
    ImplicitLocOpBuilder &b, int64_t slices,
    function_ref<Value(int64_t x, int64_t y)> init,
    function_ref<Value(int64_t x, int64_t s)> lhs,
    function_ref<Value(int64_t y, int64_t s)> rhs,
    function_ref<void(int64_t x, int64_t y, Value acc)> store) {
  Value acc[2][2];
  for (int64_t x = 0; x < 2; ++x)
    for (int64_t y = 0; y < 2; ++y)
      acc[x][y] = init(x, y);
  for (int64_t s = 0; s < slices; ++s) {
    Value a[2] = {lhs(0, s), lhs(1, s)};
    Value c[2] = {rhs(0, s), rhs(1, s)};
    for (int64_t x = 0; x < 2; ++x)
      for (int64_t y = 0; y < 2; ++y)
        acc[x][y] =
            amx::TileMulFOp::create(b, accTile(b), a[x], c[y], acc[x][y]);
  }
  for (int64_t x = 0; x < 2; ++x)
    for (int64_t y = 0; y < 2; ++y)
      store(x, y, acc[x][y]);
}

void CPUTiler::emitKeyTileProducts(WorkItem &it, Value j0, Value nkv,
                                   Value rowsEnd, int64_t dim, Value staging,
                                   VectorType rowType, KeyTileProduct product) {
  // staging[jj][:] = K[j0 + jj, :] for jj < nkv (f16 K rounded to bf16);
  // later rows only feed ST rows that are never read.
  int64_t width = rowType.getNumElements();
  auto staged = [&] {
    emitFor(o.idx(0), nkv, o.idx(1), ValueRange{}, [&](Value jj, ValueRange) {
      for (int64_t d0 = 0; d0 < dim; d0 += width) {
        SmallVector<Value> at =
            indices4(it.bi, it.kvh, o.add(j0, jj), o.idx(d0));
        Value x = rowType.getElementType().isBF16()
                      ? loadBf16(b, width, kB, at)
                      : vector::LoadOp::create(b, rowType, kB, at).getResult();
        vector::StoreOp::create(b, x, staging, ValueRange{jj, o.idx(d0)});
      }
      scf::YieldOp::create(b);
    });
    product(staging, Value(), [&](Value jj, int64_t d0) {
      return SmallVector<Value>{jj, o.idx(d0)};
    });
  };
  // f16 K (the dot = "amx" opt-in) is always staged: the tile loads read
  // bf16.
  if (cast<MemRefType>(kB.getType()).getElementType() !=
      rowType.getElementType())
    return staged();
  // Straight from K when every row read lies in it, else from `staging`.
  Value inside = o.le(o.add(j0, rowsEnd), kvLen);
  auto ifOp = scf::IfOp::create(b, TypeRange{}, inside,
                                /*withElseRegion=*/true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  // Consecutive keys are kv_heads * D (BSHD) or D (BHSD) elements apart.
  Value stride = o.idx(dim);
  if (bshd)
    stride = o.mul(kvHeads, stride);
  product(kB, stride, [&](Value jj, int64_t d0) {
    return indices4(it.bi, it.kvh, o.add(j0, jj), o.idx(d0));
  });
  b.setInsertionPointToStart(ifOp.elseBlock());
  staged();
}

void CPUTiler::emitScoresAmx(WorkItem &it, Value j0, Value nkv) {
  // ST[jj][c] = sum_d K[j0 + jj, d] Q[i0 + c, d] for jj < ceil(nkv / 32) *
  // 32, in 32 x 32 blocks; then ST *= scale for jj < nkv.
  int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  int64_t bq = plan.blockQ;
  Value rowsEnd =
      o.mul(o.ceilDiv(nkv, o.idx(2 * kTileRows)), o.idx(2 * kTileRows));
  // kRows(jj, d0): the indices of K row jj of the tile, head-dim column
  // d0, in `base`, read with row stride `stride` (null: the buffer's own).
  auto product = [&](Value base, Value stride,
                     function_ref<SmallVector<Value>(Value, int64_t)> kRows) {
    emitFor(
        o.idx(0), rowsEnd, o.idx(2 * kTileRows), ValueRange{},
        [&](Value jb, ValueRange) {
          auto row = [&](int64_t x) { return o.add(jb, o.idx(x * kTileRows)); };
          auto col = [&](int64_t cb, int64_t y) {
            return o.idx(cb + y * kTileRows);
          };
          for (int64_t cb = 0; cb < bq; cb += 2 * kTileRows)
            emitTileBlock(
                b, d / kTileK,
                [&](int64_t, int64_t) -> Value {
                  return amx::TileZeroOp::create(b, accTile(b));
                },
                [&](int64_t x, int64_t s) -> Value {
                  return amx::TileLoadOp::create(b, operandTile(b), base,
                                                 kRows(row(x), s * kTileK),
                                                 stride);
                },
                [&](int64_t y, int64_t s) -> Value {
                  return amx::TileLoadOp::create(
                      b, operandTile(b), it.qt2,
                      ValueRange{o.idx(s * kTileK / 2),
                                 o.idx(2 * (cb + y * kTileRows))},
                      Value());
                },
                [&](int64_t x, int64_t y, Value acc) {
                  amx::TileStoreOp::create(
                      b, it.st, ValueRange{row(x), col(cb, y)}, acc, Value());
                });
          scf::YieldOp::create(b);
        });
  };
  emitKeyTileProducts(it, j0, nkv, rowsEnd, d, it.ks,
                      VectorType::get({kTileK}, b.getBF16Type()), product);
  // A positive constant scale is folded into the weights instead
  // (it.scoreScale).
  if (it.scoreScale)
    return;
  Value scaleVec = o.splat(vecType, scale);
  emitFor(o.idx(0), nkv, o.idx(1), ValueRange{}, [&](Value jj, ValueRange) {
    for (int64_t v = 0; v < plan.vecs(); ++v)
      storeLanes(o.fmul(loadLanes(it.st, jj, v), scaleVec), it.st, jj, v);
    scf::YieldOp::create(b);
  });
}

void CPUTiler::emitAmxValueBuffers() {
  // VT2 for every (b, kv head, kv tile), written by the first work item
  // that reaches the tile (emitAmxSharedTranspose), and its states, all 0
  // (not started).
  int64_t dv = cast<ShapedType>(op.getValue().getType()).getDimSize(3);
  amxTiles = o.ceilDiv(kvLen, o.idx(plan.blockKv));
  Value count = o.mul(o.mul(batch, kvHeads), amxTiles);
  IntegerAttr align = b.getI64IntegerAttr(64);
  amxVT2 = memref::AllocOp::create(
      b,
      MemRefType::get({ShapedType::kDynamic, dv, plan.blockKv},
                      b.getBF16Type()),
      ValueRange{count}, align);
  Type i32 = b.getI32Type();
  amxVT2State =
      memref::AllocOp::create(b, MemRefType::get({ShapedType::kDynamic}, i32),
                              ValueRange{count}, align);
  Value zero = arith::ConstantIntOp::create(b, i32, 0);
  emitFor(o.idx(0), count, o.idx(1), ValueRange{}, [&](Value i, ValueRange) {
    memref::StoreOp::create(b, zero, amxVT2State, ValueRange{i});
    scf::YieldOp::create(b);
  });
}

Value CPUTiler::emitAmxSharedTranspose(WorkItem &it, Value j0, Value nkv,
                                       Value tile) {
  // The state's bit 0 claims the tile (atomic or: the item that finds it
  // clear transposes), bit 1 says it is written, bit 2 that its values
  // hold a NaN or inf; an item that finds the tile claimed waits for bit 1
  // (the claimant is busy transposing, never waiting). The atomics
  // (acquire-release) order the transpose's stores before the readers'
  // tile loads. (A compare-and-swap, a region op, would not pass the
  // buffer deallocation.)
  Type i32 = b.getI32Type();
  auto bits = [&](int64_t x) {
    return arith::ConstantIntOp::create(b, i32, x).getResult();
  };
  auto atomicOr = [&](Value x) -> Value {
    return memref::AtomicRMWOp::create(b, arith::AtomicRMWKind::ori, x,
                                       amxVT2State, ValueRange{tile});
  };
  Value old = atomicOr(bits(1));
  auto ifOp = scf::IfOp::create(
      b, b.getI1Type(), o.eq(arith::AndIOp::create(b, old, bits(1)), bits(0)),
      /*withElseRegion=*/true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  Value nonFinite = emitAmxValueTranspose(it, j0, nkv, tile);
  atomicOr(o.select(nonFinite, bits(2 | 4), bits(2)));
  scf::YieldOp::create(b, nonFinite);
  b.setInsertionPointToStart(ifOp.elseBlock());
  auto wait = scf::WhileOp::create(b, i32, ValueRange{});
  b.createBlock(&wait.getBefore());
  Value state = atomicOr(bits(0));
  Value written = arith::AndIOp::create(b, state, bits(2));
  scf::ConditionOp::create(b, o.eq(written, bits(0)), state);
  b.createBlock(&wait.getAfter(), {}, {i32}, {b.getLoc()});
  scf::YieldOp::create(b, ValueRange{});
  b.setInsertionPointAfter(wait);
  Value flag = arith::AndIOp::create(b, wait.getResult(0), bits(4));
  scf::YieldOp::create(b, o.cmp(arith::CmpIPredicate::ne, flag, bits(0)));
  return ifOp.getResult(0);
}

Value CPUTiler::amxTileIndex(WorkItem &it, Value j0) {
  return o.add(o.mul(o.add(o.mul(it.bi, kvHeads), it.kvh), amxTiles),
               o.divU(j0, o.idx(plan.blockKv)));
}

Value CPUTiler::emitAmxValueTranspose(WorkItem &it, Value j0, Value nkv,
                                      Value tile) {
  if (quant)
    return emitAmxDequantTranspose(it, j0, nkv, tile);
  // VT2[tile][e][jj] = V[j0 + min(jj, nkv - 1), e] for every jj < block_kv
  // (keys past the tile repeat its last key: finite values for zero
  // weights; f16 V rounded to bf16, loadBf16). Per 32 keys x 16 value
  // columns: 32 row loads, pairs of rows
  // interleaved into 16 vectors of 32-bit key pairs, one 16 x 16
  // transpose, 16 stores.
  int64_t dv = cast<ShapedType>(op.getValue().getType()).getDimSize(3);
  Type bf16 = b.getBF16Type();
  auto pairRow = VectorType::get({2 * kTileRows}, bf16);
  auto words = VectorType::get({kTileRows}, b.getI32Type());
  Value last = o.add(j0, o.sub(nkv, o.idx(1)));
  // A value is a NaN or inf when its 8 exponent bits are all 1: or-ed over
  // the pairs' 32-bit words, lane by lane.
  auto exponent = [&](int64_t x) {
    return o.splat(words, arith::ConstantIntOp::create(b, b.getI32Type(), x));
  };
  Value lowExp = exponent(0x7F80), highExp = exponent(0x7F800000);
  auto nonFinite = [&](Value w) {
    auto is = [&](Value e) {
      return arith::ExtUIOp::create(
          b, words, o.eq(arith::AndIOp::create(b, w, e), e));
    };
    return arith::OrIOp::create(b, is(lowExp), is(highExp)).getResult();
  };
  Value none = exponent(0);
  auto outer = emitFor(
      o.idx(0), o.idx(plan.blockKv), o.idx(kTileK), none,
      [&](Value kb, ValueRange seenK) {
        SmallVector<Value> keys;
        for (int64_t r = 0; r < kTileK; ++r)
          keys.push_back(o.min(o.add(o.add(j0, kb), o.idx(r)), last));
        auto inner = emitFor(
            o.idx(0), o.idx(dv), o.idx(kTileRows), seenK[0],
            [&](Value e0, ValueRange seenE) {
              Value seen = seenE[0];
              SmallVector<Value> pairs;
              for (int64_t p = 0; p < kTileRows; ++p) {
                Value even = loadBf16(b, kTileRows, vB,
                                      indices4(it.bi, it.kvh, keys[2 * p], e0));
                Value odd =
                    loadBf16(b, kTileRows, vB,
                             indices4(it.bi, it.kvh, keys[2 * p + 1], e0));
                Value both = vector::InterleaveOp::create(b, even, odd);
                pairs.push_back(vector::BitCastOp::create(b, words, both));
                seen = arith::OrIOp::create(b, seen, nonFinite(pairs.back()));
              }
              SmallVector<Value> cols = transpose16x16(b, pairs);
              for (int64_t e = 0; e < kTileRows; ++e)
                vector::StoreOp::create(
                    b, vector::BitCastOp::create(b, pairRow, cols[e]), amxVT2,
                    ValueRange{tile, o.add(e0, o.idx(e)), kb});
              scf::YieldOp::create(b, seen);
            });
        scf::YieldOp::create(b, inner.getResult(0));
      });
  Value any = vector::ReductionOp::create(b, vector::CombiningKind::OR,
                                          outer.getResult(0));
  return o.cmp(arith::CmpIPredicate::ne, any,
               arith::ConstantIntOp::create(b, b.getI32Type(), 0));
}

void CPUTiler::emitAmxValuesGuarded(WorkItem &it, Value j0, Value nkv) {
  // ST[jj][16 v ..] = key jj's weights for query rows 16 v .. 16 v + 15:
  // the even (jj even) or odd halves of PB[jj / 2][32 v .. 32 v + 31],
  // widened once (ST's scores are spent); then the masked-FMA product.
  Type bf16 = b.getBF16Type();
  auto pairs = VectorType::get({2 * plan.vectorWidth}, bf16);
  emitFor(o.idx(0), o.ceilDiv(nkv, o.idx(2)), o.idx(1), ValueRange{},
          [&](Value p, ValueRange) {
            Value jj = o.mul(p, o.idx(2));
            Value odd = o.add(jj, o.idx(1));
            for (int64_t v = 0; v < plan.vecs(); ++v) {
              Value row = vector::LoadOp::create(
                  b, pairs, it.pb,
                  ValueRange{p, o.idx(2 * v * plan.vectorWidth)});
              auto halves = vector::DeinterleaveOp::create(b, row);
              storeLanes(arith::ExtFOp::create(b, vecType, halves.getRes1()),
                         it.st, jj, v);
              storeLanes(arith::ExtFOp::create(b, vecType, halves.getRes2()),
                         it.st, odd, v);
            }
            scf::YieldOp::create(b);
          });
  emitValueProduct(it, j0, nkv, /*alpha=*/{}, /*skip=*/true);
}

scf::ForOp
CPUTiler::emitAmxWeightPairs(WorkItem &it, Value nkv, ValueRange init,
                             function_ref<Value(Value jj, int64_t v)> weight,
                             bool sums, int64_t chunks,
                             function_ref<void(Value g)> between) {
  // PB[p][2c + t] = bf16(w(2p + t, c)) for the pairs p < ceil(nkv / 2),
  // the odd key of the last pair 0 when nkv is odd; then PB = 0 for the
  // pairs up to block_kv / 2 (partial tiles only), which the products
  // read too. Without an LSE result the sums add the bf16 weights that
  // P V multiplies, so that the normalisation cancels their rounding: a
  // row's dominant weight, 1 or, with kLazyShift, up to e^8, is rounded
  // alike in both. One AVX512-BF16 dot product of the stored pairs with
  // ones adds both weights of a pair (exactly widened; like the tile
  // product it reads weights below 2^-126 as 0). With an LSE result they
  // add the f32 weights, which keeps the LSE at f32 accuracy (the rounded
  // sums would move it by up to 2^-9).
  bool roundedSums = !lseB;
  auto halfType = VectorType::get({plan.vectorWidth}, b.getBF16Type());
  Value zeroVec = o.cst(vecType, 0.0);
  Value pairs = o.ceilDiv(nkv, o.idx(2));
  Type bf16 = b.getBF16Type();
  Value ones = o.splat(VectorType::get({2 * plan.vectorWidth}, bf16),
                       arith::ConstantOp::create(b, b.getFloatAttr(bf16, 1.0)));
  // Stores the pair; returns it. The weights are rounded by vcvtneps2bf16
  // before they are interleaved (one two-source word permute): LLVM turns
  // an interleave of two truncations into two f32 permutes, the two
  // conversions and an insert.
  auto store = [&](Value p, int64_t v, Value w0, Value w1) -> Value {
    auto round = [&](Value w) -> Value {
      if (plan.vectorWidth == 16)
        return x86vector::CvtPackedF32ToBF16Op::create(b, halfType, w);
      return arith::TruncFOp::create(b, halfType, w);
    };
    Value both = vector::InterleaveOp::create(b, round(w0), round(w1));
    vector::StoreOp::create(b, both, it.pb,
                            ValueRange{p, o.idx(2 * v * plan.vectorWidth)});
    return both;
  };
  auto pairStep = [&](Value p, ValueRange acc) {
    Value even = o.mul(p, o.idx(2));
    Value odd = o.add(even, o.idx(1));
    Value oddIn = o.lt(odd, nkv);
    SmallVector<Value> next;
    for (int64_t v = 0; v < plan.vecs(); ++v) {
      Value w0 = weight(even, v);
      // ST row `odd` exists (block_kv is even) but past nkv holds no
      // score: its weight is replaced, never summed.
      Value w1 = o.select(oddIn, weight(odd, v), zeroVec);
      Value both = store(p, v, w0, w1);
      if (!sums)
        next.push_back(acc[v]);
      else if (roundedSums)
        next.push_back(x86vector::DotBF16Op::create(b, acc[v], both, ones));
      else
        next.push_back(o.fadd(o.fadd(acc[v], w0), w1));
    }
    scf::YieldOp::create(b, next);
  };
  scf::ForOp loop;
  if (!between) {
    loop = emitFor(o.idx(0), pairs, o.idx(1), init, pairStep);
  } else {
    // Chunk g: between(g), then pairs [g k, (g + 1) k) clamped to the
    // tile's pairs.
    Value per = o.idx(llvm::divideCeil(plan.blockKv / 2, chunks));
    loop = emitFor(
        o.idx(0), o.idx(chunks), o.idx(1), init, [&](Value g, ValueRange acc) {
          between(g);
          Value lo = o.min(o.mul(g, per), pairs);
          Value hi = o.min(o.add(lo, per), pairs);
          scf::YieldOp::create(
              b, emitFor(lo, hi, o.idx(1), acc, pairStep).getResults());
        });
  }
  emitFor(pairs, o.idx(plan.blockKv / 2), o.idx(1), ValueRange{},
          [&](Value p, ValueRange) {
            for (int64_t v = 0; v < plan.vecs(); ++v)
              store(p, v, zeroVec, zeroVec);
            scf::YieldOp::create(b);
          });
  return loop;
}

void CPUTiler::emitAmxRescale(WorkItem &it, ArrayRef<Value> alpha) {
  // The rescale only where some alpha is not 1 (kLazyShift makes that
  // rare).
  if (alpha.empty())
    return;
  int64_t dv = cast<ShapedType>(op.getValue().getType()).getDimSize(3);
  Value any;
  for (Value a : alpha) {
    Value ne = vector::ReductionOp::create(
        b, vector::CombiningKind::OR,
        o.fcmp(arith::CmpFPredicate::UNE, a, o.cst(vecType, 1.0)));
    any = any ? o.lor(any, ne) : ne;
  }
  auto ifOp = scf::IfOp::create(b, TypeRange{}, any,
                                /*withElseRegion=*/false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  emitFor(o.idx(0), o.idx(dv), o.idx(1), ValueRange{},
          [&](Value e, ValueRange) {
            for (int64_t v = 0; v < plan.vecs(); ++v)
              storeLanes(o.fmul(loadLanes(it.ot, e, v), alpha[v]), it.ot, e, v);
            scf::YieldOp::create(b);
          });
}

int64_t CPUTiler::amxValueBlocks() {
  int64_t dv = cast<ShapedType>(op.getValue().getType()).getDimSize(3);
  return (dv / (2 * kTileRows)) * (plan.blockQ / (2 * kTileRows));
}

void CPUTiler::emitAmxValueBlock(WorkItem &it, Value pb, Value tile, Value g) {
  // C = OT tiles += VT2 tiles x PB tiles over every 32-key chunk of the
  // tile (chunks past nkv add zeros).
  Value across = o.idx(plan.blockQ / (2 * kTileRows));
  Value eb = o.mul(o.divU(g, across), o.idx(2 * kTileRows));
  Value cb = o.mul(o.remU(g, across), o.idx(2 * kTileRows));
  auto row = [&](int64_t x) { return o.add(eb, o.idx(x * kTileRows)); };
  auto col = [&](int64_t y) { return o.add(cb, o.idx(y * kTileRows)); };
  emitTileBlock(
      b, plan.blockKv / kTileK,
      [&](int64_t x, int64_t y) -> Value {
        return amx::TileLoadOp::create(b, accTile(b), it.ot,
                                       ValueRange{row(x), col(y)}, Value());
      },
      [&](int64_t x, int64_t s) -> Value {
        return amx::TileLoadOp::create(
            b, operandTile(b), amxVT2,
            ValueRange{tile, row(x), o.idx(s * kTileK)}, Value());
      },
      [&](int64_t y, int64_t s) -> Value {
        return amx::TileLoadOp::create(
            b, operandTile(b), pb,
            ValueRange{o.idx(s * kTileK / 2), o.mul(col(y), o.idx(2))},
            Value());
      },
      [&](int64_t x, int64_t y, Value acc) {
        amx::TileStoreOp::create(b, it.ot, ValueRange{row(x), col(y)}, acc,
                                 Value());
      });
}

Value CPUTiler::amxPbSlot(WorkItem &it, Value slot) {
  int64_t pairs = plan.blockKv / 2, width = 2 * plan.blockQ;
  SmallVector<OpFoldResult> offsets = {o.mul(slot, o.idx(pairs)),
                                       b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = {b.getIndexAttr(pairs),
                                     b.getIndexAttr(width)};
  SmallVector<OpFoldResult> strides = {b.getIndexAttr(1), b.getIndexAttr(1)};
  return memref::SubViewOp::create(b, it.pbSlots, offsets, sizes, strides);
}

void CPUTiler::emitValuesAmx(WorkItem &it, Value j0, Value nkv,
                             ArrayRef<Value> alpha) {
  // OT[e][c] = alpha[c] OT[e][c] + sum_jj V[j0 + jj, e] P[c][jj]: the
  // rescale in AVX-512, the sum by emitAmxValueBlock over OT's blocks.
  emitAmxRescale(it, alpha);
  Value tile = amxTileIndex(it, j0);
  Value nonFinite = emitAmxSharedTranspose(it, j0, nkv, tile);
  // A NaN or inf value: the AVX-512 product that skips zero weights
  // (README, "Masked keys"), instead of the tile product.
  auto guarded = scf::IfOp::create(b, TypeRange{}, nonFinite,
                                   /*withElseRegion=*/true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(guarded.thenBlock());
  emitAmxValuesGuarded(it, j0, nkv);
  b.setInsertionPointToStart(guarded.elseBlock());
  emitFor(o.idx(0), o.idx(amxValueBlocks()), o.idx(1), ValueRange{},
          [&](Value blk, ValueRange) {
            emitAmxValueBlock(it, it.pb, tile, blk);
            scf::YieldOp::create(b);
          });
}

SmallVector<Value> CPUTiler::emitValuesAmxDeferred(WorkItem &it, Value j0,
                                                   Value nkv,
                                                   ArrayRef<Value> alpha,
                                                   Value slot) {
  // The previous tile's P V is in OT by now (emitWeights ran it), so
  // alpha applies to it as well.
  emitAmxRescale(it, alpha);
  Value tile = amxTileIndex(it, j0);
  Value nonFinite = emitAmxSharedTranspose(it, j0, nkv, tile);
  Type index = b.getIndexType();
  auto guarded = scf::IfOp::create(b, TypeRange{index, index}, nonFinite,
                                   /*withElseRegion=*/true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(guarded.thenBlock());
  emitAmxValuesGuarded(it, j0, nkv);
  scf::YieldOp::create(b, ValueRange{o.idx(-1), slot});
  b.setInsertionPointToStart(guarded.elseBlock());
  scf::YieldOp::create(b, ValueRange{tile, o.sub(o.idx(1), slot)});
  return SmallVector<Value>(guarded.getResults());
}
