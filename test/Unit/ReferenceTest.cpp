//===- ReferenceTest.cpp - Tests of the float64 attention reference -------===//
//
// The reference is the oracle every compiled kernel is compared against, so
// its own tests check it against values derived independently: numbers
// worked out by hand for one or two keys, the textbook softmax formula,
// allowed-key patterns written out literally, and identities between
// variants (GQA versus repeated heads, BSHD versus BHSD, a merge of two key
// halves versus the whole).
//
// Over the project's ~800 lines because it follows Reference.cpp variant by
// variant (see that file's header); the two are read side by side.
//
//===----------------------------------------------------------------------===//

#include "attn/Reference/Reference.h"

#include "gtest/gtest.h"

#include <cmath>
#include <functional>
#include <limits>
#include <random>

using namespace attn::ref;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

/// Deterministic pseudo-random values in [-1, 1).
Array randomArray(std::vector<int64_t> shape, uint32_t seed) {
  Array a(std::move(shape));
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  for (double &x : a.data)
    x = dist(gen);
  return a;
}

/// A BHSD problem with random q, k, v and the default full softmax.
Problem randomProblem(int64_t B, int64_t Hq, int64_t Hkv, int64_t Sq,
                      int64_t Skv, int64_t D, int64_t Dv, uint32_t seed = 1) {
  Problem p;
  p.q = randomArray({B, Hq, Sq, D}, seed);
  p.k = randomArray({B, Hkv, Skv, D}, seed + 1);
  p.v = randomArray({B, Hkv, Skv, Dv}, seed + 2);
  return p;
}

/// Builds an array from literal values.
Array literal(std::vector<int64_t> shape, std::vector<double> values) {
  Array a(std::move(shape));
  EXPECT_EQ(a.data.size(), values.size());
  a.data = std::move(values);
  return a;
}

/// Runs `p` after checking that it validates.
Result run(const Problem &p) {
  EXPECT_EQ(validate(p), "");
  return compute(p);
}

/// Element-wise comparison; infinities must match exactly.
void expectNear(const Array &actual, const Array &expected,
                double tol = 1e-12) {
  ASSERT_EQ(actual.shape, expected.shape);
  ASSERT_EQ(actual.data.size(), expected.data.size());
  for (size_t k = 0; k < actual.data.size(); ++k) {
    if (std::isinf(expected.data[k]))
      EXPECT_EQ(actual.data[k], expected.data[k]) << "at flat index " << k;
    else
      EXPECT_NEAR(actual.data[k], expected.data[k], tol)
          << "at flat index " << k;
  }
}

/// A problem whose output spells out its mask: q = k = 0 makes all scores
/// tie, so softmax is uniform over the allowed keys, and V = identity copies
/// each weight row into the output.
Problem patternProblem(int64_t B, int64_t H, int64_t Sq, int64_t Skv) {
  Problem p;
  p.q = Array({B, H, Sq, 1});
  p.k = Array({B, H, Skv, 1});
  p.v = Array({B, H, Skv, Skv});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t j = 0; j < Skv; ++j)
        p.v.at({b, h, j, j}) = 1;
  return p;
}

/// The allowed keys of every query of (b, h), one string per query with
/// '1' for allowed and '.' for masked.
std::vector<std::string> pattern(const Problem &p, int64_t b, int64_t h) {
  Result r = run(p);
  int64_t Sq = r.o.shape[2], Skv = r.o.shape[3];
  std::vector<std::string> rows;
  for (int64_t i = 0; i < Sq; ++i) {
    std::string row;
    for (int64_t j = 0; j < Skv; ++j)
      row += r.o.at({b, h, i, j}) > 0 ? '1' : '.';
    rows.push_back(row);
  }
  return rows;
}

using Rows = std::vector<std::string>;

/// A dense mask [1, 1, Sq, Skv] from rows in the format of pattern().
Array denseFromRows(const Rows &rows) {
  int64_t Sq = rows.size(), Skv = rows[0].size();
  Array m({1, 1, Sq, Skv});
  for (int64_t i = 0; i < Sq; ++i)
    for (int64_t j = 0; j < Skv; ++j)
      m.at({0, 0, i, j}) = rows[i][j] == '1';
  return m;
}

/// Softmax attention straight from the definition (no max subtraction,
/// fine for scores of order one) over BHSD MHA with mask `allowed`.
Result naiveSoftmax(
    const Problem &p,
    const std::function<bool(int64_t, int64_t, int64_t, int64_t)> &allowed) {
  int64_t B = p.q.shape[0], H = p.q.shape[1], Sq = p.q.shape[2],
          D = p.q.shape[3], Skv = p.k.shape[2], Dv = p.v.shape[3];
  Result r;
  r.o = Array({B, H, Sq, Dv});
  r.lse = Array({B, H, Sq});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Sq; ++i) {
        std::vector<double> e(Skv, 0.0);
        double z = 0;
        for (int64_t j = 0; j < Skv; ++j) {
          if (!allowed(b, h, i, j))
            continue;
          double dot = 0;
          for (int64_t x = 0; x < D; ++x)
            dot += p.q.at({b, h, i, x}) * p.k.at({b, h, j, x});
          e[j] = std::exp(dot / std::sqrt(static_cast<double>(D)));
          z += e[j];
        }
        r.lse.at({b, h, i}) = std::log(z);
        for (int64_t x = 0; x < Dv; ++x) {
          double acc = 0;
          for (int64_t j = 0; j < Skv; ++j)
            acc += e[j] * p.v.at({b, h, j, x});
          r.o.at({b, h, i, x}) = z > 0 ? acc / z : 0.0;
        }
      }
  return r;
}

/// [B, H, S, X] -> [B, S, H, X].
Array swapHeadsAndSeq(const Array &a) {
  int64_t B = a.shape[0], H = a.shape[1], S = a.shape[2], X = a.shape[3];
  Array t({B, S, H, X});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t x = 0; x < X; ++x)
          t.at({b, s, h, x}) = a.at({b, h, s, x});
  return t;
}

/// Keys [begin, end) of a BHSD k or v.
Array keySlice(const Array &a, int64_t begin, int64_t end) {
  int64_t B = a.shape[0], H = a.shape[1], X = a.shape[3];
  Array s({B, H, end - begin, X});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t j = begin; j < end; ++j)
        for (int64_t x = 0; x < X; ++x)
          s.at({b, h, j - begin, x}) = a.at({b, h, j, x});
  return s;
}

