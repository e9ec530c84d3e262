//===- TileClassesTest.cpp - Tests of the symbolic tile classification ----===//
//
// classifyMask promises, for every tile of query positions [p0, p1), a
// union of key intervals holding every allowed key (`bound`) and one whose
// keys are all allowed (`full`). These tests check both promises by brute
// force against the reference's own mask predicate (ref::maskAllows, reached
// through toRefMask), for every mask leaf and for random and/or/not
// compositions, at key granularity and at the granularity of kv tiles the
// way a code generator uses the classes; the leaves documented as exact are
// also checked for exactness. The emitted `arith` is checked to fold to the
// same integers as `evaluate`.
//
// Every random choice comes from a fixed seed, so a failure reproduces.
//
// Over the project's ~800 lines: one brute-force test per mask leaf (13)
// plus the compositions and the emitted IR; one file keeps the generator
// of random masks and every leaf's case together.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Analysis/TileClasses.h"
#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Reference/Reference.h"
#include "attn/ReferenceBridge/ToReference.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/STLExtras.h"

#include "gtest/gtest.h"

#include <functional>
#include <random>

using namespace mlir;
using namespace mlir::attn;
namespace ref = ::attn::ref;

namespace {

//===----------------------------------------------------------------------===//
// Random masks
//===----------------------------------------------------------------------===//

/// The leaves of AttnAttrs.td; Document stands for the data-dependent ones.
enum class Leaf {
  Full,
  Causal,
  SlidingWindow,
  Chunked,
  Halo,
  Dilated,
  Global,
  Sinks,
  PrefixLM,
  AShape,
  DilatedWindow,
  Neighborhood2D,
  Natten,
  Window2D,
  Directional2D,
  Document,
};
constexpr Leaf kAllLeaves[] = {
    Leaf::Full,     Leaf::Causal,   Leaf::SlidingWindow, Leaf::Chunked,
    Leaf::Halo,     Leaf::Dilated,  Leaf::Global,        Leaf::Sinks,
    Leaf::PrefixLM, Leaf::AShape,   Leaf::DilatedWindow, Leaf::Neighborhood2D,
    Leaf::Natten,   Leaf::Window2D, Leaf::Directional2D, Leaf::Document};

/// Leaves whose bound and full are exact at key granularity.
bool isExact(Leaf leaf) {
  switch (leaf) {
  case Leaf::Full:
  case Leaf::Causal:
  case Leaf::SlidingWindow:
  case Leaf::Chunked:
  case Leaf::Halo:
  case Leaf::Global:
  case Leaf::Sinks:
  case Leaf::PrefixLM:
  case Leaf::AShape:
    return true;
  default:
    return false;
  }
}

/// Leaves whose single bound interval starts and ends at allowed keys.
bool hasTightHull(Leaf leaf) {
  return leaf == Leaf::Neighborhood2D || leaf == Leaf::Window2D;
}

class MaskGen {
public:
  MaskGen(MLIRContext *ctx, uint64_t seed) : ctx(ctx), rng(seed) {}

  int64_t uniform(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  }
  bool coin() { return uniform(0, 1); }
  /// Small values more often than large ones: 0..hi, biased to 0..hi/8.
  int64_t small(int64_t hi) {
    return coin() ? uniform(0, hi / 8) : uniform(0, hi);
  }

  Attribute leaf(Leaf kind) {
    switch (kind) {
    case Leaf::Full:
      return FullMaskAttr::get(ctx);
    case Leaf::Causal:
      return CausalMaskAttr::get(ctx);
    case Leaf::SlidingWindow:
      return SlidingWindowAttr::get(ctx, small(60), small(40));
    case Leaf::Chunked:
      return ChunkedAttr::get(ctx, uniform(1, 64));
    case Leaf::Halo:
      return HaloAttr::get(ctx, uniform(1, 40), small(24));
    case Leaf::Dilated: {
      int64_t segment = uniform(1, 48);
      return DilatedAttr::get(ctx, segment,
                              uniform(1, std::min<int64_t>(8, segment)));
    }
    case Leaf::Global:
      // At most five positions plus [0, first): at most six runs.
      return global(5);
    case Leaf::Sinks:
      return SinksAttr::get(ctx, small(32));
    case Leaf::AShape:
      return AShapeAttr::get(ctx, small(32), small(60));
    case Leaf::DilatedWindow:
      // Sound for every dilation; exact only without one, so not checked
      // for exactness.
      return DilatedWindowAttr::get(ctx, small(60), uniform(1, 5));
    case Leaf::PrefixLM:
      return PrefixLMAttr::get(ctx, small(200));
    case Leaf::Neighborhood2D:
      return Neighborhood2DAttr::get(ctx, uniform(1, 20), uniform(1, 24),
                                     uniform(1, 9), uniform(1, 9));
    case Leaf::Natten:
      // Kernels larger than the grid and dilations larger than a side too.
      return NattenAttr::get(ctx, uniform(1, 20), uniform(1, 24), uniform(1, 9),
                             uniform(1, 9), uniform(1, 4), uniform(1, 4));
    case Leaf::Window2D: {
      int64_t cols = uniform(1, 24);
      return Window2DAttr::get(ctx, uniform(1, 20), cols, uniform(1, 6),
                               coin() ? uniform(1, 8) : uniform(1, cols + 2));
    }
    case Leaf::Directional2D: {
      SmallVector<int64_t> dirs;
      for (int64_t k = 0, n = uniform(1, 4); k < n; ++k) {
        int64_t ur = 0, uc = 0;
        while (ur == 0 && uc == 0)
          ur = uniform(-2, 2), uc = uniform(-2, 2);
        dirs.append({ur, uc});
      }
      return Directional2DAttr::get(ctx, uniform(1, 20), uniform(1, 16), dirs,
                                    coin());
    }
    case Leaf::Document:
      switch (uniform(0, 3)) {
      case 0:
        return DocumentMaskAttr::get(ctx);
      case 1:
        return TreeMaskAttr::get(ctx);
      case 2:
        return DenseMaskAttr::get(ctx, 1, 1);
      default:
        return MaskModAttr::get(ctx);
      }
    }
    llvm_unreachable("unknown leaf");
  }

