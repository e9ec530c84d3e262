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

/// A constant operand of and (or) is either the identity true (false),
/// which gives the other operand, or absorbs it; x op x is x.
SymExpr SymExpr::logic(Kind kind, const SymExpr &a, const SymExpr &b) {
  bool absorbing = kind == Kind::Or;
  if (a.isConst())
    return (a.getConst() != 0) == absorbing ? a : b;
  if (b.isConst())
    return (b.getConst() != 0) == absorbing ? b : a;
  if (sameNode(a.node.get(), b.node.get()))
    return a;
  return SymExpr(makeNode(kind, true, {a.node, b.node}));
}

SymExpr SymExpr::land(const SymExpr &a, const SymExpr &b) {
  return logic(Kind::And, a, b);
}

SymExpr SymExpr::lor(const SymExpr &a, const SymExpr &b) {
  return logic(Kind::Or, a, b);
}

SymExpr SymExpr::lnot(const SymExpr &a) {
  if (a.isConst())
    return boolean(!a.getConst());
  if (a.getKind() == Kind::Not)
    return SymExpr(a.node->ops[0]);
  return SymExpr(makeNode(Kind::Not, true, {a.node}));
}

/// Variable `kind` (P0, P1 or KvEnd) of `env`: the integers of a SymEnv, the
/// SSA values of a SymValues or the names in kVariableNames.
template <typename EnvT> static auto variable(const EnvT &env, Kind kind) {
  switch (kind) {
  case Kind::P0:
    return env.p0;
  case Kind::P1:
    return env.p1;
  case Kind::KvEnd:
    return env.kvEnd;
  default:
    llvm_unreachable("not a variable");
  }
}

static constexpr struct {
  const char *p0, *p1, *kvEnd;
} kVariableNames = {"p0", "p1", "kvEnd"};

namespace {
/// A binary operator: how it prints (an infix operator or a call) and the
/// arith op it emits as. evaluateNode states its value on integers.
struct BinaryOp {
  Kind kind;
  const char *symbol;
  bool infix;
  Value (*emit)(ImplicitLocOpBuilder &b, Value lhs, Value rhs);
};
} // namespace

template <typename OpT>
static Value create(ImplicitLocOpBuilder &b, Value lhs, Value rhs) {
  return OpT::create(b, lhs, rhs);
}

template <arith::CmpIPredicate pred>
static Value compare(ImplicitLocOpBuilder &b, Value lhs, Value rhs) {
  return arith::CmpIOp::create(b, pred, lhs, rhs);
}

static const BinaryOp kBinaryOps[] = {
    {Kind::Add, "+", true, create<arith::AddIOp>},
    {Kind::Sub, "-", true, create<arith::SubIOp>},
    {Kind::Mul, "*", true, create<arith::MulIOp>},
    {Kind::FloorDiv, "floordiv", false, create<arith::FloorDivSIOp>},
    {Kind::Min, "min", false, create<arith::MinSIOp>},
    {Kind::Max, "max", false, create<arith::MaxSIOp>},
    {Kind::Lt, "<", true, compare<arith::CmpIPredicate::slt>},
    {Kind::Le, "<=", true, compare<arith::CmpIPredicate::sle>},
    {Kind::Eq, "==", true, compare<arith::CmpIPredicate::eq>},
    {Kind::And, "&&", true, create<arith::AndIOp>},
    {Kind::Or, "||", true, create<arith::OrIOp>},
};

static const BinaryOp &binaryOp(Kind kind) {
  for (const BinaryOp &op : kBinaryOps)
    if (op.kind == kind)
      return op;
  llvm_unreachable("not a binary operator");
}

/// Folds the DAG under `n` bottom-up, each shared node once: `apply` gets a
/// node and the values of its operands, in order.
template <typename T, typename ApplyFn>
static T fold(const SymExpr::Node *n,
              llvm::DenseMap<const SymExpr::Node *, T> &memo, ApplyFn &apply) {
  if (auto it = memo.find(n); it != memo.end())
    return it->second;
  SmallVector<T, 3> operands;
  for (const NodePtr &x : n->ops)
    operands.push_back(fold(x.get(), memo, apply));
  T v = apply(n, ArrayRef<T>(operands));
  memo[n] = v;
  return v;
}

int64_t SymExpr::evaluate(const SymEnv &env) const {
  auto apply = [&](const Node *n, ArrayRef<int64_t> x) -> int64_t {
    switch (n->kind) {
    case Kind::Const:
      return n->value;
    case Kind::P0:
    case Kind::P1:
    case Kind::KvEnd:
      return variable(env, n->kind);
    case Kind::Add:
      return x[0] + x[1];
    case Kind::Sub:
      return x[0] - x[1];
    case Kind::Mul:
      return x[0] * x[1];
    case Kind::FloorDiv:
      return floorDivInt(x[0], x[1]);
    case Kind::Min:
      return std::min(x[0], x[1]);
    case Kind::Max:
      return std::max(x[0], x[1]);
    case Kind::Select:
      return x[0] ? x[1] : x[2];
    case Kind::Lt:
      return x[0] < x[1];
    case Kind::Le:
      return x[0] <= x[1];
    case Kind::Eq:
      return x[0] == x[1];
    case Kind::And:
      return x[0] && x[1];
    case Kind::Or:
      return x[0] || x[1];
    case Kind::Not:
      return !x[0];
    }
    llvm_unreachable("unknown SymExpr kind");
  };
  llvm::DenseMap<const Node *, int64_t> memo;
  return fold(node.get(), memo, apply);
}

Value SymExpr::emit(ImplicitLocOpBuilder &b, const SymValues &vals) const {
  auto apply = [&](const Node *n, ArrayRef<Value> x) -> Value {
    switch (n->kind) {
    case Kind::Const:
      if (n->isBool)
        return arith::ConstantIntOp::create(b, n->value, 1);
      return arith::ConstantIndexOp::create(b, n->value);
    case Kind::P0:
    case Kind::P1:
    case Kind::KvEnd:
      return variable(vals, n->kind);
    case Kind::Select:
      return arith::SelectOp::create(b, x[0], x[1], x[2]);
    case Kind::Not:
      return arith::XOrIOp::create(b, x[0],
                                   arith::ConstantIntOp::create(b, 1, 1));
    default:
      return binaryOp(n->kind).emit(b, x[0], x[1]);
    }
  };
  llvm::DenseMap<const Node *, Value> memo;
  return fold(node.get(), memo, apply);
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
  case Kind::P1:
  case Kind::KvEnd:
    os << variable(kVariableNames, n->kind);
    return;
  case Kind::Select:
    return call("select");
  case Kind::Not:
    os << '!';
    printNode(n->ops[0].get(), os);
    return;
  default: {
    const BinaryOp &op = binaryOp(n->kind);
    return op.infix ? infix(op.symbol) : call(op.symbol);
  }
  }
}

void SymExpr::print(llvm::raw_ostream &os) const { printNode(node.get(), os); }
