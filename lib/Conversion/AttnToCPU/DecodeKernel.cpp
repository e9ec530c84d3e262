//===- DecodeKernel.cpp - The row kernel for decoding ---------------------===//
//
// Few query rows per (b, h) leave the lanes of the tile kernel idle, so
// decoding gets a kernel whose lanes run along the head dimension. A work
// item holds the query heads of a GQA group (one head where the mask reads
// operands per head), which take each span of a kv tile in turn while its
// K and V rows are in the L1 cache. The kv range of each row is split
// across threads (kv_splits, or enough to keep the threads busy), and the
// partial results are merged by their log-sum-exp.
//
//===----------------------------------------------------------------------===//

#include "CPUTiler.h"

#include "attn/Dialect/Attn/Utils/Quant.h"
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

Value CPUTiler::emitLaneSums(ArrayRef<Value> vecs) {
  // Halving: combining x and y (m keys each, c partial sums per key in
  // consecutive lanes) gives 2m keys with c / 2 partials: lane t (c/2) + p
  // = x[t c + p] + x[t c + c/2 + p] for x's key t, then y's keys. After
  // log2(lanes) rounds every key has one lane, in the input order.
  int64_t lanes = plan.vectorWidth;
  assert(static_cast<int64_t>(vecs.size()) == lanes && "one vector a key");
  SmallVector<Value> cur(vecs);
  for (int64_t c = lanes, m = 1; c > 1; c /= 2, m *= 2) {
    SmallVector<int64_t> lo(lanes), hi(lanes);
    for (int64_t half = 0; half < 2; ++half)
      for (int64_t t = 0; t < m; ++t)
        for (int64_t p = 0; p < c / 2; ++p) {
          int64_t at = (half * m + t) * (c / 2) + p;
          lo[at] = half * lanes + t * c + p;
          hi[at] = lo[at] + c / 2;
        }
    SmallVector<Value> next;
    for (size_t i = 0; i + 1 < cur.size(); i += 2)
      next.push_back(
          o.fadd(vector::ShuffleOp::create(b, cur[i], cur[i + 1], lo),
                 vector::ShuffleOp::create(b, cur[i], cur[i + 1], hi)));
    cur = std::move(next);
  }
  return cur.front();
}

void CPUTiler::emitRowKernel(int64_t qVecs, int64_t vVecs) {
  // Items are rows (b, kvh, i) times kv splits: the query heads of a GQA
  // group share an item, which visits each kv tile once for all of them,
  // so K and V come from memory once per group and from the cache for the
  // group's other heads. Masks that read operands per head at run time
  // (document, tree, dense) keep one item per query row (b, h, i). Splits
  // keep every thread busy when items are fewer than threads: each split
  // covers an equal share of the row's non-empty kv tiles and leaves
  // (acc, m, l) of each of its query rows for emitRowMerge.
  bool packed = !runtime.any();
  Value rows = o.mul(o.mul(batch, qHeads), qLen);
  Value itemRows = packed ? o.mul(o.mul(batch, kvHeads), qLen) : rows;
  Value splits;
  if (plan.kvSplits > 0) {
    splits = o.idx(plan.kvSplits);
  } else {
    // ceil(2 * threads / item rows), and no split smaller than 4 kv tiles.
    Value want = o.ceilDiv(o.idx(2 * plan.threads), o.max(itemRows, o.idx(1)));
    Value cap = o.ceilDiv(kvLen, o.idx(4 * plan.blockKv));
    splits = o.max(o.min(want, cap), o.idx(1));
  }
  Value partials = o.mul(rows, splits);
  IntegerAttr align = b.getI64IntegerAttr(64);
  int64_t dyn = ShapedType::kDynamic;
  Value accP = memref::AllocOp::create(b, MemRefType::get({dyn, dyn}, f32),
                                       ValueRange{partials, valueDim}, align);
  Value mP = memref::AllocOp::create(b, MemRefType::get({dyn}, f32),
                                     ValueRange{partials}, align);
  Value lP = memref::AllocOp::create(b, MemRefType::get({dyn}, f32),
                                     ValueRange{partials}, align);
  emitParallel(o.mul(itemRows, splits), [&](Value item) {
    emitRowItem(item, splits, packed, qVecs, vVecs, accP, mP, lP);
  });
  emitParallel(
      rows, [&](Value row) { emitRowMerge(row, splits, vVecs, accP, mP, lP); });
}

