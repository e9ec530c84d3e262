//===- FlashTileKernel.cpp - The 2-D flash tile kernel --------------------===//
//
// One work item of the tile kernel: a q-tile of one (b, h) walking its
// non-empty kv tiles with online normalisation (see CPUTiler.h for the data
// layout), the per-element mask and modifiers of partial tiles, per-row
// key intervals, the weights and the epilogue.
//
//===----------------------------------------------------------------------===//

#include "CPUTiler.h"

#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

//===----------------------------------------------------------------------===//
// Work item
//===----------------------------------------------------------------------===//

void CPUTiler::emitTileKernel() {
  Value numQTiles = o.ceilDiv(qLen, o.idx(plan.blockQ));
  Value heads = o.mul(batch, qHeads);
  // The AMX paths carry state from one kv tile to the next (the deferred
  // P V, the quantised query's group): one q-tile per item.
  if (plan.dot == CPUDot::Amx || plan.dot == CPUDot::AmxInt8) {
    if (amxValues())
      emitAmxValueBuffers();
    emitParallel(o.mul(numQTiles, heads), [&](Value item) { emitItem(item); });
    return;
  }
  // Items: (b, h) times groups of q-tiles; see emitItemGroup.
  Value qBlocks = emitQBlocksPerItem(numQTiles);
  Value numItems = o.mul(o.ceilDiv(numQTiles, qBlocks), heads);
  emitParallel(numItems, [&](Value item) { emitItemGroup(item, qBlocks); });
}

Value CPUTiler::emitQBlocksPerItem(Value numQTiles) {
  if (plan.qBlocks > 0)
    return o.idx(plan.qBlocks);
  // Automatic: one q-tile per item while a head's K and V fit in half the
  // L2 cache (they stay there from one q-tile to the next), else
  // kAutoQBlocks, fewer where the items would not keep every thread busy.
  Value bytes = o.mul(emitKvRowBytes(), kvLen);
  Value fits = o.le(bytes, o.idx(plan.l2Bytes / 2));
  Value items = o.mul(numQTiles, o.mul(batch, qHeads));
  Value busy =
      o.max(o.divU(items, o.idx(plan.threads * kMinItemsPerThread)), o.idx(1));
  // At least 1: numQTiles is 0 when Sq is.
  Value many =
      o.max(o.min(o.min(o.idx(kAutoQBlocks), busy), numQTiles), o.idx(1));
  return o.select(fits, o.idx(1), many);
}

Value CPUTiler::emitKvRowBytes() {
  auto bytes = [&](Value buf, Value dim) {
    Type elem = cast<MemRefType>(buf.getType()).getElementType();
    int64_t bits = elem.getIntOrFloatBitWidth();
    // Quantized codes pack several channels to a byte.
    if (quant)
      return o.ceilDiv(o.mul(dim, o.idx(bits)),
                       o.idx(8 * quant.getCodesPerByte()));
    return o.mul(dim, o.idx(bits / 8));
  };
  return o.add(bytes(kB, headDim), bytes(vB, valueDim));
}

void CPUTiler::emitItemCoordinates(WorkItem &it, Value head) {
  it.bi = o.divU(head, qHeads);
  it.hi = o.remU(head, qHeads);
  it.kvh = o.divU(it.hi, group);
  it.kvLenB = emitter->emitKvLength(b, it.bi);
  // Keys visited: [0, kvEnd). kv_len is trusted for positions but clamped
  // here so that a bad value cannot make the kernel read out of bounds.
  it.kvEnd = o.max(o.min(it.kvLenB, kvLen), o.idx(0));
}

void CPUTiler::emitItem(Value item) {
  WorkItem it;
  // item = (b * Hq + h) * numQTiles + (numQTiles - 1 - qtile): consecutive
  // items share K and V (cache reuse across the threads), and within a head
  // the heaviest q-tiles of causal masks come first, so the dynamic
  // schedule ends on light items.
  Value numQTiles = o.ceilDiv(qLen, o.idx(plan.blockQ));
  Value qtile = o.sub(o.sub(numQTiles, o.idx(1)), o.remU(item, numQTiles));
  emitItemCoordinates(it, o.divU(item, numQTiles));
  it.i0 = o.mul(qtile, o.idx(plan.blockQ));
  it.nq = o.min(o.idx(plan.blockQ), o.sub(qLen, it.i0));
  emitItemSetup(it);
  emitItemScratch(it, /*qBlocks=*/Value());
  it.rowLo = it.rowHi = it.rowSeg = Value();
  if (rowExact && !hasMods) {
    emitRowIntervalBuffers(it);
    emitRowIntervals(it);
  }
  emitQueryTile(it);
  emitZeroOutput(it);

  unsigned numRanges = std::max<unsigned>(classes.bound.size(), 1);
  auto rangeType = MemRefType::get({numRanges}, b.getIndexType());
  Value rangeLo = memref::AllocaOp::create(b, rangeType);
  Value rangeHi = memref::AllocaOp::create(b, rangeType);
  SmallVector<Value> init = emitInitialState();
  // AMX: the pending P V's tile (none) and the PB slot of the next tile.
  bool amx = plan.dot == CPUDot::Amx;
  if (amx)
    init.append({o.idx(-1), o.idx(0)});
  SmallVector<Value> state =
      emitKvLoop(it, rangeLo, rangeHi, init, Value(), Value());
  if (amx)
    emitPendingValues(it, state[2 * plan.vecs()], state[2 * plan.vecs() + 1]);
  emitEpilogue(it, ValueRange(state).take_front(plan.vecs()),
               ValueRange(state).slice(plan.vecs(), plan.vecs()));
}

