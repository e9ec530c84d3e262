//===- MmaSync.cpp - mma.sync fragments and products ----------------------===//
//
// See MmaSync.h.
//
//===----------------------------------------------------------------------===//

#include "MmaSync.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/UB/IR/UBOps.h"

#include <array>
#include <limits>
#include <optional>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::tilegpu;

MmaSync::MmaSync(ImplicitLocOpBuilder &b, Type elem)
    : b(b), o{b}, elem(elem), f32(b.getF32Type()) {
  fragA = VectorType::get({4, 2}, elem);
  fragB = VectorType::get({2, 2}, elem);
  fragC = VectorType::get({2, 2}, f32);
  pair = VectorType::get({2}, elem);
  pairF32 = VectorType::get({2}, f32);
}

Value MmaSync::constVec(VectorType t, double v) {
  return arith::ConstantOp::create(
      b, t, DenseElementsAttr::get(t, b.getFloatAttr(t.getElementType(), v)));
}

SmallVector<Value> MmaSync::fragmentWords(Value frag, int64_t n) {
  // Each row of an operand fragment is one 32-bit register of two halves.
  SmallVector<Value> out;
  auto word = VectorType::get({1}, b.getI32Type());
  for (int64_t r = 0; r < n; ++r) {
    Value row = vector::ExtractOp::create(b, frag, ArrayRef<int64_t>{r});
    Value cast = vector::BitCastOp::create(b, word, row);
    out.push_back(vector::ExtractOp::create(b, cast, ArrayRef<int64_t>{0}));
  }
  return out;
}

Value MmaSync::mma(Value a, Value bFrag, Value acc) {
  if (elem.isF16())
    return nvgpu::MmaSyncOp::create(b, a, bFrag, acc,
                                    ArrayRef<int64_t>{16, 8, 16});
  SmallVector<Value> c4;
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t e = 0; e < 2; ++e)
      c4.push_back(vector::ExtractOp::create(b, acc, ArrayRef<int64_t>{r, e}));
  auto resultType =
      LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  Value d4 = NVVM::MmaOp::create(
      b, resultType, fragmentWords(a, 4), fragmentWords(bFrag, 2), c4,
      ArrayRef<int64_t>{16, 8, 16}, std::nullopt, std::nullopt,
      std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::bf16, NVVM::MMATypes::bf16},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  SmallVector<Value> elems;
  for (int64_t i = 0; i < 4; ++i)
    elems.push_back(LLVM::ExtractValueOp::create(b, d4, ArrayRef<int64_t>{i}));
  return vector::FromElementsOp::create(b, fragC, elems);
}

Value MmaSync::loadA(Value buf, IndexFn at, ArrayRef<Value> rows, Value c,
                     int64_t col0) {
  // (g, k 0-7), (g + 8, k 0-7), (g, k 8-15), (g + 8, k 8-15).
  Value frag = ub::PoisonOp::create(b, fragA);
  for (int64_t part = 0; part < 4; ++part) {
    Value col = o.add(o.idx(col0 + (part / 2) * 8), o.mul(c, o.idx(2)));
    Value v = vector::LoadOp::create(b, pair, buf, at(rows[part % 2], col));
    frag = vector::InsertOp::create(b, v, frag, ArrayRef<int64_t>{part});
  }
  return frag;
}

Value MmaSync::loadASharedRows(Value tile, Value row0, int64_t col0,
                              Value lane) {
  // ldmatrix x4: matrix i holds fragment register i, so lanes 0-15 address
  // rows 0-15 at column 0 of the slice (matrices 0 and 1: rows g and g + 8
  // of k 0-7) and lanes 16-31 the same rows at column 8 (k 8-15).
  Value row = o.add(row0, o.remU(lane, o.idx(16)));
  Value col = o.add(o.idx(col0), o.mul(o.divU(lane, o.idx(16)), o.idx(8)));
  return nvgpu::LdMatrixOp::create(b, fragA, tile, ValueRange{row, col},
                                   /*transpose=*/false, /*numTiles=*/4);
}