Mask leaf(Mask::Kind kind, int64_t a = 0, int64_t b = 0, int64_t c = 0,
          int64_t d = 0) {
  Mask m;
  m.kind = kind;
  m.a = a;
  m.b = b;
  m.c = c;
  m.d = d;
  return m;
}

Mask combine(Mask::Kind kind, std::vector<Mask> children) {
  Mask m;
  m.kind = kind;
  m.children = std::move(children);
  return m;
}

Mask maskNot(Mask child) { return combine(Mask::Kind::Not, {child}); }

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

/// One query, keys with scalar k and v (D = Dv = 1), scale 1, so the scores
/// are exactly q * k.
Problem scalarProblem(double q, std::vector<double> ks,
                      std::vector<double> vs) {
  Problem p;
  int64_t n = ks.size();
  p.q = literal({1, 1, 1, 1}, {q});
  p.k = literal({1, 1, n, 1}, std::move(ks));
  p.v = literal({1, 1, n, 1}, std::move(vs));
  p.scale = 1.0;
  return p;
}

//===----------------------------------------------------------------------===//
// Softmax
//===----------------------------------------------------------------------===//

TEST(ReferenceArray, RowMajorAccess) {
  Array a({2, 3}, 0.5);
  EXPECT_EQ(a.numElements(), 6);
  a.at({1, 2}) = 7;
  EXPECT_EQ(a.data[5], 7);
  EXPECT_EQ(a.at({0, 1}), 0.5);
}

TEST(ReferenceSoftmax, OneQueryTwoKeysByHand) {
  Problem p;
  p.q = literal({1, 1, 1, 2}, {1, 0});
  p.k = literal({1, 1, 2, 2}, {1, 0, 0, 1});
  p.v = literal({1, 1, 2, 2}, {1, 2, 3, -1});
  Result r = run(p);
  // s0 = 1/sqrt(2), s1 = 0; P0 = e^s0 / (e^s0 + 1).
  double e0 = std::exp(1 / std::sqrt(2.0));
  double p0 = e0 / (e0 + 1), p1 = 1 / (e0 + 1);
  expectNear(r.o, literal({1, 1, 1, 2}, {p0 * 1 + p1 * 3, p0 * 2 - p1}));
  expectNear(r.lse, literal({1, 1, 1}, {std::log(e0 + 1)}));
}

TEST(ReferenceSoftmax, FullMatchesNaiveFormula) {
  Problem p = randomProblem(2, 3, 3, 4, 5, 3, 2);
  Result r = run(p);
  Result expected =
      naiveSoftmax(p, [](int64_t, int64_t, int64_t, int64_t) { return true; });
  expectNear(r.o, expected.o);
  expectNear(r.lse, expected.lse);
}

TEST(ReferenceSoftmax, LargeScoresStayFinite) {
  // Scores 1000 and 999 overflow exp() unless the max is subtracted.
  Problem p = scalarProblem(1, {1000, 999}, {1, 0});
  Result r = run(p);
  double p0 = 1 / (1 + std::exp(-1.0));
  expectNear(r.o, literal({1, 1, 1, 1}, {p0}));
  expectNear(r.lse, literal({1, 1, 1}, {1000 + std::log(1 + std::exp(-1.0))}),
             1e-9);
}

//===----------------------------------------------------------------------===//
// Declarative masks
//===----------------------------------------------------------------------===//

TEST(ReferenceMask, CausalIsBottomRightAligned) {
  Problem p = patternProblem(1, 1, 3, 5);
  p.mask = leaf(Mask::Kind::Causal);
  EXPECT_EQ(pattern(p, 0, 0), (Rows{"111..", "1111.", "11111"}));
}

TEST(ReferenceMask, CausalEqualsDenseLowerTriangle) {
  Problem causal = randomProblem(2, 2, 2, 3, 5, 4, 3);
  causal.mask = leaf(Mask::Kind::Causal);
  Problem dense = causal;
  dense.mask = leaf(Mask::Kind::Dense);
  dense.denseMask = denseFromRows({"111..", "1111.", "11111"});
  Result a = run(causal), b = run(dense);
  expectNear(a.o, b.o);
  expectNear(a.lse, b.lse);
  Result naive = naiveSoftmax(causal, [](int64_t, int64_t, int64_t i,
                                         int64_t j) { return j <= i + 2; });
  expectNear(a.o, naive.o);
  expectNear(a.lse, naive.lse);
}

TEST(ReferenceMask, MaskedValuesNeverLeakIn) {
  // A cache slot past kvLen may hold garbage; it must not reach O.
  Problem p = scalarProblem(1, {0.5, 0.25, 0}, {1, 2, NAN});
  p.kvLen = {2};
  Result r = run(p);
  double e0 = std::exp(0.5), e1 = std::exp(0.25);
  expectNear(r.o, literal({1, 1, 1, 1}, {(e0 + 2 * e1) / (e0 + e1)}));
  p.kvLen.clear();
  p.mask = leaf(Mask::Kind::Sinks, 2);
  expectNear(run(p).o, r.o);
}

TEST(ReferenceMask, QOffsetShiftsPositions) {
  Problem p = patternProblem(1, 1, 3, 3);
  p.mask = leaf(Mask::Kind::Causal);
  p.qOffset = -1;
  EXPECT_EQ(pattern(p, 0, 0), (Rows{"...", "1..", "11."}));
}

TEST(ReferenceMask, SlidingWindowEqualsDenseBand) {
  Rows band = {"11....", "111...", "1111..", ".1111.", "..1111", "...111"};
  Problem p = patternProblem(1, 1, 6, 6);
  p.mask = leaf(Mask::Kind::SlidingWindow, 2, 1);
  EXPECT_EQ(pattern(p, 0, 0), band);

  Problem window = randomProblem(1, 2, 2, 6, 6, 3, 2);
  window.mask = leaf(Mask::Kind::SlidingWindow, 2, 1);
  Problem dense = window;
  dense.mask = leaf(Mask::Kind::Dense);
  dense.denseMask = denseFromRows(band);
  Result a = run(window), b = run(dense);
  expectNear(a.o, b.o);
  expectNear(a.lse, b.lse);
}