void CPUTiler::emitItemGroup(Value item, Value qBlocks) {
  // item = (b * Hq + h) * numGroups + (numGroups - 1 - g): group g holds
  // the q-tiles [g * qBlocks, (g + 1) * qBlocks) of head (b, h), heaviest
  // groups first as in emitItem. The kv tiles run in chunks whose K and V
  // fit in the L2 cache, each chunk against every q-tile of the group in
  // turn, so that a head's K and V come from beyond L2 once per group
  // rather than once per q-tile. Each q-tile keeps its QT, OT and (m, l)
  // in memory between chunks.
  WorkItem it;
  int64_t bq = plan.blockQ, vecs = plan.vecs();
  Value numQTiles = o.ceilDiv(qLen, o.idx(bq));
  Value numGroups = o.ceilDiv(numQTiles, qBlocks);
  Value g = o.sub(o.sub(numGroups, o.idx(1)), o.remU(item, numGroups));
  emitItemCoordinates(it, o.divU(item, numGroups));
  Value first = o.mul(g, qBlocks);
  Value blocks = o.min(qBlocks, o.sub(numQTiles, first));
  emitItemScratch(it, qBlocks);
  Value qts = it.qt, qt2s = it.qt2, ots = it.ot;
  it.rowLo = it.rowHi = it.rowSeg = Value();
  if (rowExact && !hasMods)
    emitRowIntervalBuffers(it);
  unsigned numRanges = std::max<unsigned>(classes.bound.size(), 1);
  auto rangeType = MemRefType::get({numRanges}, b.getIndexType());
  Value rangeLo = memref::AllocaOp::create(b, rangeType);
  Value rangeHi = memref::AllocaOp::create(b, rangeType);
  // (m, l) of q-tile k: rows [2 vecs k, 2 vecs (k + 1)), m then l.
  Value states = memref::AllocaOp::create(
      b, MemRefType::get({ShapedType::kDynamic, plan.vectorWidth}, f32),
      ValueRange{o.mul(qBlocks, o.idx(2 * vecs))},
      b.getI64IntegerAttr(64));

  // Points `it` at q-tile `k` of the group: its rows and its part of the
  // stacked QT (or QT2) and OT.
  auto focus = [&](Value k) {
    it.i0 = o.mul(o.add(first, k), o.idx(bq));
    it.nq = o.min(o.idx(bq), o.sub(qLen, it.i0));
    auto rows = [&](Value stack, Value perBlock) -> Value {
      if (!stack)
        return stack;
      auto type = cast<MemRefType>(stack.getType());
      SmallVector<OpFoldResult> offsets = {o.mul(k, perBlock),
                                           b.getIndexAttr(0)};
      SmallVector<OpFoldResult> sizes = {perBlock,
                                         b.getIndexAttr(type.getDimSize(1))};
      SmallVector<OpFoldResult> strides(2, b.getIndexAttr(1));
      return memref::SubViewOp::create(b, stack, offsets, sizes, strides);
    };
    it.qt = rows(qts, headDim);
    it.qt2 = rows(qt2s, o.divU(headDim, o.idx(2)));
    it.ot = rows(ots, valueDim);
  };
  auto stateRow = [&](Value k, int64_t i) {
    return o.add(o.mul(k, o.idx(2 * vecs)), o.idx(i));
  };
  auto storeState = [&](Value k, ValueRange state) {
    for (int64_t i = 0; i < 2 * vecs; ++i)
      vector::StoreOp::create(b, state[i], states,
                              ValueRange{stateRow(k, i), o.idx(0)});
  };
  auto loadState = [&](Value k) {
    SmallVector<Value> state;
    for (int64_t i = 0; i < 2 * vecs; ++i)
      state.push_back(vector::LoadOp::create(
          b, vecType, states, ValueRange{stateRow(k, i), o.idx(0)}));
    return state;
  };

  Value zero = o.idx(0), one = o.idx(1);
  emitFor(zero, blocks, one, ValueRange{}, [&](Value k, ValueRange) {
    focus(k);
    emitQueryTile(it);
    emitZeroOutput(it);
    storeState(k, emitInitialState());
    scf::YieldOp::create(b);
  });
  // Chunks of kv tiles: the whole range for a single q-tile.
  Value tiles = o.ceilDiv(it.kvEnd, o.idx(plan.blockKv));
  Value chunk = o.select(o.eq(blocks, one), o.max(tiles, one),
                         emitChunkTiles());
  emitFor(zero, tiles, chunk, ValueRange{}, [&](Value c0, ValueRange) {
    emitFor(zero, blocks, one, ValueRange{}, [&](Value k, ValueRange) {
      focus(k);
      emitItemSetup(it);
      if (it.rowLo)
        emitRowIntervals(it);
      storeState(k, emitKvLoop(it, rangeLo, rangeHi, loadState(k), c0,
                               o.add(c0, chunk)));
      scf::YieldOp::create(b);
    });
    scf::YieldOp::create(b);
  });
  emitFor(zero, blocks, one, ValueRange{}, [&](Value k, ValueRange) {
    focus(k);
    emitItemSetup(it);
    SmallVector<Value> state = loadState(k);
    emitEpilogue(it, ValueRange(state).take_front(vecs),
                 ValueRange(state).slice(vecs, vecs));
    scf::YieldOp::create(b);
  });
}

Value CPUTiler::emitChunkTiles() {
  // K and V of a chunk in half the L2 cache (the other half for the
  // q-tiles' scratch and what else the core runs).
  Value tileBytes = o.mul(emitKvRowBytes(), o.idx(plan.blockKv));
  return o.max(o.divU(o.idx(plan.l2Bytes / 2), tileBytes), o.idx(1));
}

