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
// (int4 with whole pairs of vectors: `lanes` bytes widened at once, whose
// low and high nibbles two shuffles interleave back into channel order),
// with the scale and zero a vector along the channels for keys (their
// groups run along tokens), one broadcast value for values (groups of
// `group` channels, a multiple of the lanes), else channel by channel.
// fp8 codes are one byte a channel: x = scale[kvh] * fp8(bytes).
//
// A paged cache's tile is read a page at a time: one page-table lookup
// (and its clamps) for the tile's rows in a page, whose slots are then
// consecutive, rather than one for each row and, for keys, another for
// its scales' row; with nhd pools the next page's rows are prefetched.
// The rows and the arithmetic are the contiguous cache's.
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
  // (times fp8RawScale, folded into the scale: one multiply a code.)
  if (fp8)
    headScale =
        o.fmul(o.extF(memref::LoadOp::create(b, scales, ValueRange{it.kvh})),
               o.f32(fp8RawScale(quant)));
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
    return kvRowIndices(it, o.min(o.divU(j, o.idx(group)), lastKeyGroup));
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
  // int4 over whole pairs of vectors: lane l of pairOrder[m] is channel
  // m * lanes + l of the two nibble vectors (lane i of the low nibbles is
  // channel 2i, of the high ones 2i + 1; the high ones follow the low in
  // the shuffle's numbering).
  bool pairs = vectors && !fp8 && per == 2 && staticDim % (2 * lanes) == 0;
  SmallVector<int64_t> pairOrder[2];
  for (int64_t m = 0; m < 2; ++m)
    for (int64_t l = 0; l < lanes; ++l) {
      int64_t c = m * lanes + l;
      pairOrder[m].push_back((c % 2) * lanes + c / 2);
    }
  Value shiftVec;
  if (vectors)
    shiftVec = arith::ConstantOp::create(
        b, DenseElementsAttr::get(i32Vec, ArrayRef<int32_t>(shifts)));

  auto at = [](ArrayRef<Value> lead, Value last) {
    SmallVector<Value, 4> idx(lead);
    idx.push_back(last);
    return idx;
  };
  // Row jj of the tile from the codes at `row` (leading indices), its
  // scales and zeros at `groupRow`.
  auto dequantRow = [&](Value jj, ArrayRef<Value> row,
                        ArrayRef<Value> groupRow) {
    emitFor(zero, dim, o.idx(pairs ? 2 * lanes : vectors ? lanes : 1),
            ValueRange{}, [&](Value d, ValueRange) {
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
                x = o.fmul(s, emitFp8Raw(o, quant, bytes));
                if (vectors)
                  vector::StoreOp::create(b, x, dst, ValueRange{jj, d});
                else
                  memref::StoreOp::create(b, x, dst, ValueRange{jj, d});
              } else if (vectors) {
                // x = scale * code + zero for the codes of channels
                // [dd, dd + lanes), whose value group holds channel `dg`.
                auto dequant = [&](Value code, Value dd, Value dg) {
                  Value ga = values ? o.divU(dg, o.idx(group)) : dd;
                  Value s, z;
                  if (values) {
                    s = o.splat(vecType,
                                o.extF(memref::LoadOp::create(
                                    b, scales, at(groupRow, ga))));
                    z = o.splat(vecType,
                                o.extF(memref::LoadOp::create(
                                    b, zeros, at(groupRow, ga))));
                  } else {
                    s = widen(vector::LoadOp::create(b, scaleVec, scales,
                                                     at(groupRow, ga)));
                    z = widen(vector::LoadOp::create(b, scaleVec, zeros,
                                                     at(groupRow, ga)));
                  }
                  vector::StoreOp::create(
                      b, vector::FMAOp::create(b, s, code, z), dst,
                      ValueRange{jj, dd});
                };
                if (pairs) {
                  // Two codes a byte, `lanes` bytes at once: the low and
                  // high nibbles are the even and odd channels, which two
                  // shuffles put back in order. Value groups of 2 * lanes
                  // channels or more hold both vectors: one scale and zero.
                  Value bytes = vector::LoadOp::create(
                      b, VectorType::get({lanes}, b.getI8Type()), codes,
                      at(row, byteAt));
                  auto nibble = [&](int64_t shift) {
                    return emitUnpackCode(
                        o, quant, bytes,
                        o.splat(i32Vec,
                                arith::ConstantIntOp::create(b, shift, 32)));
                  };
                  Value lo = nibble(0), hi = nibble(quant.getBits());
                  bool oneGroup = group % (2 * lanes) == 0;
                  for (int64_t m = 0; m < 2; ++m) {
                    Value dd = o.add(d, o.idx(m * lanes));
                    dequant(vector::ShuffleOp::create(b, lo, hi, pairOrder[m]),
                            dd, oneGroup ? d : dd);
                  }
                } else {
                  Value bytes = vector::LoadOp::create(
                      b, VectorType::get({lanes / per}, b.getI8Type()), codes,
                      at(row, byteAt));
                  if (per > 1)
                    bytes =
                        vector::ShuffleOp::create(b, bytes, bytes, byteOfLane);
                  dequant(emitUnpackCode(o, quant, bytes, shiftVec), d, d);
                }
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
  };
  if (!paged) {
    emitFor(zero, split, one, ValueRange{}, [&](Value jj, ValueRange) {
      Value j = o.add(j0, jj);
      SmallVector<Value, 4> row = kvRowIndices(it, j);
      dequantRow(jj, row, values || fp8 ? row : keyGroupRow(j));
      scf::YieldOp::create(b);
    });
  } else {
    // A page at a time: one table lookup (and its clamps) for the rows
    // [lo, hi) of the tile that page p holds, whose slots then follow the
    // first one's; the key scales' slot is the row's slot / group.
    Value size = o.idx(paged.getPageSize());
    unsigned slotDim = paged.getSlotDim();
    Value end = o.add(j0, split);
    // An nhd pool holds a head's rows of a page Hkv rows apart, a stride
    // that the hardware prefetchers do not follow (the paged tile took 2x
    // the contiguous one's time without this): the next page's code rows
    // of this head, and for keys its scales and zeros, are prefetched a
    // cache line at a time while this page is dequantised. (Value scale
    // rows are 2 D / group bytes a head, consecutive enough to be
    // followed.)
    auto prefetchPage = [&](Value key) {
      SmallVector<Value, 4> page = kvRowIndices(it, key);
      auto lines = [&](Value buf, ArrayRef<Value> lead) {
        auto type = cast<MemRefType>(buf.getType());
        int64_t n = type.getDimSize(3);
        int64_t step = 64 * 8 / type.getElementTypeBitWidth();
        for (int64_t e = 0; e < n; e += step)
          memref::PrefetchOp::create(b, buf, at(lead, o.idx(e)),
                                     /*isWrite=*/false, /*localityHint=*/3,
                                     /*isDataCache=*/true);
      };
      emitFor(zero, size, one, ValueRange{}, [&](Value r, ValueRange) {
        SmallVector<Value, 4> row(page);
        row[slotDim] = r;
        lines(codes, row);
        scf::YieldOp::create(b);
      });
      if (!values && !fp8) {
        lines(scales, page);
        lines(zeros, page);
      }
    };
    auto staticRows = [](Value buf) {
      return !ShapedType::isDynamic(
          cast<MemRefType>(buf.getType()).getDimSize(3));
    };
    bool prefetch = paged.getLayout() == PageLayout::nhd &&
                    staticRows(codes) && (fp8 || staticRows(scales));
    emitFor(o.divU(j0, size), o.ceilDiv(end, size), one, ValueRange{},
            [&](Value p, ValueRange) {
              Value first = o.mul(p, size);
              if (prefetch)
                prefetchPage(o.add(first, size));
              Value lo = o.sub(o.max(first, j0), j0);
              Value hi = o.sub(o.min(o.add(first, size), end), j0);
              SmallVector<Value, 4> base = kvRowIndices(it, o.add(j0, lo));
              emitFor(lo, hi, one, ValueRange{}, [&](Value jj, ValueRange) {
                SmallVector<Value, 4> row(base);
                row[slotDim] = o.add(base[slotDim], o.sub(jj, lo));
                SmallVector<Value, 4> groupRow(row);
                if (!values && !fp8)
                  groupRow[slotDim] = o.divU(row[slotDim], o.idx(group));
                dequantRow(jj, row, groupRow);
                scf::YieldOp::create(b);
              });
              scf::YieldOp::create(b);
            });
  }
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
