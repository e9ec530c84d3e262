//===- RuntimeSkipping.cpp - Run-time kv tile classes ---------------------===//
//
// The classes, for rows R (ids [segMin, segMax]) and keys [j0, j1):
//
//   document  kept when the keys' id range meets [segMin, segMax]: some key
//             id >= segMin and some key id <= segMax (a key whose id lies
//             outside the range matches no row); full when the rows hold
//             one id and no key has another.
//   tree      ScoreEmitter::emitTreeTile (causal rows before the draft
//             block, draft rows seeing every key before the draft keys).
//   dense     kept when some entry covering R x [j0, j1) is on, full when
//             every one is.
//   blocks    (#attn.blocks, the whole mask) kept when some entry covering
//             R x [j0, j1) is non-zero, full when every one is 2 or more.
//
// The reader may answer "some key passes" too often (never too rarely), so
// kept can only grow and full only shrink: a tile is never skipped wrongly
// and the per-element mask is never dropped wrongly.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/RuntimeSkipping/RuntimeSkipping.h"

#include "attn/Dialect/Attn/Utils/Arith.h"
#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;

RuntimeTileReader::~RuntimeTileReader() = default;

void RuntimeTileClassifier::emitRows(ImplicitLocOpBuilder &b,
                                     RuntimeTileRows &rows) const {
  if (conjuncts.document)
    std::tie(rows.segMin, rows.segMax) =
        emitIdRange(b, op.getSegQ(), rows.batch, rows.q0, rows.qEnd);
}

std::pair<Value, Value> RuntimeTileClassifier::emitTileClass(
    ImplicitLocOpBuilder &b, RuntimeTileReader &reader,
    const RuntimeTileRows &rows, Value tile, Value j0, Value j1) const {
  Arith o{b};
  Value kept, full;
  auto meet = [&](Value k, Value f) {
    kept = kept ? o.land(kept, k) : k;
    full = full ? o.land(full, f) : f;
  };
  if (conjuncts.document) {
    using P = arith::CmpIPredicate;
    SmallVector<Value> some = reader.emitAnyKeySegment(
        b, tile, j0, j1,
        {{P::sge, rows.segMin}, {P::sle, rows.segMax}, {P::ne, rows.segMin}});
    meet(o.land(some[0], some[1]),
         o.land(o.eq(rows.segMin, rows.segMax), o.lnot(some[2])));
  }
  if (conjuncts.tree) {
    auto [skip, treeFull] = emitter.emitTreeTile(
        b, rows.kvLenB, rows.q0, rows.qEnd, rows.p0, rows.p1, j0, j1);
    meet(o.lnot(skip), treeFull);
  }
  // Entries covering the rows and keys [j0, j1), in blocks of bq x bkv:
  // (any non-zero, all >= level).
  auto entries = [&](int64_t blockQ, int64_t blockKv, int64_t level) {
    Value one = o.idx(1);
    Value bq = o.idx(blockQ), bkv = o.idx(blockKv);
    Value r0 = o.divU(rows.q0, bq);
    Value r1 = o.add(o.divU(o.sub(rows.qEnd, one), bq), one);
    Value c0 = o.divU(j0, bkv);
    Value c1 = o.add(o.divU(o.sub(j1, one), bkv), one);
    return reader.emitDenseAnyAll(b, r0, r1, c0, c1, level);
  };
  if (BlocksMaskAttr blocks = conjuncts.blocks) {
    // The only run-time class of such a mask (splitRuntimeConjuncts).
    auto [some, whole] = entries(blocks.getBlockQ(), blocks.getBlockKv(), 2);
    meet(some, whole);
  }
  if (DenseMaskAttr dense = conjuncts.denseLeaf) {
    auto scan = [&] {
      return entries(dense.getBlockQ(), dense.getBlockKv(), 1);
    };
    if (!kept) {
      auto [on, allOn] = scan();
      meet(on, allOn);
    } else {
      // The entries are read only for tiles the O(1) tests kept.
      Type i1 = b.getI1Type();
      auto ifOp = scf::IfOp::create(b, TypeRange{i1, i1}, kept,
                                    /*withElseRegion=*/true);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      auto [on, allOn] = scan();
      scf::YieldOp::create(b, ValueRange{on, allOn});
      b.setInsertionPointToStart(ifOp.elseBlock());
      scf::YieldOp::create(b, ValueRange{o.i1(false), o.i1(false)});
      b.setInsertionPointAfter(ifOp);
      kept = ifOp.getResult(0);
      full = o.land(full, ifOp.getResult(1));
    }
  }
  assert(kept && "no run-time conjunct to classify");
  return {kept, full};
}
