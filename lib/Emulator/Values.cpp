//===- Values.cpp - Scalars, layouts, roundings ---------------------------===//
//
// The emulator's values: LLVM types flattened to 64-bit scalars with their
// memory layout, and the f16/bf16/f32 conversions, each rounding once.
//
//===----------------------------------------------------------------------===//

#include "Machine.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinTypes.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace attn::emu;
using namespace attn::emu::detail;

//===----------------------------------------------------------------------===//
// Scalars and layouts
//===----------------------------------------------------------------------===//

float attn::emu::detail::asFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint32_t attn::emu::detail::floatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return bits;
}

float attn::emu::detail::halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  if (exponent == 0x1f)
    return asFloat(sign | 0x7f800000 | (mantissa << 13));
  if (exponent == 0) { // zero or subnormal: mantissa * 2^-24
    float magnitude = std::ldexp(float(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  return asFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t attn::emu::detail::floatToHalf(float value) {
  uint32_t x = floatBits(value);
  uint16_t sign = (x >> 16) & 0x8000;
  x &= 0x7fffffff;
  if (x >= 0x7f800000) // inf or NaN (quieted)
    return sign | (x > 0x7f800000 ? 0x7e00 : 0x7c00);
  if (x >= 0x477ff000) // rounds to infinity (>= 65520)
    return sign | 0x7c00;
  if (x < 0x38800000) // below the smallest normal: round value * 2^24
    return sign | uint16_t(std::nearbyint(std::fabs(value) * 16777216.0f));
  uint32_t rebased = x - 0x38000000;        // exponent 127 -> 15
  rebased += 0xfff + ((rebased >> 13) & 1); // round to nearest even
  return sign | uint16_t(rebased >> 13);
}

float attn::emu::detail::bf16ToFloat(uint16_t bits) {
  return asFloat(uint32_t(bits) << 16);
}

uint16_t attn::emu::detail::floatToBf16(float value) {
  uint32_t x = floatBits(value);
  if ((x & 0x7fffffff) > 0x7f800000)
    return uint16_t((x >> 16) | 0x40); // quiet NaN
  x += 0x7fff + ((x >> 16) & 1);
  return uint16_t(x >> 16);
}

uint64_t attn::emu::detail::widthMask(unsigned bits) {
  return bits >= 64 ? ~0ull : (1ull << bits) - 1;
}

int64_t attn::emu::detail::signExtend(uint64_t v, unsigned bits) {
  if (bits >= 64)
    return int64_t(v);
  uint64_t m = 1ull << (bits - 1);
  return int64_t(((v & widthMask(bits)) ^ m) - m);
}

/// A float register as a double (exact for every kind).
double attn::emu::detail::toDouble(Scalar kind, uint64_t v) {
  switch (kind) {
  case Scalar::F16:
    return halfToFloat(uint16_t(v));
  case Scalar::BF16:
    return bf16ToFloat(uint16_t(v));
  case Scalar::F32:
    return asFloat(uint32_t(v));
  case Scalar::F64: {
    double d;
    std::memcpy(&d, &v, 8);
    return d;
  }
  default:
    return 0;
  }
}

/// Rounds a float value (already rounded to f32 for f32 ops) to `kind`.
uint64_t attn::emu::detail::fromFloat(Scalar kind, float f) {
  switch (kind) {
  case Scalar::F16:
    return floatToHalf(f);
  case Scalar::BF16:
    return floatToBf16(f);
  default:
    return floatBits(f);
  }
}

uint64_t attn::emu::detail::fromDouble(Scalar kind, double d) {
  if (kind == Scalar::F64) {
    uint64_t v;
    std::memcpy(&v, &d, 8);
    return v;
  }
  return fromFloat(kind, float(d));
}

/// `x` rounded once to nearest even in `kind`. x86's long double holds
/// every double and every 64-bit integer exactly. f16 and bf16 go through
/// f32 rounded to odd, which has enough spare bits (24 >= 11 + 2) for the
/// second rounding to equal a single one.
uint64_t attn::emu::detail::roundTo(Scalar kind, long double x) {
  if (kind == Scalar::F64)
    return fromDouble(kind, double(x));
  float f = float(x);
  if (kind == Scalar::F32 || std::isnan(x) || (long double)f == x)
    return fromFloat(kind, f);
  if (std::fabs((long double)f) > std::fabs(x))
    f = std::nextafter(f, 0.0f);
  return fromFloat(kind, asFloat(floatBits(f) | 1));
}

bool attn::emu::detail::layoutOf(Type type, Layout &layout) {
  auto scalar = [&](Scalar kind, unsigned bits, uint64_t bytes) {
    layout.leaves.push_back({kind, uint8_t(bits), 0});
    layout.size = bytes;
    layout.align = bytes;
    return true;
  };
  if (auto i = dyn_cast<IntegerType>(type)) {
    unsigned bits = i.getWidth();
    if (bits > 64)
      return false;
    uint64_t bytes = bits <= 8 ? 1 : bits <= 16 ? 2 : bits <= 32 ? 4 : 8;
    return scalar(Scalar::Int, bits, bytes);
  }
  if (type.isF16())
    return scalar(Scalar::F16, 16, 2);
  if (type.isBF16())
    return scalar(Scalar::BF16, 16, 2);
  if (type.isF32())
    return scalar(Scalar::F32, 32, 4);
  if (type.isF64())
    return scalar(Scalar::F64, 64, 8);
  if (isa<LLVM::LLVMPointerType>(type) || isa<IndexType>(type))
    return scalar(isa<IndexType>(type) ? Scalar::Int : Scalar::Ptr, 64, 8);
  auto append = [&](Type element, uint64_t count) {
    Layout inner;
    if (!layoutOf(element, inner))
      return false;
    uint64_t stride =
        (inner.size + inner.align - 1) / inner.align * inner.align;
    for (uint64_t i = 0; i < count; ++i)
      for (Leaf leaf : inner.leaves) {
        leaf.offset += uint32_t(i * stride);
        layout.leaves.push_back(leaf);
      }
    layout.size = stride * count;
    layout.align = inner.align;
    return true;
  };
  if (auto v = dyn_cast<VectorType>(type);
      v && v.getRank() == 1 && v.getElementType().isInteger(1)) {
    // Vectors of i1 are bit-packed, element 0 in the lowest bit.
    for (int64_t i = 0; i < v.getNumElements(); ++i)
      layout.leaves.push_back({Scalar::Int, 1, uint32_t(i)});
    layout.size = (uint64_t(v.getNumElements()) + 7) / 8;
    layout.align = 1;
    layout.bitPacked = true;
    return true;
  }
  if (auto v = dyn_cast<VectorType>(type)) {
    if (v.getRank() != 1 || v.isScalable() ||
        !append(v.getElementType(), v.getNumElements()))
      return false;
    // Vectors are aligned to their size (a power of two for those used).
    uint64_t align = 1;
    while (align < layout.size && align < 16)
      align *= 2;
    layout.align = align;
    return true;
  }
  if (auto a = dyn_cast<LLVM::LLVMArrayType>(type))
    return append(a.getElementType(), a.getNumElements());
  if (auto s = dyn_cast<LLVM::LLVMStructType>(type)) {
    if (s.isPacked())
      return false;
    uint64_t offset = 0, align = 1;
    for (Type field : s.getBody()) {
      Layout inner;
      if (!layoutOf(field, inner))
        return false;
      offset = (offset + inner.align - 1) / inner.align * inner.align;
      for (Leaf leaf : inner.leaves) {
        leaf.offset += uint32_t(offset);
        layout.leaves.push_back(leaf);
      }
      offset += inner.size;
      align = std::max(align, inner.align);
    }
    layout.size = (offset + align - 1) / align * align;
    layout.align = align;
    return true;
  }
  return false;
}

/// The leaf range of the sub-value at `position` of an aggregate type.
bool attn::emu::detail::subRange(Type type, ArrayRef<int64_t> position,
                                 uint32_t &first, uint32_t &count) {
  first = 0;
  for (int64_t index : position) {
    Layout before;
    if (auto a = dyn_cast<LLVM::LLVMArrayType>(type)) {
      Layout element;
      if (!layoutOf(a.getElementType(), element))
        return false;
      first += uint32_t(index * element.leaves.size());
      type = a.getElementType();
    } else if (auto s = dyn_cast<LLVM::LLVMStructType>(type)) {
      for (int64_t f = 0; f < index; ++f) {
        Layout field;
        if (!layoutOf(s.getBody()[f], field))
          return false;
        first += field.leaves.size();
      }
      type = s.getBody()[index];
    } else {
      return false;
    }
  }
  Layout sub;
  if (!layoutOf(type, sub))
    return false;
  count = sub.leaves.size();
  return true;
}
