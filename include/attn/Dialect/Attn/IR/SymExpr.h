//===- SymExpr.h - Symbolic tile expressions and tile classes ---*- C++ -*-===//
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
// The types live with the dialect because every declarative mask leaf
// states its own classification (MaskAttrInterface::classifyTile); the
// combination of leaves and the emission of tile loops stay in
// Analysis/TileClasses.h.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_SYMEXPR_H
#define ATTN_DIALECT_ATTN_IR_SYMEXPR_H

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/Value.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <memory>
#include <utility>

namespace mlir::attn {

/// Floor division for a positive divisor, correct for negative numerators.
inline int64_t floorDivInt(int64_t a, int64_t d) {
  int64_t q = a / d;
  return (a % d != 0 && a < 0) ? q - 1 : q;
}

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
  /// land (`kind` And) and lor (Or), folded.
  static SymExpr logic(Kind kind, const SymExpr &a, const SymExpr &b);
  std::shared_ptr<const Node> node;
};

/// Half-open key interval [lo, hi); empty when lo >= hi. Not clipped to
/// [0, kvEnd): consumers clip.
struct SymInterval {
  SymExpr lo, hi;
};

/// The classes of a mask for one symbolic tile (see the file comment).
struct TileClasses {
  SmallVector<SymInterval, 2> bound;
  SmallVector<SymInterval, 2> full;
};

/// At most this many intervals in either union; beyond it the last members
/// of `bound` are replaced by their hull and `full` keeps its first members
/// (their sizes are symbolic, so "largest" is not known at compile time; any
/// subset of a full union is still full).
constexpr unsigned kMaxTileIntervals = 6;

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_IR_SYMEXPR_H