TEST(ReferenceMask, ChunkedHaloDilated) {
  Problem p = patternProblem(1, 1, 5, 5);
  p.mask = leaf(Mask::Kind::Chunked, 2);
  EXPECT_EQ(pattern(p, 0, 0),
            (Rows{"11...", "11...", "..11.", "..11.", "....1"}));

  // Queries before key 0 (p = -2, -1) form block -1, not block 0.
  p = patternProblem(1, 1, 4, 2);
  p.mask = leaf(Mask::Kind::Chunked, 2);
  EXPECT_EQ(pattern(p, 0, 0), (Rows{"..", "..", "11", "11"}));

  // Blocks of 2 with a halo of 1 on each side.
  p = patternProblem(1, 1, 6, 6);
  p.mask = leaf(Mask::Kind::Halo, 2, 1);
  EXPECT_EQ(pattern(p, 0, 0),
            (Rows{"111...", "111...", ".1111.", ".1111.", "...111", "...111"}));

  // Segments of 4 at rate 2: head 0 keeps even offsets, head 1 odd ones.
  p = patternProblem(1, 2, 8, 8);
  p.mask = leaf(Mask::Kind::Dilated, 4, 2);
  EXPECT_EQ(pattern(p, 0, 0),
            (Rows{"1.1.....", "........", "1.1.....", "........", "....1.1.",
                  "........", "....1.1.", "........"}));
  EXPECT_EQ(pattern(p, 0, 1),
            (Rows{"........", ".1.1....", "........", ".1.1....", "........",
                  ".....1.1", "........", ".....1.1"}));
}

TEST(ReferenceMask, GlobalSinksPrefixLM) {
  Problem p = patternProblem(1, 1, 4, 4);
  p.mask = leaf(Mask::Kind::Global, 1);
  EXPECT_EQ(pattern(p, 0, 0), (Rows{"1111", "1...", "1...", "1..."}));

  p.mask = leaf(Mask::Kind::Global);
  p.mask.list = {2};
  EXPECT_EQ(pattern(p, 0, 0), (Rows{"..1.", "..1.", "1111", "..1."}));

  p.mask = leaf(Mask::Kind::Sinks, 2);
  EXPECT_EQ(pattern(p, 0, 0), (Rows{"11..", "11..", "11..", "11.."}));

  p.mask = leaf(Mask::Kind::PrefixLM, 2);
  EXPECT_EQ(pattern(p, 0, 0), (Rows{"11..", "11..", "111.", "1111"}));
}

TEST(ReferenceMask, StreamingLLMCombination) {
  // (sinks(1) | sliding_window(1, 0)) & causal
  Problem p = patternProblem(1, 1, 5, 5);
  p.mask =
      combine(Mask::Kind::And,
              {combine(Mask::Kind::Or, {leaf(Mask::Kind::Sinks, 1),
                                        leaf(Mask::Kind::SlidingWindow, 1, 0)}),
               leaf(Mask::Kind::Causal)});
  EXPECT_EQ(pattern(p, 0, 0),
            (Rows{"1....", "11...", "111..", "1.11.", "1..11"}));
}

TEST(ReferenceMask, BooleanAlgebraIdentities) {
  Mask causal = leaf(Mask::Kind::Causal);
  Mask window = leaf(Mask::Kind::SlidingWindow, 1, 2);
  Problem base = patternProblem(1, 1, 5, 7);
  auto patternOf = [&](const Mask &m) {
    Problem p = base;
    p.mask = m;
    return pattern(p, 0, 0);
  };
  EXPECT_EQ(patternOf(maskNot(maskNot(causal))), patternOf(causal));
  // De Morgan, both ways.
  EXPECT_EQ(
      patternOf(maskNot(combine(Mask::Kind::And, {causal, window}))),
      patternOf(combine(Mask::Kind::Or, {maskNot(causal), maskNot(window)})));
  EXPECT_EQ(
      patternOf(maskNot(combine(Mask::Kind::Or, {causal, window}))),
      patternOf(combine(Mask::Kind::And, {maskNot(causal), maskNot(window)})));
  EXPECT_EQ(patternOf(combine(Mask::Kind::And, {causal, maskNot(causal)})),
            Rows(5, "......."));
  EXPECT_EQ(patternOf(combine(Mask::Kind::Or, {causal, maskNot(causal)})),
            Rows(5, "1111111"));
}

TEST(ReferenceMask, FullyMaskedRowIsZeroWithMinusInfLse) {
  Problem p = randomProblem(1, 2, 2, 3, 4, 2, 2);
  p.mask = maskNot(leaf(Mask::Kind::Full));
  Result r = run(p);
  expectNear(r.o, Array({1, 2, 3, 2}, 0.0));
  expectNear(r.lse, Array({1, 2, 3}, -kInf));

  // More queries than keys: the first queries sit before key 0.
  p = randomProblem(1, 1, 1, 3, 1, 2, 2);
  p.mask = leaf(Mask::Kind::Causal);
  r = run(p);
  EXPECT_EQ(r.lse.at({0, 0, 0}), -kInf);
  EXPECT_EQ(r.lse.at({0, 0, 1}), -kInf);
  EXPECT_EQ(r.o.at({0, 0, 1, 1}), 0.0);
  EXPECT_NEAR(r.o.at({0, 0, 2, 1}), p.v.at({0, 0, 0, 1}), 1e-15);
}

TEST(ReferenceMask, Neighborhood2DMatchesBruteForce) {
  // A 3 x 4 grid with a 3 x 5 kernel (|dr| <= 1, |dc| <= 2); the keys stop
  // at token 10, short of the grid's 12 tokens.
  const int64_t rows = 3, cols = 4, Skv = 10;
  std::vector<std::pair<int64_t, int64_t>> coord;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      coord.push_back({r, c});
  Problem p = patternProblem(1, 1, Skv, Skv);
  p.mask = leaf(Mask::Kind::Neighborhood2D, rows, cols, 3, 5);
  Rows expected;
  for (int64_t i = 0; i < Skv; ++i) {
    std::string row;
    for (int64_t j = 0; j < Skv; ++j)
      row += std::abs(coord[i].first - coord[j].first) <= 1 &&
                     std::abs(coord[i].second - coord[j].second) <= 2
                 ? '1'
                 : '.';
    expected.push_back(row);
  }
  EXPECT_EQ(pattern(p, 0, 0), expected);
  // Spot check against the picture: token 5 is (1, 1).
  EXPECT_EQ(expected[5], "1111111111");
  EXPECT_EQ(expected[0], "111.111...");
}

TEST(ReferenceMask, Window2D) {
  Problem p = patternProblem(1, 1, 16, 16);
  p.mask = leaf(Mask::Kind::Window2D, 4, 4, 2, 2);
  Rows r = pattern(p, 0, 0);
  EXPECT_EQ(r[5], "11..11..........");  // (1, 1): window rows 0-1, cols 0-1
  EXPECT_EQ(r[10], "..........11..11"); // (2, 2): window rows 2-3, cols 2-3
  EXPECT_EQ(r[6], "..11..11........");
}