void CPUTiler::emitItemScratch(WorkItem &it, Value qBlocks) {
  // Scratch tiles; the alloca scope frees them at the end of the item.
  // QT (or QT2) and OT of `qBlocks` q-tiles stacked (null: one).
  int64_t bq = plan.blockQ;
  int64_t stRows = llvm::divideCeil(plan.blockKv, plan.unroll) * plan.unroll;
  // Cache-line aligned, so that no vector access splits a line.
  IntegerAttr align = b.getI64IntegerAttr(64);
  auto tile = [&](MemRefType type, ValueRange sizes) -> Value {
    if (heapScratch)
      return memref::AllocOp::create(b, type, sizes, align);
    return memref::AllocaOp::create(b, type, sizes, align);
  };
  auto stacked = [&](Value rows) {
    return qBlocks ? o.mul(rows, qBlocks) : rows;
  };
  int64_t dyn = ShapedType::kDynamic;
  bool pairedQ = plan.dot == CPUDot::Bf16 || plan.dot == CPUDot::Amx;
  bool amx = plan.dot == CPUDot::Amx;
  Type bf16 = b.getBF16Type();
  it.qt = it.qt2 = Value();
  if (pairedQ) {
    int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
    if (qBlocks)
      it.qt2 = tile(MemRefType::get({dyn, 2 * bq}, bf16),
                    stacked(o.idx(d / 2)));
    else
      it.qt2 = tile(MemRefType::get({d / 2, 2 * bq}, bf16), {});
  } else {
    it.qt = tile(MemRefType::get({dyn, bq}, f32), stacked(headDim));
  }
  it.st = tile(MemRefType::get({stRows, bq}, f32), {});
  it.ot = tile(MemRefType::get({dyn, bq}, f32), stacked(valueDim));
  it.scratch = tile(MemRefType::get({bq}, f32), {});
  it.kt = it.vt = Value();
  it.ks = it.pb = it.pbSlots = it.scoreScale = Value();
  it.pendingTile = it.pendingPb = Value();
  if (amx) {
    // Static head dims (the plan's rule).
    int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
    it.ks = tile(MemRefType::get({plan.blockKv, d}, bf16), {});
    // Two PB slots (WorkItem::pbSlots); it.pb is set per kv tile.
    it.pbSlots = tile(MemRefType::get({plan.blockKv, 2 * bq}, bf16), {});
    it.pb = it.pbSlots;
    // Masks write -inf into unscaled scores, which a positive scale keeps;
    // modifiers need the scaled scores.
    FloatAttr constScale;
    if (!hasMods && matchPattern(scale, m_Constant(&constScale)) &&
        constScale.getValueAsDouble() > 0)
      it.scoreScale = o.splat(vecType, scale);
  } else if (paged ||
             !cast<MemRefType>(kB.getType()).getElementType().isF32()) {
    // A paged cache's rows are gathered here through the page table, once
    // per kv tile, so that the products read them as contiguous rows.
    if (!pairedQ)
      it.kt = tile(MemRefType::get({plan.blockKv, dyn}, f32), headDim);
    it.vt = tile(MemRefType::get({plan.blockKv, dyn}, f32), valueDim);
  }
  it.qi = it.qr = it.qz = it.ci = it.ks8 = it.qg = Value();
  if (plan.dot == CPUDot::AmxInt8)
    emitAmxInt8Buffers(it);
}

void CPUTiler::emitQueryTile(WorkItem &it) {
  // QT[d][c] = scale * Q[i0 + min(c, nq - 1), d]; padded lanes repeat the
  // last row so that they stay finite.
  Value zero = o.idx(0), one = o.idx(1);
  int64_t bq = plan.blockQ;
  bool pairedQ = bool(it.qt2);
  int64_t qDim = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  if (pairedQ && qDim % 32 == 0)
    return emitQueryPairs(it);
  Value lastRow = o.sub(it.nq, one);
  scf::ForOp::create(
      b, zero, o.idx(bq), one, ValueRange{},
      [&](OpBuilder &nb, Location loc, Value c, ValueRange) {
        ImplicitLocOpBuilder ib(loc, nb);
        Arith io{ib};
        Value row = io.add(it.i0, io.min(c, lastRow));
        scf::ForOp::create(
            ib, zero, headDim, one, ValueRange{},
            [&](OpBuilder &nb2, Location loc2, Value d, ValueRange) {
              ImplicitLocOpBuilder jb(loc2, nb2);
              OpBuilder::InsertionGuard g(b);
              b.setInsertionPoint(jb.getInsertionBlock(),
                                  jb.getInsertionPoint());
              if (pairedQ) {
                Value x = memref::LoadOp::create(
                    b, qB, indices4(it.bi, it.hi, row, d));
                Value at = o.add(o.mul(c, o.idx(2)), o.remU(d, o.idx(2)));
                memref::StoreOp::create(b, x, it.qt2,
                                        ValueRange{o.divU(d, o.idx(2)), at});
              } else {
                Value x = o.fmul(load4(qB, it.bi, it.hi, row, d), scale);
                memref::StoreOp::create(b, x, it.qt, ValueRange{d, c});
              }
              scf::YieldOp::create(b);
            });
        scf::YieldOp::create(ib);
      });
}

void CPUTiler::emitZeroOutput(WorkItem &it) {
  Value zeroVec = o.cst(vecType, 0.0);
  emitFor(o.idx(0), valueDim, o.idx(1), ValueRange{}, [&](Value e, ValueRange) {
    for (int64_t v = 0; v < plan.vecs(); ++v)
      storeLanes(zeroVec, it.ot, e, v);
    scf::YieldOp::create(b);
  });
}

SmallVector<Value> CPUTiler::emitInitialState() {
  SmallVector<Value> init(plan.vecs(), o.cst(vecType, kNegInf));
  init.append(plan.vecs(), o.cst(vecType, 0.0));
  return init;
}

