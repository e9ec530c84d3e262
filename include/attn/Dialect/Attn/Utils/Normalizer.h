//===- Normalizer.h - Streaming weights and row finalisation ----*- C++ -*-===//
//
// The per-element weight and the per-row epilogue of every normalizer, in
// the streaming form the fused code generators use: a kv loop carries a
// running shift m (softmax, sink softmax, softplus) and a running sum l,
// and each row ends with 1/Z and the LSE. The CPU path calls these on
// vectors of query rows, the GPU path on scalars held by each thread. The
// formulas are the normalizer attributes' own (NormalizerAttrInterface),
// which the reference lowering uses as well.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_UTILS_NORMALIZER_H
#define ATTN_DIALECT_ATTN_UTILS_NORMALIZER_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Utils/Arith.h"

namespace mlir::attn {

/// The streaming form of an op's normalizer.
class StreamingNormalizer {
public:
  enum class Kind { Softmax, SinkSoftmax, Softplus, Sigmoid, Relu };
  /// The row denominator Z.
  using Denom = RowDenominator;

  explicit StreamingNormalizer(AttentionOp op);

  Kind kind() const { return norm; }
  Denom denom() const { return attr.getRowDenominator(); }
  /// The loop keeps a running shift m and rescales by exp(m - m').
  bool shifted() const { return attr.isShifted(); }

  /// Sigmoid's additive beta for a batch row with `kvLenB` keys (the
  /// attribute, or -log(kvLenB)); null for other normalizers. Call once per
  /// row before `weight`.
  Value emitSigmoidBeta(ImplicitLocOpBuilder &b, Value kvLenB);

  /// Softplus caps the running shift at 0 (its weights are >= exp(s)).
  Value capShift(Arith &o, Value m) const;

  /// Weight of score `s` (f32 scalar or vector) under the shift `shift`
  /// (ignored without one); exactly 0 where s = -inf.
  Value weight(ImplicitLocOpBuilder &b, Value s, Value shift) const;

  /// (1 / Z, LSE) of rows with shift `m` and sum `l`; `sink` is the f32
  /// sink logit of the row's head (sink softmax only) and `kvLenB` the
  /// row's number of keys. LSE is null unless `wantLse`.
  std::pair<Value, Value> finalize(ImplicitLocOpBuilder &b, Value m, Value l,
                                   Value sink, Value kvLenB,
                                   bool wantLse) const;

private:
  NormalizerAttrInterface attr;
  Kind norm = Kind::Softmax;
  Value sigmoidBeta;
};

/// The backward's P = w(s') / Z and the normalizer's factor of dS',
/// w'(s') / Z, of a modified score `s` (-inf where masked; an f32 scalar
/// or vector) of a row with LSE `lse` (same type; row-sum normalizers,
/// else null), sigmoid's `rowBias` and `kvLenB` keys (scalars). Both are
/// exactly 0 where s = -inf and, for row-sum normalizers, where the LSE is
/// -inf (Z = 0: no key contributes). Shared by the reference lowering and
/// the fused backward.
std::pair<Value, Value>
emitGradWeightAndFactor(ImplicitLocOpBuilder &b,
                        NormalizerAttrInterface normalizer, Value s, Value lse,
                        Value rowBias, Value kvLenB);

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_UTILS_NORMALIZER_H
