//===- Reference.h - Independent float64 attention reference ----*- C++ -*-===//
//
// A straightforward float64 implementation of the semantics in VARIANTS.md.
// It deliberately depends on nothing from MLIR or from the compiler's
// lowering: attn-run and the unit tests compare compiled kernels against it,
// so sharing code with the lowering would let a bug hide in both places.
//
// Everything here is scalar loops over plain row-major arrays; speed is not
// a goal.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_REFERENCE_REFERENCE_H
#define ATTN_REFERENCE_REFERENCE_H

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace attn::ref {

/// A dense row-major array of doubles with its shape.
struct Array {
  std::vector<int64_t> shape;
  std::vector<double> data;

  Array() = default;
  explicit Array(std::vector<int64_t> shape, double fill = 0.0);
  int64_t numElements() const;
  /// Row-major element access; `idx.size()` must equal `shape.size()`.
  double &at(std::initializer_list<int64_t> idx);
  double at(std::initializer_list<int64_t> idx) const;
};

/// Q/K/V/O memory layout: BHSD is [B, H, S, D], BSHD is [B, S, H, D].
enum class Layout { BHSD, BSHD };

/// A mask expression tree. Leaves are patterns of VARIANTS.md; And/Or/Not
/// combine children. `p` below is the query position
/// p(i) = i + (kvLen(b) - Sq) + qOffset, and j the key index.
struct Mask {
  enum class Kind {
    Full,          // always allowed
    Causal,        // j <= p
    SlidingWindow, // p - a <= j <= p + b          (a = left, b = right)
    Chunked,       // floor(p / a) == floor(j / a) (a = chunk)
    Halo,          // blk = floor(p / a); blk*a - b <= j <= blk*a + a - 1 + b
    Dilated,       // a = segment length w, b = rate r: floor(p/w) == floor(j/w)
             // and (j mod w) mod r == h mod r and (p mod w) mod r == h mod r
    Global,         // p or j global: if `list` is empty, global means
                    // 0 <= x < a (the first a positions), else membership
                    // in `list`
    Sinks,          // j < a
    PrefixLM,       // j < a or j <= p
    AShape,         // j <= p and (j < a or p - b <= j); a = sinks, b = window
    DilatedWindow,  // |p - j| <= a and (p - j) mod b == 0; a = window,
                    // b = dilation
    Neighborhood2D, // grid a rows x b cols, row-major token t -> (t / b, t %
                    // b); |dr| <= floor(c/2) and |dc| <= floor(d/2) (c = kh, d
                    // = kw)
    Natten,         // grid a x b, kernel c x d, dilations list[0], list[1];
                    // per axis (size n, kernel k, dilation e): same residue
                    // x mod e == q mod e, and |x / e - centre| <= k / 2 with
                    // centre = clamp(q / e, k / 2, m - 1 - k / 2),
                    // m = ceil((n - q mod e) / e) (floor div and mod)
    Window2D,       // grid a x b; same non-overlapping c x d window:
                    // (r_q / c == r_k / c) and (c_q / d == c_k / d)
    Directional2D,  // grid a x b; head h uses direction (list[2*(h % n)],
                    // list[2*(h % n) + 1]) = (u_r, u_c), n = list.size()/2;
                    // d = (r_k - r_q, c_k - c_q); allowed if d == 0, else
                    // cone (flag false): dot(d,u) >= |cross(d,u)| with
                    // cross(d,u) = d_r*u_c - d_c*u_r; half plane (flag true):
                    // dot(d,u) >= 0
    And,            // all children
    Or,             // any child
    Not,            // !children[0]
    Document,       // segQ[b][i] == segKv[b][j]
    Tree,           // see Problem::treeParent
    Dense,          // denseMask[b, h, i / a, j / b] != 0 (broadcast over
                    // size-1 b/h dims); a, b = block sizes, 0 or 1 per score
    Custom,         // Problem::maskMod(b, h, i, j)
    Blocks,         // e = denseMask[b, h, i / a, j / b] (a block table,
                    // broadcast over size-1 b/h dims): e >= 2 allows,
                    // e == 1 defers to children[0], e == 0 masks
  };
  Kind kind = Kind::Full;
  int64_t a = 0, b = 0, c = 0, d = 0;
  bool flag = false;
  std::vector<int64_t> list;
  std::vector<Mask> children;
};

/// One score modifier; applied in order to the scaled score s.
struct ScoreMod {
  enum class Kind {
    Alibi,       // s - slope[h] * (p - j), or * |p - j| when `flag`;
                 // slopes = `values` if non-empty (one per query head),
                 // else 2^(-8 (h+1) / Hq)
    Softcap,     // x * tanh(s / x), x = `x`
    RelBias,     // s + table[h, bucket(j - p)], T5 buckets with
                 // numBuckets = a, maxDistance = b, bidirectional = flag;
                 // table = `tensor` of shape [Hq, numBuckets]
    Bias,        // s + bias[b?, h?, i, j]; `tensor` has rank 2, 3 or 4 and
                 // broadcasts numpy-style against [B, Hq, Sq, Skv]
    Temperature, // s * tau[b, h, i]; `tensor` has shape [B, Hq, Sq]
    Gaussian,    // s - (p - j - mu[h])^2 / (2 sigma[h]^2);
                 // mu = values[0..Hq), sigma = values2[0..Hq)
    Custom,      // Problem::scoreMod(s, b, h, i, j)
  };
  Kind kind = Kind::Softcap;
  double x = 0.0;
  int64_t a = 0, b = 0;
  bool flag = false;
  std::vector<double> values, values2;
  Array tensor;
};

/// How masked, modified scores become weights.
struct Normalizer {
  enum class Kind { Softmax, SinkSoftmax, Sigmoid, SoftplusL1, Relu };
  enum class ReluNorm { One, SeqLen, RowSum };
  Kind kind = Kind::Softmax;
  /// Sigmoid bias; when unset, -log(kvLen(b)).
  std::optional<double> beta;
  /// Relu power k (1 or 2) and denominator Z.
  int64_t power = 1;
  ReluNorm reluNorm = ReluNorm::SeqLen;
};

/// A whole attention problem. Shapes follow `layout`:
/// q [B, Hq, Sq, D], k [B, Hkv, Skv, D], v [B, Hkv, Skv, Dv] for BHSD
/// (sequence and head dims swapped for BSHD).
struct Problem {
  Layout layout = Layout::BHSD;
  Array q, k, v;
  /// Score scale; default 1/sqrt(D).
  std::optional<double> scale;
  int64_t qOffset = 0;
  Normalizer normalizer;
  Mask mask;
  std::vector<ScoreMod> scoreMods;

  /// Sink logits [Hq] (SinkSoftmax only).
  Array sink;
  /// Per-batch KV lengths [B] (decoding); empty means Skv for every row.
  std::vector<int64_t> kvLen;
  /// Document ids: segQ [B, Sq], segKv [B, Skv].
  Array segQ, segKv;
  /// Tree parents, [T] (shared by the batch) or [B, T]; -1 marks a root.
  /// The last T queries and the last T keys are the draft tokens. A draft
  /// query t sees every key j < Skv - T plus the draft keys that are its
  /// ancestors-or-self; queries before the last T are plain causal.
  Array treeParent;
  /// Dense mask [B|1, Hq|1, Sq, Skv] (also rank 2 or 3, numpy broadcast).
  Array denseMask;

  std::function<double(double s, int64_t b, int64_t h, int64_t i, int64_t j)>
      scoreMod;
  std::function<bool(int64_t b, int64_t h, int64_t i, int64_t j)> maskMod;
};

/// Outputs: o in the problem's layout, lse [B, Hq, Sq] (empty when the
/// normalizer has no LSE: Sigmoid, Relu with ReluNorm One/SeqLen).
struct Result {
  Array o;
  Array lse;
  /// Number of allowed (b, h, i, j) score elements: the unmasked work.
  int64_t allowedPairs = 0;
};

/// Answers a data-dependent mask leaf (Document, Tree, Dense, Custom) at the
/// (query, key) pair that maskAllows is asked about.
using DataMaskFn = std::function<bool(const Mask &leaf)>;

/// Whether mask `m` allows key `j` for the query at position `pos` in query
/// head `h`, by the formulas of Mask::Kind. The declarative leaves need
/// nothing else; data-dependent leaves read the problem's tensors at the
/// query's index, so `dataLeaf` answers them, and reaching one without it
/// aborts.
bool maskAllows(const Mask &m, int64_t pos, int64_t j, int64_t h,
                const DataMaskFn &dataLeaf = nullptr);

/// Validates shapes and parameters; returns an error message, or "" if ok.
std::string validate(const Problem &p);

/// Computes the attention problem. Precondition: validate(p) is empty.
/// A row with no allowed key yields O = 0 and LSE = -inf (sink softmax:
/// LSE = sink[h]).
Result compute(const Problem &p);

/// Merge of partial results by LSE: lse = logsumexp_k lse_k,
/// o = sum_k exp(lse_k - lse) * o_k; all-(-inf) rows give o = 0, lse = -inf.
/// o_k share one shape [.., S, Dv] whose leading dims match lse_k's
/// [B, H, S] (for BSHD, o is [B, S, H, Dv]).
Result merge(Layout layout, const std::vector<Array> &os,
             const std::vector<Array> &lses);

/// T5 relative-position bucket of `rel = j - p`, computed in float64.
int64_t t5Bucket(int64_t rel, int64_t numBuckets, int64_t maxDistance,
                 bool bidirectional);

} // namespace attn::ref

#endif // ATTN_REFERENCE_REFERENCE_H
