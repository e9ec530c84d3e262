//===- QuantCache.cpp - attn-run's quantized KV caches
//---------------------===//
//
// Shapes, random contents and the float64 dequantisation of a quantized
// cache for attn-run (QuantCache.h).
//
//===----------------------------------------------------------------------===//

#include "QuantCache.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/Twine.h"

#include <cmath>
#include <optional>

using namespace attn::run;
using mlir::attn::PageLayout;
using mlir::attn::QuantFormat;

/// The flat index of (i0, i1, i2, i3) in a row-major array of `shape`.
static int64_t flatIndex(const std::vector<int64_t> &shape, int64_t i0,
                         int64_t i1, int64_t i2, int64_t i3) {
  return ((i0 * shape[1] + i1) * shape[2] + i2) * shape[3] + i3;
}

/// The number an OCP FP8 byte holds: sign, then `7 - mbits` exponent bits
/// of bias 2^(6 - mbits) - 1 and `mbits` mantissa bits, subnormal at
/// exponent 0. None for NaN (e4m3: all exponent and mantissa bits set;
/// e5m2: the top exponent, which also holds the infinities).
static std::optional<double> fp8Number(uint8_t byte, bool e4m3) {
  int mbits = e4m3 ? 3 : 2;
  int topExponent = (1 << (7 - mbits)) - 1, bias = topExponent / 2;
  int exponent = (byte & 0x7F) >> mbits, mantissa = byte & ((1 << mbits) - 1);
  if (exponent == topExponent && (!e4m3 || mantissa == (1 << mbits) - 1))
    return std::nullopt;
  double magnitude = exponent == 0 ? std::ldexp(mantissa, 1 - bias - mbits)
                                   : std::ldexp((1 << mbits) + mantissa,
                                                exponent - bias - mbits);
  return byte & 0x80 ? -magnitude : magnitude;
}

QuantCache::QuantCache(mlir::attn::QuantAttr quant, mlir::attn::PagedAttr paged,
                       bool bshd, const Sizes &sizes)
    : quant(quant), paged(paged), bshd(bshd), batch(sizes.at("B")),
      kvHeads(sizes.at("Hkv")), kvLen(sizes.at("Skv")), headDim(sizes.at("D")),
      valueDim(sizes.at("Dv")) {
  if (paged)
    pages = sizes.at("pages");
}

bool QuantCache::isQuantRole(const std::string &role) {
  return role == "k" || role == "v" || llvm::is_contained(kQuantRoles, role);
}

std::string QuantCache::checkSizes() const {
  int64_t per = quant.getCodesPerByte(), group = quant.getGroup();
  auto desc = [&]() {
    return quant.isFloat8() ? std::string("fp8")
                            : std::to_string(quant.getBits()) + "-bit";
  };
  if (headDim % per != 0 || valueDim % per != 0)
    return "D=" + std::to_string(headDim) +
           " and Dv=" + std::to_string(valueDim) + " must be multiples of " +
           std::to_string(per) + " (codes per byte of " + desc() + " codes)";
  if (valueDim % group != 0)
    return "Dv=" + std::to_string(valueDim) +
           " must be a multiple of the group size " + std::to_string(group) +
           " (values are grouped along channels)";
  if (!paged && kvLen % group != 0)
    return "Skv=" + std::to_string(kvLen) +
           " must be a multiple of the group size " + std::to_string(group) +
           " (keys are grouped along tokens)";
  return "";
}

