//===- RuntimeSkipping.cpp - Per-tile run-time mask classes (GPU) ---------===//
//
// Top-level document, tree and block-sparse dense conjuncts depend on
// operand data, so the symbolic tile classification (TileClasses.h) cannot
// see them. The GPU kernel classifies them per kv tile at run time instead:
// the kv loop walks only the tiles they keep (some key's segment id within
// the CTA's rows' range; the tree's causal prefix; a block entry on),
// finding the next kept tile before the current one is processed (and, with
// TMA, before it is requested), so skipped tiles are never loaded; tiles the
// conjuncts allow entirely skip the per-element mask.
//
// Every warp computes the same predicates over the same entries and votes,
// so the result is uniform over the CTA without a barrier.
//
//===----------------------------------------------------------------------===//

#include "GPUTiler.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::tilegpu;

/// At most how many entries of `dense` cover one CTA's rows and one kv
/// tile: blockQ rows starting anywhere span at most (blockQ - 1) / bq + 1
/// entry rows; likewise for the keys of a tile.
static int64_t denseEntriesPerTile(DenseMaskAttr dense,
                                   const GPUTilePlan &plan) {
  return ((plan.blockQ - 1) / dense.getBlockQ() + 1) *
         ((plan.blockKv - 1) / dense.getBlockKv() + 1);
}

MaskPlan MaskPlan::get(AttentionOp op, const GPUTilePlan &plan) {
  MaskPlan masks;
  RuntimeConjuncts runtime = splitRuntimeConjuncts(op.getMaskOrDefault());
  if (runtime.denseLeaf &&
      denseEntriesPerTile(runtime.denseLeaf, plan) > kMaxDenseTileEntries)
    runtime =
        splitRuntimeConjuncts(op.getMaskOrDefault(), /*splitDense=*/false);
  masks.hasDocument = runtime.document;
  masks.hasTree = runtime.tree;
  masks.denseLeaf = runtime.denseLeaf;
  masks.elementMask = op.getMaskOrDefault();
  if (masks.denseLeaf && masks.denseLeaf.getBlockQ() % plan.blockQ == 0 &&
      masks.denseLeaf.getBlockKv() % plan.blockKv == 0)
    masks.elementMask = dropConjuncts(
        masks.elementMask, [](Attribute m) { return isa<DenseMaskAttr>(m); });
  masks.classes = classifyMask(runtime.declarative);
  return masks;
}

void mlir::attn::tilegpu::emitDocumentRows(KernelContext &k) {
  // Every thread scans the CTA's (at most blockQ) row ids: once per CTA,
  // and the loads of one row are broadcasts.
  std::tie(k.cta.qSegMin, k.cta.qSegMax) = emitIdRange(
      k.b, k.op.getSegQ(), k.cta.bi, k.cta.q0, k.cta.qEnd);
}

