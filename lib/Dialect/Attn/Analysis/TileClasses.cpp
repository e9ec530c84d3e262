//===- TileClasses.cpp - Symbolic tile classification of masks ------------===//
//
// Two parts: SymExpr, a tiny expression DAG over (p0, p1, kvEnd) that folds
// constants as it is built and can be evaluated on integers or emitted as
// `arith` on `index`; and classifyMask, which describes each mask leaf of
// AttnAttrs.td by the key intervals a tile of query positions [p0, p1) can
// reach (`bound`) and must see in full (`full`), and combines them through
// and/or/not.
//
// Every rule below must be sound for all integers p0 < p1 (positions can be
// negative or lie past the last key) and every head; the unit tests check
// them against the reference's mask predicate by brute force.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Analysis/TileClasses.h"

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/Utils/Arith.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>
#include <limits>
#include <optional>

using namespace mlir;
using namespace mlir::attn;

//===----------------------------------------------------------------------===//
// SymExpr
//===----------------------------------------------------------------------===//

struct SymExpr::Node {
  Kind kind;
  /// Booleans (comparisons, logic, boolean constants and selects of them)
  /// emit as i1, everything else as index.
  bool isBool = false;
  /// The value of a Const.
  int64_t value = 0;
  SmallVector<std::shared_ptr<const Node>, 3> ops;
};

using NodePtr = std::shared_ptr<const SymExpr::Node>;
using Kind = SymExpr::Kind;

/// Floor division for a positive divisor, correct for negative numerators.
static int64_t floorDivInt(int64_t a, int64_t d) {
  int64_t q = a / d;
  return (a % d != 0 && a < 0) ? q - 1 : q;
}

/// Structural equality; shared subexpressions compare by pointer first.
static bool sameNode(const SymExpr::Node *a, const SymExpr::Node *b) {
  if (a == b)
    return true;
  if (a->kind != b->kind || a->isBool != b->isBool || a->value != b->value ||
      a->ops.size() != b->ops.size())
    return false;
  for (auto [x, y] : llvm::zip(a->ops, b->ops))
    if (!sameNode(x.get(), y.get()))
      return false;
  return true;
}

/// Splits `n` into base + offset: `x + c` gives (x, c), a constant gives
/// (null, c), anything else (n, 0). Construction keeps constants on the right
/// of additions, so this sees every constant offset.
static std::pair<const SymExpr::Node *, int64_t>
splitOffset(const SymExpr::Node *n) {
  if (n->kind == Kind::Const)
    return {nullptr, n->value};
  if (n->kind == Kind::Add && n->ops[1]->kind == Kind::Const)
    return {n->ops[0].get(), n->ops[1]->value};
  return {n, 0};
}

/// a - b when it does not depend on the variables (both have the same base).
static std::optional<int64_t> knownDifference(const SymExpr::Node *a,
                                              const SymExpr::Node *b) {
  auto [baseA, offA] = splitOffset(a);
  auto [baseB, offB] = splitOffset(b);
  if (baseA == baseB || (baseA && baseB && sameNode(baseA, baseB)))
    return offA - offB;
  return std::nullopt;
}

static NodePtr makeNode(Kind kind, bool isBool, ArrayRef<NodePtr> ops,
                        int64_t value = 0) {
  auto node = std::make_shared<SymExpr::Node>();
  node->kind = kind;
  node->isBool = isBool;
  node->value = value;
  node->ops.assign(ops.begin(), ops.end());
  return node;
}

SymExpr SymExpr::cst(int64_t v) {
  return SymExpr(makeNode(Kind::Const, false, {}, v));
}

SymExpr SymExpr::boolean(bool v) {
  return SymExpr(makeNode(Kind::Const, true, {}, v ? 1 : 0));
}

SymExpr SymExpr::p0() {
  static const NodePtr node = makeNode(Kind::P0, false, {});
  return SymExpr(node);
}

SymExpr SymExpr::p1() {
  static const NodePtr node = makeNode(Kind::P1, false, {});
  return SymExpr(node);
}

SymExpr SymExpr::kvEnd() {
  static const NodePtr node = makeNode(Kind::KvEnd, false, {});
  return SymExpr(node);
}

SymExpr::Kind SymExpr::getKind() const { return node->kind; }

int64_t SymExpr::getConst() const {
  assert(isConst() && "getConst on a non-constant expression");
  return node->value;
}

namespace mlir::attn {

SymExpr operator+(const SymExpr &a, const SymExpr &b) {
  const SymExpr::Node *x = a.node.get(), *y = b.node.get();
  if (x->kind == Kind::Const && y->kind == Kind::Const)
    return SymExpr::cst(x->value + y->value);
  // Normal form: variables on the left, one constant offset on the right.
  if (x->kind == Kind::Const)
    return b + a;
  if (y->kind == Kind::Const) {
    if (y->value == 0)
      return a;
    if (x->kind == Kind::Add && x->ops[1]->kind == Kind::Const)
      return SymExpr(x->ops[0]) + SymExpr::cst(x->ops[1]->value + y->value);
    return SymExpr(makeNode(Kind::Add, false, {a.node, b.node}));
  }
  // (u + c) + v and u + (v + c) both become (u + v) + c.
  if (x->kind == Kind::Add && x->ops[1]->kind == Kind::Const)
    return (SymExpr(x->ops[0]) + b) + SymExpr(x->ops[1]);
  if (y->kind == Kind::Add && y->ops[1]->kind == Kind::Const)
    return (a + SymExpr(y->ops[0])) + SymExpr(y->ops[1]);
  return SymExpr(makeNode(Kind::Add, false, {a.node, b.node}));
}

SymExpr operator-(const SymExpr &a, const SymExpr &b) {
  const SymExpr::Node *x = a.node.get(), *y = b.node.get();
  if (std::optional<int64_t> diff = knownDifference(x, y))
    return SymExpr::cst(*diff);
  if (y->kind == Kind::Const)
    return a + SymExpr::cst(-y->value);
  if (y->kind == Kind::Add && y->ops[1]->kind == Kind::Const)
    return (a - SymExpr(y->ops[0])) + SymExpr::cst(-y->ops[1]->value);
  if (x->kind == Kind::Add && x->ops[1]->kind == Kind::Const)
    return (SymExpr(x->ops[0]) - b) + SymExpr(x->ops[1]);
  return SymExpr(makeNode(Kind::Sub, false, {a.node, b.node}));
}

SymExpr operator*(const SymExpr &a, const SymExpr &b) {
  const SymExpr::Node *x = a.node.get(), *y = b.node.get();
  if (x->kind == Kind::Const && y->kind == Kind::Const)
    return SymExpr::cst(x->value * y->value);
  if (x->kind == Kind::Const)
    return b * a;
  if (y->kind == Kind::Const) {
    if (y->value == 0)
      return SymExpr::cst(0);
    if (y->value == 1)
      return a;
    // (u + c) * k = u * k + c * k keeps the offset visible to comparisons.
    if (x->kind == Kind::Add && x->ops[1]->kind == Kind::Const)
      return SymExpr(x->ops[0]) * b + SymExpr::cst(x->ops[1]->value * y->value);
  }
  return SymExpr(makeNode(Kind::Mul, false, {a.node, b.node}));
}

} // namespace mlir::attn

