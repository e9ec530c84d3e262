//===- DequantTile.cpp - Quantized K and V tiles to f32 -------------------===//
//
// A quantized cache (#attn.quant) is read as the tiles are packed: each kv
// tile's codes are widened to f32 once per work item, into the same KT / VT
// tiles that f16, bf16 and paged caches use, so the products are those of
// a float cache. Decoding is bound by the bytes it reads, and these are
// the codes (bits / 8 bytes an element) plus a scale and zero per group.
//
// Per row of the tile and `lanes` channels at a time:
//   bytes   = the lanes / per bytes holding the channels (per = 8 / bits)
//   codes   = bytes[l / per] >> ((l mod per) * bits) & (2^bits - 1)
//   x       = scale * codes + zero
// with the scale and zero a vector along the channels for keys (their
// groups run along tokens), one broadcast value for values (groups of
// `group` channels, a multiple of the lanes), else channel by channel.
// fp8 codes are one byte a channel: x = scale[kvh] * fp8(bytes).
//
//===----------------------------------------------------------------------===//

#include "CPUTiler.h"

#include "attn/Dialect/Attn/Utils/Quant.h"
#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

void CPUTiler::emitDequantTile(WorkItem &it, Value dst, bool values, Value j0,
                               Value nkv, Value dim, int64_t staticDim) {
  int64_t lanes = plan.vectorWidth, per = quant.getCodesPerByte();
  int64_t group = quant.getGroup();
  Value codes = values ? vB : kB;
  Value scales = values ? valueScaleB : keyScaleB;
  Value zeros = values ? valueZeroB : keyZeroB;
  Value residual = values ? valueResidualB : keyResidualB;
  bool fp8 = quant.isFloat8();
  bool vectors = !ShapedType::isDynamic(staticDim) &&
                 staticDim % lanes == 0 &&
                 (fp8 || !values || group % lanes == 0);
  // fp8: x = scale[kvh] * fp8(code), one scale for the whole tile.
  Value headScale;
  if (fp8)
    headScale = o.extF(memref::LoadOp::create(b, scales, ValueRange{it.kvh}));
  // Tokens j < n come from the codes, the newest from the residual rows
  // j - n: rows [0, split) and [split, nkv) of the tile.
  Value zero = o.idx(0), one = o.idx(1);
  Value n = emitQuantizedLength(o, quant, it.kvEnd);
  Value split = o.max(o.min(o.sub(n, j0), nkv), zero);
  // Key groups run along tokens; a key past the scales' last group (a
  // dynamic Skv that group does not divide, the caller's error) reads the
  // last one. A paged cache's key scales are pools of page_size / group
  // slots a page, indexed like its codes with slot / group.
  Value lastKeyGroup;
  if (!paged && !fp8)
    lastKeyGroup =
        o.sub(memref::DimOp::create(b, keyScaleB, op.getSeqDim()), one);
  auto keyGroupRow = [&](Value j) {
    if (!paged)
      return kvRowIndices(it, o.min(o.divU(j, o.idx(group)), lastKeyGroup));
    SmallVector<Value, 4> row = kvRowIndices(it, j);
    unsigned slot = paged.getSlotDim();
    row[slot] = o.divU(row[slot], o.idx(group));
    return row;
  };
  Type scaleType = quant.getScale();
  auto scaleVec = VectorType::get({lanes}, scaleType);
  auto widen = [&](Value x) -> Value {
    return scaleType.isF32() ? x : arith::ExtFOp::create(b, vecType, x);
  };
  // The constant bit offsets of the lanes within their bytes, and the lane
  // of the loaded bytes each lane reads.
  auto i32Vec = VectorType::get({lanes}, b.getI32Type());
  SmallVector<int32_t> shifts;
  SmallVector<int64_t> byteOfLane;
  for (int64_t l = 0; l < lanes; ++l) {
    shifts.push_back((l % per) * quant.getBits());
    byteOfLane.push_back(l / per);
  }
  Value shiftVec;
  if (vectors)
    shiftVec = arith::ConstantOp::create(
        b, DenseElementsAttr::get(i32Vec, ArrayRef<int32_t>(shifts)));

  emitFor(zero, split, one, ValueRange{}, [&](Value jj, ValueRange) {
    Value j = o.add(j0, jj);
    SmallVector<Value, 4> row = kvRowIndices(it, j);
    SmallVector<Value, 4> groupRow =
        values || fp8 ? row : keyGroupRow(j);
    auto at = [](ArrayRef<Value> lead, Value last) {
      SmallVector<Value, 4> idx(lead);
      idx.push_back(last);
      return idx;
    };
    emitFor(zero, dim, o.idx(vectors ? lanes : 1), ValueRange{},
            [&](Value d, ValueRange) {
              Value byteAt = o.divU(d, o.idx(per));
              Value groupAt = values ? o.divU(d, o.idx(group)) : d;
              Value x;
              if (fp8) {
                Type byteType = b.getI8Type();
                if (vectors)
                  byteType = VectorType::get({lanes}, byteType);
                Value bytes =
                    vectors ? Value(vector::LoadOp::create(
                                  b, cast<VectorType>(byteType), codes,
                                  at(row, d)))
                            : Value(memref::LoadOp::create(b, codes,
                                                           at(row, d)));
                Value s = vectors ? o.splat(vecType, headScale) : headScale;
                x = o.fmul(s, emitFp8Value(o, quant, bytes));
                if (vectors)
                  vector::StoreOp::create(b, x, dst, ValueRange{jj, d});
                else
                  memref::StoreOp::create(b, x, dst, ValueRange{jj, d});
              } else if (vectors) {
                Value bytes = vector::LoadOp::create(
                    b, VectorType::get({lanes / per}, b.getI8Type()), codes,
                    at(row, byteAt));
                if (per > 1)
                  bytes =
                      vector::ShuffleOp::create(b, bytes, bytes, byteOfLane);
                Value code = emitUnpackCode(o, quant, bytes, shiftVec);
                Value s, z;
                if (values) {
                  s = o.splat(vecType,
                              o.extF(memref::LoadOp::create(
                                  b, scales, at(groupRow, groupAt))));
                  z = o.splat(vecType,
                              o.extF(memref::LoadOp::create(
                                  b, zeros, at(groupRow, groupAt))));
                } else {
                  s = widen(vector::LoadOp::create(b, scaleVec, scales,
                                                   at(groupRow, groupAt)));
                  z = widen(vector::LoadOp::create(b, scaleVec, zeros,
                                                   at(groupRow, groupAt)));
                }
                // x = scale * code + zero
                x = vector::FMAOp::create(b, s, code, z);
                vector::StoreOp::create(b, x, dst, ValueRange{jj, d});
              } else {
                Value byte =
                    memref::LoadOp::create(b, codes, at(row, byteAt));
                Value code = emitUnpackCode(o, quant, byte,
                                            emitCodeShift(o, quant, d));
                Value s = o.extF(
                    memref::LoadOp::create(b, scales, at(groupRow, groupAt)));
                Value z = o.extF(
                    memref::LoadOp::create(b, zeros, at(groupRow, groupAt)));
                x = o.fadd(o.fmul(s, code), z);
                memref::StoreOp::create(b, x, dst, ValueRange{jj, d});
              }
              scf::YieldOp::create(b);
            });
    scf::YieldOp::create(b);
  });
  if (!residual)
    return;
  // The residual rows (never paged), widened as a float cache's.
  emitFor(split, nkv, one, ValueRange{}, [&](Value jj, ValueRange) {
    SmallVector<Value, 4> row(
        ArrayRef(indices4(it.bi, it.kvh, o.sub(o.add(j0, jj), n), zero))
            .drop_back());
    Type elem = cast<MemRefType>(residual.getType()).getElementType();
    emitFor(zero, dim, o.idx(vectors ? lanes : 1), ValueRange{},
            [&](Value d, ValueRange) {
              SmallVector<Value, 4> idx(row);
              idx.push_back(d);
              if (vectors) {
                Value x = vector::LoadOp::create(
                    b, VectorType::get({lanes}, elem), residual, idx);
                if (!elem.isF32())
                  x = arith::ExtFOp::create(b, vecType, x);
                vector::StoreOp::create(b, x, dst, ValueRange{jj, d});
              } else {
                memref::StoreOp::create(
                    b, o.extF(memref::LoadOp::create(b, residual, idx)), dst,
                    ValueRange{jj, d});
              }
              scf::YieldOp::create(b);
            });
    scf::YieldOp::create(b);
  });
}