SmallVector<Value> CPUTiler::emitKvLoop(WorkItem &it, Value rangeLo,
                                        Value rangeHi, ValueRange init,
                                        Value tileLo, Value tileHi) {
  // The kv loop over the non-empty tiles (those in [tileLo, tileHi) when
  // given).
  Value count = emitTileRanges(it, rangeLo, rangeHi);
  Value zero = o.idx(0);
  auto outer = emitFor(zero, count, o.idx(1), init, [&](Value k,
                                                        ValueRange state) {
    Value lo = memref::LoadOp::create(b, rangeLo, ValueRange{k});
    Value hi = memref::LoadOp::create(b, rangeHi, ValueRange{k});
    if (tileLo) {
      lo = o.max(lo, tileLo);
      hi = o.min(hi, tileHi);
    }
    auto inner =
        emitFor(lo, hi, o.idx(1), state, [&](Value t, ValueRange st2) {
          scf::YieldOp::create(b, emitKvTile(it, t, st2));
        });
    scf::YieldOp::create(b, inner.getResults());
  });
  return outer.getResults();
}

void CPUTiler::emitQueryPairs(WorkItem &it) {
  // QT2 as 32-bit words is the transpose of Q's rows as words (word p of
  // row c is the pair Q[c][2p], Q[c][2p + 1]): per 16 rows x 32 head-dim
  // elements, 16 row loads, one 16 x 16 transpose of the words, 16 stores.
  int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  constexpr int64_t n = 16;
  auto pairRow = VectorType::get({2 * n}, b.getBF16Type());
  auto words = VectorType::get({n}, b.getI32Type());
  Value lastRow = o.sub(it.nq, o.idx(1));
  emitFor(o.idx(0), o.idx(plan.blockQ), o.idx(n), ValueRange{},
          [&](Value c0, ValueRange) {
            SmallVector<Value> rows;
            for (int64_t r = 0; r < n; ++r)
              rows.push_back(o.add(it.i0, o.min(o.add(c0, o.idx(r)), lastRow)));
            emitFor(
                o.idx(0), o.idx(d), o.idx(2 * n), ValueRange{},
                [&](Value d0, ValueRange) {
                  SmallVector<Value> w;
                  for (Value row : rows)
                    w.push_back(vector::BitCastOp::create(
                        b, words,
                        loadBf16(b, 2 * n, qB,
                                 indices4(it.bi, it.hi, row, d0))));
                  SmallVector<Value> cols = transpose16x16(b, w);
                  Value p0 = o.divU(d0, o.idx(2));
                  for (int64_t k = 0; k < n; ++k)
                    vector::StoreOp::create(
                        b, vector::BitCastOp::create(b, pairRow, cols[k]),
                        it.qt2,
                        ValueRange{o.add(p0, o.idx(k)), o.mul(c0, o.idx(2))});
                  scf::YieldOp::create(b);
                });
            scf::YieldOp::create(b);
          });
}

void CPUTiler::emitItemSetup(WorkItem &it) {
  it.p0 = emitter->emitPosition(b, it.i0, it.kvLenB);
  it.p1 = o.add(it.p0, it.nq);
  it.symVals = {it.p0, it.p1, it.kvEnd};
  it.fullBounds = emitFullIntervals(b, classes, it.symVals);
  normalizer->emitSigmoidBeta(b, it.kvLenB);
  it.rows = {it.bi,     it.hi,   it.i0,  o.add(it.i0, it.nq), it.p0, it.p1,
             it.kvLenB, Value(), Value()};
  if (runtimeTiles)
    it.denseItemBase = runtimeTiles->emitRows(b, it.rows);
}

Value CPUTiler::emitTileRanges(WorkItem &it, Value rangeLo, Value rangeHi) {
  SmallVector<KeyRange> ranges = mlir::attn::emitTileRanges(
      b, classes, it.symVals, it.kvEnd, plan.blockKv);
  for (auto [i, range] : llvm::enumerate(ranges)) {
    memref::StoreOp::create(b, range.first, rangeLo, ValueRange{o.idx(i)});
    memref::StoreOp::create(b, range.second, rangeHi, ValueRange{o.idx(i)});
  }
  return o.idx(ranges.size());
}

Value CPUTiler::emitIsFull(WorkItem &it, Value j0) {
  return emitTileIsFull(b, it.fullBounds, j0, plan.blockKv, it.kvEnd);
}

//===----------------------------------------------------------------------===//
// One kv tile
//===----------------------------------------------------------------------===//

SmallVector<Value> CPUTiler::emitKvTile(WorkItem &it, Value t,
                                        ValueRange state) {
  return emitRuntimeSkip(it, t, state, [&](Value dataFull) {
    return emitKvTileBody(it, t, state, dataFull);
  });
}

SmallVector<Value> CPUTiler::emitKvTileBody(WorkItem &it, Value t,
                                            ValueRange state, Value dataFull) {
  Value j0 = o.mul(t, o.idx(plan.blockKv));
  Value nkv = o.min(o.idx(plan.blockKv), o.sub(it.kvEnd, j0));
  Value isFull = emitIsFull(it, j0);
  if (dataFull)
    isFull = o.land(isFull, dataFull);
  // Channels of a K or V row: a quantized row packs several to a byte.
  auto staticDim = [&](Value buf) {
    int64_t bytes = cast<MemRefType>(buf.getType()).getDimSize(3);
    return quant && !ShapedType::isDynamic(bytes)
               ? bytes * quant.getCodesPerByte()
               : bytes;
  };
  // dot = amx_int8 reads the key codes (emitScoresAmxInt8), with AMX
  // P V the value codes too (emitAmxDequantTranspose).
  if (it.kt && plan.dot != CPUDot::AmxInt8)
    emitPackTile(it, it.kt, kB, j0, nkv, headDim, staticDim(kB));
  if (it.vt && !amxValues())
    emitPackTile(it, it.vt, vB, j0, nkv, valueDim, staticDim(vB));
  emitScores(it, j0, nkv);
  emitMaskAndMods(it, j0, nkv, isFull);
  int64_t vecs = plan.vecs();
  Value slot;
  if (plan.dot == CPUDot::Amx) {
    // Software-pipelined P V: this tile's weights go to PB slot `slot`
    // while the previous tile's P V (pendingTile, from the other slot)
    // runs in pieces between the chunks of the weight loop, so that its
    // tile products overlap the AVX-512 weights.
    it.pendingTile = state[2 * vecs];
    slot = state[2 * vecs + 1];
    it.pb = amxPbSlot(it, slot);
    it.pendingPb = amxPbSlot(it, o.sub(o.idx(1), slot));
  }
  SmallVector<Value> alpha, m, l;
  emitWeights(it, nkv, state.take_front(vecs), state.slice(vecs, vecs), alpha,
              m, l);
  SmallVector<Value> next(m);
  next.append(l);
  if (plan.dot == CPUDot::Amx) {
    next.append(emitValuesAmxDeferred(it, j0, nkv, alpha, slot));
    it.pb = it.pbSlots;
    it.pendingTile = it.pendingPb = Value();
  } else {
    emitValues(it, j0, nkv, alpha, isFull);
  }
  return next;
}

