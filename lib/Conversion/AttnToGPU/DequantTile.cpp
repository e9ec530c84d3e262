//===- DequantTile.cpp - Quantized K and V tiles into shared memory -------===//
//
// The mma.sync kernel's copies of a quantized cache (#attn.quant): where a
// float cache's tile arrives by cp.async, a quantized one goes through
// registers, so that the products read the same padded f16/bf16 tiles and
// stay unchanged. Each thread takes the 16-byte chunks (8 channels of one
// key) that emitCopyRows would give it, so the V tile's finiteness check
// reads what the thread itself stored, and per chunk of key j:
//
//   j >= kv_end        zeros (no read: past the row's keys, masked)
//   j >= n             residual row j - n, as it is (the newest
//                      kv_end mod R tokens, n = kv_end - kv_end mod R)
//   otherwise          bytes = the 8 / per code bytes of the channels
//                      (per = 8 / bits codes a byte, lowest bits first)
//                      code  = bytes[l / per] >> ((l mod per) * bits)
//                              & (2^bits - 1)                lane l
//                      x     = scale * code + zero           in f32
//                      keys: scale and zero of group j / G, 8 channels
//                      values: of channel group (col + l) / G (one scalar
//                      when G is a multiple of 8)
//                      fp8:  x = scale[kvh] * fp8(bytes[l])
//
// then x rounded to the kernel's element type (round to nearest even) and
// stored. A paged cache reads codes, scales and zeros through the page
// table (key scales at slot / G); the residual rows are never paged.
//
//===----------------------------------------------------------------------===//

#include "GPUTiler.h"

#include "attn/Dialect/Attn/Utils/Quant.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <optional>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::tilegpu;

DequantTile::DequantTile(KernelContext &k)
    : QuantBuffers(QuantBuffers::emit(k.b, k.op)), k(k),
      quant(k.op.getQuantAttr()) {}

SmallVector<Value> DequantTile::rowIndices(Value j, Value last) {
  SmallVector<Value> idx;
  if (PagedAttr paged = k.op.getPagedAttr()) {
    idx = k.bufs.pagedRowIndices(k.b, paged, k.cta.bi, k.cta.kvh, j);
    idx.push_back(last);
  } else {
    idx = k.indices4(k.cta.bi, k.cta.kvh, j, last);
  }
  return idx;
}

Value DequantTile::emitChunk(bool values, Value j, Value col) {
  ImplicitLocOpBuilder &b = k.b;
  Arith &o = k.o;
  int64_t per = quant.getCodesPerByte(), group = quant.getGroup();
  auto f32x8 = VectorType::get({8}, b.getF32Type());
  // 8 channels: 8 / per bytes, aligned to their size (rows of D / per
  // bytes, D a multiple of 16).
  SmallVector<Value> row = rowIndices(j, o.divU(col, o.idx(per)));
  Value bytes =
      vector::LoadOp::create(b, VectorType::get({8 / per}, b.getI8Type()),
                             values ? k.bufs.vB : k.bufs.kB, row,
                             /*nontemporal=*/false, llvm::Align(8 / per));
  auto withLast = [&](ArrayRef<Value> idx, Value last) {
    SmallVector<Value> r(idx);
    r.back() = last;
    return r;
  };
  if (quant.isFloat8()) {
    Value scale = o.extF(memref::LoadOp::create(
        b, values ? valueScaleB : keyScaleB, ValueRange{k.cta.kvh}));
    return o.fmul(o.splat(f32x8, scale), emitFp8Value(o, quant, bytes));
  }
  // Lane l reads byte l / per at bit offset (l mod per) * bits.
  SmallVector<int64_t> byteOfLane;
  SmallVector<int32_t> shifts;
  for (int64_t l = 0; l < 8; ++l) {
    byteOfLane.push_back(l / per);
    shifts.push_back(static_cast<int32_t>((l % per) * quant.getBits()));
  }
  if (per > 1)
    bytes = vector::ShuffleOp::create(b, bytes, bytes, byteOfLane);
  auto i32x8 = VectorType::get({8}, b.getI32Type());
  Value code = emitUnpackCode(
      o, quant, bytes,
      arith::ConstantOp::create(
          b, DenseElementsAttr::get(i32x8, ArrayRef<int32_t>(shifts))));

  Value s, z;
  if (!values) {
    // Key groups run along tokens: group j / G holds a scale and zero per
    // channel (16-byte aligned: rows of D scales). A paged cache's key
    // scales are pools of page_size / G slots a page; otherwise a key
    // past the last group (a Skv that G does not divide, the caller's
    // error) reads the last one.
    SmallVector<Value> at;
    if (PagedAttr paged = k.op.getPagedAttr()) {
      at = withLast(row, col);
      unsigned slot = paged.getSlotDim();
      at[slot] = o.divU(at[slot], o.idx(group));
    } else {
      Value lastGroup = o.sub(
          memref::DimOp::create(b, keyScaleB, k.op.getSeqDim()), o.idx(1));
      at = k.indices4(k.cta.bi, k.cta.kvh,
                      o.min(o.divU(j, o.idx(group)), lastGroup), col);
    }
    auto scaleVec = VectorType::get({8}, quant.getScale());
    auto load = [&](Value buf) -> Value {
      Value x = vector::LoadOp::create(b, scaleVec, buf, at,
                                       /*nontemporal=*/false, llvm::Align(16));
      return quant.getScale().isF32() ? x : arith::ExtFOp::create(b, f32x8, x);
    };
    s = load(keyScaleB);
    z = load(keyZeroB);
  } else if (group % 8 == 0) {
    // Value groups along channels: the chunk lies in group col / G.
    SmallVector<Value> at = withLast(row, o.divU(col, o.idx(group)));
    s = o.splat(f32x8, o.extF(memref::LoadOp::create(b, valueScaleB, at)));
    z = o.splat(f32x8, o.extF(memref::LoadOp::create(b, valueZeroB, at)));
  } else {
    // Groups that do not align with the chunk: lane by lane.
    SmallVector<Value> ss, zs;
    for (int64_t l = 0; l < 8; ++l) {
      SmallVector<Value> at =
          withLast(row, o.divU(o.add(col, o.idx(l)), o.idx(group)));
      ss.push_back(o.extF(memref::LoadOp::create(b, valueScaleB, at)));
      zs.push_back(o.extF(memref::LoadOp::create(b, valueZeroB, at)));
    }
    s = vector::FromElementsOp::create(b, f32x8, ss);
    z = vector::FromElementsOp::create(b, f32x8, zs);
  }
  return o.fadd(o.fmul(s, code), z);
}