std::vector<int64_t> QuantCache::shape(const std::string &role) const {
  int64_t per = quant.getCodesPerByte(), group = quant.getGroup();
  auto inLayout = [&](int64_t seq, int64_t last) {
    return bshd ? std::vector<int64_t>{batch, seq, kvHeads, last}
                : std::vector<int64_t>{batch, kvHeads, seq, last};
  };
  // Page pools: [pages, slots, Hkv, last] or [pages, Hkv, slots, last].
  auto inPool = [&](int64_t slots, int64_t last) {
    return paged.getLayout() == PageLayout::nhd
               ? std::vector<int64_t>{pages, slots, kvHeads, last}
               : std::vector<int64_t>{pages, kvHeads, slots, last};
  };
  int64_t pageSize = paged ? paged.getPageSize() : 0;
  auto rows = [&](int64_t slots, int64_t seq, int64_t last) {
    return paged ? inPool(slots, last) : inLayout(seq, last);
  };
  if (role == "k")
    return rows(pageSize, kvLen, headDim / per);
  if (role == "v")
    return rows(pageSize, kvLen, valueDim / per);
  if (role == "k_residual")
    return inLayout(quant.getResidual(), headDim);
  if (role == "v_residual")
    return inLayout(quant.getResidual(), valueDim);
  if (quant.isFloat8())
    return {kvHeads};
  if (role == "k_scale" || role == "k_zero")
    return rows(pageSize / group, kvLen / group, headDim);
  return rows(pageSize, kvLen, valueDim / group);
}

void QuantCache::fillRandom(npy::NpyArray &a, const std::string &role,
                            std::mt19937_64 &rng) const {
  int64_t n = a.numElements();
  if (role == "k" || role == "v") {
    std::uniform_int_distribution<int> byte(0, 255);
    bool e4m3 = quant.getFormat() == QuantFormat::e4m3;
    // fp8: exponent fields 0..bias give magnitudes below 2.
    std::uniform_int_distribution<int> exponent(0, e4m3 ? 7 : 15);
    for (int64_t i = 0; i < n; ++i) {
      int bits = byte(rng);
      if (quant.isFloat8()) {
        int mbits = e4m3 ? 3 : 2;
        bits = (bits & 0x80) | exponent(rng) << mbits |
               (bits & ((1 << mbits) - 1));
      }
      a.bytes[i] = static_cast<uint8_t>(bits);
    }
    return;
  }
  std::uniform_real_distribution<double> spread(0.5, 1.5), zero(-1.25, -0.75);
  double step = quant.isFloat8() ? 1.0 : 2.0 / ((1 << quant.getBits()) - 1);
  bool isZero = role == "k_zero" || role == "v_zero";
  for (int64_t i = 0; i < n; ++i)
    a.setFromDouble(i, isZero ? zero(rng) : spread(rng) * step);
}

int64_t QuantCache::quantizedLength(int64_t visible) const {
  int64_t r = quant.getResidual();
  return r ? visible - visible % r : visible;
}

int64_t QuantCache::visibleKeys(const npy::NpyArray *lens, int64_t b) const {
  return lens ? static_cast<int64_t>(lens->getAsDouble(b)) : kvLen;
}