  /// A global mask with up to `maxPositions` listed positions.
  Attribute global(int64_t maxPositions) {
    int64_t first = small(24);
    SmallVector<int64_t> positions;
    for (int64_t k = 0, n = uniform(first ? 0 : 1, maxPositions); k < n; ++k)
      positions.push_back(coin() ? uniform(0, 40) : uniform(0, 320));
    return GlobalAttr::get(ctx, first, positions);
  }

  /// A random and/or/not expression of the given depth (1: a leaf).
  Attribute expr(int depth) {
    if (depth <= 1 || uniform(0, 4) == 0)
      return leaf(kAllLeaves[uniform(0, std::size(kAllLeaves) - 1)]);
    int64_t op = uniform(0, 4);
    if (op == 0)
      return NotMaskAttr::get(ctx, expr(depth - 1));
    SmallVector<Attribute> children;
    for (int64_t k = 0, n = uniform(2, 3); k < n; ++k)
      children.push_back(expr(depth - 1));
    if (op <= 2)
      return AndMaskAttr::get(ctx, children);
    return OrMaskAttr::get(ctx, children);
  }

private:
  MLIRContext *ctx;
  std::mt19937_64 rng;
};

//===----------------------------------------------------------------------===//
// Brute force
//===----------------------------------------------------------------------===//

/// Data-dependent leaves answer a fixed pseudo-random pattern: any answer
/// is consistent with their classification (bound [0, kvEnd), full empty).
bool dataLeaf(const ref::Mask &leaf, int64_t pos, int64_t j, int64_t h) {
  uint64_t x = static_cast<uint64_t>(pos) * 0x9E3779B97F4A7C15ull ^
               static_cast<uint64_t>(j) * 0xC2B2AE3D27D4EB4Full ^
               static_cast<uint64_t>(h) * 0x165667B19E3779F9ull ^
               static_cast<uint64_t>(leaf.kind);
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ull;
  return (x >> 40) & 1;
}

struct Tile {
  int64_t p0, p1, kvEnd;
};

/// A kv tiling as a code generator walks it: tiles
/// [start + t*size, start + (t+1)*size) clipped to [0, kvEnd), start <= 0.
struct KvTiling {
  int64_t size, start;
};

using Evaluated = std::vector<std::pair<int64_t, int64_t>>;

Evaluated evaluate(ArrayRef<SymInterval> ivs, const SymEnv &env) {
  Evaluated out;
  for (const SymInterval &iv : ivs)
    out.push_back({iv.lo.evaluate(env), iv.hi.evaluate(env)});
  return out;
}

bool contains(const Evaluated &ivs, int64_t j) {
  return llvm::any_of(ivs,
                      [&](auto iv) { return iv.first <= j && j < iv.second; });
}

std::string str(Attribute attr) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << attr;
  return text;
}

std::string describe(ArrayRef<SymInterval> ivs, const Evaluated &values) {
  std::string text;
  llvm::raw_string_ostream os(text);
  for (auto [iv, v] : llvm::zip(ivs, values)) {
    os << "\n    [";
    iv.lo.print(os);
    os << ", ";
    iv.hi.print(os);
    os << ") = [" << v.first << ", " << v.second << ")";
  }
  return text;
}

/// What to check beyond soundness.
struct Expect {
  bool exactBound = false, exactFull = false, tightHull = false;
};