void DequantTile::emitRows(Value shared, bool values, Value j0, int64_t rows,
                           int64_t width) {
  ImplicitLocOpBuilder &b = k.b;
  Arith &o = k.o;
  const CTAValues &cta = k.cta;
  auto chunkType = VectorType::get({8}, k.elem);
  Value residual = values ? valueResidualB : keyResidualB;
  Value n = emitQuantizedLength(o, quant, cta.kvEnd);
  // The chunk of `then` if `cond`, else of `otherwise`.
  auto choose = [&](Value cond, function_ref<Value()> then,
                    function_ref<Value()> otherwise) -> Value {
    auto ifOp = scf::IfOp::create(b, TypeRange{chunkType}, cond,
                                  /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, then());
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, otherwise());
    return ifOp.getResult(0);
  };
  // A loop over the thread's rounds of chunks (an unrolled one lets the
  // loads of every round run ahead of the stores: over 250 registers at
  // D = 128, from 165 for a float cache).
  int64_t threads = k.threads();
  int64_t chunksPerRow = width / 8;
  int64_t chunks = rows * chunksPerRow;
  int64_t rounds = (chunks + threads - 1) / threads;
  auto loop = scf::ForOp::create(b, o.idx(0), o.idx(rounds), o.idx(1));
  OpBuilder::InsertionGuard loopGuard(b);
  b.setInsertionPoint(loop.getBody()->getTerminator());
  Value chunk = o.add(cta.tid, o.mul(loop.getInductionVar(), o.idx(threads)));
  std::optional<OpBuilder::InsertionGuard> guard;
  if (chunks % threads != 0) {
    // The last round has fewer chunks than threads.
    auto inTile = scf::IfOp::create(b, TypeRange{}, o.lt(chunk, o.idx(chunks)),
                                    /*withElseRegion=*/false);
    guard.emplace(b);
    b.setInsertionPointToStart(inTile.thenBlock());
  }
  Value row = o.divU(chunk, o.idx(chunksPerRow));
  Value col = o.mul(o.remU(chunk, o.idx(chunksPerRow)), o.idx(8));
  Value j = o.add(j0, row);
  auto codes = [&] {
    return arith::TruncFOp::create(b, chunkType, emitChunk(values, j, col))
        .getResult();
  };
  Value x = choose(
      o.lt(j, cta.kvEnd),
      [&] {
        if (!residual)
          return codes();
        return choose(o.lt(j, n), codes, [&]() -> Value {
          return vector::LoadOp::create(
              b, chunkType, residual,
              k.indices4(cta.bi, cta.kvh, o.sub(j, n), col),
              /*nontemporal=*/false, llvm::Align(16));
        });
      },
      [&] { return k.constVec(chunkType, 0.0); });
  vector::StoreOp::create(b, x, shared, ValueRange{row, col},
                          /*nontemporal=*/false, llvm::Align(16));
}
