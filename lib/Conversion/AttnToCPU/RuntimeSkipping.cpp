//===- RuntimeSkipping.cpp - Run-time kv tile classes on the CPU ----------===//
//
// The CPU's side of the run-time tile classes (what they mean is
// Conversion/RuntimeSkipping), for the forward's kernels and both passes
// of the backward: the key questions of the document conjunct are
// answered from per-tile segment id ranges computed once before the work
// items (O(1) per tile), dense entries are scanned 16 bytes at a time, and
// a tile the classes rule out passes the loop state through.
//
//===----------------------------------------------------------------------===//

#include "CPUTiler.h"

#include "attn/Dialect/Attn/Utils/AnyAll.h"
#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

/// The CPU's reads for the run-time classes of one row block's tiles.
class RuntimeTiles::Reader final : public RuntimeTileReader {
public:
  Reader(const RuntimeTiles &tiles, const RuntimeTileRows &rows,
         Value denseRowBase)
      : tiles(tiles), rows(rows), denseRowBase(denseRowBase) {}

  SmallVector<Value>
  emitAnyKeySegment(ImplicitLocOpBuilder &b, Value tile, Value, Value,
                    ArrayRef<KeySegmentTest> tests) override;
  std::pair<Value, Value> emitDenseAnyAll(ImplicitLocOpBuilder &b, Value r0,
                                          Value r1, Value c0, Value c1,
                                          int64_t allLevel) override;

private:
  /// (any non-zero, all >= allLevel) of the dense mask entries [c0, c1) of
  /// entry row `r`, updating `any` / `all`: 16 bytes at a time, then one
  /// by one.
  std::pair<Value, Value> emitDenseRow(ImplicitLocOpBuilder &ib, Value r,
                                       Value c0, Value c1, Value any,
                                       Value all, int64_t allLevel);

  const RuntimeTiles &tiles;
  const RuntimeTileRows &rows;
  Value denseRowBase;
};

RuntimeTiles::RuntimeTiles(ImplicitLocOpBuilder &b, VariantOpInterface op,
                           const RuntimeConjuncts &runtime,
                           const ScoreEmitter &emitter, int64_t blockKv,
                           Value batch, Value kvLen)
    : op(op), emitter(emitter),
      classifier(op, runtime, emitter), blockKv(blockKv) {
  if (runtime.denseLeaf || runtime.blocks) {
    // Entries are bytes (i1 and i8 alike), read through the buffer's
    // address: a vector<16xi1> load would read bits.
    Value buf = toIdentityBuffer(b, op.getDenseMask(), /*readOnly=*/true);
    denseBase = memref::ExtractAlignedPointerAsIndexOp::create(b, buf);
    for (int64_t d = 0, e = cast<MemRefType>(buf.getType()).getRank(); d < e;
         ++d)
      denseDims.push_back(memref::DimOp::create(b, buf, d));
  }
  if (runtime.document)
    emitDocumentTable(b, batch, kvLen);
}

Value RuntimeTiles::emitRows(ImplicitLocOpBuilder &b,
                             RuntimeTileRows &rows) const {
  classifier.emitRows(b, rows);
  if (!denseBase)
    return Value();
  // Row-major address of entry [b', h', 0, 0]; size-1 batch / head dims
  // broadcast.
  Arith o{b};
  int64_t rank = denseDims.size();
  Value lead = o.idx(0);
  if (rank >= 3) {
    Value hd = denseDims[rank - 3];
    lead = o.select(o.eq(hd, o.idx(1)), o.idx(0), rows.head);
    if (rank == 4) {
      Value bd = denseDims[0];
      Value bIdx = o.select(o.eq(bd, o.idx(1)), o.idx(0), rows.batch);
      lead = o.add(o.mul(bIdx, hd), lead);
    }
  }
  Value matrix = o.mul(denseDims[rank - 2], denseDims[rank - 1]);
  return o.add(denseBase, o.mul(lead, matrix));
}