SymExpr SymExpr::floorDiv(const SymExpr &a, int64_t d) {
  assert(d > 0 && "floorDiv needs a positive divisor");
  const Node *x = a.node.get();
  if (d == 1)
    return a;
  if (x->kind == Kind::Const)
    return cst(floorDivInt(x->value, d));
  // floor((u + k*d) / d) = floor(u / d) + k.
  if (x->kind == Kind::Add && x->ops[1]->kind == Kind::Const &&
      x->ops[1]->value % d == 0)
    return floorDiv(SymExpr(x->ops[0]), d) + cst(x->ops[1]->value / d);
  return SymExpr(makeNode(Kind::FloorDiv, false, {a.node, cst(d).node}));
}

SymExpr SymExpr::min(const SymExpr &a, const SymExpr &b) {
  if (std::optional<int64_t> diff = knownDifference(a.node.get(), b.node.get()))
    return *diff <= 0 ? a : b;
  return SymExpr(makeNode(Kind::Min, false, {a.node, b.node}));
}

SymExpr SymExpr::max(const SymExpr &a, const SymExpr &b) {
  if (std::optional<int64_t> diff = knownDifference(a.node.get(), b.node.get()))
    return *diff >= 0 ? a : b;
  return SymExpr(makeNode(Kind::Max, false, {a.node, b.node}));
}

SymExpr SymExpr::select(const SymExpr &cond, const SymExpr &a,
                        const SymExpr &b) {
  assert(cond.node->isBool && a.node->isBool == b.node->isBool &&
         "select needs a boolean condition and branches of one type");
  if (cond.isConst())
    return cond.getConst() ? a : b;
  if (sameNode(a.node.get(), b.node.get()))
    return a;
  return SymExpr(
      makeNode(Kind::Select, a.node->isBool, {cond.node, a.node, b.node}));
}

SymExpr SymExpr::lt(const SymExpr &a, const SymExpr &b) {
  if (std::optional<int64_t> diff = knownDifference(a.node.get(), b.node.get()))
    return boolean(*diff < 0);
  return SymExpr(makeNode(Kind::Lt, true, {a.node, b.node}));
}

SymExpr SymExpr::le(const SymExpr &a, const SymExpr &b) {
  if (std::optional<int64_t> diff = knownDifference(a.node.get(), b.node.get()))
    return boolean(*diff <= 0);
  return SymExpr(makeNode(Kind::Le, true, {a.node, b.node}));
}

SymExpr SymExpr::eq(const SymExpr &a, const SymExpr &b) {
  if (std::optional<int64_t> diff = knownDifference(a.node.get(), b.node.get()))
    return boolean(*diff == 0);
  return SymExpr(makeNode(Kind::Eq, true, {a.node, b.node}));
}

SymExpr SymExpr::land(const SymExpr &a, const SymExpr &b) {
  if (a.isConst())
    return a.getConst() ? b : a;
  if (b.isConst())
    return b.getConst() ? a : b;
  if (sameNode(a.node.get(), b.node.get()))
    return a;
  return SymExpr(makeNode(Kind::And, true, {a.node, b.node}));
}

SymExpr SymExpr::lor(const SymExpr &a, const SymExpr &b) {
  if (a.isConst())
    return a.getConst() ? a : b;
  if (b.isConst())
    return b.getConst() ? b : a;
  if (sameNode(a.node.get(), b.node.get()))
    return a;
  return SymExpr(makeNode(Kind::Or, true, {a.node, b.node}));
}

SymExpr SymExpr::lnot(const SymExpr &a) {
  if (a.isConst())
    return boolean(!a.getConst());
  if (a.getKind() == Kind::Not)
    return SymExpr(a.node->ops[0]);
  return SymExpr(makeNode(Kind::Not, true, {a.node}));
}