/// Checks the classes of `mask` on one tile against the reference, per key
/// and per kv tile of `tiling`.
::testing::AssertionResult checkTile(Attribute mask, const ref::Mask &refMask,
                                     const TileClasses &tc, Tile tile,
                                     KvTiling tiling, int64_t heads,
                                     Expect expect) {
  SymEnv env{tile.p0, tile.p1, tile.kvEnd};
  Evaluated bound = evaluate(tc.bound, env), full = evaluate(tc.full, env);
  auto fail = [&](const std::string &what) {
    return ::testing::AssertionFailure()
           << what << "\n  mask " << str(mask) << "\n  tile p0=" << tile.p0
           << " p1=" << tile.p1 << " kvEnd=" << tile.kvEnd << " (kv tiles of "
           << tiling.size << " from " << tiling.start
           << ")\n  bound:" << describe(tc.bound, bound)
           << "\n  full:" << describe(tc.full, full);
  };
  if (tc.bound.size() > kMaxTileIntervals || tc.full.size() > kMaxTileIntervals)
    return fail("more than kMaxTileIntervals intervals");

  // Keys allowed for some (query, head), and for every one.
  std::vector<char> any(tile.kvEnd, 0), all(tile.kvEnd, 1);
  for (int64_t j = 0; j < tile.kvEnd; ++j)
    for (int64_t p = tile.p0; p < tile.p1; ++p)
      for (int64_t h = 0; h < heads; ++h) {
        bool ok = ref::maskAllows(refMask, p, j, h, [&](const ref::Mask &leaf) {
          return dataLeaf(leaf, p, j, h);
        });
        any[j] |= ok;
        all[j] &= ok;
      }

  for (int64_t j = 0; j < tile.kvEnd; ++j) {
    bool inBound = contains(bound, j), inFull = contains(full, j);
    std::string key = "key " + std::to_string(j);
    if (any[j] && !inBound)
      return fail(key + " is allowed but outside bound");
    if (inFull && !all[j])
      return fail(key + " is in full but not allowed for every query");
    if (expect.exactBound && inBound && !any[j])
      return fail(key + " is in bound but never allowed (leaf is exact)");
    if (expect.exactFull && !inFull && all[j])
      return fail(key + " is always allowed but outside full (leaf is exact)");
  }
  if (expect.tightHull) {
    if (bound.size() != 1)
      return fail("expected a single bound interval");
    auto [lo, hi] = bound.front();
    if (lo >= 0 && lo < tile.kvEnd && !any[lo])
      return fail("bound starts at a key that is never allowed");
    if (hi - 1 >= 0 && hi - 1 < tile.kvEnd && !any[hi - 1])
      return fail("bound ends at a key that is never allowed");
  }

  for (int64_t start = tiling.start; start < tile.kvEnd; start += tiling.size) {
    int64_t a = std::max<int64_t>(start, 0);
    int64_t b = std::min(start + tiling.size, tile.kvEnd);
    if (a >= b)
      continue;
    bool skipped = llvm::none_of(bound, [&](auto iv) {
      return std::max(iv.first, a) < std::min(iv.second, b);
    });
    bool isFull = llvm::any_of(
        full, [&](auto iv) { return iv.first <= a && b <= iv.second; });
    std::string kvTile =
        "kv tile [" + std::to_string(a) + ", " + std::to_string(b) + ")";
    for (int64_t j = a; j < b; ++j) {
      if (skipped && any[j])
        return fail(kvTile + " is skipped but key " + std::to_string(j) +
                    " is allowed");
      if (isFull && !all[j])
        return fail(kvTile + " is full but key " + std::to_string(j) +
                    " is not allowed for every query");
    }
  }
  return ::testing::AssertionSuccess();
}

class TileClassesTest : public ::testing::Test {
protected:
  TileClassesTest() {
    ctx.loadDialect<AttnDialect, arith::ArithDialect, func::FuncDialect>();
  }

  /// Classifies `mask` and checks it on `numTiles` random tiles.
  void checkMask(MaskGen &gen, Attribute mask, int numTiles, Expect expect) {
    TileClasses tc = classifyMask(mask);
    ref::Mask refMask = toRefMask(mask);
    bool headDependent = maskContains<DilatedAttr>(mask) ||
                         maskContains<Directional2DAttr>(mask) ||
                         isDataDependentMask(mask);
    // Rates and direction counts are at most 8: heads 0..7 meet every lane.
    int64_t heads = headDependent ? 8 : 1;
    for (int k = 0; k < numTiles; ++k) {
      int64_t p0 = gen.coin() ? gen.uniform(-40, 120) : gen.uniform(-150, 420);
      int64_t height = gen.coin() ? gen.uniform(1, 16) : gen.uniform(1, 100);
      Tile tile{p0, p0 + height,
                gen.coin() ? gen.uniform(0, 300) : gen.uniform(0, 40)};
      int64_t size = gen.uniform(1, 64);
      KvTiling tiling{size, gen.coin() ? 0 : -gen.uniform(0, size - 1)};
      ASSERT_TRUE(checkTile(mask, refMask, tc, tile, tiling, heads, expect));
    }
  }

