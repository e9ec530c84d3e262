//===- Reference.cpp - Independent float64 attention reference ------------===//
//
// Scalar float64 loops that spell out the semantics of VARIANTS.md, one
// query row at a time: score, modifiers, mask, normalizer, weighted sum of
// values. Nothing here is shared with the compiler's lowering, so the two
// can only agree by both being right.
//
// Longer than the project's ~800 lines on purpose: it is the executable form
// of VARIANTS.md, one function per variant in the contract's order, and is
// read and reviewed against that page as one text.
//
//===----------------------------------------------------------------------===//

#include "attn/Reference/Reference.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>

using namespace attn::ref;

static constexpr double kInf = std::numeric_limits<double>::infinity();

/// Aborts on an enum value outside its declared kinds; every switch in this
/// file covers all kinds, so this only fires on a corrupted Problem.
[[noreturn]] static void unknownKind(const char *what) {
  std::fprintf(stderr, "attn::ref: unknown %s kind\n", what);
  std::abort();
}

//===----------------------------------------------------------------------===//
// Array
//===----------------------------------------------------------------------===//

Array::Array(std::vector<int64_t> shape, double fill)
    : shape(std::move(shape)) {
  data.assign(numElements(), fill);
}

int64_t Array::numElements() const {
  int64_t n = 1;
  for (int64_t dim : shape)
    n *= dim;
  return n;
}

/// Row-major flat offset of `idx` in an array of shape `shape`.
static int64_t flatIndex(const std::vector<int64_t> &shape,
                         std::initializer_list<int64_t> idx) {
  assert(idx.size() == shape.size() && "index rank must match array rank");
  int64_t flat = 0;
  auto dim = shape.begin();
  for (int64_t i : idx) {
    assert(i >= 0 && i < *dim && "index out of bounds");
    flat = flat * *dim + i;
    ++dim;
  }
  return flat;
}

double &Array::at(std::initializer_list<int64_t> idx) {
  return data[flatIndex(shape, idx)];
}

double Array::at(std::initializer_list<int64_t> idx) const {
  return data[flatIndex(shape, idx)];
}

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// Division rounding toward negative infinity: positions before the first
/// key (Sq > Skv, negative q_offset) must still fall into the right block.
static int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/// Remainder with the sign of `b`, the partner of floorDiv.
static int64_t floorMod(int64_t a, int64_t b) { return a - floorDiv(a, b) * b; }