void CPUTiler::emitPendingValues(WorkItem &it, Value tile, Value slot) {
  // The last tile's deferred P V, from the slot it wrote (the loop's next
  // slot is the other one).
  auto ifOp = scf::IfOp::create(b, TypeRange{}, o.ge(tile, o.idx(0)),
                                /*withElseRegion=*/false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  Value pb = amxPbSlot(it, o.sub(o.idx(1), slot));
  emitFor(o.idx(0), o.idx(amxValueBlocks()), o.idx(1), ValueRange{},
          [&](Value blk, ValueRange) {
            emitAmxValueBlock(it, pb, tile, blk);
            scf::YieldOp::create(b);
          });
}

void CPUTiler::emitMaskAndMods(WorkItem &it, Value j0, Value nkv,
                               Value isFull) {
  // Per element, on partial tiles (mask and modifiers) and, with modifiers,
  // on full tiles too: ST[jj][c] = allowed ? mods(s) : -inf.
  auto elementLoop = [&](bool mask) {
    Value zero = o.idx(0), one = o.idx(1);
    scf::ForOp::create(
        b, zero, nkv, one, ValueRange{},
        [&](OpBuilder &nb, Location loc, Value jj, ValueRange) {
          ImplicitLocOpBuilder ib(loc, nb);
          scf::ForOp::create(
              ib, zero, it.nq, one, ValueRange{},
              [&](OpBuilder &nb2, Location loc2, Value c, ValueRange) {
                ImplicitLocOpBuilder jb(loc2, nb2);
                Arith jo{jb};
                Value s = memref::LoadOp::create(jb, it.st, ValueRange{jj, c});
                ScorePoint pt =
                    emitter->makePoint(jb, it.bi, it.hi, jo.add(it.i0, c),
                                       jo.add(j0, jj), it.kvLenB);
                if (hasMods)
                  s = emitter->emitScoreMods(jb, s, pt);
                if (mask)
                  s = jo.select(emitter->emitAllowed(jb, pt), s,
                                jo.f32(kNegInf));
                memref::StoreOp::create(jb, s, it.st, ValueRange{jj, c});
                scf::YieldOp::create(jb);
              });
          scf::YieldOp::create(ib);
        });
  };
  auto ifOp = scf::IfOp::create(b, TypeRange{}, isFull,
                                /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    if (hasMods)
      elementLoop(/*mask=*/false);
    b.setInsertionPointToStart(ifOp.elseBlock());
    if (it.rowLo && !hasMods)
      emitRowIntervalMask(it, j0, nkv);
    else
      elementLoop(/*mask=*/true);
  }
}

void CPUTiler::emitRowIntervalBuffers(WorkItem &it) {
  int64_t bq = plan.blockQ, numK = classes.bound.size();
  IntegerAttr align = b.getI64IntegerAttr(64);
  Type i32 = b.getI32Type();
  it.rowLo =
      memref::AllocaOp::create(b, MemRefType::get({numK, bq}, i32), align);
  it.rowHi =
      memref::AllocaOp::create(b, MemRefType::get({numK, bq}, i32), align);
  if (runtime.document)
    it.rowSeg = memref::AllocaOp::create(b, MemRefType::get({bq}, i32), align);
}

void CPUTiler::emitRowIntervals(WorkItem &it) {
  // LO[k][c], HI[k][c]: the k-th allowed key interval of query row i0 + c
  // (the classification of the one-row tile [p, p + 1), exact for these
  // masks), clamped to [-1, Skv + 1] to fit i32 lanes; SEG[c] = seg_q.
  int64_t bq = plan.blockQ, numK = classes.bound.size();
  Type i32 = b.getI32Type();
  Value lastRow = o.sub(it.nq, o.idx(1));
  emitFor(
      o.idx(0), o.idx(bq), o.idx(1), ValueRange{}, [&](Value c, ValueRange) {
        Value row = o.add(it.i0, o.min(c, lastRow));
        Value p = emitter->emitPosition(b, row, it.kvLenB);
        SymValues one = {p, o.add(p, o.idx(1)), it.kvEnd};
        auto clampI32 = [&](Value x) -> Value {
          x = o.max(o.min(x, o.add(kvLen, o.idx(1))), o.idx(-1));
          return arith::IndexCastOp::create(b, i32, x);
        };
        for (int64_t k = 0; k < numK; ++k) {
          memref::StoreOp::create(b, clampI32(classes.bound[k].lo.emit(b, one)),
                                  it.rowLo, ValueRange{o.idx(k), c});
          memref::StoreOp::create(b, clampI32(classes.bound[k].hi.emit(b, one)),
                                  it.rowHi, ValueRange{o.idx(k), c});
        }
        if (runtime.document) {
          Value id = tensor::ExtractOp::create(b, op.getSegQ(),
                                               ValueRange{it.bi, row});
          memref::StoreOp::create(
              b,
              arith::IndexCastOp::create(
                  b, i32, arith::IndexCastOp::create(b, b.getIndexType(), id)),
              it.rowSeg, ValueRange{c});
        }
        scf::YieldOp::create(b);
      });
}

void CPUTiler::emitRowIntervalMask(WorkItem &it, Value j0, Value nkv) {
  // ST[jj][:] = any_k(LO[k][:] <= j < HI[k][:]) [and SEG[:] == seg_kv[j]]
  //             ? ST[jj][:] : -inf, with j = j0 + jj: a few vector compares
  // per key instead of the per-element mask code.
  Type i32 = b.getI32Type();
  auto iVec = VectorType::get({plan.vectorWidth}, i32);
  Value negInf = o.cst(vecType, kNegInf);
  emitFor(o.idx(0), nkv, o.idx(1), ValueRange{}, [&](Value jj, ValueRange) {
    Value j = o.add(j0, jj);
    Value jv = o.splat(iVec, arith::IndexCastOp::create(b, i32, j));
    Value seg;
    if (runtime.document)
      seg =
          o.splat(iVec, arith::IndexCastOp::create(
                            b, i32,
                            arith::IndexCastOp::create(
                                b, b.getIndexType(),
                                tensor::ExtractOp::create(
                                    b, op.getSegKv(), ValueRange{it.bi, j}))));
    for (int64_t v = 0; v < plan.vecs(); ++v) {
      Value lane = o.idx(v * plan.vectorWidth);
      Value allowed;
      for (int64_t k = 0, e = classes.bound.size(); k < e; ++k) {
        Value lo = vector::LoadOp::create(b, iVec, it.rowLo,
                                          ValueRange{o.idx(k), lane});
        Value up = vector::LoadOp::create(b, iVec, it.rowHi,
                                          ValueRange{o.idx(k), lane});
        Value in = o.land(o.le(lo, jv), o.lt(jv, up));
        allowed = allowed ? o.lor(allowed, in) : in;
      }
      if (seg)
        allowed = o.land(
            allowed,
            o.eq(vector::LoadOp::create(b, iVec, it.rowSeg, ValueRange{lane}),
                 seg));
      Value s = vector::LoadOp::create(b, vecType, it.st, ValueRange{jj, lane});
      vector::StoreOp::create(b, o.select(allowed, s, negInf), it.st,
                              ValueRange{jj, lane});
    }
    scf::YieldOp::create(b);
  });
}

/// The most pairs of keys in a chunk of the AMX weight loop (before each
/// chunk, one block of the pending P V is issued): at full D64 (4 blocks),
/// chunks of 12 pairs took 1.22x main's CPU time and chunks of 8 0.94x
/// (bench/results/2026-12-07-amx4.md).
static constexpr int64_t kAmxChunkPairs = 8;

Value CPUTiler::weight(Value s, Value shift) {
  return normalizer->weight(b, s, shift);
}

/// Coefficients c_0..c_k of 2^f ~ sum c_i f^i on [-1/2, 1/2], fitted for
/// relative error (iteratively reweighted least squares on 20001 points,
/// then rounded to f32): max relative error 2.6e-6 (degree 4), 1.5e-7
/// (degree 5), against 2^-9 for the bf16 rounding of a weight and 2^-24
/// for f32's.
static constexpr double kExp2Deg4[] = {0.9999992847442627, 0.6931218504905701,
                                       0.240247443318367, 0.055917806923389435,
                                       0.009570068679749966};
static constexpr double kExp2Deg5[] = {
    1.0000001192092896,  0.6931469440460205,  0.24022120237350464,
    0.05550713464617729, 0.00967553723603487, 0.001327644451521337};

Value CPUTiler::exp2Poly(Value x, bool bf16Weights) {
  // 2^x = 2^n p(f), n = round(x), f = x - n. x + M with M = 1.5 * 2^23 +
  // 127 rounds x to nearest and holds n + 127 in the low mantissa bits of
  // the sum (for -127 <= x <= 128), so shifting those bits left by 23 gives
  // the f32 2^n; n = -127 gives the bit pattern 0, so x <= -127 (-inf
  // included) weighs 0. The clamp keeps NaN (compare and select: one
  // vmaxps with x as the second operand).
  ArrayRef<double> coef =
      bf16Weights ? ArrayRef<double>(kExp2Deg4) : ArrayRef<double>(kExp2Deg5);
  Type t = x.getType();
  auto poly = [&](Value f) {
    Value p = o.cst(t, coef.back());
    for (double c : llvm::reverse(coef.drop_back()))
      p = math::FmaOp::create(b, p, f, o.cst(t, c));
    return p;
  };
  if (bf16Weights && cast<VectorType>(t).getNumElements() == 16) {
    // AMX weights (AVX-512): 2^x = scalef(p(f), n), n = roundeven(x),
    // f = x - n: vrndscaleps, vsubps and vscalefps in place of the
    // magic-number rounding, its exponent bits and the multiply. Lanes
    // with x < -125 (-inf included) are 0 by the scalef's write mask,
    // never a subnormal result (each of which costs a microcode assist);
    // NaN compares unordered and stays NaN.
    int64_t lanes = cast<VectorType>(t).getNumElements();
    Value live = o.fcmp(arith::CmpFPredicate::UGE, x, o.cst(t, -125.0));
    Value k = vector::ExtractOp::create(
        b,
        vector::BitCastOp::create(
            b, VectorType::get({1}, b.getIntegerType(lanes)), live),
        ArrayRef<int64_t>{0});
    Value n = math::RoundEvenOp::create(b, x);
    Value p = poly(o.fsub(x, n));
    Value rounding = arith::ConstantIntOp::create(b, b.getI32Type(), 4);
    // The op's operands reach llvm.x86.avx512.mask.scalef.ps.512(a, b,
    // passthrough, k, rounding) in their order: (p, n, 0, k) is p 2^n
    // where k is set, else 0.
    return x86vector::MaskScaleFOp::create(b, t, p, n, o.cst(t, 0.0), k,
                                           rounding);
  }
  auto ints = VectorType::get(cast<VectorType>(t).getShape(), b.getI32Type());
  Value lo = o.cst(t, -127.0);
  x = o.select(o.fcmp(arith::CmpFPredicate::OLT, x, lo), lo, x);
  Value magic = o.cst(t, 12582912.0 + 127.0);
  Value biased = o.fadd(x, magic);
  Value f = o.fsub(x, o.fsub(biased, magic));
  Value p = poly(f);
  Value bits = arith::BitcastOp::create(b, ints, biased);
  Value shift = vector::BroadcastOp::create(
      b, ints, arith::ConstantIntOp::create(b, b.getI32Type(), 23));
  Value pow2 =
      arith::BitcastOp::create(b, t, arith::ShLIOp::create(b, bits, shift));
  return o.fmul(p, pow2);
}

void CPUTiler::emitWeights(WorkItem &it, Value nkv, ValueRange m, ValueRange l,
                           SmallVector<Value> &alpha, SmallVector<Value> &mOut,
                           SmallVector<Value> &lOut) {
  Value zero = o.idx(0), one = o.idx(1);
  // Raw scores of ST: times it.scoreScale where the products left them
  // unscaled.
  auto loadRaw = [&](Value jj, int64_t v) { return loadLanes(it.st, jj, v); };
  SmallVector<Value> shift;
  bool poly = shifted && (norm == Norm::Softmax || norm == Norm::SinkSoftmax);
  // AMX softmax rescales OT only when a row's shift moves (emitValuesAmx),
  // so the shift moves only when the tile's max exceeds it by more than
  // kLazyShift: the weights, up to e^kLazyShift, and the row sums use the
  // same shift, so O and the LSE are unchanged.
  bool lazy = poly && amxValues();
  if (shifted) {
    // Running shift: m' = max(m, rowmax over the tile); softplus caps it
    // at 0. Rows with no allowed key so far keep m' = -inf and use 0. A
    // folded scale is positive, so the row max of the raw scores is taken
    // and scaled once.
    SmallVector<Value> init(m);
    if (it.scoreScale)
      init.assign(plan.vecs(), o.cst(vecType, kNegInf));
    // maxnum without NaN/signed-zero care is one vmaxps; the
    // NaN-propagating maximumf costs several instructions per vector.
    auto fast = arith::FastMathFlagsAttr::get(
        b.getContext(), arith::FastMathFlags::nnan | arith::FastMathFlags::nsz);
    auto maxLoop = emitFor(zero, nkv, one, init, [&](Value jj, ValueRange acc) {
      SmallVector<Value> next;
      for (int64_t v = 0; v < plan.vecs(); ++v)
        next.push_back(
            arith::MaxNumFOp::create(b, acc[v], loadRaw(jj, v), fast));
      scf::YieldOp::create(b, next);
    });
    for (int64_t v = 0; v < plan.vecs(); ++v) {
      Value mNew = maxLoop.getResult(v);
      if (it.scoreScale)
        mNew = arith::MaxNumFOp::create(b, m[v], o.fmul(mNew, it.scoreScale),
                                        fast);
      mNew = normalizer->capShift(o, mNew);
      Value grow;
      if (lazy) {
        grow = o.fcmp(arith::CmpFPredicate::OGT, mNew,
                      o.fadd(m[v], o.cst(vecType, kLazyShift)));
        mNew = o.select(grow, mNew, m[v]);
      }
      Value safe = o.select(o.isNegInf(mNew), o.cst(vecType, 0.0), mNew);
      // alpha = exp(m - m'), 0 when m = -inf (1 where the shift stays).
      Value a = o.exp(o.fsub(m[v], safe));
      alpha.push_back(lazy ? o.select(grow, a, o.cst(vecType, 1.0)) : a);
      shift.push_back(safe);
      mOut.push_back(mNew);
    }
  } else {
    mOut.assign(m.begin(), m.end());
  }

  // ST = weight(ST); rowsum += sum over the tile. With AMX the weights go
  // to PB instead, two keys at a time (emitAmxWeightPairs). Softmax
  // weights exp(s - m') are 2^x by exp2Poly, with x = (s - m') log2 e, or
  // for unscaled scores x = s (scale log2 e) - m' log2 e by one FMA (its
  // rounding, relative 2^-24 of |x|, is far below that of bf16 weights).
  bool sums = denom == Denom::RowSum;
  Value log2e = o.cst(vecType, 1.4426950408889634);
  Value slope = it.scoreScale ? o.fmul(it.scoreScale, log2e) : Value();
  SmallVector<Value> offset;
  if (slope)
    for (Value m : shift)
      offset.push_back(arith::NegFOp::create(b, o.fmul(m, log2e)));
  auto rowWeight = [&](Value jj, int64_t v) {
    Value s = loadRaw(jj, v);
    if (poly) {
      Value x = slope ? math::FmaOp::create(b, s, slope, offset[v])
                      : o.fmul(o.fsub(s, shift[v]), log2e);
      return exp2Poly(x, /*bf16Weights=*/amxValues());
    }
    if (it.scoreScale)
      s = o.fmul(s, it.scoreScale);
    return weight(s, shifted ? shift[v] : Value());
  };
  SmallVector<Value> init(plan.vecs(), o.cst(vecType, 0.0));
  scf::ForOp sumLoop;
  if (amxValues() && it.pendingTile) {
    // One block of the pending P V before each of the first chunks of
    // pairs, chunks of at most kAmxChunkPairs pairs (and at least one per
    // block).
    int64_t blocks = amxValueBlocks();
    int64_t chunks = std::max<int64_t>(
        blocks, llvm::divideCeil(plan.blockKv / 2, kAmxChunkPairs));
    sumLoop = emitAmxWeightPairs(
        it, nkv, init, rowWeight, sums, chunks, [&](Value blk) {
          Value run = o.ge(it.pendingTile, o.idx(0));
          if (chunks > blocks)
            run = o.land(run, o.lt(blk, o.idx(blocks)));
          auto ifOp = scf::IfOp::create(b, TypeRange{}, run,
                                        /*withElseRegion=*/false);
          OpBuilder::InsertionGuard g(b);
          b.setInsertionPointToStart(ifOp.thenBlock());
          emitAmxValueBlock(it, it.pendingPb, it.pendingTile, blk);
        });
  } else if (amxValues()) {
    sumLoop = emitAmxWeightPairs(it, nkv, init, rowWeight, sums);
  } else {
    sumLoop = emitFor(zero, nkv, one, init, [&](Value jj, ValueRange acc) {
      SmallVector<Value> next;
      for (int64_t v = 0; v < plan.vecs(); ++v) {
        Value w = rowWeight(jj, v);
        storeLanes(w, it.st, jj, v);
        next.push_back(sums ? o.fadd(acc[v], w) : acc[v]);
      }
      scf::YieldOp::create(b, next);
    });
  }
  for (int64_t v = 0; v < plan.vecs(); ++v) {
    Value lv = l[v];
    if (sums) {
      lv = shifted ? o.fadd(o.fmul(lv, alpha[v]), sumLoop.getResult(v))
                   : o.fadd(lv, sumLoop.getResult(v));
    }
    lOut.push_back(lv);
  }
}

std::pair<Value, Value> CPUTiler::finalize(WorkItem &it, Value mv, Value lv) {
  // Works lane-wise on vectors of rows and on scalars.
  Value sink;
  if (norm == Norm::SinkSoftmax)
    sink =
        o.extF(tensor::ExtractOp::create(b, op.getSink(), ValueRange{it.hi}));
  return normalizer->finalize(b, mv, lv, sink, it.kvLenB, bool(lseB));
}

void CPUTiler::emitEpilogue(WorkItem &it, ValueRange m, ValueRange l) {
  SmallVector<Value> inv, lse;
  for (int64_t v = 0; v < plan.vecs(); ++v) {
    auto [i, e] = finalize(it, m[v], l[v]);
    inv.push_back(i);
    lse.push_back(e);
  }

  Value zero = o.idx(0), one = o.idx(1);
  auto perRow =
      [&](ArrayRef<Value> vals,
          function_ref<void(ImplicitLocOpBuilder &, Value, Value)> body) {
        for (int64_t v = 0; v < plan.vecs(); ++v)
          vector::StoreOp::create(b, vals[v], it.scratch,
                                  ValueRange{o.idx(v * plan.vectorWidth)});
        scf::ForOp::create(
            b, zero, it.nq, one, ValueRange{},
            [&](OpBuilder &nb, Location loc, Value c, ValueRange) {
              ImplicitLocOpBuilder ib(loc, nb);
              Value x = memref::LoadOp::create(ib, it.scratch, ValueRange{c});
              body(ib, c, x);
              scf::YieldOp::create(ib);
            });
      };
  // O's value dim (V's last dim counts packed bytes of a quantized cache).
  int64_t dv = cast<ShapedType>(op.getOutputs()[0].getType()).getDimSize(3);
  if (plan.vectorWidth == 16 && !ShapedType::isDynamic(dv) && dv % 16 == 0)
    emitOutputRows(it, inv);
  else
    perRow(inv, [&](ImplicitLocOpBuilder &ib, Value c, Value x) {
      Value row = Arith{ib}.add(it.i0, c);
      scf::ForOp::create(
          ib, zero, valueDim, one, ValueRange{},
          [&](OpBuilder &nb, Location loc, Value e, ValueRange) {
            OpBuilder::InsertionGuard g(b);
            b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
            Value acc = memref::LoadOp::create(b, it.ot, ValueRange{e, c});
            store4(o.fmul(acc, x), oB, it.bi, it.hi, row, e);
            scf::YieldOp::create(b);
          });
    });
  if (lseB)
    perRow(lse, [&](ImplicitLocOpBuilder &ib, Value c, Value x) {
      memref::StoreOp::create(
          ib, x, lseB, ValueRange{it.bi, it.hi, Arith{ib}.add(it.i0, c)});
    });
}

void CPUTiler::emitOutputRows(WorkItem &it, ArrayRef<Value> inv) {
  // O[i0 + c][e] = OT[e][c] inv[c] for c < nq, per 16 x 16 block of (e, c):
  // 16 scaled OT rows, one 16 x 16 transpose, a store per query row (the
  // rows of O, contiguous along e, rather than an element at a time).
  int64_t dv = cast<ShapedType>(op.getOutputs()[0].getType()).getDimSize(3);
  constexpr int64_t n = 16;
  auto words = VectorType::get({n}, b.getI32Type());
  Type elem = cast<MemRefType>(oB.getType()).getElementType();
  for (int64_t v = 0; v < plan.vecs(); ++v) {
    int64_t c0 = v * n;
    emitFor(o.idx(0), o.idx(dv), o.idx(n), ValueRange{},
            [&](Value e0, ValueRange) {
              SmallVector<Value> rows;
              for (int64_t k = 0; k < n; ++k)
                rows.push_back(vector::BitCastOp::create(
                    b, words,
                    o.fmul(loadLanes(it.ot, o.add(e0, o.idx(k)), v), inv[v])));
              SmallVector<Value> cols = transpose16x16(b, rows);
              for (int64_t c = 0; c < n; ++c) {
                Value inside = o.lt(o.idx(c0 + c), it.nq);
                auto ifOp = scf::IfOp::create(b, TypeRange{}, inside,
                                              /*withElseRegion=*/false);
                OpBuilder::InsertionGuard g(b);
                b.setInsertionPointToStart(ifOp.thenBlock());
                Value x = vector::BitCastOp::create(b, vecType, cols[c]);
                vector::StoreOp::create(
                    b, o.truncF(x, VectorType::get({n}, elem)), oB,
                    indices4(it.bi, it.hi, o.add(it.i0, o.idx(c0 + c)), e0));
              }
              scf::YieldOp::create(b);
            });
  }
}