  MLIRContext ctx;
};

//===----------------------------------------------------------------------===//
// Random expressions
//===----------------------------------------------------------------------===//

/// A random expression built through the folding constructors, with its
/// value computed directly from the operations chosen.
struct RandomExpr {
  SymExpr expr;
  std::function<int64_t(const SymEnv &)> value;
};

int64_t floorDivRef(int64_t a, int64_t d) {
  return a >= 0 ? a / d : -((-a + d - 1) / d);
}

RandomExpr randomExpr(MaskGen &gen, int depth, bool boolean) {
  if (boolean) {
    int64_t op = depth <= 1 ? gen.uniform(0, 3) : gen.uniform(0, 8);
    if (op == 0) {
      bool v = gen.coin();
      return {SymExpr::boolean(v), [v](const SymEnv &) { return v; }};
    }
    if (op <= 3) {
      RandomExpr a = randomExpr(gen, depth - 1, false);
      // Half the time compare against a + c, which folds.
      RandomExpr b = gen.coin() ? randomExpr(gen, depth - 1, false) : a;
      if (b.expr.isConst() || gen.coin()) {
        int64_t c = gen.uniform(-2, 2);
        b = {b.expr + SymExpr::cst(c),
             [f = b.value, c](const SymEnv &env) { return f(env) + c; }};
      }
      if (op == 1)
        return {SymExpr::lt(a.expr, b.expr),
                [f = a.value, g = b.value](const SymEnv &e) {
                  return f(e) < g(e);
                }};
      if (op == 2)
        return {SymExpr::le(a.expr, b.expr),
                [f = a.value, g = b.value](const SymEnv &e) {
                  return f(e) <= g(e);
                }};
      return {
          SymExpr::eq(a.expr, b.expr),
          [f = a.value, g = b.value](const SymEnv &e) { return f(e) == g(e); }};
    }
    RandomExpr a = randomExpr(gen, depth - 1, true);
    RandomExpr b = randomExpr(gen, depth - 1, true);
    switch (op) {
    case 4:
      return {
          SymExpr::land(a.expr, b.expr),
          [f = a.value, g = b.value](const SymEnv &e) { return f(e) && g(e); }};
    case 5:
      return {
          SymExpr::lor(a.expr, b.expr),
          [f = a.value, g = b.value](const SymEnv &e) { return f(e) || g(e); }};
    case 6:
      return {SymExpr::lnot(a.expr),
              [f = a.value](const SymEnv &e) -> int64_t { return !f(e); }};
    default: {
      RandomExpr c = randomExpr(gen, depth - 1, true);
      return {SymExpr::select(c.expr, a.expr, b.expr),
              [f = a.value, g = b.value, h = c.value](const SymEnv &e) {
                return h(e) ? f(e) : g(e);
              }};
    }
    }
  }
  if (depth <= 1) {
    switch (gen.uniform(0, 3)) {
    case 0: {
      int64_t v = gen.uniform(-6, 6);
      return {SymExpr::cst(v), [v](const SymEnv &) { return v; }};
    }
    case 1:
      return {SymExpr::p0(), [](const SymEnv &e) { return e.p0; }};
    case 2:
      return {SymExpr::p1(), [](const SymEnv &e) { return e.p1; }};
    default:
      return {SymExpr::kvEnd(), [](const SymEnv &e) { return e.kvEnd; }};
    }
  }
  RandomExpr a = randomExpr(gen, depth - 1, false);
  RandomExpr b = randomExpr(gen, depth - 1, false);
  switch (gen.uniform(0, 7)) {
  case 0:
    return {a.expr + b.expr, [f = a.value, g = b.value](const SymEnv &e) {
              return f(e) + g(e);
            }};
  case 1:
    return {a.expr - b.expr, [f = a.value, g = b.value](const SymEnv &e) {
              return f(e) - g(e);
            }};
  case 2: {
    // Products with a small constant keep values far from overflow.
    int64_t c = gen.uniform(-3, 3);
    return {a.expr * SymExpr::cst(c),
            [f = a.value, c](const SymEnv &e) { return f(e) * c; }};
  }
  case 3: {
    // Sometimes a multiple of the divisor is added first, which folds.
    int64_t d = gen.uniform(1, 5), c = gen.coin() ? d * gen.uniform(-3, 3) : 0;
    return {SymExpr::floorDiv(a.expr + SymExpr::cst(c), d),
            [f = a.value, c, d](const SymEnv &e) {
              return floorDivRef(f(e) + c, d);
            }};
  }
  case 4:
    return {SymExpr::min(a.expr, b.expr),
            [f = a.value, g = b.value](const SymEnv &e) {
              return std::min(f(e), g(e));
            }};
  case 5:
    return {SymExpr::max(a.expr, b.expr),
            [f = a.value, g = b.value](const SymEnv &e) {
              return std::max(f(e), g(e));
            }};
  case 6: {
    RandomExpr c = randomExpr(gen, depth - 1, true);
    return {SymExpr::select(c.expr, a.expr, b.expr),
            [f = a.value, g = b.value, h = c.value](const SymEnv &e) {
              return h(e) ? f(e) : g(e);
            }};
  }
  default: {
    // An expression against a shifted copy of itself folds.
    int64_t c = gen.uniform(-3, 3);
    SymExpr shifted = a.expr + SymExpr::cst(c);
    if (gen.coin())
      return {SymExpr::min(shifted, a.expr), [f = a.value, c](const SymEnv &e) {
                return f(e) + std::min<int64_t>(c, 0);
              }};
    return {shifted - a.expr, [c](const SymEnv &) { return c; }};
  }
  }
}