TEST(ReferenceMask, Directional2D) {
  // 3 x 3 grid; heads look east, south and south-east.
  Problem p = patternProblem(1, 3, 9, 9);
  p.mask = leaf(Mask::Kind::Directional2D, 3, 3);
  p.mask.list = {0, 1, 1, 0, 1, 1};
  const int64_t center = 4;
  EXPECT_EQ(pattern(p, 0, 0)[center], "..1.11..1");
  EXPECT_EQ(pattern(p, 0, 1)[center], "....1.111");
  EXPECT_EQ(pattern(p, 0, 2)[center], "....11.11");
  // The corner token sees only itself looking away from the grid.
  EXPECT_EQ(pattern(p, 0, 0)[2], "..1......");
  p.mask.flag = true; // half planes
  EXPECT_EQ(pattern(p, 0, 0)[center], ".11.11.11");
  EXPECT_EQ(pattern(p, 0, 1)[center], "...111111");
}

//===----------------------------------------------------------------------===//
// Data-dependent masks
//===----------------------------------------------------------------------===//

TEST(ReferenceMask, TreeMaskOnHandBuiltTree) {
  // Two prefix tokens, then draft tokens t0 (root), t1 and t2 (children of
  // t0), t3 (child of t1).
  Problem p = patternProblem(2, 1, 6, 6);
  p.mask = leaf(Mask::Kind::Tree);
  p.treeParent = literal({4}, {-1, 0, 0, 1});
  Rows shared = {"1.....", "11....", "111...", "1111..", "111.1.", "1111.1"};
  EXPECT_EQ(pattern(p, 0, 0), shared);
  EXPECT_EQ(pattern(p, 1, 0), shared);

  // One tree per batch row; the second has only roots.
  p.treeParent = literal({2, 4}, {-1, 0, 0, 1, -1, -1, -1, -1});
  EXPECT_EQ(pattern(p, 0, 0), shared);
  EXPECT_EQ(pattern(p, 1, 0),
            (Rows{"1.....", "11....", "111...", "11.1..", "11..1.", "11...1"}));
}

TEST(ReferenceMask, TreeDraftFollowsKvLen) {
  // Decoding: the draft tokens are the last T valid keys of each row.
  Problem p = patternProblem(2, 1, 2, 6);
  p.mask = leaf(Mask::Kind::Tree);
  p.treeParent = literal({2}, {-1, -1});
  p.kvLen = {4, 6};
  EXPECT_EQ(pattern(p, 0, 0), (Rows{"111...", "11.1.."}));
  EXPECT_EQ(pattern(p, 1, 0), (Rows{"11111.", "1111.1"}));
}

TEST(ReferenceMask, DocumentMask) {
  Problem p = patternProblem(1, 1, 5, 5);
  p.mask = leaf(Mask::Kind::Document);
  // The last token is padding: different ids on the two sides.
  p.segQ = literal({1, 5}, {0, 0, 1, 1, -1});
  p.segKv = literal({1, 5}, {0, 0, 1, 1, -2});
  EXPECT_EQ(pattern(p, 0, 0),
            (Rows{"11...", "11...", "..11.", "..11.", "....."}));
  p.mask = combine(Mask::Kind::And,
                   {leaf(Mask::Kind::Document), leaf(Mask::Kind::Causal)});
  EXPECT_EQ(pattern(p, 0, 0),
            (Rows{"1....", "11...", "..1..", "..11.", "....."}));
  EXPECT_EQ(run(p).lse.at({0, 0, 4}), -kInf);
}

TEST(ReferenceMask, DenseBroadcastRanks) {
  Rows lower = {"1..", "11.", "111"}, upper = {"111", ".11", "..1"};
  Problem p = patternProblem(2, 2, 3, 3);
  p.mask = leaf(Mask::Kind::Dense);

  p.denseMask = denseFromRows(lower);
  p.denseMask.shape = {3, 3}; // rank 2
  EXPECT_EQ(pattern(p, 1, 1), lower);

  // Rank 3 [H, Sq, Skv]: one pattern per head, shared by the batch.
  Array perHead({2, 3, 3});
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      perHead.at({0, i, j}) = lower[i][j] == '1';
      perHead.at({1, i, j}) = upper[i][j] == '1';
    }
  p.denseMask = perHead;
  EXPECT_EQ(pattern(p, 1, 0), lower);
  EXPECT_EQ(pattern(p, 1, 1), upper);

  // Rank 4 [B, 1, Sq, Skv]: one pattern per batch row, shared by heads.
  p.denseMask = perHead;
  p.denseMask.shape = {2, 1, 3, 3};
  EXPECT_EQ(pattern(p, 0, 1), lower);
  EXPECT_EQ(pattern(p, 1, 0), upper);
}

TEST(ReferenceMask, CustomMaskReceivesIndices) {
  Problem p = patternProblem(1, 2, 2, 4);
  p.mask = leaf(Mask::Kind::Custom);
  // Indices, not positions: query 0 is at position 2 but sees key 0.
  p.maskMod = [](int64_t, int64_t h, int64_t i, int64_t j) {
    return j == i + h;
  };
  EXPECT_EQ(pattern(p, 0, 0), (Rows{"1...", ".1.."}));
  EXPECT_EQ(pattern(p, 0, 1), (Rows{".1..", "..1."}));
}

TEST(ReferenceDecode, KvLenMasksTailAndShiftsPositions) {
  Problem p = patternProblem(2, 1, 2, 5);
  p.mask = leaf(Mask::Kind::Causal);
  p.kvLen = {3, 5};
  EXPECT_EQ(pattern(p, 0, 0), (Rows{"11...", "111.."}));
  EXPECT_EQ(pattern(p, 1, 0), (Rows{"1111.", "11111"}));
  // Even a mask that allows everything stops at kvLen.
  p.mask = maskNot(leaf(Mask::Kind::Causal));
  EXPECT_EQ(pattern(p, 0, 0), (Rows{"..1..", "....."}));

  // Batch row 0 equals the same problem cut to its 3 valid keys.
  Problem decode = randomProblem(2, 2, 2, 2, 5, 3, 2);
  decode.mask = leaf(Mask::Kind::Causal);
  decode.kvLen = {3, 5};
  auto firstRow = [](const Array &a, int64_t seq) {
    Array r({1, a.shape[1], seq, a.shape[3]});
    for (int64_t h = 0; h < a.shape[1]; ++h)
      for (int64_t s = 0; s < seq; ++s)
        for (int64_t x = 0; x < a.shape[3]; ++x)
          r.at({0, h, s, x}) = a.at({0, h, s, x});
    return r;
  };
  Problem cut;
  cut.q = firstRow(decode.q, 2);
  cut.k = firstRow(decode.k, 3);
  cut.v = firstRow(decode.v, 3);
  cut.mask = leaf(Mask::Kind::Causal);
  Result full = run(decode), small = run(cut);
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i = 0; i < 2; ++i) {
      EXPECT_NEAR(full.lse.at({0, h, i}), small.lse.at({0, h, i}), 1e-12);
      for (int64_t x = 0; x < 2; ++x)
        EXPECT_NEAR(full.o.at({0, h, i, x}), small.o.at({0, h, i, x}), 1e-12);
    }
}

