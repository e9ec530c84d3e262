//===- RuntimeSkipping.cpp - Per-tile run-time mask classes (GPU) ---------===//
//
// Which top-level conjuncts the GPU kernel classifies per kv tile at run
// time (MaskPlan), and how it reads their data for the shared classes
// (Conversion/RuntimeSkipping): every lane reads a few keys or entries of
// the tile and the warp votes. Every warp computes the same predicates over
// the same data, so the answers are uniform over the CTA without a
// barrier. The kv loop walks only the kept tiles, finding the next one
// before the current one is processed (and, with TMA, before it is
// requested), so skipped tiles are never loaded; tiles the conjuncts allow
// entirely skip the per-element mask.
//
//===----------------------------------------------------------------------===//

#include "GPUTiler.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::tilegpu;

int64_t mlir::attn::tilegpu::entriesPerTile(const RuntimeConjuncts &runtime,
                                            int64_t rows, int64_t keys) {
  // `rows` rows starting anywhere span at most (rows - 1) / blockQ + 1
  // entry rows; likewise for the keys.
  auto span = [&](int64_t blockQ, int64_t blockKv) {
    return ((rows - 1) / blockQ + 1) * ((keys - 1) / blockKv + 1);
  };
  if (runtime.blocks)
    return span(runtime.blocks.getBlockQ(), runtime.blocks.getBlockKv());
  if (runtime.denseLeaf)
    return span(runtime.denseLeaf.getBlockQ(),
                runtime.denseLeaf.getBlockKv());
  return 0;
}

RuntimeConjuncts mlir::attn::tilegpu::splitRuntimeConjunctsFor(
    Attribute mask, int64_t rows, int64_t keys) {
  RuntimeConjuncts runtime = splitRuntimeConjuncts(mask);
  // Too many entries a tile for one read a lane: the dense conjunct (or
  // the block table) stays per element.
  if (entriesPerTile(runtime, rows, keys) > kMaxDenseTileEntries)
    runtime = splitRuntimeConjuncts(mask, /*splitDense=*/false);
  return runtime;
}

MaskPlan MaskPlan::get(AttentionOp op, const GPUTilePlan &plan) {
  MaskPlan masks;
  masks.runtime = splitRuntimeConjunctsFor(op.getMaskOrDefault(),
                                           plan.blockQ, plan.blockKv);
  masks.elementMask = op.getMaskOrDefault();
  DenseMaskAttr dense = masks.runtime.denseLeaf;
  if (dense && dense.getBlockQ() % plan.blockQ == 0 &&
      dense.getBlockKv() % plan.blockKv == 0)
    masks.elementMask = dropConjuncts(
        masks.elementMask, [](Attribute m) { return isa<DenseMaskAttr>(m); });
  masks.classes = classifyMask(masks.runtime.declarative);
  return masks;
}

void mlir::attn::tilegpu::emitRuntimeRows(KernelContext &k) {
  // Every thread scans the CTA's (at most blockQ) row ids: once per CTA,
  // and the loads of one row are broadcasts.
  CTAValues &cta = k.cta;
  cta.tileRows = {cta.bi, cta.hi,     cta.q0,  cta.qEnd, cta.p0,
                  cta.p1, cta.kvLenB, Value(), Value()};
  k.runtimeClasses->emitRows(k.b, cta.tileRows);
}

SmallVector<Value> GPUTileReader::emitAnyKeySegment(
    ImplicitLocOpBuilder &b, Value, Value j0, Value j1,
    ArrayRef<KeySegmentTest> tests) {
  // Lane l looks at keys j0 + l + 32 k below j1.
  Arith o{b};
  SmallVector<Value> some(tests.size(), o.i1(false));
  for (int64_t kk = 0; kk < at.keysPerTile / 32; ++kk) {
    Value j = o.add(j0, o.add(at.lane, o.idx(32 * kk)));
    Value in = o.lt(j, j1);
    Value id = o.toIndex(tensor::ExtractOp::create(
        b, op.getSegKv(), ValueRange{at.batch, o.min(j, at.lastKey)}));
    for (auto [i, test] : llvm::enumerate(tests))
      some[i] = o.lor(some[i], o.land(in, arith::CmpIOp::create(
                                              b, test.pred, id, test.bound)));
  }
  for (Value &v : some)
    v = vote(b, v);
  return some;
}

std::pair<Value, Value>
GPUTileReader::emitDenseAnyAll(ImplicitLocOpBuilder &b, Value r0, Value r1,
                               Value c0, Value c1, int64_t allLevel) {
  // Lane l reads entries l + 32 k of the (r1 - r0) x (c1 - c0) entries,
  // row-major; splitRuntimeConjunctsFor bounds their number.
  Arith o{b};
  Value cols = o.sub(c1, c0);
  Value count = o.mul(o.sub(r1, r0), cols);
  Value on = o.i1(false), off = o.i1(false);
  int64_t perLane = (at.entriesPerTile + 31) / 32;
  for (int64_t kk = 0; kk < perLane; ++kk) {
    Value e = o.add(at.lane, o.idx(32 * kk));
    Value valid = o.lt(e, count);
    e = o.select(valid, e, o.idx(0));
    Value r = o.add(r0, o.divU(e, cols)), c = o.add(c0, o.remU(e, cols));
    Value value = emitter.emitDenseValue(b, at.batch, at.head, r, c);
    Value entry = ScoreEmitter::atLeast(b, value, 1);
    Value whole = ScoreEmitter::atLeast(b, value, allLevel);
    on = o.lor(on, o.land(valid, entry));
    off = o.lor(off, o.land(valid, o.lnot(whole)));
  }
  return {vote(b, on), o.lnot(vote(b, off))};
}

Value GPUTileReader::vote(ImplicitLocOpBuilder &b, Value pred) {
  return NVVM::VoteSyncOp::create(b, b.getI1Type(),
                                  arith::ConstantIntOp::create(b, -1, 32),
                                  pred, NVVM::VoteSyncKind::any);
}

std::pair<Value, Value>
mlir::attn::tilegpu::emitNextKept(KernelContext &k, Value from, Value hi) {
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
          Value j0 = o.mul(args[0], o.idx(k.plan.blockKv));
          Value j1 = o.min(o.add(j0, o.idx(k.plan.blockKv)), k.cta.kvEnd);
          GPUTileReader reader(
              k.op, *k.emitter,
              {k.cta.lane, k.cta.bi, k.cta.hi, k.cta.lastKey, k.plan.blockKv,
               entriesPerTile(k.masks.runtime, k.plan.blockQ,
                              k.plan.blockKv)});
          auto [kept, full] = k.runtimeClasses->emitTileClass(
              b, reader, k.cta.tileRows, args[0], j0, j1);
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