static int64_t
evaluateNode(const SymExpr::Node *n, const SymEnv &env,
             llvm::DenseMap<const SymExpr::Node *, int64_t> &memo) {
  if (auto it = memo.find(n); it != memo.end())
    return it->second;
  auto op = [&](unsigned k) {
    return evaluateNode(n->ops[k].get(), env, memo);
  };
  int64_t v = 0;
  switch (n->kind) {
  case Kind::Const:
    v = n->value;
    break;
  case Kind::P0:
    v = env.p0;
    break;
  case Kind::P1:
    v = env.p1;
    break;
  case Kind::KvEnd:
    v = env.kvEnd;
    break;
  case Kind::Add:
    v = op(0) + op(1);
    break;
  case Kind::Sub:
    v = op(0) - op(1);
    break;
  case Kind::Mul:
    v = op(0) * op(1);
    break;
  case Kind::FloorDiv:
    v = floorDivInt(op(0), op(1));
    break;
  case Kind::Min:
    v = std::min(op(0), op(1));
    break;
  case Kind::Max:
    v = std::max(op(0), op(1));
    break;
  case Kind::Select:
    v = op(0) ? op(1) : op(2);
    break;
  case Kind::Lt:
    v = op(0) < op(1);
    break;
  case Kind::Le:
    v = op(0) <= op(1);
    break;
  case Kind::Eq:
    v = op(0) == op(1);
    break;
  case Kind::And:
    v = op(0) && op(1);
    break;
  case Kind::Or:
    v = op(0) || op(1);
    break;
  case Kind::Not:
    v = !op(0);
    break;
  }
  memo[n] = v;
  return v;
}

int64_t SymExpr::evaluate(const SymEnv &env) const {
  llvm::DenseMap<const Node *, int64_t> memo;
  return evaluateNode(node.get(), env, memo);
}

static Value emitNode(const SymExpr::Node *n, ImplicitLocOpBuilder &b,
                      const SymValues &vals,
                      llvm::DenseMap<const SymExpr::Node *, Value> &memo) {
  if (auto it = memo.find(n); it != memo.end())
    return it->second;
  auto op = [&](unsigned k) {
    return emitNode(n->ops[k].get(), b, vals, memo);
  };
  auto cmp = [&](arith::CmpIPredicate pred) {
    return arith::CmpIOp::create(b, pred, op(0), op(1)).getResult();
  };
  Value v;
  switch (n->kind) {
  case Kind::Const:
    v = n->isBool ? arith::ConstantIntOp::create(b, n->value, 1).getResult()
                  : arith::ConstantIndexOp::create(b, n->value).getResult();
    break;
  case Kind::P0:
    v = vals.p0;
    break;
  case Kind::P1:
    v = vals.p1;
    break;
  case Kind::KvEnd:
    v = vals.kvEnd;
    break;
  case Kind::Add:
    v = arith::AddIOp::create(b, op(0), op(1));
    break;
  case Kind::Sub:
    v = arith::SubIOp::create(b, op(0), op(1));
    break;
  case Kind::Mul:
    v = arith::MulIOp::create(b, op(0), op(1));
    break;
  case Kind::FloorDiv:
    v = arith::FloorDivSIOp::create(b, op(0), op(1));
    break;
  case Kind::Min:
    v = arith::MinSIOp::create(b, op(0), op(1));
    break;
  case Kind::Max:
    v = arith::MaxSIOp::create(b, op(0), op(1));
    break;
  case Kind::Select:
    v = arith::SelectOp::create(b, op(0), op(1), op(2));
    break;
  case Kind::Lt:
    v = cmp(arith::CmpIPredicate::slt);
    break;
  case Kind::Le:
    v = cmp(arith::CmpIPredicate::sle);
    break;
  case Kind::Eq:
    v = cmp(arith::CmpIPredicate::eq);
    break;
  case Kind::And:
    v = arith::AndIOp::create(b, op(0), op(1));
    break;
  case Kind::Or:
    v = arith::OrIOp::create(b, op(0), op(1));
    break;
  case Kind::Not:
    v = arith::XOrIOp::create(b, op(0), arith::ConstantIntOp::create(b, 1, 1));
    break;
  }
  memo[n] = v;
  return v;
}

Value SymExpr::emit(ImplicitLocOpBuilder &b, const SymValues &vals) const {
  llvm::DenseMap<const Node *, Value> memo;
  return emitNode(node.get(), b, vals, memo);
}

static void printNode(const SymExpr::Node *n, llvm::raw_ostream &os) {
  auto infix = [&](StringRef sym) {
    os << '(';
    printNode(n->ops[0].get(), os);
    os << ' ' << sym << ' ';
    printNode(n->ops[1].get(), os);
    os << ')';
  };
  auto call = [&](StringRef name) {
    os << name << '(';
    llvm::interleaveComma(n->ops, os,
                          [&](const NodePtr &x) { printNode(x.get(), os); });
    os << ')';
  };
  switch (n->kind) {
  case Kind::Const:
    if (n->isBool)
      os << (n->value ? "true" : "false");
    else
      os << n->value;
    return;
  case Kind::P0:
    os << "p0";
    return;
  case Kind::P1:
    os << "p1";
    return;
  case Kind::KvEnd:
    os << "kvEnd";
    return;
  case Kind::Add:
    return infix("+");
  case Kind::Sub:
    return infix("-");
  case Kind::Mul:
    return infix("*");
  case Kind::FloorDiv:
    return call("floordiv");
  case Kind::Min:
    return call("min");
  case Kind::Max:
    return call("max");
  case Kind::Select:
    return call("select");
  case Kind::Lt:
    return infix("<");
  case Kind::Le:
    return infix("<=");
  case Kind::Eq:
    return infix("==");
  case Kind::And:
    return infix("&&");
  case Kind::Or:
    return infix("||");
  case Kind::Not:
    os << '!';
    printNode(n->ops[0].get(), os);
    return;
  }
}

void SymExpr::print(llvm::raw_ostream &os) const { printNode(node.get(), os); }

//===----------------------------------------------------------------------===//
// Interval unions
//===----------------------------------------------------------------------===//

using Intervals = SmallVector<SymInterval, 2>;

/// Stands in for +-infinity in hulls of possibly empty intervals; far beyond
/// any position, small enough that adding a position cannot overflow.
static constexpr int64_t kHuge = int64_t(1) << 40;

static SymExpr cst(int64_t v) { return SymExpr::cst(v); }