//===----------------------------------------------------------------------===//
// SymExpr
//===----------------------------------------------------------------------===//

TEST_F(TileClassesTest, FoldsConstantsAtConstruction) {
  SymExpr p0 = SymExpr::p0(), c3 = SymExpr::cst(3);
  EXPECT_EQ((c3 + SymExpr::cst(4)).getConst(), 7);
  EXPECT_EQ((p0 + SymExpr::cst(0)).getKind(), SymExpr::Kind::P0);
  EXPECT_EQ((p0 * SymExpr::cst(1)).getKind(), SymExpr::Kind::P0);
  EXPECT_EQ((p0 * SymExpr::cst(0)).getConst(), 0);
  EXPECT_EQ(((p0 + c3) - p0).getConst(), 3);
  EXPECT_EQ(((p0 + c3) + SymExpr::cst(-3)).getKind(), SymExpr::Kind::P0);
  EXPECT_EQ(SymExpr::min(c3, SymExpr::cst(-2)).getConst(), -2);
  EXPECT_EQ(SymExpr::max(p0, p0 + c3).getKind(), SymExpr::Kind::Add);
  EXPECT_EQ(SymExpr::lt(p0, p0 + c3).getConst(), 1);
  EXPECT_EQ(SymExpr::eq(p0 + c3, p0).getConst(), 0);
  EXPECT_EQ(SymExpr::floorDiv(SymExpr::cst(-7), 2).getConst(), -4);
  EXPECT_EQ(SymExpr::floorDiv(p0, 1).getKind(), SymExpr::Kind::P0);
  SymExpr t = SymExpr::boolean(true), f = SymExpr::boolean(false);
  EXPECT_EQ(SymExpr::select(t, p0, c3).getKind(), SymExpr::Kind::P0);
  EXPECT_EQ(SymExpr::select(f, p0, c3).getConst(), 3);
  EXPECT_EQ(SymExpr::land(f, SymExpr::lt(p0, c3)).getConst(), 0);
  EXPECT_EQ(SymExpr::lor(t, SymExpr::lt(p0, c3)).getConst(), 1);
  EXPECT_EQ(SymExpr::lnot(t).getConst(), 0);
}

TEST_F(TileClassesTest, EvaluatesFloorDivisionOfNegatives) {
  SymExpr e = SymExpr::floorDiv(SymExpr::p0(), 3);
  EXPECT_EQ(e.evaluate({-1, 0, 0}), -1);
  EXPECT_EQ(e.evaluate({-3, 0, 0}), -1);
  EXPECT_EQ(e.evaluate({-4, 0, 0}), -2);
  EXPECT_EQ(e.evaluate({5, 0, 0}), 1);
  SymExpr sel = SymExpr::select(SymExpr::le(SymExpr::p1(), SymExpr::kvEnd()),
                                SymExpr::p1(), SymExpr::kvEnd());
  EXPECT_EQ(sel.evaluate({0, 5, 9}), 5);
  EXPECT_EQ(sel.evaluate({0, 12, 9}), 9);
}

TEST_F(TileClassesTest, PrintsExpressions) {
  std::string text;
  llvm::raw_string_ostream os(text);
  SymExpr e = SymExpr::min(SymExpr::p0() + SymExpr::cst(1), SymExpr::kvEnd());
  e.print(os);
  EXPECT_EQ(text, "min((p0 + 1), kvEnd)");
}

//===----------------------------------------------------------------------===//
// Known classes
//===----------------------------------------------------------------------===//

TEST_F(TileClassesTest, CausalIsPrefixOfTheLastQuery) {
  TileClasses tc = classifyMask(CausalMaskAttr::get(&ctx));
  SymEnv env{10, 20, 100};
  EXPECT_EQ(evaluate(tc.bound, env), (Evaluated{{0, 20}}));
  EXPECT_EQ(evaluate(tc.full, env), (Evaluated{{0, 11}}));
  ASSERT_EQ(tc.full.size(), 1u);
  std::string text;
  llvm::raw_string_ostream os(text);
  tc.full[0].hi.print(os);
  EXPECT_EQ(text, "(p0 + 1)");
}