void MmaSync::emitCopyRows(Value shared, Value buf, IndexFn at, Value first,
                           Value limit, int64_t rows, int64_t width, Value tid,
                           int64_t threads, SmallVectorImpl<Value> &tokens) {
  // 16-byte chunks (8 elements), spread over the CTA's threads. Rows past
  // `limit` are zero-filled with their address left as it is (past the
  // tensor for rows past its end, as Triton's masked cp.async leaves it):
  // a wrong byte count is then an out-of-bounds read the GPU emulator
  // reports, instead of a copy of a real row that a mask would hide.
  int64_t chunksPerRow = width / 8;
  int64_t chunks = rows * chunksPerRow;
  for (int64_t u = 0; u * threads < chunks; ++u) {
    Value chunk = o.add(tid, o.idx(u * threads));
    std::optional<OpBuilder::InsertionGuard> guard;
    if ((u + 1) * threads > chunks) {
      // The last round has fewer chunks than threads. commit_group commits
      // every copy the thread issued, so this one needs no token.
      auto inTile =
          scf::IfOp::create(b, TypeRange{}, o.lt(chunk, o.idx(chunks)),
                            /*withElseRegion=*/false);
      guard.emplace(b);
      b.setInsertionPointToStart(inTile.thenBlock());
    }
    Value row = o.divU(chunk, o.idx(chunksPerRow));
    Value col = o.mul(o.remU(chunk, o.idx(chunksPerRow)), o.idx(8));
    Value src = o.add(first, row);
    Value count = o.select(o.lt(src, limit), o.idx(8), o.idx(0));
    Value token = nvgpu::DeviceAsyncCopyOp::create(
        b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), shared,
        ValueRange{row, col}, buf, at(src, col), b.getIndexAttr(8), count,
        b.getUnitAttr());
    if (!guard)
      tokens.push_back(token);
  }
}

SmallVector<Value> MmaSync::emitTimesRowsT(ArrayRef<Value> a, Value tile,
                                           int64_t cols, Value lane) {
  // One fragment per 8 columns. ldmatrix x2 of tile rows: lanes 0-7 address
  // rows 0-7 at depth 0-7 of the k-slice, lanes 8-15 the same rows at depth
  // 8-15 (lanes 16-31 repeat them).
  SmallVector<Value> flat;
  Value tRow = o.remU(lane, o.idx(8));
  Value tHalf = o.mul(o.remU(o.divU(lane, o.idx(8)), o.idx(2)), o.idx(8));
  for (int64_t n = 0; n < cols / 8; ++n) {
    Value acc = constVec(fragC, 0.0);
    for (size_t kc = 0; kc < a.size(); ++kc) {
      Value bFrag = nvgpu::LdMatrixOp::create(
          b, fragB, tile,
          ValueRange{o.add(tRow, o.idx(n * 8)),
                     o.add(tHalf, o.idx(static_cast<int64_t>(kc) * 16))},
          /*transpose=*/false, /*numTiles=*/2);
      acc = mma(a[kc], bFrag, acc);
    }
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t e = 0; e < 2; ++e)
        flat.push_back(
            vector::ExtractOp::create(b, acc, ArrayRef<int64_t>{r, e}));
  }
  return flat;
}

Value MmaSync::loadBTrans(Value tile, Value row, int64_t col, TileRowFn at) {
  SmallVector<Value> indices =
      at ? at(row, col) : SmallVector<Value>{row, o.idx(col)};
  return nvgpu::LdMatrixOp::create(b, fragB, tile, indices,
                                   /*transpose=*/true, /*numTiles=*/2);
}

void MmaSync::emitTimesTile(ArrayRef<Value> a, Value tile,
                            MutableArrayRef<Value> acc, Value lane,
                            TileRowFn at) {
  // B fragments by ldmatrix.trans (lanes 0-15 address rows 0-15 of the
  // slice).
  Value tRow = o.remU(lane, o.idx(16));
  for (size_t kk = 0; kk < a.size(); ++kk)
    for (size_t n = 0; n < acc.size(); ++n) {
      Value bFrag =
          loadBTrans(tile, o.add(tRow, o.idx(static_cast<int64_t>(kk) * 16)),
                     static_cast<int64_t>(n) * 8, at);
      acc[n] = mma(a[kk], bFrag, acc[n]);
    }
}