/// The interval [0, kvEnd): every key.
static SymInterval allKeys() { return {cst(0), SymExpr::kvEnd()}; }

/// Whether `iv` holds [0, kvEnd) whatever the variables are.
static bool coversAllKeys(const SymInterval &iv) {
  return iv.lo.isConst() && iv.lo.getConst() <= 0 &&
         (iv.hi.getKind() == Kind::KvEnd ||
          (iv.hi.isConst() && iv.hi.getConst() >= kHuge));
}

/// Whether `iv` is empty whatever the variables are.
static bool knownEmpty(const SymInterval &iv) {
  SymExpr empty = SymExpr::le(iv.hi, iv.lo);
  return empty.isConst() && empty.getConst();
}

/// [lo, hi) of the union of `ivs`; empty members do not widen it, and an
/// all-empty union gives an empty hull.
static SymInterval hull(ArrayRef<SymInterval> ivs) {
  assert(!ivs.empty() && "hull of an empty union");
  std::optional<SymInterval> h;
  for (const SymInterval &iv : ivs) {
    SymExpr nonEmpty = SymExpr::lt(iv.lo, iv.hi);
    SymExpr lo = SymExpr::select(nonEmpty, iv.lo, cst(kHuge));
    SymExpr hi = SymExpr::select(nonEmpty, iv.hi, cst(-kHuge));
    h = h ? SymInterval{SymExpr::min(h->lo, lo), SymExpr::max(h->hi, hi)}
          : SymInterval{lo, hi};
  }
  return *h;
}

/// Drops members that are empty for every tile; a member holding every key
/// makes the others redundant.
static Intervals simplifyUnion(ArrayRef<SymInterval> ivs) {
  Intervals out;
  for (const SymInterval &iv : ivs) {
    if (coversAllKeys(iv))
      return {iv};
    if (!knownEmpty(iv))
      out.push_back(iv);
  }
  return out;
}

/// Caps a bound at kMaxTileIntervals: the members past the first
/// kMaxTileIntervals - 1 are replaced by their hull, a superset.
static Intervals capBound(ArrayRef<SymInterval> ivs) {
  Intervals out = simplifyUnion(ivs);
  if (out.size() <= kMaxTileIntervals)
    return out;
  SymInterval rest = hull(ArrayRef(out).drop_front(kMaxTileIntervals - 1));
  out.truncate(kMaxTileIntervals - 1);
  out.push_back(rest);
  return out;
}

/// Caps a full union at kMaxTileIntervals by keeping its first members: a
/// subset of a full union is full, and member sizes are symbolic, so the
/// order of the operands decides.
static Intervals capFull(ArrayRef<SymInterval> ivs) {
  Intervals out = simplifyUnion(ivs);
  if (out.size() > kMaxTileIntervals)
    out.truncate(kMaxTileIntervals);
  return out;
}

/// Pairwise intersections of two unions.
static Intervals intersect(ArrayRef<SymInterval> a, ArrayRef<SymInterval> b) {
  Intervals out;
  for (const SymInterval &x : a)
    for (const SymInterval &y : b) {
      // Consumers clip to [0, kvEnd), so [0, kvEnd) need not clip the other.
      if (coversAllKeys(x))
        out.push_back(y);
      else if (coversAllKeys(y))
        out.push_back(x);
      else
        out.push_back({SymExpr::max(x.lo, y.lo), SymExpr::min(x.hi, y.hi)});
    }
  return out;
}

/// [0, kvEnd) minus [lo, hi), as [0, lo) and [hi, kvEnd). When lo >= hi the
/// two pieces still cover every key.
static Intervals complement(const SymInterval &iv) {
  return {{cst(0), iv.lo}, {iv.hi, SymExpr::kvEnd()}};
}

//===----------------------------------------------------------------------===//
// Leaves
//===----------------------------------------------------------------------===//

namespace {
/// The tile variables and the grid coordinates of its first and last query.
struct Tile {
  SymExpr p0 = SymExpr::p0(), p1 = SymExpr::p1();
  /// The last query position, p1 - 1.
  SymExpr last = SymExpr::p1() - cst(1);

  /// Row-major grid coordinates (floor division, so negative positions get
  /// negative rows and in-range columns, as in the reference).
  struct Cell {
    SymExpr row, col;
  };
  Cell cell(const SymExpr &pos, int64_t cols) const {
    SymExpr row = SymExpr::floorDiv(pos, cols);
    return {row, pos - row * cst(cols)};
  }
};
} // namespace

/// causal: p allows [0, p + 1).
static TileClasses classifyCausal(const Tile &t) {
  return {{{cst(0), t.p1}}, {{cst(0), t.p0 + cst(1)}}};
}

/// sliding_window: p allows [p - left, p + right + 1); consecutive windows
/// overlap, so the union is one interval and the intersection is
/// [last - left, p0 + right + 1).
static TileClasses classifySlidingWindow(const Tile &t, SlidingWindowAttr m) {
  int64_t left = m.getLeft(), right = m.getRight();
  return {{{t.p0 - cst(left), t.p1 + cst(right)}},
          {{t.last - cst(left), t.p0 + cst(right + 1)}}};
}

/// chunked: p allows its chunk [c(p), c(p) + size), c(p) = floor(p/size)*size.
/// Chunks of consecutive positions are adjacent; the intersection
/// [c(last), c(p0) + size) is empty unless the tile sits in one chunk.
static TileClasses classifyChunked(const Tile &t, ChunkedAttr m) {
  int64_t size = m.getSize();
  SymExpr first = SymExpr::floorDiv(t.p0, size) * cst(size);
  SymExpr lastChunk = SymExpr::floorDiv(t.last, size) * cst(size);
  return {{{first, lastChunk + cst(size)}}, {{lastChunk, first + cst(size)}}};
}