std::pair<Value, Value>
RuntimeTiles::emitTileClass(ImplicitLocOpBuilder &b,
                            const RuntimeTileRows &rows, Value denseRowBase,
                            Value tile, Value j0, Value j1) const {
  Reader reader(*this, rows, denseRowBase);
  return classifier.emitTileClass(b, reader, rows, tile, j0, j1);
}

SmallVector<Value> CPUTiler::emitRuntimeSkip(
    WorkItem &it, Value t, ValueRange state,
    function_ref<SmallVector<Value>(Value dataFull)> body) {
  if (!runtimeTiles)
    return body(Value());
  Value j0 = o.mul(t, o.idx(plan.blockKv));
  Value nkv = o.min(o.idx(plan.blockKv), o.sub(it.kvEnd, j0));
  auto [kept, full] = runtimeTiles->emitTileClass(
      b, it.rows, it.denseItemBase, t, j0, o.add(j0, nkv));
  // Tiles the conjuncts rule out pass the state through; the rest run
  // `body`.
  auto ifOp = scf::IfOp::create(b, state.getTypes(), kept,
                                /*withElseRegion=*/!state.empty());
  OpBuilder::InsertionGuard g(b);
  if (state.empty()) {
    // Without state the builder gave the then block its yield.
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    body(full);
    return {};
  }
  b.setInsertionPointToStart(ifOp.thenBlock());
  scf::YieldOp::create(b, body(full));
  b.setInsertionPointToStart(ifOp.elseBlock());
  scf::YieldOp::create(b, state);
  return SmallVector<Value>(ifOp.getResults());
}

//===----------------------------------------------------------------------===//
// Document masks: run-time tile classes from segment ids
//===----------------------------------------------------------------------===//

void RuntimeTiles::emitDocumentTable(ImplicitLocOpBuilder &b, Value batch,
                                     Value kvLen) {
  // kvSegMin[b][t] / kvSegMax[b][t] = min / max of seg_kv[b, j] over the keys
  // of kv tile t. A tile can then be skipped when its id range misses the
  // query tile's, and needs no mask when both hold one and the same id.
  Arith o{b};
  Value bkv = o.idx(blockKv);
  Value tiles = o.ceilDiv(kvLen, bkv);
  auto type = MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic},
                              b.getIndexType());
  kvSegMin = memref::AllocOp::create(b, type, ValueRange{batch, tiles});
  kvSegMax = memref::AllocOp::create(b, type, ValueRange{batch, tiles});
  emitParallelItems(b, o.mul(batch, tiles), [&](Value item) {
    Value bIdx = o.divU(item, tiles), t = o.remU(item, tiles);
    Value j0 = o.mul(t, bkv);
    auto [lo, up] =
        emitIdRange(b, op.getSegKv(), bIdx, j0, o.min(o.add(j0, bkv), kvLen));
    memref::StoreOp::create(b, lo, kvSegMin, ValueRange{bIdx, t});
    memref::StoreOp::create(b, up, kvSegMax, ValueRange{bIdx, t});
  });
}

SmallVector<Value>
RuntimeTiles::Reader::emitAnyKeySegment(ImplicitLocOpBuilder &b, Value t,
                                        Value, Value,
                                        ArrayRef<KeySegmentTest> tests) {
  // Answered from the tile's id range over all of its keys (a superset of
  // the keys below kvEnd): some id >= v when the greatest is, and so on.
  Arith o{b};
  Value kMin =
      memref::LoadOp::create(b, tiles.kvSegMin, ValueRange{rows.batch, t});
  Value kMax =
      memref::LoadOp::create(b, tiles.kvSegMax, ValueRange{rows.batch, t});
  SmallVector<Value> some;
  for (const KeySegmentTest &test : tests) {
    using P = arith::CmpIPredicate;
    switch (test.pred) {
    case P::sge:
    case P::sgt:
      some.push_back(arith::CmpIOp::create(b, test.pred, kMax, test.bound));
      break;
    case P::sle:
    case P::slt:
      some.push_back(arith::CmpIOp::create(b, test.pred, kMin, test.bound));
      break;
    case P::ne:
      some.push_back(o.lor(o.lnot(o.eq(kMin, test.bound)),
                           o.lnot(o.eq(kMax, test.bound))));
      break;
    default:
      llvm_unreachable("key segment tests are sge, sgt, sle, slt and ne");
    }
  }
  return some;
}

