//===- TileClasses.h - Symbolic tile classification of masks ----*- C++ -*-===//
//
// For a tile of consecutive query positions [p0, p1), a declarative mask is
// summarised by two unions of key intervals, written as symbolic integer
// expressions of p0, p1 and kvEnd (the number of keys the batch row sees):
//
//   bound: every key allowed for some query of the tile lies in the union;
//          kv tiles outside it are empty and never visited;
//   full:  every key in the union is allowed for every query of the tile
//          (and every head); kv tiles inside it need no per-element mask.
//
// Everything else is partial. The expressions are built once per op at
// compile time; the fused code generators emit them as index arithmetic per
// q-tile (O(1) per tile), and the unit tests evaluate them on integers
// against brute force, so one definition serves both.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_ANALYSIS_TILECLASSES_H
#define ATTN_DIALECT_ATTN_ANALYSIS_TILECLASSES_H

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "mlir/IR/Attributes.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/raw_ostream.h"
#include <optional>

#include <cstdint>
#include <memory>
#include <utility>

namespace mlir::attn {

/// Values of the tile variables, for evaluation on integers.
struct SymEnv {
  int64_t p0 = 0, p1 = 0, kvEnd = 0;
};

/// The same variables as `index` SSA values, for emission.
struct SymValues {
  Value p0, p1, kvEnd;
};

/// An immutable integer or boolean expression over the tile variables.
/// Booleans evaluate to 0/1 and emit as i1; integers emit as `index`.
/// Construction folds constants, so simple masks stay small.
class SymExpr {
public:
  enum class Kind {
    Const,
    P0,
    P1,
    KvEnd,
    Add,
    Sub,
    Mul,
    FloorDiv, // FloorDiv: rhs is a positive constant
    Min,
    Max,
    Select, // Select(cond, a, b)
    Lt,
    Le,
    Eq,
    And,
    Or,
    Not // booleans
  };

  static SymExpr cst(int64_t v);
  /// A boolean constant (evaluates to 0/1, emits as i1).
  static SymExpr boolean(bool v);
  static SymExpr p0();
  static SymExpr p1();
  static SymExpr kvEnd();

  Kind getKind() const;
  /// The value of a Const; only valid when isConst().
  int64_t getConst() const;
  bool isConst() const { return getKind() == Kind::Const; }

  friend SymExpr operator+(const SymExpr &a, const SymExpr &b);
  friend SymExpr operator-(const SymExpr &a, const SymExpr &b);
  friend SymExpr operator*(const SymExpr &a, const SymExpr &b);
  /// Floor division by the positive constant `d`.
  static SymExpr floorDiv(const SymExpr &a, int64_t d);
  static SymExpr min(const SymExpr &a, const SymExpr &b);
  static SymExpr max(const SymExpr &a, const SymExpr &b);
  static SymExpr select(const SymExpr &cond, const SymExpr &a,
                        const SymExpr &b);
  static SymExpr lt(const SymExpr &a, const SymExpr &b);
  static SymExpr le(const SymExpr &a, const SymExpr &b);
  static SymExpr eq(const SymExpr &a, const SymExpr &b);
  static SymExpr land(const SymExpr &a, const SymExpr &b);
  static SymExpr lor(const SymExpr &a, const SymExpr &b);
  static SymExpr lnot(const SymExpr &a);

  int64_t evaluate(const SymEnv &env) const;
  /// Emits index (or i1) arithmetic; shared subexpressions are emitted once
  /// per call.
  Value emit(ImplicitLocOpBuilder &b, const SymValues &vals) const;
  void print(llvm::raw_ostream &os) const;

  struct Node;

private:
  explicit SymExpr(std::shared_ptr<const Node> node) : node(std::move(node)) {}
  std::shared_ptr<const Node> node;
};

/// Half-open key interval [lo, hi); empty when lo >= hi. Not clipped to
/// [0, kvEnd): consumers clip.
struct SymInterval {
  SymExpr lo, hi;
};

struct TileClasses {
  SmallVector<SymInterval, 2> bound;
  SmallVector<SymInterval, 2> full;
};

/// At most this many intervals in either union; beyond it the last members
/// of `bound` are replaced by their hull and `full` keeps its first members
/// (their sizes are symbolic, so "largest" is not known at compile time; any
/// subset of a full union is still full).
constexpr unsigned kMaxTileIntervals = 6;

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
};

/// Splits the top-level document, tree and (with `splitDense`) dense
/// conjuncts (the leaf itself, or operands of a top-level `#attn.and`) off
/// `mask`. The same leaves under or / not, and a dense leaf not split, stay
/// in the declarative part, where they are unknown to the classification
/// (every key possible, none full).
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