void MmaSync::emitTimesTileSkippingZeros(ArrayRef<Value> a, Value tile,
                                         MutableArrayRef<Value> acc,
                                         Value lane, TileRowFn at) {
  // The lane goes through a shuffle (xor 0: itself), which LLVM does not
  // move out of the branch that runs this product: otherwise the fragment
  // addresses, loop-invariant, are hoisted out of the kv loop and held in
  // registers across it (64 more on the sm_90a kernel's swizzled stages).
  Type i32 = b.getI32Type();
  Value laneI32 = gpu::ShuffleOp::create(
                      b, arith::IndexCastOp::create(b, i32, lane), 0, 32,
                      gpu::ShuffleMode::XOR)
                      .getShuffleResult();
  lane = arith::IndexCastOp::create(b, b.getIndexType(), laneI32);
  Value tRow = o.remU(lane, o.idx(16));
  Value c = o.remU(lane, o.idx(4));
  auto cst = [&](uint32_t v) {
    return arith::ConstantIntOp::create(b, i32, static_cast<int32_t>(v));
  };
  auto land = [&](Value x, Value y) { return arith::AndIOp::create(b, x, y); };
  auto lor = [&](Value x, Value y) { return arith::OrIOp::create(b, x, y); };
  auto shl = [&](Value x, Value y) { return arith::ShLIOp::create(b, x, y); };
  auto shr = [&](Value x, Value y) { return arith::ShRUIOp::create(b, x, y); };
  // Per 16-bit half of a word: the top bit where the half is inf or NaN,
  // and where it is +inf or NaN / -inf or NaN (orNonFinite's test, with a
  // second bias for NaN).
  uint32_t expMask = elem.isF16() ? 0x7c00 : 0x7f80;
  Value top = cst(0x80008000);
  auto classify = [&](Value w) {
    Value mag = land(w, cst(0x7fff7fff));
    Value nonFinite = land(
        arith::AddIOp::create(b, mag, cst((0x8000 - expMask) * 0x10001u)),
        top);
    Value nan = land(
        arith::AddIOp::create(b, mag, cst((0x7fff - expMask) * 0x10001u)),
        top);
    Value sign = land(w, top);
    return std::array<Value, 3>{
        nonFinite,
        land(nonFinite, lor(arith::XOrIOp::create(b, sign, top), nan)),
        land(nonFinite, lor(sign, nan))};
  };

  // 1. The product on the tile with its non-finite elements read as 0
  // (emitTimesTile's order, B fragments cleared in registers).
  auto word = VectorType::get({1}, i32);
  for (size_t kk = 0; kk < a.size(); ++kk)
    for (size_t n = 0; n < acc.size(); ++n) {
      Value v =
          loadBTrans(tile, o.add(tRow, o.idx(static_cast<int64_t>(kk) * 16)),
                     static_cast<int64_t>(n) * 8, at);
      Value finite = ub::PoisonOp::create(b, fragB);
      SmallVector<Value> words = fragmentWords(v, 2);
      for (int64_t r = 0; r < 2; ++r) {
        // The non-finite halves' top bits spread to masks of 16 bits.
        Value mask = arith::MulIOp::create(
            b, shr(classify(words[r])[0], cst(15)), cst(0xffff));
        Value w = land(words[r], arith::XOrIOp::create(b, mask, cst(~0u)));
        finite = vector::InsertOp::create(
            b,
            vector::BitCastOp::create(b, pair,
                                      vector::BroadcastOp::create(b, word, w)),
            finite, ArrayRef<int64_t>{r});
      }
      acc[n] = mma(a[kk], finite, acc[n]);
    }

  // 2. Which keys the thread's two rows weigh nonzero, as bit masks over
  // the tile (key j: bit j % 32 of word j / 32): from the weights' halves
  // (A fragment row `part` holds keys 16 kk + 8 (part / 2) + 2 c + {0, 1}
  // of row part % 2), ORed over the quad.
  int64_t keys = static_cast<int64_t>(a.size()) * 16;
  int64_t maskWords = (keys + 31) / 32;
  SmallVector<Value> weighs[2];
  Value c2 = arith::IndexCastOp::create(b, i32, o.mul(c, o.idx(2)));
  for (int64_t mw = 0; mw < maskWords; ++mw)
    for (int64_t r = 0; r < 2; ++r) {
      Value bits = cst(0);
      for (int64_t kk = 2 * mw; kk < std::min<int64_t>(2 * mw + 2, a.size());
           ++kk) {
        SmallVector<Value> parts = fragmentWords(a[kk], 4);
        for (int64_t h = 0; h < 2; ++h)
          for (int64_t e = 0; e < 2; ++e) {
            Value half = land(shr(parts[2 * h + r], cst(16 * e)), cst(0x7fff));
            Value nz = arith::ExtUIOp::create(
                b, i32, o.cmp(arith::CmpIPredicate::ne, half, cst(0)));
            bits = lor(bits, shl(nz, cst(16 * (kk % 2) + 8 * h + e)));
          }
      }
      bits = shl(bits, c2);
      for (int32_t offset : {1, 2})
        bits = lor(bits, gpu::ShuffleOp::create(b, bits, offset, 32,
                                                gpu::ShuffleMode::XOR)
                             .getShuffleResult());
      weighs[r].push_back(bits);
    }

  // 3. Per row, which of the thread's columns (8 n + 2 c + e: bit n + 16 e)
  // a weighed key holds +inf or NaN in (pos), -inf or NaN in (neg): a loop
  // over the tile's keys reading the thread's words of each.
  SmallVector<Value> init(4, cst(0)); // pos r0, pos r1, neg r0, neg r1
  auto loop = scf::ForOp::create(
      b, o.idx(0), o.idx(keys), o.idx(1), init,
      [&](OpBuilder &nb, Location loc, Value j, ValueRange flags) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        Value jI32 = arith::IndexCastOp::create(b, i32, j);
        Value bitAt = land(jI32, cst(31));
        Value wordAt = shr(jI32, cst(5));
        Value rowMask[2];
        for (int64_t r = 0; r < 2; ++r) {
          Value w = weighs[r][0];
          for (int64_t mw = 1; mw < maskWords; ++mw)
            w = o.select(o.eq(wordAt, cst(mw)), weighs[r][mw], w);
          // All ones where row r weighs key j.
          rowMask[r] = arith::SubIOp::create(b, cst(0),
                                             land(shr(w, bitAt), cst(1)));
        }
        SmallVector<Value> out(flags);
        for (size_t n = 0; n < acc.size(); ++n) {
          SmallVector<Value> idx = at ? at(j, static_cast<int64_t>(n) * 8)
                                      : SmallVector<Value>{
                                            j, o.idx(static_cast<int64_t>(n) *
                                                     8)};
          idx.back() = o.add(idx.back(), o.mul(c, o.idx(2)));
          Value pr = vector::LoadOp::create(b, pair, tile, idx);
          Value w = vector::ExtractOp::create(
              b, vector::BitCastOp::create(b, word, pr), ArrayRef<int64_t>{0});
          auto cls = classify(w);
          for (int64_t kind = 0; kind < 2; ++kind) {
            // Top bits 15 and 31 to bits n and 16 + n.
            Value bitsN = shl(shr(cls[1 + kind], cst(15)), cst(n));
            for (int64_t r = 0; r < 2; ++r)
              out[2 * kind + r] =
                  lor(out[2 * kind + r], land(bitsN, rowMask[r]));
          }
        }
        scf::YieldOp::create(b, out);
      });

  // +inf where pos, -inf where neg (so NaN where both).
  const double inf = std::numeric_limits<double>::infinity();
  Value posInf = o.f32(inf), negInf = o.f32(-inf), zero = o.f32(0.0);
  for (size_t n = 0; n < acc.size(); ++n) {
    SmallVector<Value> elems;
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t e = 0; e < 2; ++e) {
        auto has = [&](int64_t kind) {
          Value bit = land(shr(loop.getResult(2 * kind + r),
                               cst(static_cast<uint32_t>(n + 16 * e))),
                           cst(1));
          return o.cmp(arith::CmpIPredicate::ne, bit, cst(0));
        };
        Value x =
            vector::ExtractOp::create(b, acc[n], ArrayRef<int64_t>{r, e});
        x = o.fadd(x, o.select(has(0), posInf, zero));
        elems.push_back(o.fadd(x, o.select(has(1), negInf, zero)));
      }
    acc[n] = vector::FromElementsOp::create(b, fragC, elems);
  }
}