//===----------------------------------------------------------------------===//
// Dense masks: run-time tile classes
//===----------------------------------------------------------------------===//

std::pair<Value, Value>
RuntimeTiles::Reader::emitDenseAnyAll(ImplicitLocOpBuilder &b, Value r0,
                                      Value r1, Value c0, Value c1,
                                      int64_t allLevel) {
  return emitAnyAllByRows(
      b, r0, r1,
      [&](ImplicitLocOpBuilder &ib, Value r, Value any, Value all) {
        return emitDenseRow(ib, r, c0, c1, any, all, allLevel);
      });
}

std::pair<Value, Value>
RuntimeTiles::Reader::emitDenseRow(ImplicitLocOpBuilder &ib, Value r, Value c0,
                                   Value c1, Value any, Value all,
                                   int64_t allLevel) {
  Arith io{ib};
  constexpr int64_t kBytes = 16;
  Value rowBase = io.add(denseRowBase, io.mul(r, tiles.denseDims.back()));
  Type i8 = ib.getI8Type();
  auto bytes = VectorType::get({kBytes}, i8);
  Value zeros = arith::ConstantOp::create(ib, bytes, ib.getZeroAttr(bytes));
  Value levels = arith::ConstantOp::create(
      ib, bytes, DenseElementsAttr::get(bytes, ib.getI8IntegerAttr(allLevel)));
  Value vecEnd = io.add(
      c0, io.mul(io.divU(io.sub(c1, c0), io.idx(kBytes)), io.idx(kBytes)));
  auto vecLoop = scf::ForOp::create(
      ib, c0, vecEnd, io.idx(kBytes), ValueRange{any, all},
      [&](OpBuilder &nb, Location loc, Value c, ValueRange acc) {
        ImplicitLocOpBuilder jb(loc, nb);
        Arith jo{jb};
        Value addr =
            arith::IndexCastOp::create(jb, jb.getI64Type(), jo.add(rowBase, c));
        Value ptr = LLVM::IntToPtrOp::create(
            jb, LLVM::LLVMPointerType::get(jb.getContext()), addr);
        Value v = LLVM::LoadOp::create(jb, bytes, ptr, /*alignment=*/1);
        Value on =
            arith::CmpIOp::create(jb, arith::CmpIPredicate::ne, v, zeros);
        Value anyOn =
            vector::ReductionOp::create(jb, vector::CombiningKind::OR, on);
        Value atLevel =
            allLevel == 1 ? on
                          : arith::CmpIOp::create(jb, arith::CmpIPredicate::uge,
                                                  v, levels);
        Value allOn = vector::ReductionOp::create(
            jb, vector::CombiningKind::AND, atLevel);
        scf::YieldOp::create(
            jb, ValueRange{jo.lor(acc[0], anyOn), jo.land(acc[1], allOn)});
      });
  auto tail = scf::ForOp::create(
      ib, vecEnd, c1, io.idx(1), vecLoop.getResults(),
      [&](OpBuilder &nb, Location loc, Value c, ValueRange acc) {
        ImplicitLocOpBuilder jb(loc, nb);
        Arith jo{jb};
        Value entry =
            tiles.emitter.emitDenseValue(jb, rows.batch, rows.head, r, c);
        Value e = ScoreEmitter::atLeast(jb, entry, 1);
        Value whole = ScoreEmitter::atLeast(jb, entry, allLevel);
        scf::YieldOp::create(
            jb, ValueRange{jo.lor(acc[0], e), jo.land(acc[1], whole)});
      });
  return {tail.getResult(0), tail.getResult(1)};
}