TEST_F(TileClassesTest, SlidingWindowIsOneIntervalEachWay) {
  TileClasses tc = classifyMask(SlidingWindowAttr::get(&ctx, 4, 1));
  // p in [10, 13) sees [p - 4, p + 2).
  SymEnv env{10, 13, 100};
  EXPECT_EQ(evaluate(tc.bound, env), (Evaluated{{6, 14}}));
  EXPECT_EQ(evaluate(tc.full, env), (Evaluated{{8, 12}}));
}

TEST_F(TileClassesTest, DataDependentLeavesAreUnknown) {
  for (Attribute mask : {Attribute(DocumentMaskAttr::get(&ctx)),
                         Attribute(TreeMaskAttr::get(&ctx)),
                         Attribute(DenseMaskAttr::get(&ctx, 1, 1)),
                         Attribute(MaskModAttr::get(&ctx))}) {
    TileClasses tc = classifyMask(mask);
    SymEnv env{3, 9, 57};
    EXPECT_EQ(evaluate(tc.bound, env), (Evaluated{{0, 57}}));
    EXPECT_TRUE(tc.full.empty());
  }
}

TEST_F(TileClassesTest, StreamingLLMSkipsTheMiddle) {
  // and(or(sinks 4, window 16), causal): sinks and the window, nothing else.
  Attribute mask = AndMaskAttr::get(
      &ctx, {OrMaskAttr::get(&ctx, {SinksAttr::get(&ctx, 4),
                                    SlidingWindowAttr::get(&ctx, 16, 0)}),
             CausalMaskAttr::get(&ctx)});
  TileClasses tc = classifyMask(mask);
  SymEnv env{100, 132, 132};
  Evaluated bound = evaluate(tc.bound, env);
  for (int64_t j = 0; j < 132; ++j)
    EXPECT_EQ(contains(bound, j), j < 4 || j >= 84) << "key " << j;
}

TEST_F(TileClassesTest, NegationOfAnEmptyBoundIsOneFullInterval) {
  // and(sinks 4, sliding_window 0) allows nothing once p0 >= 4, so its
  // negation needs no mask on any kv tile.
  Attribute mask = NotMaskAttr::get(
      &ctx, AndMaskAttr::get(&ctx, {SinksAttr::get(&ctx, 4),
                                    SlidingWindowAttr::get(&ctx, 0, 0)}));
  TileClasses tc = classifyMask(mask);
  SymEnv env{10, 20, 100};
  EXPECT_TRUE(llvm::any_of(evaluate(tc.full, env), [](auto iv) {
    return iv.first <= 0 && 100 <= iv.second;
  }));
}

TEST_F(TileClassesTest, NegationIgnoresEmptyMembersOfTheHull) {
  // For p in [50, 60), and(sinks 4, sliding_window 40) is empty at [10, 4)
  // and sliding_window 2 reaches [48, 60): the negation allows [0, 48) to
  // every query, however far left the empty member starts.
  Attribute mask = NotMaskAttr::get(
      &ctx,
      OrMaskAttr::get(
          &ctx, {AndMaskAttr::get(&ctx, {SinksAttr::get(&ctx, 4),
                                         SlidingWindowAttr::get(&ctx, 40, 0)}),
                 SlidingWindowAttr::get(&ctx, 2, 0)}));
  TileClasses tc = classifyMask(mask);
  Evaluated full = evaluate(tc.full, {50, 60, 100});
  for (int64_t j = 0; j < 100; ++j)
    EXPECT_EQ(contains(full, j), j < 48 || j >= 60) << "key " << j;
}

//===----------------------------------------------------------------------===//
// Random masks against the reference
//===----------------------------------------------------------------------===//

TEST_F(TileClassesTest, EveryLeafIsSoundAndTheExactOnesExact) {
  MaskGen gen(&ctx, 0x5eed0001);
  for (Leaf leaf : kAllLeaves) {
    Expect expect;
    expect.exactBound = expect.exactFull = isExact(leaf);
    // Over heads 0..7 some head misses every query's lane unless rate is
    // 1, so dilated's full is exact as well.
    expect.exactFull |= leaf == Leaf::Dilated;
    expect.tightHull = hasTightHull(leaf);
    for (int k = 0; k < 150; ++k) {
      checkMask(gen, gen.leaf(leaf), 6, expect);
      if (HasFatalFailure())
        return;
    }
  }
}

TEST_F(TileClassesTest, RandomCompositionsAreSound) {
  MaskGen gen(&ctx, 0x5eed0002);
  for (int k = 0; k < 1500; ++k) {
    Attribute mask = gen.expr(gen.uniform(2, 3));
    checkMask(gen, mask, 3, Expect());
    if (HasFatalFailure())
      return;
  }
}