/// halo: p allows [s(p) - halo, s(p) + block + halo), s(p) the start of its
/// block; neighbouring blocks' intervals overlap.
static TileClasses classifyHalo(const Tile &t, HaloAttr m) {
  int64_t block = m.getBlock(), halo = m.getHalo();
  SymExpr first = SymExpr::floorDiv(t.p0, block) * cst(block);
  SymExpr lastBlock = SymExpr::floorDiv(t.last, block) * cst(block);
  return {{{first - cst(halo), lastBlock + cst(block + halo)}},
          {{lastBlock - cst(halo), first + cst(block + halo)}}};
}

/// dilated: bound is the segments of the tile's positions (the lanes within
/// a segment are not intervals). With rate > 1 some head's lane misses every
/// query, so nothing is allowed for all heads; rate 1 is `chunked`.
static TileClasses classifyDilated(const Tile &t, DilatedAttr m) {
  int64_t segment = m.getSegment();
  SymExpr first = SymExpr::floorDiv(t.p0, segment) * cst(segment);
  SymExpr lastSegment = SymExpr::floorDiv(t.last, segment) * cst(segment);
  TileClasses tc;
  tc.bound.push_back({first, lastSegment + cst(segment)});
  if (m.getRate() == 1)
    tc.full.push_back({lastSegment, first + cst(segment)});
  return tc;
}

/// global: with G the global positions ([0, first) and the listed ones),
/// a tile touching G allows every key, a tile inside G needs no mask, and
/// otherwise exactly the keys in G are allowed for every query. G is
/// constant: past kMaxTileIntervals runs, bound merges the runs across the
/// smallest gaps and full keeps the longest runs.
static TileClasses classifyGlobal(const Tile &t, GlobalAttr m) {
  SmallVector<std::pair<int64_t, int64_t>> runs;
  if (m.getFirst() > 0)
    runs.push_back({0, m.getFirst()});
  for (int64_t pos : m.getPositions())
    runs.push_back({pos, pos + 1});
  llvm::sort(runs);
  SmallVector<std::pair<int64_t, int64_t>> merged;
  for (auto run : runs) {
    if (!merged.empty() && run.first <= merged.back().second)
      merged.back().second = std::max(merged.back().second, run.second);
    else
      merged.push_back(run);
  }
  if (merged.empty())
    return {};

  SymExpr anyGlobal = SymExpr::boolean(false), allGlobal = anyGlobal;
  for (auto [lo, hi] : merged) {
    anyGlobal =
        SymExpr::lor(anyGlobal, SymExpr::land(SymExpr::lt(t.p0, cst(hi)),
                                              SymExpr::lt(cst(lo), t.p1)));
    allGlobal =
        SymExpr::lor(allGlobal, SymExpr::land(SymExpr::le(cst(lo), t.p0),
                                              SymExpr::le(t.p1, cst(hi))));
  }

  SmallVector<std::pair<int64_t, int64_t>> boundRuns = merged;
  while (boundRuns.size() > kMaxTileIntervals) {
    size_t best = 0;
    for (size_t k = 1; k + 1 < boundRuns.size(); ++k)
      if (boundRuns[k + 1].first - boundRuns[k].second <
          boundRuns[best + 1].first - boundRuns[best].second)
        best = k;
    boundRuns[best].second = boundRuns[best + 1].second;
    boundRuns.erase(boundRuns.begin() + best + 1);
  }
  SmallVector<std::pair<int64_t, int64_t>> fullRuns = merged;
  if (fullRuns.size() > kMaxTileIntervals) {
    llvm::sort(fullRuns, [](auto a, auto b) {
      return std::make_pair(a.second - a.first, -a.first) >
             std::make_pair(b.second - b.first, -b.first);
    });
    fullRuns.resize(kMaxTileIntervals);
    llvm::sort(fullRuns);
  }

  // The first member grows to [0, kvEnd) when the condition holds.
  auto toUnion = [&](ArrayRef<std::pair<int64_t, int64_t>> list,
                     const SymExpr &everything) {
    Intervals out;
    for (auto [lo, hi] : list)
      out.push_back({cst(lo), cst(hi)});
    out.front() = {
        SymExpr::select(everything, cst(0), out.front().lo),
        SymExpr::select(everything, SymExpr::kvEnd(), out.front().hi)};
    return out;
  };
  return {toUnion(boundRuns, anyGlobal), toUnion(fullRuns, allGlobal)};
}

/// prefix_lm: p allows [0, max(prefix, p + 1)).
static TileClasses classifyPrefixLM(const Tile &t, PrefixLMAttr m) {
  SymExpr prefix = cst(m.getPrefix());
  return {{{cst(0), SymExpr::max(prefix, t.p1)}},
          {{cst(0), SymExpr::max(prefix, t.p0 + cst(1))}}};
}