//===----------------------------------------------------------------------===//
// Heads, layouts and merge
//===----------------------------------------------------------------------===//

TEST(ReferenceGqa, MatchesMhaWithRepeatedKv) {
  Problem gqa = randomProblem(2, 6, 2, 3, 4, 3, 2);
  gqa.mask = leaf(Mask::Kind::Causal);
  Problem mha = gqa;
  mha.k = Array({2, 6, 4, 3});
  mha.v = Array({2, 6, 4, 2});
  // Query heads 0-2 read kv head 0, heads 3-5 kv head 1.
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 6; ++h)
      for (int64_t j = 0; j < 4; ++j) {
        for (int64_t x = 0; x < 3; ++x)
          mha.k.at({b, h, j, x}) = gqa.k.at({b, h / 3, j, x});
        for (int64_t x = 0; x < 2; ++x)
          mha.v.at({b, h, j, x}) = gqa.v.at({b, h / 3, j, x});
      }
  Result a = run(gqa), b = run(mha);
  expectNear(a.o, b.o);
  expectNear(a.lse, b.lse);
  Result naive = naiveSoftmax(
      mha, [](int64_t, int64_t, int64_t i, int64_t j) { return j <= i + 1; });
  expectNear(a.o, naive.o);
}

TEST(ReferenceLayout, BshdEqualsTransposedBhsd) {
  Problem bhsd = randomProblem(2, 4, 2, 3, 5, 3, 2);
  bhsd.mask = leaf(Mask::Kind::SlidingWindow, 1, 1);
  Problem bshd = bhsd;
  bshd.layout = Layout::BSHD;
  bshd.q = swapHeadsAndSeq(bhsd.q);
  bshd.k = swapHeadsAndSeq(bhsd.k);
  bshd.v = swapHeadsAndSeq(bhsd.v);
  Result a = run(bhsd), b = run(bshd);
  expectNear(b.o, swapHeadsAndSeq(a.o));
  expectNear(b.lse, a.lse);
}

TEST(ReferenceMerge, TwoKeyHalvesEqualFullSoftmax) {
  Problem full = randomProblem(2, 2, 2, 3, 7, 4, 3);
  Problem lo = full, hi = full;
  lo.k = keySlice(full.k, 0, 3);
  lo.v = keySlice(full.v, 0, 3);
  hi.k = keySlice(full.k, 3, 7);
  hi.v = keySlice(full.v, 3, 7);
  Result whole = run(full), a = run(lo), b = run(hi);
  Result merged = merge(Layout::BHSD, {a.o, b.o}, {a.lse, b.lse});
  expectNear(merged.o, whole.o);
  expectNear(merged.lse, whole.lse);

  // The same split in BSHD.
  Result mergedBshd =
      merge(Layout::BSHD, {swapHeadsAndSeq(a.o), swapHeadsAndSeq(b.o)},
            {a.lse, b.lse});
  expectNear(mergedBshd.o, swapHeadsAndSeq(whole.o));
}

TEST(ReferenceMerge, MinusInfPartsContributeNothing) {
  Array o1 = literal({1, 1, 2, 1}, {5, 7});
  Array l1 = literal({1, 1, 2}, {0.25, -kInf});
  Array o2 = literal({1, 1, 2, 1}, {9, 9});
  Array l2 = literal({1, 1, 2}, {-kInf, -kInf});
  Result r = merge(Layout::BHSD, {o1, o2}, {l1, l2});
  expectNear(r.o, literal({1, 1, 2, 1}, {5, 0}));
  expectNear(r.lse, literal({1, 1, 2}, {0.25, -kInf}));
}

//===----------------------------------------------------------------------===//
// Normalizers
//===----------------------------------------------------------------------===//

TEST(ReferenceSinkSoftmax, OneKeyByHand) {
  Problem p = scalarProblem(1, {2}, {3});
  p.normalizer.kind = Normalizer::Kind::SinkSoftmax;
  p.sink = literal({1}, {0.5});
  Result r = run(p);
  // P = e^2 / (e^2 + e^0.5): the sink only enlarges the denominator.
  double z = std::exp(2.0) + std::exp(0.5);
  expectNear(r.o, literal({1, 1, 1, 1}, {3 * std::exp(2.0) / z}));
  expectNear(r.lse, literal({1, 1, 1}, {std::log(z)}));
}

TEST(ReferenceSinkSoftmax, FullyMaskedRowHasLseSink) {
  Problem p = randomProblem(1, 2, 1, 2, 3, 2, 2);
  p.normalizer.kind = Normalizer::Kind::SinkSoftmax;
  p.sink = literal({2}, {-0.75, 1.5});
  p.mask = maskNot(leaf(Mask::Kind::Full));
  Result r = run(p);
  expectNear(r.o, Array({1, 2, 2, 2}, 0.0));
  expectNear(r.lse, literal({1, 2, 2}, {-0.75, -0.75, 1.5, 1.5}));
}

TEST(ReferenceSinkSoftmax, MergesExactlyWithAnEmptyPart) {
  // Splitting keys where one part is empty: the sink belongs to exactly
  // one part, so merging the parts reproduces the whole.
  Problem whole = randomProblem(1, 2, 2, 2, 4, 3, 2);
  whole.normalizer.kind = Normalizer::Kind::SinkSoftmax;
  whole.sink = literal({2}, {0.3, -0.2});
  Problem plain = whole;
  plain.normalizer.kind = Normalizer::Kind::Softmax;
  Problem empty = whole;
  empty.mask = maskNot(leaf(Mask::Kind::Full));
  Result all = run(whole), keys = run(plain), sinkOnly = run(empty);
  Result merged =
      merge(Layout::BHSD, {keys.o, sinkOnly.o}, {keys.lse, sinkOnly.lse});
  expectNear(merged.o, all.o);
  expectNear(merged.lse, all.lse);
}