TEST_F(TileClassesTest, NegationsOfLeavesAreSound) {
  MaskGen gen(&ctx, 0x5eed0003);
  for (int k = 0; k < 400; ++k) {
    Attribute leaf =
        gen.leaf(kAllLeaves[gen.uniform(0, std::size(kAllLeaves) - 1)]);
    checkMask(gen, NotMaskAttr::get(&ctx, leaf), 4, Expect());
    if (HasFatalFailure())
      return;
  }
}

TEST_F(TileClassesTest, GlobalsWithManyRunsAreCappedSoundly) {
  // Beyond kMaxTileIntervals runs, bound merges runs and full drops some.
  MaskGen gen(&ctx, 0x5eed0006);
  for (int k = 0; k < 300; ++k) {
    checkMask(gen, gen.global(16), 5, Expect());
    if (HasFatalFailure())
      return;
  }
}

TEST_F(TileClassesTest, WideUnionsAreCapped) {
  MaskGen gen(&ctx, 0x5eed0004);
  for (int k = 0; k < 100; ++k) {
    SmallVector<Attribute> children;
    for (int64_t n = gen.uniform(7, 12); n > 0; --n)
      children.push_back(gen.leaf(gen.coin() ? Leaf::Global : Leaf::Sinks));
    Attribute orMask = OrMaskAttr::get(&ctx, children);
    checkMask(gen, orMask, 4, Expect());
    checkMask(gen,
              AndMaskAttr::get(&ctx, {orMask, OrMaskAttr::get(&ctx, children)}),
              4, Expect());
    checkMask(gen, NotMaskAttr::get(&ctx, orMask), 4, Expect());
    if (HasFatalFailure())
      return;
  }
}

//===----------------------------------------------------------------------===//
// Emission
//===----------------------------------------------------------------------===//

/// Emits `exprs` into a function returning them, for tile variables that
/// are either constants (`env`) or the function's arguments.
func::FuncOp emitAll(OpBuilder &builder, ModuleOp module,
                     ArrayRef<SymExpr> exprs, const SymEnv *env) {
  Location loc = builder.getUnknownLoc();
  builder.setInsertionPointToEnd(module.getBody());
  Type index = builder.getIndexType();
  SmallVector<Type> args(env ? 0 : 3, index);
  auto fn = func::FuncOp::create(builder, loc, env ? "folded" : "symbolic",
                                 builder.getFunctionType(args, {}));
  Block *body = fn.addEntryBlock();
  ImplicitLocOpBuilder b(loc, builder);
  b.setInsertionPointToEnd(body);
  SymValues vals;
  if (env) {
    vals = {arith::ConstantIndexOp::create(b, env->p0),
            arith::ConstantIndexOp::create(b, env->p1),
            arith::ConstantIndexOp::create(b, env->kvEnd)};
  } else {
    vals = {body->getArgument(0), body->getArgument(1), body->getArgument(2)};
  }
  SmallVector<Value> results;
  for (const SymExpr &e : exprs)
    results.push_back(e.emit(b, vals));
  func::ReturnOp::create(b, results);
  fn.setFunctionType(
      builder.getFunctionType(args, ValueRange(results).getTypes()));
  return fn;
}

/// Emits `exprs` symbolically (which must verify) and for `env`, folds the
/// latter with the arith folders and checks that every result became the
/// constant `evaluate` gives.
::testing::AssertionResult foldsLikeEvaluate(MLIRContext &ctx,
                                             ArrayRef<SymExpr> exprs,
                                             const SymEnv &env) {
  OpBuilder builder(&ctx);
  OwningOpRef<ModuleOp> module = ModuleOp::create(builder.getUnknownLoc());
  func::FuncOp symbolic = emitAll(builder, *module, exprs, nullptr);
  func::FuncOp fn = emitAll(builder, *module, exprs, &env);
  if (failed(symbolic.verify()) || failed(fn.verify()))
    return ::testing::AssertionFailure() << "emitted IR does not verify";
  if (failed(applyPatternsGreedily(fn, RewritePatternSet(&ctx))))
    return ::testing::AssertionFailure() << "folding did not converge";
  auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
  for (auto [k, value] : llvm::enumerate(ret.getOperands())) {
    std::string text;
    llvm::raw_string_ostream os(text);
    exprs[k].print(os);
    APInt got;
    if (!matchPattern(value, m_ConstantInt(&got)))
      return ::testing::AssertionFailure() << text << " did not fold";
    int64_t gotValue = value.getType().isInteger(1)
                           ? static_cast<int64_t>(got.getZExtValue())
                           : got.getSExtValue();
    if (gotValue != exprs[k].evaluate(env))
      return ::testing::AssertionFailure()
             << text << " folds to " << gotValue << " but evaluates to "
             << exprs[k].evaluate(env);
  }
  return ::testing::AssertionSuccess();
}