/// (kept, full) of kv tile `t` under the runtime conjuncts (document, tree,
/// block-sparse dense): kept unless they rule out every (row, key) pair of
/// the CTA's rows and the tile's keys, full when they allow every one.
static std::pair<Value, Value> emitRuntimeClass(KernelContext &k, Value t) {
  ImplicitLocOpBuilder &b = k.b;
  Arith &o = k.o;
  const CTAValues &cta = k.cta;
  int64_t blockKv = k.plan.blockKv;
  Value j0 = o.mul(t, o.idx(blockKv));
  Value kept = o.i1(true), full = o.i1(true);
  auto vote = [&](Value pred) {
    return NVVM::VoteSyncOp::create(b, b.getI1Type(),
                                    arith::ConstantIntOp::create(b, -1, 32),
                                    pred, NVVM::VoteSyncKind::any);
  };
  if (k.masks.hasDocument) {
    // Lane l looks at keys j0 + l + 32 k. A key may match some row when its
    // id lies in [qSegMin, qSegMax]; the tile is full when every key below
    // kvEnd has the rows' single id. Keys at or past kvEnd count for
    // neither (the bound test handles them).
    Value maybe = o.i1(false), mismatch = o.i1(false);
    for (int64_t kk = 0; kk < blockKv / 32; ++kk) {
      Value j = o.add(j0, o.add(cta.lane, o.idx(32 * kk)));
      Value in = o.lt(j, cta.kvEnd);
      Value id = o.toIndex(tensor::ExtractOp::create(
          b, k.op.getSegKv(), ValueRange{cta.bi, o.min(j, cta.lastKey)}));
      maybe = o.lor(maybe, o.land(in, o.land(o.le(cta.qSegMin, id),
                                             o.le(id, cta.qSegMax))));
      mismatch = o.lor(mismatch, o.land(in, o.lnot(o.eq(id, cta.qSegMin))));
    }
    kept = vote(maybe);
    full = o.land(o.eq(cta.qSegMin, cta.qSegMax), o.lnot(vote(mismatch)));
  }
  if (DenseMaskAttr dense = k.masks.denseLeaf) {
    // Entries [r0, r1) x [c0, c1) cover the CTA's rows and the tile's keys
    // below kvEnd; lane l reads entries l + 32 k of them, row-major. The
    // tile is kept when one is on, and full when none is off.
    Value one = o.idx(1);
    Value bq = o.idx(dense.getBlockQ());
    Value bkv = o.idx(dense.getBlockKv());
    Value j1 = o.max(o.min(o.add(j0, o.idx(blockKv)), cta.kvEnd),
                     o.add(j0, one));
    Value r0 = o.divU(cta.q0, bq);
    Value r1 = o.add(o.divU(o.sub(cta.qEnd, one), bq), one);
    Value c0 = o.divU(j0, bkv);
    Value cols = o.sub(o.add(o.divU(o.sub(j1, one), bkv), one), c0);
    Value count = o.mul(o.sub(r1, r0), cols);
    Value on = o.i1(false), off = o.i1(false);
    int64_t perLane = (denseEntriesPerTile(dense, k.plan) + 31) / 32;
    for (int64_t kk = 0; kk < perLane; ++kk) {
      Value e = o.add(cta.lane, o.idx(32 * kk));
      Value valid = o.lt(e, count);
      e = o.select(valid, e, o.idx(0));
      Value entry = k.emitter->emitDenseEntry(b, cta.bi, cta.hi,
                                              o.add(r0, o.divU(e, cols)),
                                              o.add(c0, o.remU(e, cols)));
      on = o.lor(on, o.land(valid, entry));
      off = o.lor(off, o.land(valid, o.lnot(entry)));
    }
    kept = o.land(kept, vote(on));
    full = o.land(full, o.lnot(vote(off)));
  }
  if (k.masks.hasTree) {
    Value j1 = o.min(o.add(j0, o.idx(blockKv)), cta.kvEnd);
    auto [skip, treeFull] = k.emitter->emitTreeTile(
        b, cta.kvLenB, cta.q0, cta.qEnd, cta.p0, cta.p1, j0, j1);
    kept = o.land(kept, o.lnot(skip));
    full = o.land(full, treeFull);
  }
  return {kept, full};
}

std::pair<Value, Value> mlir::attn::tilegpu::emitNextKept(KernelContext &k,
                                                          Value from,
                                                          Value hi) {
  ImplicitLocOpBuilder &b = k.b;
  Arith &o = k.o;
  // The search stops at hi; tiles from hi on are not classified (with no
  // keys at all there would be no segment id to read).
  auto loop = scf::WhileOp::create(
      b, TypeRange{from.getType(), b.getI1Type()},
      ValueRange{from, o.i1(false)},
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        Value inRange = o.lt(args[0], hi);
        auto classify = scf::IfOp::create(
            b, TypeRange{b.getI1Type(), b.getI1Type()}, inRange,
            /*withElseRegion=*/true);
        {
          OpBuilder::InsertionGuard guard2(b);
          b.setInsertionPointToStart(classify.thenBlock());
          auto [kept, full] = emitRuntimeClass(k, args[0]);
          scf::YieldOp::create(b, ValueRange{kept, full});
          b.setInsertionPointToStart(classify.elseBlock());
          scf::YieldOp::create(b, ValueRange{o.i1(true), o.i1(false)});
        }
        Value more = o.land(inRange, o.lnot(classify.getResult(0)));
        scf::ConditionOp::create(b, more,
                                 ValueRange{args[0], classify.getResult(1)});
      },
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        ImplicitLocOpBuilder ib(loc, nb);
        Arith io{ib};
        scf::YieldOp::create(ib,
                             ValueRange{io.add(args[0], io.idx(1)), args[1]});
      });
  return {loop.getResult(0), loop.getResult(1)};
}