std::string QuantCache::dequantize(bool values, const Side &side,
                                   const npy::NpyArray *pageTable,
                                   const npy::NpyArray *lens,
                                   npy::DType roundTo, ref::Array &out) const {
  int64_t dim = values ? valueDim : headDim;
  int64_t bits = quant.getBits(), per = quant.getCodesPerByte();
  int64_t group = quant.getGroup();
  int64_t pageSize = paged ? paged.getPageSize() : 0;
  bool nhd = paged && paged.getLayout() == PageLayout::nhd;
  bool e4m3 = quant.getFormat() == QuantFormat::e4m3;
  const char *name = values ? "value" : "key";
  out.shape = bshd ? std::vector<int64_t>{batch, kvLen, kvHeads, dim}
                   : std::vector<int64_t>{batch, kvHeads, kvLen, dim};
  out.data.assign(batch * kvHeads * kvLen * dim, 0.0);
  // Index (b, h, token, last) of an operand in the op's layout, or slot
  // `slot` of page `page` of a pool.
  auto inLayout = [&](const npy::NpyArray &a, int64_t b, int64_t h, int64_t s,
                      int64_t last) {
    return bshd ? flatIndex(a.shape, b, s, h, last)
                : flatIndex(a.shape, b, h, s, last);
  };
  auto inPool = [&](const npy::NpyArray &a, int64_t page, int64_t slot,
                    int64_t h, int64_t last) {
    return nhd ? flatIndex(a.shape, page, slot, h, last)
               : flatIndex(a.shape, page, h, slot, last);
  };
  auto round = [&](double x) -> double {
    if (roundTo == npy::DType::F16)
      return npy::halfToFloat(npy::floatToHalf(static_cast<float>(x)));
    if (roundTo == npy::DType::BF16)
      return npy::bf16ToFloat(npy::floatToBF16(static_cast<float>(x)));
    return x;
  };
  for (int64_t b = 0; b < batch; ++b) {
    int64_t visible = visibleKeys(lens, b);
    if (visible < 0 || visible > kvLen)
      return "kv_len[" + std::to_string(b) + "] = " + std::to_string(visible) +
             " is outside [0, Skv = " + std::to_string(kvLen) +
             "]: the codes hold " + std::to_string(kvLen) + " keys";
    int64_t quantized = quantizedLength(visible);
    for (int64_t h = 0; h < kvHeads; ++h) {
      for (int64_t j = 0; j < visible; ++j) {
        // Where token j's codes, scales and zeros lie.
        int64_t page = 0, slot = j;
        if (paged) {
          int64_t entries = pageTable->shape[1];
          page = static_cast<int64_t>(
              pageTable->getAsDouble(b * entries + j / pageSize));
          slot = j % pageSize;
        }
        auto at = [&](const npy::NpyArray &a, int64_t token, int64_t last) {
          return paged ? inPool(a, page, token, h, last)
                       : inLayout(a, b, h, token, last);
        };
        double *row = &out.data[bshd ? ((b * kvLen + j) * kvHeads + h) * dim
                                     : ((b * kvHeads + h) * kvLen + j) * dim];
        for (int64_t d = 0; d < dim; ++d) {
          double x;
          if (j >= quantized) {
            x = side.residual->getAsDouble(
                inLayout(*side.residual, b, h, j - quantized, d));
          } else if (quant.isFloat8()) {
            uint8_t byte = side.codes->bytes[at(*side.codes, slot, d)];
            std::optional<double> number = fp8Number(byte, e4m3);
            if (!number)
              return std::string(name) + " code of batch row " +
                     std::to_string(b) + ", kv head " + std::to_string(h) +
                     ", token " + std::to_string(j) + ", channel " +
                     std::to_string(d) + " is 0x" +
                     llvm::utohexstr(byte, /*LowerCase=*/true) + ", " +
                     (e4m3 ? "NaN in e4m3" : "NaN or infinite in e5m2") +
                     "; an fp8 cache must hold finite numbers (the kernels "
                     "read such codes as finite ones)";
            x = side.scale->getAsDouble(h) * *number;
          } else {
            // Channel d: bits [(d mod per) * bits, +bits) of byte d / per.
            uint8_t byte = side.codes->bytes[at(*side.codes, slot, d / per)];
            int64_t code = (byte >> ((d % per) * bits)) & ((1 << bits) - 1);
            // Keys: group j / G of channel d; values: channel group d / G
            // of token j.
            int64_t s = values ? at(*side.scale, slot, d / group)
                               : at(*side.scale, slot / group, d);
            x = side.scale->getAsDouble(s) * double(code) +
                side.zero->getAsDouble(s);
          }
          row[d] = round(x);
        }
      }
    }
  }
  return "";
}

double QuantCache::bytesRead(const npy::NpyArray *lens,
                             int64_t residualBytes) const {
  int64_t scaleBytes = quant.getScale().getIntOrFloatBitWidth() / 8;
  double bytes = quant.isFloat8() ? 2.0 * kvHeads * scaleBytes : 0.0;
  int64_t group = quant.getGroup();
  for (int64_t b = 0; b < batch; ++b) {
    int64_t visible = visibleKeys(lens, b);
    int64_t quantized = quantizedLength(visible);
    double row = double(quantized) * double(headDim + valueDim) *
                     double(quant.getBits()) / 8.0 +
                 double(visible - quantized) * double(headDim + valueDim) *
                     double(residualBytes);
    if (!quant.isFloat8())
      row += 2.0 * double(scaleBytes) *
             double((quantized + group - 1) / group * headDim +
                    quantized * (valueDim / group));
    bytes += row * double(kvHeads);
  }
  return bytes;
}