TEST_F(TileClassesTest, EmittedClassesFoldToTheEvaluatedValues) {
  MaskGen gen(&ctx, 0x5eed0005);
  for (int k = 0; k < 200; ++k) {
    Attribute mask = k < static_cast<int>(std::size(kAllLeaves))
                         ? gen.leaf(kAllLeaves[k])
                         : gen.expr(gen.uniform(2, 3));
    TileClasses tc = classifyMask(mask);
    SmallVector<SymExpr> exprs;
    for (ArrayRef<SymInterval> ivs : {ArrayRef(tc.bound), ArrayRef(tc.full)})
      for (const SymInterval &iv : ivs)
        exprs.append({iv.lo, iv.hi});
    int64_t p0 = gen.uniform(-100, 300);
    SymEnv env{p0, p0 + gen.uniform(1, 100), gen.uniform(0, 300)};
    ASSERT_TRUE(foldsLikeEvaluate(ctx, exprs, env)) << str(mask);
  }
}

TEST_F(TileClassesTest, RandomExpressionsFoldAndEmitFaithfully) {
  MaskGen gen(&ctx, 0x5eed0007);
  for (int k = 0; k < 400; ++k) {
    RandomExpr e = randomExpr(gen, gen.uniform(1, 5), gen.coin());
    SmallVector<SymEnv> envs;
    for (int n = 0; n < 8; ++n) {
      int64_t p0 = gen.uniform(-50, 50);
      envs.push_back({p0, p0 + gen.uniform(1, 40), gen.uniform(0, 90)});
    }
    for (const SymEnv &env : envs) {
      std::string text;
      llvm::raw_string_ostream os(text);
      e.expr.print(os);
      ASSERT_EQ(e.expr.evaluate(env), e.value(env))
          << text << " at p0=" << env.p0 << " p1=" << env.p1
          << " kvEnd=" << env.kvEnd;
    }
    ASSERT_TRUE(foldsLikeEvaluate(ctx, {e.expr}, envs.front()));
  }
}

TEST_F(TileClassesTest, EmitsSharedSubexpressionsOnce) {
  OpBuilder builder(&ctx);
  OwningOpRef<ModuleOp> module = ModuleOp::create(builder.getUnknownLoc());
  builder.setInsertionPointToEnd(module->getBody());
  Location loc = builder.getUnknownLoc();
  Type index = builder.getIndexType();
  auto fn = func::FuncOp::create(
      builder, loc, "shared",
      builder.getFunctionType({index, index, index},
                              {index, builder.getI1Type()}));
  Block *body = fn.addEntryBlock();
  ImplicitLocOpBuilder b(loc, builder);
  b.setInsertionPointToEnd(body);
  SymValues vals{body->getArgument(0), body->getArgument(1),
                 body->getArgument(2)};

  SymExpr row = SymExpr::floorDiv(SymExpr::p0(), 7);
  SymExpr e = SymExpr::max(row * row, row - SymExpr::kvEnd());
  SymExpr cond = SymExpr::lnot(SymExpr::lt(row, SymExpr::p1()));
  Value ev = e.emit(b, vals), cv = cond.emit(b, vals);
  func::ReturnOp::create(b, ValueRange{ev, cv});
  ASSERT_TRUE(succeeded(fn.verify()));
  EXPECT_TRUE(cv.getType().isInteger(1));
  // One floordivsi for `row` within e, one more for cond's separate call.
  int divisions = 0;
  fn.walk([&](arith::FloorDivSIOp) { ++divisions; });
  EXPECT_EQ(divisions, 2);
}

} // namespace

TEST_F(TileClassesTest, BandWidthOfWindowsAndSinks) {
  // A window of 4 before and 1 after sees 6 keys per row.
  EXPECT_EQ(boundBandWidth(classifyMask(SlidingWindowAttr::get(&ctx, 4, 1))),
            std::optional<int64_t>(6));
  // StreamingLLM: 4 sinks plus a causal window of 100 (101 keys with the
  // row itself).
  Attribute streaming = AndMaskAttr::get(
      &ctx, {OrMaskAttr::get(&ctx, {SinksAttr::get(&ctx, 4),
                                    SlidingWindowAttr::get(&ctx, 100, 0)}),
             CausalMaskAttr::get(&ctx)});
  EXPECT_EQ(boundBandWidth(classifyMask(streaming)),
            std::optional<int64_t>(105));
  // Reaches that grow with the position or the sequence are not bands.
  EXPECT_EQ(boundBandWidth(classifyMask(CausalMaskAttr::get(&ctx))),
            std::nullopt);
  EXPECT_EQ(boundBandWidth(classifyMask(FullMaskAttr::get(&ctx))),
            std::nullopt);
  EXPECT_EQ(boundBandWidth(classifyMask(PrefixLMAttr::get(&ctx, 8))),
            std::nullopt);
}