/// neighborhood_2d: bound is the hull of the allowed keys. Key row r is
/// reachable from query rows [r - kr/2, r + kr/2], so the first allowed key
/// lies kr/2 rows above the first query row, in the leftmost column within
/// kc/2 of that row's first query (p0); likewise the last. full: the key rows
/// within kr/2 of every query row times the columns within kc/2 of every
/// query column (a tile spanning two rows has columns 0 and cols - 1); one
/// interval when those columns are whole rows, else the first such row.
static TileClasses classifyNeighborhood2D(const Tile &t, Neighborhood2DAttr m) {
  int64_t cols = m.getCols(), hr = m.getKernelRows() / 2,
          hc = m.getKernelCols() / 2;
  Tile::Cell first = t.cell(t.p0, cols), last = t.cell(t.last, cols);
  SymExpr c = cst(cols);
  bool wholeRows = hc >= cols - 1;

  SymExpr loCol =
      wholeRows ? cst(0) : SymExpr::max(cst(0), first.col - cst(hc));
  SymExpr hiCol = wholeRows ? cst(cols - 1)
                            : SymExpr::min(cst(cols - 1), last.col + cst(hc));
  SymInterval bound = {(first.row - cst(hr)) * c + loCol,
                       (last.row + cst(hr)) * c + hiCol + cst(1)};

  SymExpr rowLo = last.row - cst(hr), rowHi = first.row + cst(hr);
  if (wholeRows)
    return {{bound}, {{rowLo * c, (rowHi + cst(1)) * c}}};
  SymExpr oneRow = SymExpr::eq(first.row, last.row);
  SymExpr colLo = SymExpr::max(
      cst(0), SymExpr::select(oneRow, last.col, cst(cols - 1)) - cst(hc));
  SymExpr colHi = SymExpr::min(
      cst(cols - 1), SymExpr::select(oneRow, first.col, cst(0)) + cst(hc));
  SymExpr fullWidth = SymExpr::land(SymExpr::eq(colLo, cst(0)),
                                    SymExpr::eq(colHi, cst(cols - 1)));
  SymExpr lo = rowLo * c + colLo;
  SymExpr hi = SymExpr::select(SymExpr::le(rowLo, rowHi),
                               SymExpr::select(fullWidth, (rowHi + cst(1)) * c,
                                               rowLo * c + colHi + cst(1)),
                               lo);
  return {{bound}, {{lo, hi}}};
}

/// window_2d: bound is the hull of the allowed keys: from the first key row
/// of the first query's window band, in the leftmost window any of the
/// tile's queries in that band has, to the last key row of the last query's
/// band, in the rightmost such window. full: the window holding the whole
/// tile, as the tile's row of it (its whole band when one window spans the
/// grid's width).
static TileClasses classifyWindow2D(const Tile &t, Window2DAttr m) {
  int64_t cols = m.getCols(), wr = m.getWindowRows(), wc = m.getWindowCols();
  Tile::Cell first = t.cell(t.p0, cols), last = t.cell(t.last, cols);
  SymExpr c = cst(cols);
  SymExpr band0 = SymExpr::floorDiv(first.row, wr);
  SymExpr band1 = SymExpr::floorDiv(last.row, wr);
  SymExpr multiRow = SymExpr::lt(first.row, last.row);

  if (wc >= cols) {
    // One window per band: whole rows.
    SymExpr lo = band0 * cst(wr * cols);
    return {{{lo, (band1 + cst(1)) * cst(wr * cols)}},
            {{lo, SymExpr::select(SymExpr::eq(band0, band1),
                                  (band0 + cst(1)) * cst(wr * cols), lo)}}};
  }
  // A query in the band's next row (column 0) or previous row (column
  // cols - 1) widens the reachable windows to the grid's edge.
  SymExpr firstWin = SymExpr::floorDiv(first.col, wc);
  SymExpr lastWin = SymExpr::floorDiv(last.col, wc);
  SymExpr minWin = SymExpr::select(
      SymExpr::land(
          multiRow,
          SymExpr::eq(SymExpr::floorDiv(first.row + cst(1), wr), band0)),
      cst(0), firstWin);
  SymExpr maxWin = SymExpr::select(
      SymExpr::land(
          multiRow,
          SymExpr::eq(SymExpr::floorDiv(last.row - cst(1), wr), band1)),
      cst((cols - 1) / wc), lastWin);
  SymInterval bound = {band0 * cst(wr) * c + minWin * cst(wc),
                       ((band1 + cst(1)) * cst(wr) - cst(1)) * c +
                           SymExpr::min(c, (maxWin + cst(1)) * cst(wc))};

  SymExpr oneWindow =
      SymExpr::land(SymExpr::lnot(multiRow), SymExpr::eq(firstWin, lastWin));
  SymExpr lo = first.row * c + firstWin * cst(wc);
  SymExpr hi = SymExpr::select(
      oneWindow, first.row * c + SymExpr::min(c, (firstWin + cst(1)) * cst(wc)),
      lo);
  return {{bound}, {{lo, hi}}};
}

/// The key-row offsets dr = key_row - query_row that direction (ur, uc)
/// allows for some column offset |dc| < cols; nullopt where unbounded.
/// For fixed dc every constraint is linear in dr, a*dr + k >= 0.
static std::pair<std::optional<int64_t>, std::optional<int64_t>>
directionRowRange(int64_t ur, int64_t uc, bool halfPlane, int64_t cols) {
  // dot >= |cross|  <=>  dot - cross >= 0 and dot + cross >= 0, with
  // dot = dr*ur + dc*uc and cross = dr*uc - dc*ur.
  // Each constraint (a, b) reads a*dr + b*dc >= 0.
  SmallVector<std::pair<int64_t, int64_t>, 2> constraints;
  if (halfPlane)
    constraints.push_back({ur, uc});
  else
    constraints.append({{ur - uc, uc + ur}, {ur + uc, uc - ur}});
  std::optional<int64_t> lo = 0, hi = 0; // dr = dc = 0 is always allowed
  bool unboundedLo = false, unboundedHi = false;
  for (int64_t dc = -(cols - 1); dc <= cols - 1; ++dc) {
    std::optional<int64_t> from, to; // nullopt: unbounded
    bool feasible = true;
    for (auto [a, b] : constraints) {
      int64_t k = b * dc;
      if (a > 0) { // dr >= ceil(-k / a)
        int64_t bound = -floorDivInt(k, a);
        from = from ? std::max(*from, bound) : bound;
      } else if (a < 0) { // dr <= floor(k / -a)
        int64_t bound = floorDivInt(k, -a);
        to = to ? std::min(*to, bound) : bound;
      } else if (k < 0) {
        feasible = false;
      }
    }
    if (!feasible || (from && to && *from > *to))
      continue;
    if (!from)
      unboundedLo = true;
    else
      lo = std::min(*lo, *from);
    if (!to)
      unboundedHi = true;
    else
      hi = std::max(*hi, *to);
  }
  return {unboundedLo ? std::nullopt : lo, unboundedHi ? std::nullopt : hi};
}