TEST(ReferenceSigmoid, DefaultBetaIsMinusLogKvLen) {
  Problem p = scalarProblem(1, {2, -1}, {3, 5});
  p.normalizer.kind = Normalizer::Kind::Sigmoid;
  Result r = run(p);
  double beta = -std::log(2.0);
  expectNear(r.o, literal({1, 1, 1, 1},
                          {sigmoid(2 + beta) * 3 + sigmoid(-1 + beta) * 5}));
  EXPECT_TRUE(r.lse.data.empty());

  p.normalizer.beta = 0.5;
  expectNear(run(p).o,
             literal({1, 1, 1, 1}, {sigmoid(2.5) * 3 + sigmoid(-0.5) * 5}));

  // With one valid key, beta = -log(1) = 0 and the second key is gone.
  p.normalizer.beta.reset();
  p.kvLen = {1};
  expectNear(run(p).o, literal({1, 1, 1, 1}, {sigmoid(2) * 3}));
}

TEST(ReferenceRelu, PowersAndDenominators) {
  // Scores 2, -1, 0.5.
  Problem p = scalarProblem(1, {2, -1, 0.5}, {1, 10, 100});
  p.normalizer.kind = Normalizer::Kind::Relu;

  p.normalizer.reluNorm = Normalizer::ReluNorm::RowSum;
  Result r = run(p);
  expectNear(r.o, literal({1, 1, 1, 1}, {(2 * 1 + 0.5 * 100) / 2.5}));
  expectNear(r.lse, literal({1, 1, 1}, {std::log(2.5)}));

  p.normalizer.power = 2;
  p.normalizer.reluNorm = Normalizer::ReluNorm::SeqLen;
  r = run(p);
  expectNear(r.o, literal({1, 1, 1, 1}, {(4 * 1 + 0.25 * 100) / 3}));
  EXPECT_TRUE(r.lse.data.empty());

  p.normalizer.power = 1;
  p.normalizer.reluNorm = Normalizer::ReluNorm::One;
  expectNear(run(p).o, literal({1, 1, 1, 1}, {2 * 1 + 0.5 * 100}));

  // Z = kvLen(b), not Skv, when decoding.
  p.normalizer.reluNorm = Normalizer::ReluNorm::SeqLen;
  p.kvLen = {2};
  expectNear(run(p).o, literal({1, 1, 1, 1}, {2.0 / 2}));
  p.kvLen.clear();

  // A row of negative scores has a zero row sum.
  Problem negative = scalarProblem(-1, {2, 0.5}, {1, 1});
  negative.normalizer = p.normalizer;
  negative.normalizer.reluNorm = Normalizer::ReluNorm::RowSum;
  r = run(negative);
  expectNear(r.o, literal({1, 1, 1, 1}, {0}));
  expectNear(r.lse, literal({1, 1, 1}, {-kInf}));
}

TEST(ReferenceSoftplus, ByHand) {
  Problem p = scalarProblem(1, {2, -1, 0.5}, {1, 10, 100});
  p.normalizer.kind = Normalizer::Kind::SoftplusL1;
  double f0 = std::log(1 + std::exp(2.0)), f1 = std::log(1 + std::exp(-1.0)),
         f2 = std::log(1 + std::exp(0.5));
  double z = f0 + f1 + f2;
  Result r = run(p);
  expectNear(r.o, literal({1, 1, 1, 1}, {(f0 + 10 * f1 + 100 * f2) / z}));
  expectNear(r.lse, literal({1, 1, 1}, {std::log(z)}));

  // Large scores must not overflow: softplus(800) = 800.
  Problem big = scalarProblem(1, {800, 0}, {1, 0});
  big.normalizer.kind = Normalizer::Kind::SoftplusL1;
  double z2 = 800 + std::log(2.0);
  expectNear(run(big).o, literal({1, 1, 1, 1}, {800 / z2}));
}

//===----------------------------------------------------------------------===//
// Score modifiers
//===----------------------------------------------------------------------===//

TEST(ReferenceScoreMod, T5BucketKnownValues) {
  // 32 buckets, max distance 128, bidirectional: 16 per direction, 8 exact.
  EXPECT_EQ(t5Bucket(0, 32, 128, true), 0);
  EXPECT_EQ(t5Bucket(-1, 32, 128, true), 1);
  EXPECT_EQ(t5Bucket(1, 32, 128, true), 17);
  EXPECT_EQ(t5Bucket(-7, 32, 128, true), 7);
  EXPECT_EQ(t5Bucket(-8, 32, 128, true), 8);
  // 8 + trunc(log(20/8) / log(128/8) * 8) = 8 + trunc(2.64)
  EXPECT_EQ(t5Bucket(-20, 32, 128, true), 10);
  EXPECT_EQ(t5Bucket(20, 32, 128, true), 26);
  // 8 + trunc(log(100/8) / log(16) * 8) = 8 + trunc(7.29)
  EXPECT_EQ(t5Bucket(-100, 32, 128, true), 15);
  EXPECT_EQ(t5Bucket(-1000, 32, 128, true), 15);
  EXPECT_EQ(t5Bucket(100, 32, 128, true), 31);
  EXPECT_EQ(t5Bucket(int64_t(1) << 62, 32, 128, true), 31);
  // Unidirectional: future keys share bucket 0; 16 exact buckets.
  EXPECT_EQ(t5Bucket(5, 32, 128, false), 0);
  EXPECT_EQ(t5Bucket(-5, 32, 128, false), 5);
  EXPECT_EQ(t5Bucket(-16, 32, 128, false), 16);
  // 16 + trunc(log(40/16) / log(128/16) * 16) = 16 + trunc(7.05)
  EXPECT_EQ(t5Bucket(-40, 32, 128, false), 23);
  EXPECT_EQ(t5Bucket(-127, 32, 128, false), 31);
  EXPECT_EQ(t5Bucket(-1000000, 32, 128, false), 31);
}