void MmaSync::emitIfNonFinite(
    Value nonFinite, MutableArrayRef<Value> acc,
    function_ref<void(MutableArrayRef<Value>)> flagged,
    function_ref<void(MutableArrayRef<Value>)> clean) {
  SmallVector<Type> types(acc.size(), fragC);
  auto ifOp = scf::IfOp::create(b, types, nonFinite, /*withElseRegion=*/true);
  for (auto [block, update] : {std::pair(ifOp.thenBlock(), flagged),
                               std::pair(ifOp.elseBlock(), clean)}) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(block);
    SmallVector<Value> branch(acc);
    update(branch);
    scf::YieldOp::create(b, branch);
  }
  for (size_t i = 0; i < acc.size(); ++i)
    acc[i] = ifOp.getResult(i);
}

Value MmaSync::orNonFinite(Value bits, Value chunk) {
  // Per 16-bit half x of a word, (x & 0x7fff) + (0x8000 - the exponent
  // mask) sets the half's top bit (no carry leaves it) exactly when the
  // exponent is all ones: inf or NaN.
  uint32_t expMask = elem.isF16() ? 0x7c00 : 0x7f80;
  uint32_t bias = (0x8000 - expMask) * 0x10001u;
  Type i32 = b.getI32Type();
  auto cst = [&](uint32_t v) {
    return arith::ConstantIntOp::create(b, i32, static_cast<int32_t>(v));
  };
  Value words =
      vector::BitCastOp::create(b, VectorType::get({4}, i32), chunk);
  for (int64_t i = 0; i < 4; ++i) {
    Value w = vector::ExtractOp::create(b, words, ArrayRef<int64_t>{i});
    Value biased = arith::AddIOp::create(
        b, arith::AndIOp::create(b, w, cst(0x7fff7fff)), cst(bias));
    bits = arith::OrIOp::create(b, bits, biased);
  }
  return bits;
}