/// directional_2d: every head's direction bounds the key rows relative to
/// the query rows (ignoring columns); the union over directions is the
/// bound. Which keys every head allows is not tracked: full is empty.
static TileClasses classifyDirectional2D(const Tile &t, Directional2DAttr m) {
  int64_t cols = m.getCols();
  ArrayRef<int64_t> dirs = m.getDirections();
  std::optional<int64_t> minOff = 0, maxOff = 0;
  for (size_t k = 0; k + 1 < dirs.size(); k += 2) {
    auto [lo, hi] =
        directionRowRange(dirs[k], dirs[k + 1], m.getHalfPlane(), cols);
    minOff =
        minOff && lo ? std::optional(std::min(*minOff, *lo)) : std::nullopt;
    maxOff =
        maxOff && hi ? std::optional(std::max(*maxOff, *hi)) : std::nullopt;
  }
  Tile::Cell first = t.cell(t.p0, cols), last = t.cell(t.last, cols);
  SymExpr lo = minOff ? (first.row + cst(*minOff)) * cst(cols) : cst(0);
  SymExpr hi =
      maxOff ? (last.row + cst(*maxOff + 1)) * cst(cols) : SymExpr::kvEnd();
  TileClasses tc;
  tc.bound.push_back({lo, hi});
  return tc;
}

//===----------------------------------------------------------------------===//
// classifyMask
//===----------------------------------------------------------------------===//

/// not: keys in full(child) are disallowed by the negation for every query,
/// so bound(not) is the complement of one member of full(child) (any member
/// is sound; the first is taken). Keys outside bound(child) are allowed by
/// the negation for every query, so full(not) is the complement of the
/// hull of bound(child).
static TileClasses classifyNot(const TileClasses &child) {
  TileClasses tc;
  if (child.full.empty())
    tc.bound.push_back(allKeys());
  else
    tc.bound = complement(child.full.front());
  if (child.bound.empty()) {
    tc.full.push_back(allKeys());
  } else {
    SymInterval h =
        child.bound.size() == 1 ? child.bound.front() : hull(child.bound);
    // An empty hull leaves every key to the negation.
    tc.full = complement(
        {SymExpr::select(SymExpr::lt(h.lo, h.hi), h.lo, SymExpr::kvEnd()),
         h.hi});
  }
  tc.bound = capBound(tc.bound);
  tc.full = capFull(tc.full);
  return tc;
}

static TileClasses classify(Attribute mask, const Tile &t) {
  auto both = [](SymInterval bound, std::optional<SymInterval> full) {
    TileClasses tc;
    tc.bound.push_back(bound);
    if (full)
      tc.full.push_back(*full);
    return tc;
  };
  return TypeSwitch<Attribute, TileClasses>(mask)
      .Case<FullMaskAttr>([&](auto) { return both(allKeys(), allKeys()); })
      .Case<CausalMaskAttr>([&](auto) { return classifyCausal(t); })
      .Case<SlidingWindowAttr>(
          [&](SlidingWindowAttr m) { return classifySlidingWindow(t, m); })
      .Case<ChunkedAttr>([&](ChunkedAttr m) { return classifyChunked(t, m); })
      .Case<HaloAttr>([&](HaloAttr m) { return classifyHalo(t, m); })
      .Case<DilatedAttr>([&](DilatedAttr m) { return classifyDilated(t, m); })
      .Case<GlobalAttr>([&](GlobalAttr m) { return classifyGlobal(t, m); })
      .Case<SinksAttr>([&](SinksAttr m) {
        SymInterval sinks = {cst(0), cst(m.getCount())};
        return both(sinks, sinks);
      })
      .Case<PrefixLMAttr>(
          [&](PrefixLMAttr m) { return classifyPrefixLM(t, m); })
      .Case<Neighborhood2DAttr>(
          [&](Neighborhood2DAttr m) { return classifyNeighborhood2D(t, m); })
      .Case<Window2DAttr>(
          [&](Window2DAttr m) { return classifyWindow2D(t, m); })
      .Case<Directional2DAttr>(
          [&](Directional2DAttr m) { return classifyDirectional2D(t, m); })
      .Case<AndMaskAttr>([&](AndMaskAttr m) {
        TileClasses tc = classify(m.getMasks().front(), t);
        for (Attribute child : m.getMasks().drop_front()) {
          TileClasses c = classify(child, t);
          tc.bound = capBound(intersect(tc.bound, c.bound));
          tc.full = capFull(intersect(tc.full, c.full));
        }
        return tc;
      })
      .Case<OrMaskAttr>([&](OrMaskAttr m) {
        TileClasses tc;
        for (Attribute child : m.getMasks()) {
          TileClasses c = classify(child, t);
          llvm::append_range(tc.bound, c.bound);
          llvm::append_range(tc.full, c.full);
        }
        tc.bound = capBound(tc.bound);
        tc.full = capFull(tc.full);
        return tc;
      })
      .Case<NotMaskAttr>(
          [&](NotMaskAttr m) { return classifyNot(classify(m.getMask(), t)); })
      // Data-dependent leaves (document, tree, dense, mask_mod) and anything
      // unknown: every key may be allowed, none is known to be.
      .Default([&](Attribute) { return both(allKeys(), std::nullopt); });
}

TileClasses mlir::attn::classifyMask(Attribute mask) {
  return classify(mask, Tile());
}

