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
/// i8 or a vector of i8. The sign moves to bit 31 and the 7 exponent and
/// mantissa bits to the top of f32's, so that the bits read as the fp8
/// value times 2^(bias - 127) (subnormals included: an fp8 subnormal
/// lands on an f32 subnormal), which the multiplication undoes:
///   e4m3: bits = s << 31 | em << 20, value = f32(bits) * 2^120
///   e5m2: bits = s << 31 | em << 21, value = f32(bits) * 2^112
inline Value emitFp8Value(Arith &a, QuantAttr quant, Value byte) {
  bool e4m3 = quant.getFormat() == QuantFormat::e4m3;
  Type i32 = a.b.getI32Type(), f32 = a.b.getF32Type();
  if (auto vt = dyn_cast<VectorType>(byte.getType())) {
    i32 = VectorType::get(vt.getShape(), i32);
    f32 = VectorType::get(vt.getShape(), f32);
  }
  auto c = [&](int64_t v) -> Value {
    Value s = arith::ConstantIntOp::create(a.b, v, 32);
    return isa<VectorType>(i32) ? a.splat(i32, s) : s;
  };
  Value wide = arith::ExtUIOp::create(a.b, i32, byte);
  Value sign = arith::ShLIOp::create(
      a.b, arith::AndIOp::create(a.b, wide, c(0x80)), c(24));
  Value mag = arith::ShLIOp::create(
      a.b, arith::AndIOp::create(a.b, wide, c(0x7F)), c(e4m3 ? 20 : 21));
  Value bits = arith::OrIOp::create(a.b, sign, mag);
  Value x = arith::BitcastOp::create(a.b, f32, bits);
  return a.fmul(x, a.cst(f32, e4m3 ? 0x1p120 : 0x1p112));
}

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_UTILS_QUANT_H
