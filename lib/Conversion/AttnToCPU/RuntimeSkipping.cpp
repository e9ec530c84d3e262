//===- RuntimeSkipping.cpp - Run-time kv tile classes on the CPU ----------===//
//
// Top-level data-dependent conjuncts (document ids, the draft tree, dense
// and block-sparse masks) classify each kv tile at run time: skipped,
// allowed entirely (no per-element mask), or partial.
//
//===----------------------------------------------------------------------===//

#include "CPUTiler.h"

#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

SmallVector<Value> CPUTiler::emitRuntimeSkip(
    WorkItem &it, Value t, ValueRange state,
    function_ref<SmallVector<Value>(Value dataFull)> body) {
  if (!hasDocument && !hasTree && !hasDense)
    return body(Value());
  // Tiles that a runtime conjunct rules out pass the state through; the
  // rest run `body`.
  Value j0 = o.mul(t, o.idx(plan.blockKv));
  Value nkv = o.min(o.idx(plan.blockKv), o.sub(it.kvEnd, j0));
  Value skip, full;
  auto combine = [&](std::pair<Value, Value> tile) {
    skip = skip ? o.lor(skip, tile.first) : tile.first;
    full = full ? o.land(full, tile.second) : tile.second;
  };
  // `state` where `skipIf` holds, else run(); returns the results.
  auto unless = [&](Value skipIf, function_ref<SmallVector<Value>()> run) {
    auto ifOp = scf::IfOp::create(b, state.getTypes(), skipIf,
                                  /*withElseRegion=*/true);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, state);
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, run());
    return SmallVector<Value>(ifOp.getResults());
  };
  if (hasDocument)
    combine(emitDocumentTile(it, t));
  if (hasTree)
    combine(emitter->emitTreeTile(b, it.kvLenB, it.i0, o.add(it.i0, it.nq),
                                  it.p0, it.p1, j0, o.add(j0, nkv)));
  // The dense scan runs only on tiles the O(1) tests kept.
  auto dense = [&]() -> SmallVector<Value> {
    if (!hasDense)
      return body(full);
    std::pair<Value, Value> denseTile = emitDenseTile(it, j0, nkv);
    Value denseFull = denseTile.second;
    return unless(denseTile.first, [&]() {
      return body(full ? o.land(full, denseFull) : denseFull);
    });
  };
  return skip ? unless(skip, dense) : dense();
}

//===----------------------------------------------------------------------===//
// Document masks: run-time tile classes from segment ids
//===----------------------------------------------------------------------===//

void CPUTiler::emitDocumentTable() {
  // kvSegMin[b][t] / kvSegMax[b][t] = min / max of seg_kv[b, j] over the keys
  // of kv tile t. A tile can then be skipped when its id range misses the
  // query tile's, and needs no mask when both hold one and the same id.
  Value bkv = o.idx(plan.blockKv);
  Value tiles = o.ceilDiv(kvLen, bkv);
  auto type = MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic},
                              b.getIndexType());
  kvSegMin = memref::AllocOp::create(b, type, ValueRange{batch, tiles});
  kvSegMax = memref::AllocOp::create(b, type, ValueRange{batch, tiles});
  emitParallel(o.mul(batch, tiles), [&](Value item) {
    Value bIdx = o.divU(item, tiles), t = o.remU(item, tiles);
    Value j0 = o.mul(t, bkv);
    auto [lo, up] =
        emitIdRange(b, op.getSegKv(), bIdx, j0, o.min(o.add(j0, bkv), kvLen));
    memref::StoreOp::create(b, lo, kvSegMin, ValueRange{bIdx, t});
    memref::StoreOp::create(b, up, kvSegMax, ValueRange{bIdx, t});
  });
}

void CPUTiler::emitDocumentRows(WorkItem &it) {
  std::tie(it.qSegMin, it.qSegMax) =
      emitIdRange(b, op.getSegQ(), it.bi, it.i0, o.add(it.i0, it.nq));
}

std::pair<Value, Value> CPUTiler::emitDocumentTile(WorkItem &it, Value t) {
  Value kMin = memref::LoadOp::create(b, kvSegMin, ValueRange{it.bi, t});
  Value kMax = memref::LoadOp::create(b, kvSegMax, ValueRange{it.bi, t});
  Value skip = o.lor(o.lt(it.qSegMax, kMin), o.lt(kMax, it.qSegMin));
  Value full = o.land(o.land(o.eq(it.qSegMin, it.qSegMax), o.eq(kMin, kMax)),
                      o.eq(it.qSegMin, kMin));
  return {skip, full};
}

//===----------------------------------------------------------------------===//
// Dense masks: run-time tile classes
//===----------------------------------------------------------------------===//

std::pair<Value, Value> CPUTiler::emitDenseTile(WorkItem &it, Value j0,
                                                Value nkv) {
  // Entries [r0, r1) x [c0, c1) cover the item's rows and the tile's keys;
  // any / all of them, row by row, until both answers are known.
  Value bkv = o.idx(denseLeaf.getBlockKv());
  Value one = o.idx(1);
  Value r0 = it.denseR0, r1 = it.denseR1;
  Value c0 = o.divU(j0, bkv);
  Value c1 = o.add(o.divU(o.sub(o.add(j0, nkv), one), bkv), one);
  Type i1 = b.getI1Type(), index = b.getIndexType();
  auto loop = scf::WhileOp::create(
      b, TypeRange{index, i1, i1}, ValueRange{r0, o.i1(false), o.i1(true)},
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        ImplicitLocOpBuilder ib(loc, nb);
        Arith io{ib};
        Value mixed = io.land(args[1], io.lnot(args[2]));
        Value more = io.land(io.lt(args[0], r1), io.lnot(mixed));
        scf::ConditionOp::create(ib, more, args);
      },
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        ImplicitLocOpBuilder ib(loc, nb);
        Arith io{ib};
        Value r = args[0];
        auto [any, all] = emitDenseRow(it, ib, r, c0, c1, args[1], args[2]);
        scf::YieldOp::create(ib, ValueRange{io.add(r, io.idx(1)), any, all});
      });
  return {o.lnot(loop.getResult(1)), loop.getResult(2)};
}

std::pair<Value, Value> CPUTiler::emitDenseRow(WorkItem &it,
                                               ImplicitLocOpBuilder &ib,
                                               Value r, Value c0, Value c1,
                                               Value any, Value all) {
  Arith io{ib};
  constexpr int64_t kBytes = 16;
  Value rowBase = io.add(it.denseItemBase, io.mul(r, denseDims.back()));
  Type i8 = ib.getI8Type();
  auto bytes = VectorType::get({kBytes}, i8);
  Value zeros = arith::ConstantOp::create(ib, bytes, ib.getZeroAttr(bytes));
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
        Value allOn =
            vector::ReductionOp::create(jb, vector::CombiningKind::AND, on);
        scf::YieldOp::create(
            jb, ValueRange{jo.lor(acc[0], anyOn), jo.land(acc[1], allOn)});
      });
  auto tail = scf::ForOp::create(
      ib, vecEnd, c1, io.idx(1), vecLoop.getResults(),
      [&](OpBuilder &nb, Location loc, Value c, ValueRange acc) {
        ImplicitLocOpBuilder jb(loc, nb);
        Arith jo{jb};
        Value e = emitter->emitDenseEntry(jb, it.bi, it.hi, r, c);
        scf::YieldOp::create(jb,
                             ValueRange{jo.lor(acc[0], e), jo.land(acc[1], e)});
      });
  return {tail.getResult(0), tail.getResult(1)};
}
