//===- RuntimeSkipping.h - Run-time kv tile classes -------------*- C++ -*-===//
//
// Top-level document, tree and block-sparse dense conjuncts of a mask, and
// #attn.blocks tables, depend on operand data, so the symbolic tile
// classification (TileClasses.h) cannot see them. Both fused code generators
// classify kv tiles under them at run time instead: a tile is skipped when they
// rule out every (row, key) pair of the tile, and needs no per-element test of
// them when they allow every pair.
//
// This file is the one definition of those classes. What differs between
// the targets is only how the data is read and reduced, which a target
// supplies as a RuntimeTileReader: the CPU answers key questions from
// per-tile id ranges it computed before the work items and scans dense
// entries 16 bytes at a time; the GPU has every lane read a few keys or
// entries and the warp vote.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_RUNTIMESKIPPING_RUNTIMESKIPPING_H
#define ATTN_CONVERSION_RUNTIMESKIPPING_RUNTIMESKIPPING_H

#include "attn/Dialect/Attn/Analysis/TileClasses.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <utility>

namespace mlir::attn {

class ScoreEmitter;

/// The query rows a kv tile is classified for: a CPU work item's rows or a
/// GPU CTA's.
struct RuntimeTileRows {
  /// Batch row and query head.
  Value batch, head;
  /// Query rows [q0, qEnd) at positions [p0, p1); the batch row's visible
  /// keys (kv_len[b], or Skv).
  Value q0, qEnd, p0, p1, kvLenB;
  /// With a document conjunct: the least and greatest segment id of the
  /// rows (RuntimeTileClassifier::emitRows).
  Value segMin, segMax;
};

/// A comparison of a key's segment id with a bound: `id pred bound`.
struct KeySegmentTest {
  arith::CmpIPredicate pred;
  Value bound;
};

/// How a target reads the data the run-time classes depend on.
class RuntimeTileReader {
public:
  virtual ~RuntimeTileReader();

  /// One i1 per test: whether some key of kv tile `tile` (keys [j0, j1) of
  /// the rows' batch row) passes it. Tests are sge, sle and ne. An answer
  /// may be true although no key passes (a reader may look at more keys of
  /// the tile than [j0, j1)), never false when one does: the classifier
  /// uses the answers only in that safe direction.
  virtual SmallVector<Value>
  emitAnyKeySegment(ImplicitLocOpBuilder &b, Value tile, Value j0, Value j1,
                    ArrayRef<KeySegmentTest> tests) = 0;

  /// (any, all): whether some entry [r0, r1) x [c0, c1) of the dense mask
  /// operand is non-zero, and whether every one is at least `allLevel`
  /// (unsigned; entry rows and columns count blocks; the rows' batch row
  /// and head, size-1 dims broadcast). The ranges are not empty.
  virtual std::pair<Value, Value> emitDenseAnyAll(ImplicitLocOpBuilder &b,
                                                  Value r0, Value r1, Value c0,
                                                  Value c1,
                                                  int64_t allLevel) = 0;
};

/// Classifies kv tiles under the run-time conjuncts a target's plan split
/// off the mask (splitRuntimeConjuncts).
class RuntimeTileClassifier {
public:
  RuntimeTileClassifier(VariantOpInterface op,
                        const RuntimeConjuncts &conjuncts,
                        const ScoreEmitter &emitter)
      : op(op), conjuncts(conjuncts), emitter(emitter) {}

  /// Whether there is anything to classify at run time.
  bool any() const { return conjuncts.any(); }

  /// Fills rows.segMin / segMax when there is a document conjunct (once
  /// per row block).
  void emitRows(ImplicitLocOpBuilder &b, RuntimeTileRows &rows) const;

  /// (kept, full) of kv tile `tile`, keys [j0, j1) with j0 < j1: kept
  /// unless the conjuncts rule out every pair of the rows and the keys,
  /// full when they allow every one. The dense entries are read only for
  /// tiles the other conjuncts keep.
  std::pair<Value, Value> emitTileClass(ImplicitLocOpBuilder &b,
                                        RuntimeTileReader &reader,
                                        const RuntimeTileRows &rows, Value tile,
                                        Value j0, Value j1) const;

private:
  mutable VariantOpInterface op;
  RuntimeConjuncts conjuncts;
  const ScoreEmitter &emitter;
};

} // namespace mlir::attn

#endif // ATTN_CONVERSION_RUNTIMESKIPPING_RUNTIMESKIPPING_H
