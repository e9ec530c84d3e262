//===- TileClasses.h - Symbolic tile classification of masks ----*- C++ -*-===//
//
// Combines the tile classes of mask leaves (IR/SymExpr.h; each declarative
// leaf states its own through MaskAttrInterface::classifyTile) through
// and/or/not into the classes of a whole mask: kv tiles outside `bound` are
// empty, inside `full` full, the rest partial. The expressions are built
// once per op at compile time; the fused code generators emit them as index
// arithmetic per q-tile (O(1) per tile), and the unit tests evaluate them
// on integers against brute force, so one definition serves both.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_ANALYSIS_TILECLASSES_H
#define ATTN_DIALECT_ATTN_ANALYSIS_TILECLASSES_H

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/IR/SymExpr.h"
#include "mlir/IR/Attributes.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include "llvm/ADT/SmallVector.h"

#include <optional>
#include <utility>

namespace mlir::attn {

/// Classifies a mask expression of declarative leaves and and/or/not.
/// Data-dependent leaves (document, tree, dense, mask_mod) are unknown to
/// it: bound [0, kvEnd), full empty. Head-dependent leaves (dilated,
/// directional_2d) are classified for all heads at once.
TileClasses classifyMask(Attribute mask);

/// The data-dependent conjuncts of a mask that a tiler classifies per tile
/// at run time, and the declarative rest, classified symbolically.
struct RuntimeConjuncts {
  Attribute declarative;
  bool document = false, tree = false;
  /// The dense conjunct, or null.
  DenseMaskAttr denseLeaf;
  /// A block table over the whole mask (#attn.blocks), or null; the
  /// declarative part is then "all allowed", the table deciding.
  BlocksMaskAttr blocks;

  /// Whether any tile class is decided at run time.
  bool any() const { return document || tree || denseLeaf || blocks; }
};

/// Splits the top-level document, tree and (with `splitDense`) dense
/// conjuncts (the leaf itself, or operands of a top-level `#attn.and`) off
/// `mask`; with `splitDense`, an #attn.blocks mask is all block table. The same
/// leaves under or / not, and a dense leaf not split, stay in the declarative
/// part, where they are unknown to the classification (every key possible, none
/// full).
RuntimeConjuncts splitRuntimeConjuncts(Attribute mask, bool splitDense = true);

/// `mask` without the top-level conjuncts (the leaf itself, or operands of
/// a top-level `#attn.and`) for which `drop` is true; "all allowed" when
/// none is left.
Attribute dropConjuncts(Attribute mask, function_ref<bool(Attribute)> drop);

/// Emits (min, max) of the integer ids[bIdx, j] for j in [lo, hi), as
/// index values ((max, min) of index when the range is empty): the id
/// range of a document conjunct's rows or keys.
std::pair<Value, Value> emitIdRange(ImplicitLocOpBuilder &b, Value ids,
                                    Value bIdx, Value lo, Value hi);

/// When every `bound` interval has a width independent of the query
/// position and of the number of keys (sliding windows, halos, sinks and
/// their unions), the sum of those widths for a single query row: the keys
/// one row can see at most. None for masks whose reach grows with the
/// position or the sequence (full, causal, prefix-LM, ...).
std::optional<int64_t> boundBandWidth(const TileClasses &classes);

/// A key interval [lo, hi) as `index` values.
using KeyRange = std::pair<Value, Value>;

/// Emits the kv-tile ranges [lo, hi) (tile indices for tiles of `blockKv`
/// keys) that the `bound` intervals of `classes` touch inside [0, kvEnd),
/// sorted and cut so that they are disjoint: a loop over them visits every
/// non-empty tile once. Always returns at least one (maybe empty) range.
SmallVector<KeyRange> emitTileRanges(ImplicitLocOpBuilder &b,
                                     const TileClasses &classes,
                                     const SymValues &vals, Value kvEnd,
                                     int64_t blockKv);

/// Emits the `full` intervals of `classes` (once per query block).
SmallVector<KeyRange> emitFullIntervals(ImplicitLocOpBuilder &b,
                                        const TileClasses &classes,
                                        const SymValues &vals);

/// i1: the tile [j0, j0 + blockKv) lies in one of `full` and below kvEnd,
/// so it needs no per-element mask.
Value emitTileIsFull(ImplicitLocOpBuilder &b, ArrayRef<KeyRange> full, Value j0,
                     int64_t blockKv, Value kvEnd);

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_ANALYSIS_TILECLASSES_H