std::optional<int64_t> mlir::attn::boundBandWidth(const TileClasses &classes) {
  if (classes.bound.empty())
    return std::nullopt;
  // Two far-apart single-row blocks with different key counts: a band has
  // the same clipped width at both.
  const int64_t far = int64_t(1) << 30;
  const SymEnv envs[2] = {{far, far + 1, far << 10},
                          {far << 2, (far << 2) + 1, far << 12}};
  int64_t total = 0;
  for (const SymInterval &in : classes.bound) {
    int64_t widths[2];
    for (int e = 0; e < 2; ++e) {
      const SymEnv &env = envs[e];
      int64_t lo = std::max<int64_t>(in.lo.evaluate(env), 0);
      int64_t hi = std::min(in.hi.evaluate(env), env.kvEnd);
      widths[e] = std::max<int64_t>(hi - lo, 0);
    }
    if (widths[0] != widths[1])
      return std::nullopt;
    total += widths[0];
  }
  return total;
}

//===----------------------------------------------------------------------===//
// Emitting tile ranges
//===----------------------------------------------------------------------===//

SmallVector<KeyRange> mlir::attn::emitTileRanges(ImplicitLocOpBuilder &b,
                                                 const TileClasses &classes,
                                                 const SymValues &vals,
                                                 Value kvEnd, int64_t blockKv) {
  Arith o{b};
  Value zero = o.idx(0), bkv = o.idx(blockKv);
  // Clip each key interval to [0, kvEnd) and convert to tile indices.
  SmallVector<KeyRange> ranges;
  auto addRange = [&](Value lo, Value hi) {
    lo = o.max(lo, zero);
    hi = o.max(o.min(hi, kvEnd), lo);
    Value tlo = o.floorDiv(lo, bkv);
    Value thi = o.select(o.lt(lo, hi), o.ceilDiv(hi, bkv), tlo);
    ranges.push_back({tlo, thi});
  };
  if (classes.bound.empty())
    addRange(zero, zero);
  for (const SymInterval &in : classes.bound)
    addRange(in.lo.emit(b, vals), in.hi.emit(b, vals));
  // Sort by start (a compare-exchange network), then cut every range at
  // the end of those before it, so that no tile is visited twice.
  for (size_t i = 0; i < ranges.size(); ++i)
    for (size_t j = 0; j + 1 < ranges.size() - i; ++j) {
      KeyRange &x = ranges[j], &y = ranges[j + 1];
      Value swap = o.lt(y.first, x.first);
      KeyRange nx = {o.select(swap, y.first, x.first),
                     o.select(swap, y.second, x.second)};
      KeyRange ny = {o.select(swap, x.first, y.first),
                     o.select(swap, x.second, y.second)};
      x = nx;
      y = ny;
    }
  Value mark = zero;
  for (KeyRange &range : ranges) {
    range.first = o.max(range.first, mark);
    range.second = o.max(range.second, range.first);
    mark = o.max(mark, range.second);
  }
  return ranges;
}

SmallVector<KeyRange> mlir::attn::emitFullIntervals(ImplicitLocOpBuilder &b,
                                                    const TileClasses &classes,
                                                    const SymValues &vals) {
  SmallVector<KeyRange> full;
  for (const SymInterval &in : classes.full)
    full.push_back({in.lo.emit(b, vals), in.hi.emit(b, vals)});
  return full;
}

Value mlir::attn::emitTileIsFull(ImplicitLocOpBuilder &b,
                                 ArrayRef<KeyRange> full, Value j0,
                                 int64_t blockKv, Value kvEnd) {
  Arith o{b};
  Value j1 = o.add(j0, o.idx(blockKv));
  Value isFull = o.i1(false);
  for (auto [lo, hi] : full)
    isFull = o.lor(isFull, o.land(o.le(lo, j0), o.le(j1, hi)));
  return o.land(isFull, o.le(j1, kvEnd));
}

Attribute mlir::attn::dropConjuncts(Attribute mask,
                                    function_ref<bool(Attribute)> drop) {
  MLIRContext *ctx = mask.getContext();
  auto conj = dyn_cast<AndMaskAttr>(mask);
  SmallVector<Attribute> members = conj
                                       ? SmallVector<Attribute>(conj.getMasks())
                                       : SmallVector<Attribute>{mask};
  SmallVector<Attribute> rest;
  for (Attribute m : members)
    if (!drop(m))
      rest.push_back(m);
  if (rest.size() == members.size())
    return mask;
  if (rest.empty())
    return FullMaskAttr::get(ctx);
  return rest.size() == 1 ? rest.front() : AndMaskAttr::get(ctx, rest);
}

RuntimeConjuncts mlir::attn::splitRuntimeConjuncts(Attribute mask,
                                                   bool splitDense) {
  RuntimeConjuncts out;
  out.declarative = dropConjuncts(mask, [&](Attribute m) {
    if (isa<DocumentMaskAttr>(m))
      return out.document = true;
    if (isa<TreeMaskAttr>(m))
      return out.tree = true;
    if (auto dense = dyn_cast<DenseMaskAttr>(m); dense && splitDense) {
      out.denseLeaf = dense;
      return true;
    }
    return false;
  });
  return out;
}

std::pair<Value, Value> mlir::attn::emitIdRange(ImplicitLocOpBuilder &b,
                                                Value ids, Value bIdx, Value lo,
                                                Value hi) {
  Arith o{b};
  Value big = o.idx(std::numeric_limits<int64_t>::max());
  Value small = o.idx(std::numeric_limits<int64_t>::min());
  auto loop = scf::ForOp::create(
      b, lo, hi, o.idx(1), ValueRange{big, small},
      [&](OpBuilder &nb, Location loc, Value j, ValueRange acc) {
        ImplicitLocOpBuilder ib(loc, nb);
        Arith io{ib};
        Value id =
            io.toIndex(tensor::ExtractOp::create(ib, ids, ValueRange{bIdx, j}));
        scf::YieldOp::create(
            ib, ValueRange{io.min(acc[0], id), io.max(acc[1], id)});
      });
  return {loop.getResult(0), loop.getResult(1)};
}