TEST(ReferenceScoreMod, RelBiasUsesKeyMinusQueryPosition) {
  // One query at position 2 and keys 0, 1, 2: rel = -2, -1, 0, which are
  // buckets 2, 1, 0.
  Problem rel = randomProblem(1, 1, 1, 1, 3, 2, 2);
  ScoreMod mod;
  mod.kind = ScoreMod::Kind::RelBias;
  mod.a = 32;
  mod.b = 128;
  mod.flag = true;
  mod.tensor = Array({1, 32});
  for (int64_t k = 0; k < 32; ++k)
    mod.tensor.at({0, k}) = 0.1 * k;
  rel.scoreMods = {mod};
  Problem bias = rel;
  bias.scoreMods[0].kind = ScoreMod::Kind::Bias;
  bias.scoreMods[0].tensor = literal({1, 3}, {0.2, 0.1, 0.0});
  Result a = run(rel), b = run(bias);
  expectNear(a.o, b.o);
  expectNear(a.lse, b.lse);
}

TEST(ReferenceScoreMod, AlibiDefaultSlopes) {
  // Two heads: slopes 2^-4 and 2^-8.
  Problem alibi = randomProblem(1, 2, 2, 3, 3, 2, 2);
  alibi.mask = leaf(Mask::Kind::Causal);
  ScoreMod mod;
  mod.kind = ScoreMod::Kind::Alibi;
  alibi.scoreMods = {mod};
  Problem bias = alibi;
  bias.scoreMods[0].kind = ScoreMod::Kind::Bias;
  bias.scoreMods[0].tensor = Array({2, 3, 3});
  const double slopes[2] = {1.0 / 16, 1.0 / 256};
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 3; ++j)
        bias.scoreMods[0].tensor.at({h, i, j}) = -slopes[h] * (i - j);
  Result a = run(alibi), b = run(bias);
  expectNear(a.o, b.o);
  expectNear(a.lse, b.lse);

  // Symmetric distances with explicit slopes and no mask.
  alibi.mask = leaf(Mask::Kind::Full);
  alibi.scoreMods[0].flag = true;
  alibi.scoreMods[0].values = {0.5, 0.25};
  bias.mask = alibi.mask;
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 3; ++j)
        bias.scoreMods[0].tensor.at({h, i, j}) =
            -alibi.scoreMods[0].values[h] * std::abs(i - j);
  a = run(alibi);
  b = run(bias);
  expectNear(a.o, b.o);
  expectNear(a.lse, b.lse);
}

TEST(ReferenceScoreMod, ModifiersApplyInOrder) {
  // Scores 3 and 0; softcap 2 and a bias of 1 on key 0.
  ScoreMod cap;
  cap.kind = ScoreMod::Kind::Softcap;
  cap.x = 2;
  ScoreMod bias;
  bias.kind = ScoreMod::Kind::Bias;
  bias.tensor = literal({1, 2}, {1, 0});
  auto expectScores = [](const Problem &p, double s0, double s1) {
    Result r = run(p);
    double e0 = std::exp(s0), e1 = std::exp(s1);
    expectNear(r.o, literal({1, 1, 1, 1}, {(e0 * 10 + e1 * 20) / (e0 + e1)}));
    expectNear(r.lse, literal({1, 1, 1}, {std::log(e0 + e1)}));
  };
  Problem p = scalarProblem(1, {3, 0}, {10, 20});
  p.scoreMods = {cap, bias};
  expectScores(p, 2 * std::tanh(1.5) + 1, 0);
  p.scoreMods = {bias, cap};
  expectScores(p, 2 * std::tanh(2.0), 0);
}

TEST(ReferenceScoreMod, TemperatureAndGaussian) {
  Problem temp = randomProblem(2, 2, 1, 3, 4, 2, 2);
  ScoreMod mod;
  mod.kind = ScoreMod::Kind::Temperature;
  mod.tensor = randomArray({2, 2, 3}, 7);
  temp.scoreMods = {mod};
  Problem custom = temp;
  custom.scoreMods[0].kind = ScoreMod::Kind::Custom;
  const Array tau = mod.tensor;
  custom.scoreMod = [&tau](double s, int64_t b, int64_t h, int64_t i, int64_t) {
    return s * tau.at({b, h, i});
  };
  Result a = run(temp), b = run(custom);
  expectNear(a.o, b.o);
  expectNear(a.lse, b.lse);

  // s - (p - j - mu)^2 / (2 sigma^2) with p = i + 1 (Sq = 3, Skv = 4).
  Problem gauss = randomProblem(1, 2, 2, 3, 4, 2, 2);
  ScoreMod g;
  g.kind = ScoreMod::Kind::Gaussian;
  g.values = {0.5, -1};
  g.values2 = {2, 0.5};
  gauss.scoreMods = {g};
  Problem bias = gauss;
  bias.scoreMods[0].kind = ScoreMod::Kind::Bias;
  bias.scoreMods[0].tensor = Array({2, 3, 4});
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 4; ++j) {
        double delta = (i + 1) - j - g.values[h];
        bias.scoreMods[0].tensor.at({h, i, j}) =
            -delta * delta / (2 * g.values2[h] * g.values2[h]);
      }
  a = run(gauss);
  b = run(bias);
  expectNear(a.o, b.o);
  expectNear(a.lse, b.lse);
}

TEST(ReferenceScoreMod, BiasBroadcastsFromRankTwo) {
  Problem p = randomProblem(2, 2, 2, 2, 3, 2, 2);
  ScoreMod mod;
  mod.kind = ScoreMod::Kind::Bias;
  mod.tensor = randomArray({2, 3}, 11);
  p.scoreMods = {mod};
  Problem full = p;
  full.scoreMods[0].tensor = Array({2, 2, 2, 3});
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i = 0; i < 2; ++i)
        for (int64_t j = 0; j < 3; ++j)
          full.scoreMods[0].tensor.at({b, h, i, j}) = mod.tensor.at({i, j});
  Result a = run(p), b = run(full);
  expectNear(a.o, b.o);
  expectNear(a.lse, b.lse);
}

//===----------------------------------------------------------------------===//
// validate
//===----------------------------------------------------------------------===//

/// Expects validate(p) to fail with a message containing `needle`.
void expectInvalid(const Problem &p, const std::string &needle) {
  std::string err = validate(p);
  EXPECT_NE(err.find(needle), std::string::npos)
      << "error \"" << err << "\" lacks \"" << needle << "\"";
}

/// Expects `ok` with random K and V of the given shapes to fail validate()
/// with a message containing `needle`.
void expectInvalidKv(const Problem &ok, std::vector<int64_t> kShape,
                     std::vector<int64_t> vShape, const std::string &needle) {
  Problem p = ok;
  p.k = randomArray(std::move(kShape), 3);
  p.v = randomArray(std::move(vShape), 3);
  expectInvalid(p, needle);
}