Value MmaSync::orNonFiniteRows(Value shared, int64_t rows, int64_t width,
                               Value tid, int64_t threads) {
  int64_t chunksPerRow = width / 8;
  int64_t chunks = rows * chunksPerRow;
  auto chunkType = VectorType::get({8}, elem);
  Value bits = arith::ConstantIntOp::create(b, b.getI32Type(), 0);
  for (int64_t u = 0; u * threads < chunks; ++u) {
    Value chunk = o.add(tid, o.idx(u * threads));
    auto orChunk = [&] {
      Value row = o.divU(chunk, o.idx(chunksPerRow));
      Value col = o.mul(o.remU(chunk, o.idx(chunksPerRow)), o.idx(8));
      // 16-byte aligned (rows of both layouts are): one ld.shared.v4.
      return orNonFinite(bits, vector::LoadOp::create(
                                   b, chunkType, shared, ValueRange{row, col},
                                   /*nontemporal=*/false, llvm::Align(16)));
    };
    if ((u + 1) * threads <= chunks) {
      bits = orChunk();
      continue;
    }
    // The last round has fewer chunks than threads.
    auto inTile = scf::IfOp::create(b, TypeRange{bits.getType()},
                                    o.lt(chunk, o.idx(chunks)),
                                    /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inTile.elseBlock());
    scf::YieldOp::create(b, bits);
    b.setInsertionPointToStart(inTile.thenBlock());
    scf::YieldOp::create(b, orChunk());
    bits = inTile.getResult(0);
  }
  return bits;
}

Value MmaSync::barrierAnyNonFinite(Value bits) {
  Type i32 = b.getI32Type();
  Value top = arith::AndIOp::create(
      b, bits,
      arith::ConstantIntOp::create(b, i32, static_cast<int32_t>(0x80008000u)));
  auto any = NVVM::BarrierOp::create(
      b, i32, /*barrierId=*/Value(), /*numberOfThreads=*/Value(),
      NVVM::BarrierReductionAttr::get(b.getContext(),
                                      NVVM::BarrierReduction::OR),
      top);
  return o.cmp(arith::CmpIPredicate::ne, any.getRes(),
               arith::ConstantIntOp::create(b, i32, 0));
}

SmallVector<Value> MmaSync::packA(ArrayRef<Value> flat, int64_t cols) {
  SmallVector<Value> frags;
  for (int64_t kk = 0; kk < cols / 16; ++kk) {
    Value a = ub::PoisonOp::create(b, fragA);
    for (int64_t part = 0; part < 4; ++part) {
      int64_t n = 2 * kk + part / 2, r = part % 2;
      Value p = vector::FromElementsOp::create(
          b, pairF32,
          ValueRange{flat[flatIndex(n, r, 0)], flat[flatIndex(n, r, 1)]});
      a = vector::InsertOp::create(b, arith::TruncFOp::create(b, pair, p), a,
                                   ArrayRef<int64_t>{part});
    }
    frags.push_back(a);
  }
  return frags;
}

Value MmaSync::sharedTile(Value raw, int64_t offset, int64_t rows,
                          int64_t width) {
  auto wg =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto type = MemRefType::get({rows, width + kSmemPad}, elem,
                              MemRefLayoutAttrInterface(), wg);
  return memref::ViewOp::create(b, type, raw, o.idx(offset), ValueRange{});
}

Value MmaSync::quadReduce(Value v, bool max) {
  for (int64_t offset : {1, 2}) {
    auto shuffle = gpu::ShuffleOp::create(b, v, static_cast<int32_t>(offset),
                                          32, gpu::ShuffleMode::XOR);
    v = max ? o.fmax(v, shuffle.getShuffleResult())
            : o.fadd(v, shuffle.getShuffleResult());
  }
  return v;
}