static std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// Exact text of `v`; integral values print as integers ("3", not
/// to_string's "3.000000").
static std::string numberString(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

namespace {
/// Problem sizes, read from q/k/v according to the layout.
struct Dims {
  int64_t B = 0, Hq = 0, Hkv = 0, Sq = 0, Skv = 0, D = 0, Dv = 0;
};
} // namespace

static Dims getDims(const Problem &p) {
  // BSHD swaps the sequence and head dims; everything else is shared.
  int64_t sDim = p.layout == Layout::BHSD ? 2 : 1;
  int64_t hDim = 3 - sDim;
  Dims d;
  d.B = p.q.shape[0];
  d.Hq = p.q.shape[hDim];
  d.Sq = p.q.shape[sDim];
  d.D = p.q.shape[3];
  d.Hkv = p.k.shape[hDim];
  d.Skv = p.k.shape[sDim];
  d.Dv = p.v.shape[3];
  return d;
}

/// Flat offset of element (b, h, s, x) of a [B, H, S, X] tensor stored in
/// `layout`.
static int64_t offset(Layout layout, int64_t H, int64_t S, int64_t X, int64_t b,
                      int64_t h, int64_t s, int64_t x) {
  if (layout == Layout::BHSD)
    return ((b * H + h) * S + s) * X + x;
  return ((b * S + s) * H + h) * X + x;
}

/// Reads a rank-2/3/4 array broadcast numpy-style against [B, Hq, Sq, Skv]:
/// its dims align with the trailing target dims and size-1 dims repeat.
static double broadcastAt(const Array &a, int64_t b, int64_t h, int64_t i,
                          int64_t j) {
  const int64_t idx[4] = {b, h, i, j};
  size_t rank = a.shape.size();
  int64_t flat = 0;
  for (size_t k = 0; k < rank; ++k) {
    int64_t dim = a.shape[k];
    flat = flat * dim + (dim == 1 ? 0 : idx[4 - rank + k]);
  }
  return a.data[flat];
}

int64_t attn::ref::t5Bucket(int64_t rel, int64_t numBuckets,
                            int64_t maxDistance, bool bidirectional) {
  // Mesh TensorFlow's _relative_position_bucket, with rel = memory - query.
  int64_t ret = 0;
  int64_t n = -rel;
  if (bidirectional) {
    numBuckets /= 2;
    ret += n < 0 ? numBuckets : 0;
    n = std::abs(n);
  } else {
    n = std::max<int64_t>(n, 0);
  }
  int64_t maxExact = numBuckets / 2;
  if (n < maxExact)
    return ret + n;
  // Logarithmically spaced buckets from maxExact up to maxDistance; clamp in
  // double before converting so huge distances cannot overflow the cast.
  double large = std::log(static_cast<double>(n) / maxExact) /
                 std::log(static_cast<double>(maxDistance) / maxExact) *
                 (numBuckets - maxExact);
  int64_t last = numBuckets - 1 - maxExact;
  int64_t bucket = large >= last ? last : static_cast<int64_t>(large);
  return ret + maxExact + bucket;
}

//===----------------------------------------------------------------------===//
// validate
//===----------------------------------------------------------------------===//

/// Checks that `a`'s data holds exactly the elements its shape promises.
static std::string checkArray(const Array &a, const std::string &name) {
  for (int64_t dim : a.shape)
    if (dim < 0)
      return name + " has a negative dimension in shape " +
             shapeString(a.shape);
  if (static_cast<int64_t>(a.data.size()) != a.numElements())
    return name + " has " + std::to_string(a.data.size()) +
           " elements but its shape " + shapeString(a.shape) + " needs " +
           std::to_string(a.numElements());
  return "";
}

/// Describes `a`'s shape for an error message; a default-constructed Array
/// is an input that was never provided.
static std::string describeShape(const Array &a) {
  if (a.shape.empty() && a.data.empty())
    return "none (not provided)";
  return shapeString(a.shape);
}

/// Checks that `a` has exactly shape `want`.
static std::string checkShape(const Array &a, const std::string &name,
                              const std::vector<int64_t> &want) {
  if (a.shape != want)
    return name + " must have shape " + shapeString(want) + ", got " +
           describeShape(a);
  return checkArray(a, name);
}

/// Checks that `a` (rank 2, 3 or 4) broadcasts against [B, Hq, Sq, Skv], or
/// against [B, Hq, ceil(Sq / blockQ), ceil(Skv / blockKv)] for a block mask.
static std::string checkBroadcast(const Array &a, const std::string &name,
                                  const Dims &d, int64_t blockQ = 1,
                                  int64_t blockKv = 1) {
  auto blocks = [](int64_t n, int64_t block) {
    return (n + block - 1) / block;
  };
  const std::vector<int64_t> target = {d.B, d.Hq, blocks(d.Sq, blockQ),
                                       blocks(d.Skv, blockKv)};
  std::string against = blockQ == 1 && blockKv == 1
                            ? "[B, Hq, Sq, Skv] = "
                            : "[B, Hq, ceil(Sq / block_q), ceil(Skv / "
                              "block_kv)] = ";
  size_t rank = a.shape.size();
  if (rank < 2 || rank > 4)
    return name + " must have rank 2, 3 or 4 (broadcast against " + against +
           shapeString(target) + "), got " + describeShape(a);
  for (size_t k = 0; k < rank; ++k) {
    int64_t dim = a.shape[k];
    if (dim != 1 && dim != target[4 - rank + k])
      return name + " of shape " + shapeString(a.shape) +
             " does not broadcast against " + against + shapeString(target);
  }
  return checkArray(a, name);
}

/// The block sizes of a dense mask leaf (0 counts as 1: per score).
static std::pair<int64_t, int64_t> denseBlocks(const Mask &m) {
  return {std::max<int64_t>(m.a, 1), std::max<int64_t>(m.b, 1)};
}

/// Checks that the token grid of a 2D mask covers every key.
static std::string checkGrid(const Mask &m, const std::string &where,
                             const Dims &d) {
  if (m.a <= 0 || m.b <= 0)
    return where + ": grid dims must be positive, got " + std::to_string(m.a) +
           " x " + std::to_string(m.b);
  if (d.Skv > m.a * m.b)
    return where + ": Skv = " + std::to_string(d.Skv) + " exceeds the grid's " +
           std::to_string(m.a) + " x " + std::to_string(m.b) + " tokens";
  return "";
}

/// Checks the tree parents: [T] or [B, T], integral, -1 or in [0, T), no
/// cycles, and T no larger than the queries or any row's keys.
static std::string checkTree(const Problem &p, const std::string &where,
                             const Dims &d) {
  const Array &tp = p.treeParent;
  size_t rank = tp.shape.size();
  if (rank != 1 && !(rank == 2 && tp.shape[0] == d.B))
    return where + ": treeParent must have shape [T] or [B, T] with B = " +
           std::to_string(d.B) + ", got " + describeShape(tp);
  if (std::string err = checkArray(tp, "treeParent"); !err.empty())
    return where + ": " + err;
  int64_t T = tp.shape.back();
  if (T > d.Sq)
    return where + ": the tree has " + std::to_string(T) +
           " draft tokens but there are only Sq = " + std::to_string(d.Sq) +
           " queries";
  for (int64_t b = 0; b < d.B; ++b) {
    int64_t len = p.kvLen.empty() ? d.Skv : p.kvLen[b];
    if (T > len)
      return where + ": the tree has " + std::to_string(T) +
             " draft tokens but batch row " + std::to_string(b) + " has only " +
             std::to_string(len) + " keys";
  }
  int64_t trees = rank == 2 ? tp.shape[0] : 1;
  for (int64_t r = 0; r < trees; ++r) {
    const double *parent = tp.data.data() + r * T;
    for (int64_t t = 0; t < T; ++t) {
      double v = parent[t];
      if (v != std::floor(v) || v < -1 || v >= T)
        return where + ": treeParent[" + std::to_string(r * T + t) +
               "] = " + numberString(v) + " must be -1 or an index in [0, " +
               std::to_string(T) + ")";
    }
    // A walk longer than T steps revisits a node, so the links loop.
    for (int64_t t = 0; t < T; ++t) {
      int64_t x = t;
      for (int64_t steps = 0; x != -1; ++steps) {
        if (steps > T)
          return where + ": treeParent has a cycle through draft token " +
                 std::to_string(t);
        x = static_cast<int64_t>(parent[x]);
      }
    }
  }
  return "";
}

/// `err` prefixed with where it was found, or "" when there is none.
static std::string located(const std::string &where, const std::string &err) {
  return err.empty() ? err : where + ": " + err;
}

namespace {
/// A lower bound on one integer mask parameter, and how messages state it.
struct Bound {
  const char *name;
  int64_t value, least;
  const char *rule;
};
} // namespace

static Bound nonNegative(const char *name, int64_t value) {
  return {name, value, 0, ">= 0"};
}
static Bound positive(const char *name, int64_t value) {
  return {name, value, 1, "> 0"};
}

/// The error for the first of `bounds` that its value breaks, or "".
static std::string checkBounds(const std::string &where,
                               std::initializer_list<Bound> bounds) {
  for (const Bound &b : bounds)
    if (b.value < b.least)
      return where + ": " + b.name + " must be " + b.rule + ", got " +
             std::to_string(b.value);
  return "";
}

static std::string checkMask(const Problem &p, const Mask &m,
                             const std::string &where, const Dims &d) {
  switch (m.kind) {
  case Mask::Kind::Full:
  case Mask::Kind::Causal:
    return "";
  case Mask::Kind::SlidingWindow:
    return checkBounds(where,
                       {nonNegative("sliding window left extent (a)", m.a),
                        nonNegative("sliding window right extent (b)", m.b)});
  case Mask::Kind::Chunked:
    return checkBounds(where, {positive("chunk size (a)", m.a)});
  case Mask::Kind::Halo:
    return checkBounds(where, {positive("halo block size (a)", m.a),
                               nonNegative("halo extent (b)", m.b)});
  case Mask::Kind::Dilated:
    return checkBounds(where, {positive("dilated segment length (a)", m.a),
                               positive("dilation rate (b)", m.b)});
  case Mask::Kind::Global:
    if (m.list.empty())
      return checkBounds(where,
                         {nonNegative("number of global positions (a)", m.a)});
    return "";
  case Mask::Kind::Sinks:
    return checkBounds(where, {nonNegative("number of sinks (a)", m.a)});
  case Mask::Kind::DilatedWindow:
    return checkBounds(where, {nonNegative("window (a)", m.a),
                               {"dilation (b)", m.b, 1, ">= 1"}});
  case Mask::Kind::AShape:
    return checkBounds(where, {nonNegative("number of sinks (a)", m.a),
                               nonNegative("window (b)", m.b)});
  case Mask::Kind::PrefixLM:
    return checkBounds(where, {nonNegative("prefix length (a)", m.a)});
  case Mask::Kind::Neighborhood2D:
  case Mask::Kind::Natten:
  case Mask::Kind::Window2D: {
    // A grid, then a kernel or window of c x d tokens (natten: and its two
    // dilations).
    if (std::string err = checkGrid(m, where, d); !err.empty())
      return err;
    bool natten = m.kind == Mask::Kind::Natten;
    if (natten && m.list.size() != 2)
      return where + ": natten needs two dilations in list, got " +
             std::to_string(m.list.size());
    const char *what = m.kind == Mask::Kind::Window2D ? "window" : "kernel";
    std::string h = std::string(what) + " height (c)",
                w = std::string(what) + " width (d)";
    if (std::string err = checkBounds(
            where, {positive(h.c_str(), m.c), positive(w.c_str(), m.d)});
        !err.empty() || !natten)
      return err;
    return checkBounds(where, {positive("row dilation", m.list[0]),
                               positive("column dilation", m.list[1])});
  }
  case Mask::Kind::Directional2D:
    if (std::string err = checkGrid(m, where, d); !err.empty())
      return err;
    if (m.list.empty() || m.list.size() % 2 != 0)
      return where +
             ": directions (list) must be a non-empty list of "
             "(row, col) pairs, got " +
             std::to_string(m.list.size()) + " values";
    for (size_t k = 0; k < m.list.size(); k += 2)
      if (m.list[k] == 0 && m.list[k + 1] == 0)
        return where + ": direction " + std::to_string(k / 2) +
               " is the zero vector";
    return "";
  case Mask::Kind::And:
  case Mask::Kind::Or:
    if (m.children.empty())
      return where + ": and/or needs at least one child";
    for (size_t k = 0; k < m.children.size(); ++k)
      if (std::string err =
              checkMask(p, m.children[k],
                        where + ".children[" + std::to_string(k) + "]", d);
          !err.empty())
        return err;
    return "";
  case Mask::Kind::Not:
    if (m.children.size() != 1)
      return where + ": not needs exactly one child, got " +
             std::to_string(m.children.size());
    return checkMask(p, m.children[0], where + ".children[0]", d);
  case Mask::Kind::Document:
    if (std::string err = checkShape(p.segQ, "segQ", {d.B, d.Sq}); !err.empty())
      return where + ": " + err;
    return located(where, checkShape(p.segKv, "segKv", {d.B, d.Skv}));
  case Mask::Kind::Tree:
    return checkTree(p, where, d);
  case Mask::Kind::Dense: {
    auto [blockQ, blockKv] = denseBlocks(m);
    return located(
        where, checkBroadcast(p.denseMask, "denseMask", d, blockQ, blockKv));
  }
  case Mask::Kind::Custom:
    if (!p.maskMod)
      return where + ": a custom mask needs Problem::maskMod";
    return "";
  case Mask::Kind::Blocks: {
    if (m.children.size() != 1)
      return where + ": blocks needs exactly one child, got " +
             std::to_string(m.children.size());
    auto [blockQ, blockKv] = denseBlocks(m);
    if (std::string err =
            checkBroadcast(p.denseMask, "denseMask", d, blockQ, blockKv);
        !err.empty())
      return where + ": " + err;
    return checkMask(p, m.children[0], where + ".children[0]", d);
  }
  }
  unknownKind("mask");
}

static std::string checkScoreMod(const Problem &p, const ScoreMod &m,
                                 const std::string &where, const Dims &d) {
  auto perHead = [&](const std::vector<double> &values, const char *name) {
    if (static_cast<int64_t>(values.size()) == d.Hq)
      return std::string();
    return where + ": " + name + " must have one value per query head (" +
           std::to_string(d.Hq) + "), got " + std::to_string(values.size());
  };
  switch (m.kind) {
  case ScoreMod::Kind::Alibi:
    if (m.values.empty())
      return "";
    return perHead(m.values, "alibi slopes (values)");
  case ScoreMod::Kind::Softcap:
    if (!(m.x > 0) || std::isinf(m.x))
      return where + ": softcap (x) must be positive and finite, got " +
             numberString(m.x);
    return "";
  case ScoreMod::Kind::RelBias: {
    if (m.a <= 0)
      return where + ": number of buckets (a) must be > 0, got " +
             std::to_string(m.a);
    // t5Bucket divides by maxExact and by log(maxDistance / maxExact).
    int64_t maxExact = (m.flag ? m.a / 2 : m.a) / 2;
    if (maxExact < 1)
      return where + ": " + std::to_string(m.a) +
             " buckets leave no exact bucket" +
             (m.flag ? " per direction" : "") + "; use at least " +
             (m.flag ? "4" : "2");
    if (m.b <= maxExact)
      return where + ": max distance (b) must exceed the " +
             std::to_string(maxExact) + " exact buckets, got " +
             std::to_string(m.b);
    return located(where, checkShape(m.tensor, "relative bias table (tensor)",
                                     {d.Hq, m.a}));
  }
  case ScoreMod::Kind::Bias:
    return located(where, checkBroadcast(m.tensor, "bias (tensor)", d));
  case ScoreMod::Kind::Temperature:
    return located(
        where, checkShape(m.tensor, "temperature (tensor)", {d.B, d.Hq, d.Sq}));
  case ScoreMod::Kind::Gaussian:
    if (std::string err = perHead(m.values, "gaussian mu (values)");
        !err.empty())
      return err;
    if (std::string err = perHead(m.values2, "gaussian sigma (values2)");
        !err.empty())
      return err;
    for (size_t h = 0; h < m.values2.size(); ++h)
      if (m.values2[h] == 0)
        return where + ": gaussian sigma of head " + std::to_string(h) +
               " is zero";
    return "";
  case ScoreMod::Kind::Custom:
    if (!p.scoreMod)
      return where + ": a custom score modifier needs Problem::scoreMod";
    return "";
  }
  unknownKind("score modifier");
}

static std::string checkNormalizer(const Problem &p, const Dims &d) {
  const Normalizer &n = p.normalizer;
  switch (n.kind) {
  case Normalizer::Kind::Softmax:
  case Normalizer::Kind::Sigmoid:
  case Normalizer::Kind::SoftplusL1:
    return "";
  case Normalizer::Kind::SinkSoftmax:
    return located("sink softmax", checkShape(p.sink, "sink", {d.Hq}));
  case Normalizer::Kind::Relu:
    if (n.power != 1 && n.power != 2)
      return "relu normalizer: power must be 1 or 2, got " +
             std::to_string(n.power);
    return "";
  }
  unknownKind("normalizer");
}

std::string attn::ref::validate(const Problem &p) {
  const char *layoutShape =
      p.layout == Layout::BHSD ? "[B, H, S, D]" : "[B, S, H, D]";
  for (auto [a, name] : {std::pair<const Array *, const char *>{&p.q, "q"},
                         {&p.k, "k"},
                         {&p.v, "v"}}) {
    if (std::string err = checkArray(*a, name); !err.empty())
      return err;
    if (a->shape.size() != 4)
      return std::string(name) + " must have rank 4 " + layoutShape +
             ", got shape " + shapeString(a->shape);
  }
  Dims d = getDims(p);
  if (p.k.shape[0] != d.B || p.v.shape[0] != d.B)
    return "batch sizes differ: q " + shapeString(p.q.shape) + ", k " +
           shapeString(p.k.shape) + ", v " + shapeString(p.v.shape);
  if (p.k.shape[3] != d.D)
    return "q and k head dims differ: q " + shapeString(p.q.shape) + ", k " +
           shapeString(p.k.shape);
  if (d.D == 0 && !p.scale)
    return "the default scale 1/sqrt(D) needs D > 0";
  if (p.v.shape[1] != p.k.shape[1] || p.v.shape[2] != p.k.shape[2])
    return "k and v differ in heads or sequence length: k " +
           shapeString(p.k.shape) + ", v " + shapeString(p.v.shape);
  if (d.Hkv == 0 || d.Hq % d.Hkv != 0)
    return "query heads (" + std::to_string(d.Hq) +
           ") must be a multiple of key/value heads (" + std::to_string(d.Hkv) +
           ")";
  if (!p.kvLen.empty()) {
    if (static_cast<int64_t>(p.kvLen.size()) != d.B)
      return "kvLen must have one entry per batch row (" + std::to_string(d.B) +
             "), got " + std::to_string(p.kvLen.size());
    for (int64_t b = 0; b < d.B; ++b)
      if (p.kvLen[b] < 0 || p.kvLen[b] > d.Skv)
        return "kvLen[" + std::to_string(b) +
               "] = " + std::to_string(p.kvLen[b]) +
               " is outside [0, Skv = " + std::to_string(d.Skv) + "]";
  }
  if (std::string err = checkMask(p, p.mask, "mask", d); !err.empty())
    return err;
  for (size_t k = 0; k < p.scoreMods.size(); ++k)
    if (std::string err = checkScoreMod(
            p, p.scoreMods[k], "scoreMods[" + std::to_string(k) + "]", d);
        !err.empty())
      return err;
  return checkNormalizer(p, d);
}

//===----------------------------------------------------------------------===//
// compute
//===----------------------------------------------------------------------===//

namespace {
/// Evaluates masks and score modifiers of one problem at (b, h, i, j).
class Evaluator {
public:
  explicit Evaluator(const Problem &p) : p(p), d(getDims(p)) {}

  int64_t kvLen(int64_t b) const {
    return p.kvLen.empty() ? d.Skv : p.kvLen[b];
  }

  /// p(i) = i + (kvLen(b) - Sq) + qOffset: bottom-right alignment.
  int64_t position(int64_t b, int64_t i) const {
    return i + (kvLen(b) - d.Sq) + p.qOffset;
  }

  bool allowed(const Mask &m, int64_t b, int64_t h, int64_t i, int64_t j) const;
  double modify(double s, int64_t b, int64_t h, int64_t i, int64_t j) const;

private:
  /// A data-dependent leaf (document, tree, dense, custom) at (b, h, i, j).
  bool dataAllowed(const Mask &leaf, int64_t b, int64_t h, int64_t i,
                   int64_t j) const;
  bool treeAllowed(int64_t b, int64_t i, int64_t j) const;

  const Problem &p;
  Dims d;
};
} // namespace

bool Evaluator::treeAllowed(int64_t b, int64_t i, int64_t j) const {
  const Array &tp = p.treeParent;
  int64_t T = tp.shape.back();
  int64_t firstDraftQuery = d.Sq - T;
  if (i < firstDraftQuery)
    return j <= position(b, i);
  // The draft tokens are the last T valid keys of this batch row.
  int64_t firstDraftKey = kvLen(b) - T;
  if (j < firstDraftKey)
    return true;
  const double *parent = tp.data.data() + (tp.shape.size() == 2 ? b * T : 0);
  int64_t target = j - firstDraftKey;
  for (int64_t x = i - firstDraftQuery; x != -1;
       x = static_cast<int64_t>(parent[x]))
    if (x == target)
      return true;
  return false;
}

bool attn::ref::maskAllows(const Mask &m, int64_t pos, int64_t j, int64_t h,
                           const DataMaskFn &dataLeaf) {
  // Grid coordinates for the 2D masks; a query position off the grid keeps
  // its floor-divided row so windows stay consistent across the border.
  auto rowOf = [&](int64_t t) { return floorDiv(t, m.b); };
  auto colOf = [&](int64_t t) { return floorMod(t, m.b); };
  switch (m.kind) {
  case Mask::Kind::Full:
    return true;
  case Mask::Kind::Causal:
    return j <= pos;
  case Mask::Kind::SlidingWindow:
    return pos - m.a <= j && j <= pos + m.b;
  case Mask::Kind::Chunked:
    return floorDiv(pos, m.a) == floorDiv(j, m.a);
  case Mask::Kind::Halo: {
    int64_t start = floorDiv(pos, m.a) * m.a;
    return start - m.b <= j && j <= start + m.a - 1 + m.b;
  }
  case Mask::Kind::Dilated: {
    int64_t w = m.a, r = m.b;
    int64_t lane = floorMod(h, r);
    return floorDiv(pos, w) == floorDiv(j, w) &&
           floorMod(floorMod(j, w), r) == lane &&
           floorMod(floorMod(pos, w), r) == lane;
  }
  case Mask::Kind::Global: {
    auto isGlobal = [&](int64_t x) {
      // The first a positions; a query before the first key (p < 0) is
      // not one of them.
      if (m.list.empty())
        return 0 <= x && x < m.a;
      return std::find(m.list.begin(), m.list.end(), x) != m.list.end();
    };
    return isGlobal(pos) || isGlobal(j);
  }
  case Mask::Kind::Sinks:
    return j < m.a;
  case Mask::Kind::PrefixLM:
    return j < m.a || j <= pos;
  case Mask::Kind::DilatedWindow: {
    // Within `window` positions on either side, on the query's stride.
    int64_t distance = pos - j;
    int64_t onStride = ((distance % m.b) + m.b) % m.b;
    return std::abs(distance) <= m.a && onStride == 0;
  }
  case Mask::Kind::AShape:
    // Causal, and either a sink or within the window behind the query.
    return j <= pos && (j < m.a || pos - m.b <= j);
  case Mask::Kind::Neighborhood2D:
    return std::abs(rowOf(j) - rowOf(pos)) <= m.c / 2 &&
           std::abs(colOf(j) - colOf(pos)) <= m.d / 2;
  case Mask::Kind::Natten: {
    auto axis = [](int64_t q, int64_t x, int64_t n, int64_t k, int64_t e) {
      int64_t res = q - floorDiv(q, e) * e;
      int64_t size = floorDiv(n - res + e - 1, e);
      int64_t centre =
          std::min(std::max(floorDiv(q, e), k / 2), size - 1 - k / 2);
      return x - floorDiv(x, e) * e == res &&
             std::abs(floorDiv(x, e) - centre) <= k / 2;
    };
    return axis(rowOf(pos), rowOf(j), m.a, m.c, m.list[0]) &&
           axis(colOf(pos), colOf(j), m.b, m.d, m.list[1]);
  }
  case Mask::Kind::Window2D:
    return floorDiv(rowOf(pos), m.c) == floorDiv(rowOf(j), m.c) &&
           floorDiv(colOf(pos), m.d) == floorDiv(colOf(j), m.d);
  case Mask::Kind::Directional2D: {
    int64_t n = static_cast<int64_t>(m.list.size()) / 2;
    int64_t dir = floorMod(h, n);
    int64_t ur = m.list[2 * dir], uc = m.list[2 * dir + 1];
    int64_t dr = rowOf(j) - rowOf(pos), dc = colOf(j) - colOf(pos);
    if (dr == 0 && dc == 0)
      return true;
    int64_t dot = dr * ur + dc * uc;
    int64_t cross = dr * uc - dc * ur;
    // The cone dot >= |cross| is the 90-degree wedge around u.
    return m.flag ? dot >= 0 : dot >= std::abs(cross);
  }
  case Mask::Kind::And:
    for (const Mask &c : m.children)
      if (!maskAllows(c, pos, j, h, dataLeaf))
        return false;
    return true;
  case Mask::Kind::Or:
    for (const Mask &c : m.children)
      if (maskAllows(c, pos, j, h, dataLeaf))
        return true;
    return false;
  case Mask::Kind::Not:
    return !maskAllows(m.children[0], pos, j, h, dataLeaf);
  case Mask::Kind::Document:
  case Mask::Kind::Tree:
  case Mask::Kind::Dense:
  case Mask::Kind::Custom:
  case Mask::Kind::Blocks:
    if (!dataLeaf) {
      std::fprintf(stderr, "attn::ref: a data-dependent mask leaf needs the "
                           "problem's tensors\n");
      std::abort();
    }
    return dataLeaf(m);
  }
  unknownKind("mask");
}

bool Evaluator::allowed(const Mask &m, int64_t b, int64_t h, int64_t i,
                        int64_t j) const {
  // Capturing one pointer keeps the std::function free of allocations.
  struct At {
    const Evaluator *ev;
    int64_t b, h, i, j;
  } at{this, b, h, i, j};
  return maskAllows(m, position(b, i), j, h, [&at](const Mask &leaf) {
    return at.ev->dataAllowed(leaf, at.b, at.h, at.i, at.j);
  });
}

bool Evaluator::dataAllowed(const Mask &leaf, int64_t b, int64_t h, int64_t i,
                            int64_t j) const {
  switch (leaf.kind) {
  case Mask::Kind::Document:
    return p.segQ.at({b, i}) == p.segKv.at({b, j});
  case Mask::Kind::Tree:
    return treeAllowed(b, i, j);
  case Mask::Kind::Dense: {
    auto [blockQ, blockKv] = denseBlocks(leaf);
    return broadcastAt(p.denseMask, b, h, i / blockQ, j / blockKv) != 0;
  }
  case Mask::Kind::Custom:
    return p.maskMod(b, h, i, j);
  case Mask::Kind::Blocks: {
    auto [blockQ, blockKv] = denseBlocks(leaf);
    double e = broadcastAt(p.denseMask, b, h, i / blockQ, j / blockKv);
    if (e >= 2)
      return true;
    return e != 0 && allowed(leaf.children[0], b, h, i, j);
  }
  default:
    unknownKind("data-dependent mask");
  }
}

double Evaluator::modify(double s, int64_t b, int64_t h, int64_t i,
                         int64_t j) const {
  double pos = static_cast<double>(position(b, i));
  for (const ScoreMod &m : p.scoreMods) {
    switch (m.kind) {
    case ScoreMod::Kind::Alibi: {
      // slope[h] = 2^(-8 (h+1) / Hq) unless given.
      double slope = m.values.empty()
                         ? std::exp2(-8.0 * static_cast<double>(h + 1) /
                                     static_cast<double>(d.Hq))
                         : m.values[h];
      double dist = pos - static_cast<double>(j);
      s -= slope * (m.flag ? std::abs(dist) : dist);
      break;
    }
    case ScoreMod::Kind::Softcap:
      s = m.x * std::tanh(s / m.x);
      break;
    case ScoreMod::Kind::RelBias:
      s += m.tensor.at({h, t5Bucket(j - position(b, i), m.a, m.b, m.flag)});
      break;
    case ScoreMod::Kind::Bias:
      s += broadcastAt(m.tensor, b, h, i, j);
      break;
    case ScoreMod::Kind::Temperature:
      s *= m.tensor.at({b, h, i});
      break;
    case ScoreMod::Kind::Gaussian: {
      // s - (p - j - mu)^2 / (2 sigma^2)
      double delta = pos - static_cast<double>(j) - m.values[h];
      double sigma = m.values2[h];
      s -= delta * delta / (2.0 * sigma * sigma);
      break;
    }
    case ScoreMod::Kind::Custom:
      s = p.scoreMod(s, b, h, i, j);
      break;
    }
  }
  return s;
}

/// Whether `n` defines an LSE output.
static bool hasLse(const Normalizer &n) {
  return n.kind != Normalizer::Kind::Sigmoid &&
         !(n.kind == Normalizer::Kind::Relu &&
           n.reluNorm != Normalizer::ReluNorm::RowSum);
}

/// softplus(x) = log(1 + e^x), without overflow for large x.
static double softplus(double x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

/// softplus(x) * e^-shift for x <= shift <= 0, without underflow when x is
/// far below 0: softplus(x) = e^x * g(x), g(x) = log(1 + e^x) / e^x, and g
/// is 1 to double precision below x = -40.
static double softplusScaled(double x, double shift) {
  if (x >= 0)
    return softplus(x);
  double g = x < -40 ? 1.0 : std::log1p(std::exp(x)) / std::exp(x);
  return std::exp(x - shift) * g;
}

/// Turns one row of modified scores into weights (0 where not `allowed`)
/// and returns the row's LSE (meaningful only when hasLse). A zero
/// denominator yields all-zero weights and LSE = -inf.
static double normalizeRow(const Normalizer &n, double sink, int64_t kvLen,
                           const std::vector<double> &s,
                           const std::vector<char> &allowed,
                           std::vector<double> &w) {
  size_t len = s.size();
  std::fill(w.begin(), w.end(), 0.0);
  switch (n.kind) {
  case Normalizer::Kind::Softmax:
  case Normalizer::Kind::SinkSoftmax: {
    // P = exp(s - M) / Z, Z = [exp(sink - M)] + sum_j exp(s_j - M),
    // LSE = M + log Z; the sink joins the max so it cannot overflow either.
    bool withSink = n.kind == Normalizer::Kind::SinkSoftmax;
    double m = withSink ? sink : -kInf;
    for (size_t j = 0; j < len; ++j)
      if (allowed[j])
        m = std::max(m, s[j]);
    if (m == -kInf)
      return -kInf;
    double z = withSink ? std::exp(sink - m) : 0.0;
    for (size_t j = 0; j < len; ++j)
      if (allowed[j]) {
        w[j] = std::exp(s[j] - m);
        z += w[j];
      }
    for (double &x : w)
      x /= z;
    return m + std::log(z);
  }
  case Normalizer::Kind::Sigmoid: {
    // P = sigmoid(s + beta), beta = -log(kvLen) by default.
    double beta = n.beta.value_or(-std::log(static_cast<double>(kvLen)));
    for (size_t j = 0; j < len; ++j)
      if (allowed[j])
        w[j] = 1.0 / (1.0 + std::exp(-(s[j] + beta)));
    return -kInf;
  }
  case Normalizer::Kind::SoftplusL1:
  case Normalizer::Kind::Relu: {
    // P = f(s) / Z with f = softplus or relu^k; Z the row sum, 1 or kvLen.
    // Softplus weights are computed as f(s) * e^-shift, shift = min(max s, 0),
    // so that a row whose scores all lie far below 0 keeps its (tiny but
    // nonzero) weights; LSE = log Z adds the shift back.
    double shift = 0;
    if (n.kind == Normalizer::Kind::SoftplusL1) {
      double m = -kInf;
      for (size_t j = 0; j < len; ++j)
        if (allowed[j])
          m = std::max(m, s[j]);
      shift = m == -kInf ? 0.0 : std::min(m, 0.0);
    }
    double z = 0;
    for (size_t j = 0; j < len; ++j) {
      if (!allowed[j])
        continue;
      if (n.kind == Normalizer::Kind::SoftplusL1)
        w[j] = softplusScaled(s[j], shift);
      else
        w[j] = std::pow(std::max(s[j], 0.0), static_cast<double>(n.power));
      z += w[j];
    }
    if (n.kind == Normalizer::Kind::Relu &&
        n.reluNorm == Normalizer::ReluNorm::One)
      z = 1;
    else if (n.kind == Normalizer::Kind::Relu &&
             n.reluNorm == Normalizer::ReluNorm::SeqLen)
      z = static_cast<double>(kvLen);
    if (z == 0) {
      std::fill(w.begin(), w.end(), 0.0);
      return -kInf;
    }
    for (double &x : w)
      x /= z;
    return std::log(z) + shift;
  }
  }
  unknownKind("normalizer");
}

Result attn::ref::compute(const Problem &p) {
  assert(validate(p).empty() && "compute() needs a valid problem");
  Dims d = getDims(p);
  Evaluator ev(p);
  bool withLse = hasLse(p.normalizer);
  double scale = p.scale.value_or(1.0 / std::sqrt(static_cast<double>(d.D)));
  int64_t group = d.Hq / d.Hkv;

  Result r;
  r.o = p.layout == Layout::BHSD ? Array({d.B, d.Hq, d.Sq, d.Dv})
                                 : Array({d.B, d.Sq, d.Hq, d.Dv});
  if (withLse)
    r.lse = Array({d.B, d.Hq, d.Sq});

  std::vector<double> s(d.Skv), w(d.Skv);
  std::vector<char> allowed(d.Skv);
  for (int64_t b = 0; b < d.B; ++b) {
    int64_t len = ev.kvLen(b);
    for (int64_t h = 0; h < d.Hq; ++h) {
      int64_t kvh = h / group;
      double sink = p.normalizer.kind == Normalizer::Kind::SinkSoftmax
                        ? p.sink.data[h]
                        : 0.0;
      for (int64_t i = 0; i < d.Sq; ++i) {
        for (int64_t j = 0; j < d.Skv; ++j) {
          allowed[j] = j < len && ev.allowed(p.mask, b, h, i, j);
          if (!allowed[j])
            continue;
          ++r.allowedPairs;
          // s = scale * dot(q[b,h,i,:], k[b,kvh,j,:]), then the modifiers.
          double dot = 0;
          for (int64_t x = 0; x < d.D; ++x)
            dot += p.q.data[offset(p.layout, d.Hq, d.Sq, d.D, b, h, i, x)] *
                   p.k.data[offset(p.layout, d.Hkv, d.Skv, d.D, b, kvh, j, x)];
          s[j] = ev.modify(scale * dot, b, h, i, j);
        }
        double lse = normalizeRow(p.normalizer, sink, len, s, allowed, w);
        if (withLse)
          r.lse.at({b, h, i}) = lse;
        // O[b,h,i,:] = sum_j P[j] * V[b,kvh,j,:]
        for (int64_t x = 0; x < d.Dv; ++x) {
          double acc = 0;
          for (int64_t j = 0; j < d.Skv; ++j)
            if (w[j] != 0)
              acc +=
                  w[j] *
                  p.v.data[offset(p.layout, d.Hkv, d.Skv, d.Dv, b, kvh, j, x)];
          r.o.data[offset(p.layout, d.Hq, d.Sq, d.Dv, b, h, i, x)] = acc;
        }
      }
    }
  }
  return r;
}

//===----------------------------------------------------------------------===//
// merge
//===----------------------------------------------------------------------===//

Result attn::ref::merge(Layout layout, const std::vector<Array> &os,
                        const std::vector<Array> &lses) {
  assert(!os.empty() && os.size() == lses.size() &&
         "merge needs one LSE per partial output");
  const std::vector<int64_t> &lseShape = lses[0].shape;
  assert(lseShape.size() == 3 && os[0].shape.size() == 4 &&
         "merge expects lse [B, H, S] and o of rank 4");
  int64_t B = lseShape[0], H = lseShape[1], S = lseShape[2];
  int64_t Dv = os[0].shape[3];
  for (size_t k = 0; k < os.size(); ++k)
    assert(os[k].shape == os[0].shape && lses[k].shape == lseShape &&
           "partial results must share their shapes");

  Result r;
  r.o = Array(os[0].shape);
  r.lse = Array(lseShape);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t s = 0; s < S; ++s) {
        // lse = M + log sum_k exp(lse_k - M), M = max_k lse_k.
        double m = -kInf;
        for (const Array &l : lses)
          m = std::max(m, l.at({b, h, s}));
        if (m == -kInf) {
          r.lse.at({b, h, s}) = -kInf;
          continue;
        }
        double z = 0;
        for (const Array &l : lses)
          z += std::exp(l.at({b, h, s}) - m);
        double lse = m + std::log(z);
        r.lse.at({b, h, s}) = lse;
        // o = sum_k exp(lse_k - lse) * o_k
        for (size_t k = 0; k < os.size(); ++k) {
          double scaleK = std::exp(lses[k].at({b, h, s}) - lse);
          for (int64_t x = 0; x < Dv; ++x) {
            int64_t at = offset(layout, H, S, Dv, b, h, s, x);
            r.o.data[at] += scaleK * os[k].data[at];
          }
        }
      }
  return r;
}
