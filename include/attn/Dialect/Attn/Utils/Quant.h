//===- Quant.h - Reading a quantized KV cache -------------------*- C++ -*-===//
//
// The arithmetic of #attn.quant shared by the reference lowering and the
// fused CPU kernels: where a token's key and value live (the codes or the
// full precision residual) and how a code is cut out of its byte.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_UTILS_QUANT_H
#define ATTN_DIALECT_ATTN_UTILS_QUANT_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Utils/Arith.h"

namespace mlir::attn {

/// Tokens of a batch row held as codes (index): with a residual window R,
/// `kvEnd - kvEnd mod R` of the row's `kvEnd` visible keys (already
/// clamped to [0, Skv]); without one, all of them.
inline Value emitQuantizedLength(Arith &a, QuantAttr quant, Value kvEnd) {
  if (quant.getResidual() == 0)
    return kvEnd;
  return a.sub(kvEnd, a.remU(kvEnd, a.idx(quant.getResidual())));
}

/// The bit offset (i32) of channel `d` (index) in its byte:
/// (d mod per) * bits, per = 8 / bits codes a byte, lowest bits first.
inline Value emitCodeShift(Arith &a, QuantAttr quant, Value d) {
  Value i = a.remU(d, a.idx(quant.getCodesPerByte()));
  return arith::IndexCastOp::create(a.b, a.b.getI32Type(),
                                    a.mul(i, a.idx(quant.getBits())));
}

/// The code at bit offset `shift` of `byte` as f32: i8 and i32 scalars, or
/// vectors of both of one length.
inline Value emitUnpackCode(Arith &a, QuantAttr quant, Value byte,
                            Value shift) {
  Type i32 = shift.getType(), f32 = a.b.getF32Type();
  Value mask = arith::ConstantIntOp::create(
      a.b, (int64_t(1) << quant.getBits()) - 1, 32);
  if (auto vt = dyn_cast<VectorType>(i32)) {
    f32 = VectorType::get(vt.getShape(), f32);
    mask = a.splat(i32, mask);
  }
  Value wide = arith::ExtUIOp::create(a.b, i32, byte);
  Value code = arith::AndIOp::create(
      a.b, arith::ShRUIOp::create(a.b, wide, shift), mask);
  return arith::UIToFPOp::create(a.b, f32, code);
}

/// The fp8 number a code byte holds (quant.isFloat8()), as f32: `byte` an
/// i8 or a vector of i8. Through f16, whose conversion to f32 (vcvtph2ps
/// on x86) reads subnormals without a microcode assist:
///   e5m2: f16 bits = byte << 8 (e5m2 is f16's top byte), exact;
///   e4m3: f16 bits = s << 15 | em << 7 (the exponent field moved to
///         f16's, bias 7 read as 15), value = f32(f16) * 2^8.
/// An earlier form moved the bits into an f32 and multiplied by 2^120,
/// which makes an fp8 subnormal an f32 subnormal: each multiplication of
/// one took a microcode assist (random codes, 1 in 8 subnormal, made CPU
/// decoding 8-16x slower). e5m2's inf and NaN codes read as inf and NaN;
/// e4m3 has no inf, and its NaN code (0x7F / 0xFF) is not decoded (reads
/// as +-480).
/// What emitFp8Raw's result is multiplied by to give the fp8 value.
inline double fp8RawScale(QuantAttr quant) {
  return quant.getFormat() == QuantFormat::e4m3 ? 0x1p8 : 1.0;
}

/// The f32 of the f16 above: the fp8 value times 1 / fp8RawScale(quant),
/// for callers that fold the factor into a scale of their own (exactly:
/// it is a power of two).
inline Value emitFp8Raw(Arith &a, QuantAttr quant, Value byte) {
  bool e4m3 = quant.getFormat() == QuantFormat::e4m3;
  Type i16 = a.b.getI16Type(), f16 = a.b.getF16Type(), f32 = a.b.getF32Type();
  if (auto vt = dyn_cast<VectorType>(byte.getType())) {
    i16 = VectorType::get(vt.getShape(), i16);
    f16 = VectorType::get(vt.getShape(), f16);
    f32 = VectorType::get(vt.getShape(), f32);
  }
  auto c = [&](int64_t v) -> Value {
    Value s = arith::ConstantIntOp::create(a.b, v, 16);
    return isa<VectorType>(i16) ? a.splat(i16, s) : s;
  };
  Value wide = arith::ExtUIOp::create(a.b, i16, byte);
  Value bits;
  if (e4m3) {
    Value sign = arith::ShLIOp::create(
        a.b, arith::AndIOp::create(a.b, wide, c(0x80)), c(8));
    Value em = arith::ShLIOp::create(
        a.b, arith::AndIOp::create(a.b, wide, c(0x7F)), c(7));
    bits = arith::OrIOp::create(a.b, sign, em);
  } else {
    bits = arith::ShLIOp::create(a.b, wide, c(8));
  }
  Value half = arith::BitcastOp::create(a.b, f16, bits);
  return arith::ExtFOp::create(a.b, f32, half);
}

inline Value emitFp8Value(Arith &a, QuantAttr quant, Value byte) {
  Value x = emitFp8Raw(a, quant, byte);
  if (quant.getFormat() != QuantFormat::e4m3)
    return x;
  return a.fmul(x, a.cst(x.getType(), fp8RawScale(quant)));
}

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_UTILS_QUANT_H