void CPUTiler::emitRowItem(Value item, Value splits, bool packed, int64_t qVecs,
                           int64_t vVecs, Value accP, Value mP, Value lP) {
  WorkItem it;
  Value zero = o.idx(0), one = o.idx(1);
  Value row = o.divU(item, splits), split = o.remU(item, splits);
  // The item's query heads h0 .. h0 + heads - 1.
  Value i, h0, heads;
  if (packed) {
    // row = (b * Hkv + kvh) * Sq + i
    i = o.remU(row, qLen);
    Value bk = o.divU(row, qLen);
    it.bi = o.divU(bk, kvHeads);
    it.kvh = o.remU(bk, kvHeads);
    it.kvLenB = emitter->emitKvLength(b, it.bi);
    it.kvEnd = o.max(o.min(it.kvLenB, kvLen), zero);
    h0 = o.mul(it.kvh, group);
    heads = group;
  } else {
    i = emitRowCoordinates(it, row);
    h0 = it.hi;
    heads = one;
  }
  it.hi = h0;
  it.i0 = i;
  it.nq = one;
  it.rowLo = it.rowHi = it.rowSeg = Value();
  emitItemSetup(it);

  // The kv tiles (the unit of the tile classification) are visited in
  // spans of `span` keys, whose K and V rows (f32, 4 (D + Dv) bytes a key,
  // in KT / VT or read in place; with plan.rowBf16 bf16, 2 (D + Dv) bytes
  // in place or in KS and VP) stay in the L1 cache while every head of
  // the item reads them: the group's heads then read K and V from L1, not
  // L2 (96-key tiles of D = 128: 96 KiB, past a 48 KiB L1).
  int64_t lanes = plan.vectorWidth;
  int64_t keyBytes = (plan.rowBf16 ? 2 : 4) * (qVecs + vVecs) * lanes;
  int64_t span =
      std::clamp<int64_t>(kRowSpanBytes / keyBytes / lanes * lanes, lanes,
                          llvm::divideCeil(plan.blockKv, lanes) * lanes);
  // f32 hnd page pools are read in place (the spans and the order of the
  // sums stay those of a contiguous cache): a head's rows of a page are
  // contiguous there. In nhd pools they lie Hkv * D * 4 bytes apart (4 KiB
  // at Hkv 8, D 128), in the same L1 sets, and the group's heads re-read
  // them from L2: in place took 1.17x the gather's CPU time there, while
  // hnd in place took 0.89x (bench/results/2026-12-07-paged-in-place.md).
  // Spans then start on page boundaries or nest in pages: block_kv is a
  // multiple of page_size, and pages and spans nest. The gather (below)
  // serves the other cases, nhd pools and f16 / bf16 caches.
  bool floatCache = cast<MemRefType>(kB.getType()).getElementType().isF32() &&
                    cast<MemRefType>(vB.getType()).getElementType().isF32();
  int64_t pageSize = paged ? paged.getPageSize() : 0;
  bool pagesInPlace = paged && paged.getLayout() == PageLayout::hnd &&
                      floatCache && !quant && plan.blockKv % pageSize == 0 &&
                      (pageSize % span == 0 || span % pageSize == 0);
  // Scores of one span and head: st is [keys x 1] for the shared mask
  // code, and its 1-D view `sr` serves the vector passes over keys.
  int64_t keys = span;
  it.st = memref::AllocaOp::create(b, MemRefType::get({keys, 1}, f32),
                                   b.getI64IntegerAttr(64));
  Value sr = memref::CollapseShapeOp::create(
      b, it.st, ArrayRef<ReassociationIndices>{{0, 1}});
  // Each head's running shift m, sum l and accumulator, across kv tiles.
  int64_t dyn = ShapedType::kDynamic;
  IntegerAttr align = b.getI64IntegerAttr(64);
  Value mS = memref::AllocaOp::create(b, MemRefType::get({dyn}, f32),
                                      ValueRange{heads}, align);
  Value lS = memref::AllocaOp::create(b, MemRefType::get({dyn}, f32),
                                      ValueRange{heads}, align);
  bool amx = plan.rowAmx;
  // With AMX, P V too (emitRowValuesAmx): the accumulators are the C
  // tiles' rows, one a head, 16 a column block.
  Value qpBlocks = amx ? o.ceilDiv(heads, o.idx(16)) : Value();
  Value accS = memref::AllocaOp::create(
      b, MemRefType::get({dyn, dyn}, f32),
      ValueRange{amx ? o.mul(qpBlocks, o.idx(16)) : heads, valueDim}, align);
  // plan.rowAmx (bf16 caches on AMX hosts, DecodeAmx.cpp): the scores of
  // a span for all of the item's heads by tile products, scores[g][jj],
  // from the heads' query pairs QP; K is read as bf16 (in place, or from
  // a copy of the span's rows: paged caches, and K's end) and only V is
  // widened into VT.
  Value qp, amxScores, amxStaging;
  if (amx) {
    qp = emitRowQueryPairsAmx(it, i, h0, heads, qpBlocks);
    amxScores =
        memref::AllocaOp::create(b, MemRefType::get({dyn, keys}, f32),
                                 ValueRange{o.mul(qpBlocks, o.idx(16))}, align);
    amxStaging = memref::AllocaOp::create(
        b, MemRefType::get({span, qVecs * lanes}, b.getBF16Type()), align);
  }
  // Paged or f16 / bf16 caches: each kv tile's K and V rows are gathered
  // through the page table and widened to f32 once, for all of the item's
  // heads (KT[jj][d], VT[jj][e]).
  Value kt, vt;
  // plan.rowBf16 (DecodeBf16.cpp): V's rows in pairs of keys, VP[p][2e +
  // t] = V[j0 + 2p + t, e], and for paged caches the K rows, KS[jj][d]
  // (bf16; contiguous caches' K rows are read in place), for all of the
  // item's heads; each head's weights in bf16, PW[jj].
  Value vp, ks, pw, pa;
  Type bf16 = b.getBF16Type();
  if (plan.rowBf16) {
    vp = memref::AllocaOp::create(
        b, MemRefType::get({span / 2, 2 * vVecs * lanes}, bf16), align);
    if (paged)
      ks = memref::AllocaOp::create(
          b, MemRefType::get({span, qVecs * lanes}, bf16), align);
    pw = memref::AllocaOp::create(b, MemRefType::get({span}, bf16), align);
  } else if (amx) {
    // P V on AMX: V's rows in pairs of keys (VP, as above) for 32-key
    // chunks, and the heads' weights in bf16, PA[g][jj] (zeros past the
    // last head and past the span).
    int64_t chunked = llvm::alignTo(span, 32);
    vp = memref::AllocaOp::create(
        b, MemRefType::get({chunked / 2, 2 * vVecs * lanes}, bf16), align);
    pa =
        memref::AllocaOp::create(b, MemRefType::get({dyn, chunked}, bf16),
                                 ValueRange{o.mul(qpBlocks, o.idx(16))}, align);
    auto rowType = VectorType::get({lanes}, bf16);
    Value zeros = arith::ConstantOp::create(
        b, rowType, cast<TypedAttr>(b.getZeroAttr(rowType)));
    emitFor(zero, o.mul(qpBlocks, o.idx(16)), one, ValueRange{},
            [&](Value r, ValueRange) {
              for (int64_t c = 0; c < chunked; c += lanes)
                vector::StoreOp::create(b, zeros, pa, ValueRange{r, o.idx(c)});
              scf::YieldOp::create(b);
            });
  } else if ((paged && !pagesInPlace) || !floatCache) {
    kt = memref::AllocaOp::create(
        b, MemRefType::get({span, qVecs * lanes}, f32), align);
    vt = memref::AllocaOp::create(
        b, MemRefType::get({span, vVecs * lanes}, f32), align);
  }
  Value zeroVec = o.cst(vecType, 0.0);
  emitFor(zero, heads, one, ValueRange{}, [&](Value g, ValueRange) {
    memref::StoreOp::create(b, o.f32(kNegInf), mS, ValueRange{g});
    memref::StoreOp::create(b, o.f32(0.0), lS, ValueRange{g});
    for (int64_t c = 0; c < vVecs; ++c)
      vector::StoreOp::create(b, zeroVec, accS,
                              ValueRange{g, o.idx(c * plan.vectorWidth)});
    scf::YieldOp::create(b);
  });

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

  // Vector `c` of a row whose leading indices are `row`.
  auto rowVec = [&](Value buf, ArrayRef<Value> row, int64_t c) {
    Type elem = cast<MemRefType>(buf.getType()).getElementType();
    SmallVector<Value, 4> idx(row);
    idx.push_back(o.idx(c * plan.vectorWidth));
    Value v = vector::LoadOp::create(
        b, VectorType::get({plan.vectorWidth}, elem), buf, idx);
    return elem.isF32() ? v : Value(arith::ExtFOp::create(b, vecType, v));
  };
  Value scaleV = o.splat(vecType, scale);
  int64_t keyVecs = keys / plan.vectorWidth;
  // The K / V row of key j0 + jj read in place: a contiguous cache's, or
  // with pagesInPlace row spanRows[jj] of the pools viewed as [pages *
  // Hkv * page_size, D] (kRows / vRows), filled once a span for all of
  // the item's heads: a load and an address a row, instead of the table
  // lookup and its clamps (and instead of copying the rows, which the
  // gather does).
  Value spanRows, poolHeads, kRows = kB, vRows = vB;
  if (pagesInPlace) {
    spanRows =
        memref::AllocaOp::create(b, MemRefType::get({span}, b.getIndexType()));
    poolHeads = memref::DimOp::create(b, kB, paged.getKvHeadDim());
    auto flat = [&](Value pool) -> Value {
      return memref::CollapseShapeOp::create(
          b, pool, ArrayRef<ReassociationIndices>{{0, 1, 2}, {3}});
    };
    kRows = flat(kB);
    vRows = flat(vB);
  }
  auto cacheRow = [&](Value j0, Value jj) -> SmallVector<Value, 4> {
    if (!pagesInPlace)
      return kvRowIndices(it, o.add(j0, jj));
    return {memref::LoadOp::create(b, spanRows, ValueRange{jj})};
  };
  // Fills spanRows for keys [j0, j0 + nkv): one table lookup a page (j0
  // is a page's first key, or the span lies in one page). An hnd pool
  // [pages, Hkv, P, D] holds key (page, kvh, slot) in flat row
  // (page Hkv + kvh) P + slot.
  auto fillSpanRows = [&](Value j0, Value nkv) {
    Value size = o.idx(pageSize);
    emitFor(o.idx(0), nkv, size, ValueRange{}, [&](Value q0, ValueRange) {
      SmallVector<Value, 4> row = kvRowIndices(it, o.add(j0, q0));
      Value first =
          o.add(o.mul(o.add(o.mul(row[0], poolHeads), row[1]), size), row[2]);
      Value n = o.min(size, o.sub(nkv, q0));
      emitFor(o.idx(0), n, o.idx(1), ValueRange{}, [&](Value r, ValueRange) {
        memref::StoreOp::create(b, o.add(first, r), spanRows,
                                ValueRange{o.add(q0, r)});
        scf::YieldOp::create(b);
      });
      scf::YieldOp::create(b);
    });
  };

  // Software prefetch of the next span's K and V rows (their codes, for a
  // quantized cache), a cache line at a time, into L2 (prefetcht1): the
  // first head's P V visits one key at a time and asks for the row
  // `span` keys ahead, so the next span's rows are in flight while this
  // span computes rather than each arriving when the next gather reads
  // it (perf put half of the bf16 and int4 decode's time on those loads).
  // Keys past the cache (its codes, for a quantized one) ask for its last
  // row.
  Value prefetchLast = o.sub(it.kvEnd, one);
  if (quant)
    prefetchLast =
        o.max(o.sub(emitQuantizedLength(o, quant, it.kvEnd), one), zero);
  auto prefetchNextSpan = [&](Value j0, Value jj) {
    Value j = o.min(o.add(o.add(j0, o.idx(span)), jj), prefetchLast);
    for (auto [src, vecs] : {std::pair{kB, qVecs}, std::pair{vB, vVecs}}) {
      int64_t bytes = vecs * lanes *
                      cast<MemRefType>(src.getType()).getElementTypeBitWidth() /
                      8 / (quant ? quant.getCodesPerByte() : 1);
      int64_t perLine =
          64 * 8 / cast<MemRefType>(src.getType()).getElementTypeBitWidth();
      for (int64_t at = 0; at < bytes; at += 64) {
        SmallVector<Value, 4> idx = kvRowIndices(it, j);
        idx.push_back(o.idx(at / 64 * perLine));
        memref::PrefetchOp::create(b, src, idx, /*isWrite=*/false,
                                   /*localityHint=*/2, /*isDataCache=*/true);
      }
    }
  };

  auto pairType = VectorType::get({2 * lanes}, bf16);
  // One head `g` of the item on kv tile [j0, j0 + nkv): updates its m, l
  // and accumulator. With plan.rowBf16, `nonFinite` says whether the
  // span's values hold a NaN or inf (emitRowPackBf16).
  auto headOnTile = [&](Value g, Value j0, Value nkv, Value isFull,
                        Value nonFinite) {
    it.hi = o.add(h0, g);
    // The query row in registers: scaled f32, or with plan.rowBf16 bf16
    // pairs of head-dim elements (the scale multiplies the scores).
    SmallVector<Value> qRow = indices4(it.bi, it.hi, i, zero);
    qRow.pop_back();
    SmallVector<Value> qv;
    for (int64_t c = 0; c < qVecs; ++c) {
      if (!plan.rowBf16) {
        qv.push_back(o.fmul(rowVec(qB, qRow, c), scaleV));
      } else if (c % 2 == 0) {
        SmallVector<Value> idx(qRow);
        idx.push_back(o.idx(c * lanes));
        qv.push_back(vector::LoadOp::create(b, pairType, qB, idx));
      }
    }
    // sr[jj] = sum_d q[d] K[j0 + jj, d]: lanes along d, for a block of
    // `lanes` keys at a time (independent FMA chains), whose partial-sum
    // vectors one reduction tree turns into a vector of their scores.
    // Whole blocks first; in the last, partial one keys past nkv repeat the
    // last key, and their scores are overwritten.
    Value last = o.sub(nkv, one);
    auto keyBlock = [&](Value blk, bool partial) {
      Value jb = o.mul(blk, o.idx(lanes));
      SmallVector<Value> dots;
      for (int64_t r = 0; r < lanes; ++r) {
        Value jj = o.add(jb, o.idx(r));
        if (partial)
          jj = o.min(jj, last);
        Value staged = kt ? kt : ks;
        SmallVector<Value, 4> kRow =
            staged ? SmallVector<Value, 4>{jj} : cacheRow(j0, jj);
        if (plan.rowBf16) {
          dots.push_back(emitRowKeyDotBf16(qv, staged ? staged : kB, kRow));
          continue;
        }
        Value dot = zeroVec;
        for (int64_t c = 0; c < qVecs; ++c)
          dot = vector::FMAOp::create(b, qv[c],
                                      rowVec(kt ? kt : kRows, kRow, c), dot);
        dots.push_back(dot);
      }
      Value scores = emitLaneSums(dots);
      if (plan.rowBf16)
        scores = o.fmul(scores, scaleV);
      vector::StoreOp::create(b, scores, sr, ValueRange{jb});
    };
    Value whole = o.divU(nkv, o.idx(lanes));
    if (amx) {
      for (int64_t v = 0; v < keyVecs; ++v) {
        Value at = o.idx(v * lanes);
        Value x =
            vector::LoadOp::create(b, vecType, amxScores, ValueRange{g, at});
        vector::StoreOp::create(b, o.fmul(x, scaleV), sr, ValueRange{at});
      }
    } else {
      emitFor(zero, whole, one, ValueRange{}, [&](Value blk, ValueRange) {
        keyBlock(blk, false);
        scf::YieldOp::create(b);
      });
      auto partial = scf::IfOp::create(b, TypeRange{},
                                       o.lt(o.mul(whole, o.idx(lanes)), nkv),
                                       /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(partial.thenBlock());
      keyBlock(whole, true);
    }
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
    Value m = memref::LoadOp::create(b, mS, ValueRange{g});
    Value l = memref::LoadOp::create(b, lS, ValueRange{g});
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
      // The weights of the bf16 P V, rounded to nearest even; the sum
      // adds them in f32 (as the AMX path with an LSE result).
      if (pw)
        vector::StoreOp::create(
            b, arith::TruncFOp::create(b, VectorType::get({lanes}, bf16), w),
            pw, ValueRange{o.idx(v * plan.vectorWidth)});
      sum = o.fadd(sum, w);
    }
    Value lNew = l;
    if (denom == Denom::RowSum) {
      Value part =
          vector::ReductionOp::create(b, vector::CombiningKind::ADD, sum);
      lNew = shifted ? o.fadd(o.fmul(l, alpha), part) : o.fadd(l, part);
    }
    // acc = alpha * acc + sum_jj w[jj] V[j0 + jj, :], over the keys whose
    // weight is not 0: a masked key's NaN or inf value never reaches the
    // row (README, "Masked keys").
    SmallVector<Value> accInit;
    for (int64_t c = 0; c < vVecs; ++c) {
      Value acc = vector::LoadOp::create(
          b, vecType, accS, ValueRange{g, o.idx(c * plan.vectorWidth)});
      accInit.push_back(alpha ? o.fmul(acc, o.splat(vecType, alpha)) : acc);
    }
    // The key's weight is compared as a vector, so that the selects become
    // masked FMAs (a scalar i1 select of vectors becomes a branch a vector).
    auto maskedProduct = [&]() -> ValueRange {
      auto loop = emitFor(zero, nkv, one, accInit, [&](Value jj, ValueRange a) {
        {
          auto first = scf::IfOp::create(b, TypeRange{}, o.eq(g, zero),
                                         /*withElseRegion=*/false);
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(first.thenBlock());
          prefetchNextSpan(j0, jj);
        }
        Value w =
            o.splat(vecType, memref::LoadOp::create(b, sr, ValueRange{jj}));
        Value live = o.nonZero(w);
        SmallVector<Value, 4> vRow =
            vt ? SmallVector<Value, 4>{jj} : cacheRow(j0, jj);
        SmallVector<Value> next;
        for (int64_t c = 0; c < vVecs; ++c)
          next.push_back(
              o.select(live,
                       vector::FMAOp::create(
                           b, w, rowVec(vt ? vt : vRows, vRow, c), a[c]),
                       a[c]));
        scf::YieldOp::create(b, next);
      });
      return loop.getResults();
    };
    // The masked f32 product where the span's values hold a NaN or inf
    // (a zero weight's bf16 pair or tile product would add 0 * NaN), else
    // `finite`'s.
    auto guarded = [&](function_ref<SmallVector<Value>()> finite) {
      auto ifOp = scf::IfOp::create(b, ValueRange(accInit).getTypes(),
                                    nonFinite, /*withElseRegion=*/true);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      scf::YieldOp::create(b, maskedProduct());
      b.setInsertionPointToStart(ifOp.elseBlock());
      scf::YieldOp::create(b, finite());
      return ifOp.getResults();
    };
    ValueRange pv;
    if (amx) {
      // The span's weights into PA's row g for the AMX P V after the
      // heads (emitRowValuesAmx); the accumulator is only rescaled here.
      pv = guarded([&] {
        auto bf16Vec = VectorType::get({lanes}, bf16);
        for (int64_t v = 0; v < keyVecs; ++v)
          vector::StoreOp::create(
              b, arith::TruncFOp::create(b, bf16Vec, loadKeys(v)), pa,
              ValueRange{g, o.idx(v * lanes)});
        auto first = scf::IfOp::create(b, TypeRange{}, o.eq(g, zero),
                                       /*withElseRegion=*/false);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(first.thenBlock());
        emitFor(zero, nkv, one, ValueRange{}, [&](Value jj, ValueRange) {
          prefetchNextSpan(j0, jj);
          scf::YieldOp::create(b);
        });
        return SmallVector<Value>(accInit);
      });
    } else if (!plan.rowBf16) {
      pv = maskedProduct();
    } else {
      // bf16 pairs of keys.
      pv = guarded([&] { return emitRowValuesBf16(pw, vp, nkv, accInit); });
    }
    memref::StoreOp::create(b, mNew, mS, ValueRange{g});
    memref::StoreOp::create(b, lNew, lS, ValueRange{g});
    for (int64_t c = 0; c < vVecs; ++c)
      vector::StoreOp::create(b, pv[c], accS,
                              ValueRange{g, o.idx(c * plan.vectorWidth)});
  };
  auto tileBody = [&](Value t, Value dataFull) {
    Value t0 = o.mul(t, o.idx(plan.blockKv));
    Value tileKeys = o.min(o.idx(plan.blockKv), o.sub(it.kvEnd, t0));
    Value isFull = emitIsFull(it, t0);
    if (dataFull)
      isFull = o.land(isFull, dataFull);
    emitFor(
        zero, tileKeys, o.idx(span), ValueRange{}, [&](Value s, ValueRange) {
          Value j0 = o.add(t0, s);
          Value nkv = o.min(o.idx(span), o.sub(tileKeys, s));
          if (pagesInPlace)
            fillSpanRows(j0, nkv);
          if (kt)
            emitPackTile(it, kt, kB, j0, nkv, headDim, qVecs * lanes);
          if (vt)
            emitPackTile(it, vt, vB, j0, nkv, valueDim, vVecs * lanes);
          if (amx)
            emitRowScoresAmx(it, qp, qpBlocks, amxScores, amxStaging, j0, nkv);
          Value nonFinite = vp ? emitRowPackBf16(it, vp, ks, j0, nkv) : Value();
          // VP's pairs of keys past the span: zeros.
          if (amx) {
            Value pairsEnd = memref::DimOp::create(b, vp, 0);
            auto rowType = VectorType::get({2 * lanes}, bf16);
            Value zeros = arith::ConstantOp::create(
                b, rowType, cast<TypedAttr>(b.getZeroAttr(rowType)));
            emitFor(o.ceilDiv(nkv, o.idx(2)), pairsEnd, one, ValueRange{},
                    [&](Value p, ValueRange) {
                      for (int64_t c = 0; c < 2 * vVecs * lanes; c += 2 * lanes)
                        vector::StoreOp::create(b, zeros, vp,
                                                ValueRange{p, o.idx(c)});
                      scf::YieldOp::create(b);
                    });
          }
          emitFor(zero, heads, one, ValueRange{}, [&](Value g, ValueRange) {
            headOnTile(g, j0, nkv, isFull, nonFinite);
            scf::YieldOp::create(b);
          });
          if (amx) {
            auto finite = scf::IfOp::create(b, TypeRange{}, o.lnot(nonFinite),
                                            /*withElseRegion=*/false);
            OpBuilder::InsertionGuard guard(b);
            b.setInsertionPointToStart(finite.thenBlock());
            emitRowValuesAmx(pa, vp, accS, qpBlocks);
          }
          scf::YieldOp::create(b);
        });
  };

  emitFor(zero, count, one, ValueRange{zero}, [&](Value k, ValueRange state) {
    Value lo = memref::LoadOp::create(b, rangeLo, ValueRange{k});
    Value hiT = memref::LoadOp::create(b, rangeHi, ValueRange{k});
    Value len = o.sub(hiT, lo), off = state[0];
    auto clampTo = [&](Value x) {
      return o.max(o.min(o.sub(x, off), len), zero);
    };
    emitFor(o.add(lo, clampTo(begin)), o.add(lo, clampTo(end)), one,
            ValueRange{}, [&](Value t, ValueRange) {
              emitRuntimeSkip(it, t, ValueRange{}, [&](Value dataFull) {
                tileBody(t, dataFull);
                return SmallVector<Value>{};
              });
              scf::YieldOp::create(b);
            });
    scf::YieldOp::create(b, ValueRange{o.add(off, len)});
  });
  // Each head's partial result, at (query row, split).
  emitFor(zero, heads, one, ValueRange{}, [&](Value g, ValueRange) {
    Value qRowIdx =
        o.add(o.mul(o.add(o.mul(it.bi, qHeads), o.add(h0, g)), qLen), i);
    Value at = o.add(o.mul(qRowIdx, splits), split);
    memref::StoreOp::create(b, memref::LoadOp::create(b, mS, ValueRange{g}), mP,
                            ValueRange{at});
    memref::StoreOp::create(b, memref::LoadOp::create(b, lS, ValueRange{g}), lP,
                            ValueRange{at});
    for (int64_t c = 0; c < vVecs; ++c) {
      Value e = o.idx(c * plan.vectorWidth);
      vector::StoreOp::create(
          b, vector::LoadOp::create(b, vecType, accS, ValueRange{g, e}), accP,
          ValueRange{at, e});
    }
    scf::YieldOp::create(b);
  });
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