TEST(ReferenceValidate, ShapeErrors) {
  Problem ok = randomProblem(2, 4, 2, 3, 5, 3, 2);
  EXPECT_EQ(validate(ok), "");

  Problem p = ok;
  p.q.shape = {2, 4, 9};
  p.q.data.resize(72);
  expectInvalid(p, "q must have rank 4");

  // ok's K is [2, 2, 5, 3] and its V [2, 2, 5, 2].
  expectInvalidKv(ok, {2, 2, 5, 4}, {2, 2, 5, 2}, "head dims differ");
  expectInvalidKv(ok, {2, 2, 5, 3}, {2, 2, 6, 2}, "k and v differ");
  expectInvalidKv(ok, {1, 2, 5, 3}, {2, 2, 5, 2}, "batch sizes differ");
  expectInvalidKv(ok, {2, 3, 5, 3}, {2, 3, 5, 2},
                  "multiple of key/value heads");

  p = ok;
  p.q.data.pop_back();
  expectInvalid(p, "q has 71 elements");

  p = ok;
  p.kvLen = {5};
  expectInvalid(p, "kvLen must have one entry per batch row");
  p.kvLen = {5, 6};
  expectInvalid(p, "kvLen[1] = 6");
}

TEST(ReferenceValidate, MaskErrors) {
  Problem ok = randomProblem(1, 2, 2, 4, 6, 2, 2);

  Problem p = ok;
  p.mask = leaf(Mask::Kind::SlidingWindow, -1, 0);
  expectInvalid(p, "left extent");
  p.mask = leaf(Mask::Kind::Chunked, 0);
  expectInvalid(p, "chunk size (a) must be > 0, got 0");
  p.mask = leaf(Mask::Kind::Dilated, 4, 0);
  expectInvalid(p, "dilation rate");
  p.mask = leaf(Mask::Kind::Neighborhood2D, 2, 2, 3, 3);
  expectInvalid(p, "Skv = 6 exceeds the grid's 2 x 2 tokens");
  p.mask = leaf(Mask::Kind::Window2D, 2, 3, 0, 1);
  expectInvalid(p, "window height");
  p.mask = leaf(Mask::Kind::Directional2D, 2, 3);
  p.mask.list = {1};
  expectInvalid(p, "directions");
  p.mask.list = {0, 0};
  expectInvalid(p, "zero vector");
  p.mask = combine(Mask::Kind::And, {});
  expectInvalid(p, "at least one child");
  p.mask = combine(Mask::Kind::Not,
                   {leaf(Mask::Kind::Causal), leaf(Mask::Kind::Causal)});
  expectInvalid(p, "exactly one child");
  // Errors inside a tree name where they are.
  p.mask = combine(Mask::Kind::Or,
                   {leaf(Mask::Kind::Causal), leaf(Mask::Kind::Halo, 0, 1)});
  expectInvalid(p, "mask.children[1]: halo block size");

  p.mask = leaf(Mask::Kind::Document);
  expectInvalid(p, "segQ must have shape [1, 4]");
  p.segQ = Array({1, 4});
  p.segKv = Array({1, 4});
  expectInvalid(p, "segKv must have shape [1, 6]");

  p.mask = leaf(Mask::Kind::Dense);
  expectInvalid(p, "denseMask must have rank 2, 3 or 4");
  p.denseMask = Array({3, 4, 6});
  expectInvalid(p, "does not broadcast");
  p.denseMask = Array({2, 4, 6});
  EXPECT_EQ(validate(p), "");

  p.mask = leaf(Mask::Kind::Tree);
  p.treeParent = literal({3}, {-1, 0, 3});
  expectInvalid(p, "treeParent[2]");
  p.treeParent = literal({3}, {-1, 2, 1});
  expectInvalid(p, "cycle");
  p.treeParent = literal({5}, {-1, 0, 0, 0, 0});
  expectInvalid(p, "only Sq = 4 queries");
  p.treeParent = literal({2}, {-1, 0});
  p.kvLen = {1};
  expectInvalid(p, "batch row 0 has only 1 keys");

  p = ok;
  p.mask = leaf(Mask::Kind::Custom);
  expectInvalid(p, "Problem::maskMod");
}

TEST(ReferenceValidate, ScoreModAndNormalizerErrors) {
  Problem ok = randomProblem(1, 2, 2, 4, 6, 2, 2);
  Problem p = ok;
  ScoreMod mod;

  mod.kind = ScoreMod::Kind::Alibi;
  mod.values = {1, 2, 3};
  p.scoreMods = {mod};
  expectInvalid(p, "scoreMods[0]: alibi slopes");

  mod = ScoreMod();
  mod.kind = ScoreMod::Kind::Softcap;
  p.scoreMods = {ScoreMod(), mod};
  p.scoreMods[0].x = 30;
  expectInvalid(p, "scoreMods[1]: softcap");

  mod = ScoreMod();
  mod.kind = ScoreMod::Kind::RelBias;
  mod.a = 32;
  mod.b = 128;
  mod.flag = true;
  mod.tensor = Array({2, 16});
  p.scoreMods = {mod};
  expectInvalid(p, "relative bias table (tensor) must have shape [2, 32]");
  mod.tensor = Array({2, 32});
  mod.b = 8;
  p.scoreMods = {mod};
  expectInvalid(p, "max distance");
  mod.a = 2;
  p.scoreMods = {mod};
  expectInvalid(p, "no exact bucket");

  mod = ScoreMod();
  mod.kind = ScoreMod::Kind::Temperature;
  mod.tensor = Array({1, 2, 6});
  p.scoreMods = {mod};
  expectInvalid(p, "temperature (tensor) must have shape [1, 2, 4]");

  mod = ScoreMod();
  mod.kind = ScoreMod::Kind::Gaussian;
  mod.values = {0, 0};
  mod.values2 = {1, 0};
  p.scoreMods = {mod};
  expectInvalid(p, "sigma of head 1 is zero");

  mod = ScoreMod();
  mod.kind = ScoreMod::Kind::Custom;
  p.scoreMods = {mod};
  expectInvalid(p, "Problem::scoreMod");

  p = ok;
  p.normalizer.kind = Normalizer::Kind::SinkSoftmax;
  expectInvalid(p, "sink must have shape [2]");
  p.normalizer.kind = Normalizer::Kind::Relu;
  p.normalizer.power = 3;
  expectInvalid(p, "power must be 1 or 2, got 3");
}

} // namespace
