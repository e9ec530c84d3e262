//===- QuantCache.h - attn-run's quantized KV caches ------------*- C++ -*-===//
//
// What attn-run needs to run an attn.attention over a quantized cache
// (#attn.quant): the shapes of the packed codes and of the kv_quant
// operands, valid random contents for them, and the float64 keys and
// values the cache holds for the reference. The dequantisation here is
// written from the documented packing (#attn.quant in AttnAttrs.td), in
// float64 and without the compiler's emitters, so that the reference does
// not share the kernels' reading of the codes.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TOOLS_ATTN_RUN_QUANTCACHE_H
#define ATTN_TOOLS_ATTN_RUN_QUANTCACHE_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Reference/Reference.h"
#include "attn/Support/Npy.h"

#include <map>
#include <random>
#include <string>
#include <vector>

namespace attn::run {

/// The roles attn-run gives the kv_quant operands, in the order of the
/// op's accessors (getKeyScale, getKeyZero, ..., getValueResidual).
inline constexpr const char *kQuantRoles[] = {
    "k_scale", "k_zero", "v_scale", "v_zero", "k_residual", "v_residual"};

/// A quantized cache of one attn.attention: its #attn.quant, its
/// #attn.paged (null for a contiguous cache) and its layout, with the
/// problem sizes (B, Hkv, Skv, D, Dv and, paged, pages) of one run.
class QuantCache {
public:
  using Sizes = std::map<std::string, int64_t>;

  QuantCache(mlir::attn::QuantAttr quant, mlir::attn::PagedAttr paged,
             bool bshd, const Sizes &sizes);

  /// Whether `role` is K, V or one of kQuantRoles.
  static bool isQuantRole(const std::string &role);

  /// An empty string when the sizes suit the packing, else why not: D a
  /// multiple of the codes per byte, Dv (and, without pages, Skv) a
  /// multiple of the group.
  std::string checkSizes() const;

  /// The shape of the operand of `role` (isQuantRole): the codes
  /// [B, Hkv, Skv, D * bits / 8] (or page pools of them), scales and
  /// zeros, fp8's per-head scales [Hkv], residual rows [B, Hkv, R, D].
  std::vector<int64_t> shape(const std::string &role) const;

  /// Valid random contents for `role` (not the residual rows, which are
  /// plain numbers): random code bytes (every bit pattern is a code);
  /// fp8 bytes of magnitude below 2 (subnormals included, never NaN or
  /// inf); scales in [0.5, 1.5] * 2 / (2^bits - 1) and zeros in
  /// [-1.25, -0.75], so that the values lie near [-1, 1]; fp8 scales in
  /// [0.5, 1.5].
  void fillRandom(npy::NpyArray &a, const std::string &role,
                  std::mt19937_64 &rng) const;

  /// The operands of one side (keys or values) of the cache.
  struct Side {
    const npy::NpyArray *codes = nullptr, *scale = nullptr, *zero = nullptr,
                        *residual = nullptr;
  };

  /// The float64 keys (or values, `values`) that the cache holds, as
  /// [B, Hkv, Skv, D] (bshd: [B, Skv, Hkv, D]), zeros past each row's
  /// visible keys; `pageTable` and `kvLen` may be null. With `roundTo`
  /// F16 or BF16 each value is rounded to it (the GPU kernels' tiles).
  /// Returns an error for a kv_len outside [0, Skv] or an fp8 code that
  /// is NaN (or, e5m2, infinite) among the keys read.
  std::string dequantize(bool values, const Side &side,
                         const npy::NpyArray *pageTable,
                         const npy::NpyArray *kvLen, npy::DType roundTo,
                         ref::Array &out) const;

  /// The bytes of the cache that the visible keys occupy: codes, scales
  /// and zeros of the quantized tokens, residual rows of the others (of
  /// `residualBytes` each element), fp8's per-head scales once.
  double bytesRead(const npy::NpyArray *kvLen, int64_t residualBytes) const;

private:
  /// Tokens of a row with `visible` keys held as codes: all but the
  /// newest `visible mod R`.
  int64_t quantizedLength(int64_t visible) const;
  /// Visible keys of batch row `b`.
  int64_t visibleKeys(const npy::NpyArray *kvLen, int64_t b) const;

  mlir::attn::QuantAttr quant;
  mlir::attn::PagedAttr paged;
  bool bshd;
  int64_t batch, kvHeads, kvLen, headDim, valueDim, pages = 0;
};

} // namespace attn::run

#endif // ATTN_TOOLS_ATTN_RUN_QUANTCACHE_H
