//===- SymExpr.cpp - Symbolic tile expressions ----------------------------===//
//
// SymExpr, a tiny expression DAG over (p0, p1, kvEnd) that folds constants
// as it is built and can be evaluated on integers or emitted as `arith` on
// `index`.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/SymExpr.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/ADT/DenseMap.h"

#include <algorithm>
#include <optional>

using namespace mlir;
using namespace mlir::attn;

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
