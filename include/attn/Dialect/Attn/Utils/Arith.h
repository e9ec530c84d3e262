//===- Arith.h - Arithmetic shorthands for code generators ------*- C++ -*-===//
//
// Thin wrappers over one ImplicitLocOpBuilder that keep the formulas of the
// code generators (ScoreEmitter, the fused CPU path) readable. Integer
// coordinates are signed `index` values; floating point is f32, scalar or a
// vector of f32 (constants are splatted with `cst`).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_UTILS_ARITH_H
#define ATTN_DIALECT_ATTN_UTILS_ARITH_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <limits>

namespace mlir::attn {

struct Arith {
  ImplicitLocOpBuilder &b;

  // Constants.
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  Value f32(double v) {
    return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
  }
  Value i1(bool v) { return arith::ConstantIntOp::create(b, v, 1); }
  /// `v` as a constant of `type` (f32 or a vector of f32).
  Value cst(Type type, double v) {
    Value s = f32(v);
    return isa<VectorType>(type) ? splat(type, s) : s;
  }
  Value splat(Type type, Value s) {
    return vector::BroadcastOp::create(b, type, s);
  }

  // Integers (signed index).
  Value add(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, x, y); }
  Value divU(Value x, Value y) { return arith::DivUIOp::create(b, x, y); }
  Value remU(Value x, Value y) { return arith::RemUIOp::create(b, x, y); }
  /// Floor division and modulo (Python semantics) for a positive divisor.
  Value floorDiv(Value x, Value y) {
    return arith::FloorDivSIOp::create(b, x, y);
  }
  Value floorMod(Value x, Value y) { return sub(x, mul(floorDiv(x, y), y)); }
  Value ceilDiv(Value x, Value y) {
    return arith::CeilDivSIOp::create(b, x, y);
  }
  Value min(Value x, Value y) { return arith::MinSIOp::create(b, x, y); }
  Value max(Value x, Value y) { return arith::MaxSIOp::create(b, x, y); }
  Value absI(Value x) { return select(lt(x, idx(0)), sub(idx(0), x), x); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, p, x, y);
  }
  Value le(Value x, Value y) { return cmp(arith::CmpIPredicate::sle, x, y); }
  Value lt(Value x, Value y) { return cmp(arith::CmpIPredicate::slt, x, y); }
  Value ge(Value x, Value y) { return cmp(arith::CmpIPredicate::sge, x, y); }
  Value eq(Value x, Value y) { return cmp(arith::CmpIPredicate::eq, x, y); }
  Value land(Value x, Value y) { return arith::AndIOp::create(b, x, y); }
  Value lor(Value x, Value y) { return arith::OrIOp::create(b, x, y); }
  Value lnot(Value x) { return arith::XOrIOp::create(b, x, i1(true)); }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, c, x, y);
  }

  // Conversions.
  /// Signed index to f32.
  Value toF32(Value x) {
    Value i64 = arith::IndexCastOp::create(b, b.getI64Type(), x);
    return arith::SIToFPOp::create(b, b.getF32Type(), i64);
  }
  /// Any integer or index scalar to index.
  Value toIndex(Value x) {
    if (x.getType().isIndex())
      return x;
    return arith::IndexCastOp::create(b, b.getIndexType(), x);
  }
  /// f16/bf16/f32 to f32.
  Value extF(Value x) {
    if (x.getType().isF32())
      return x;
    return arith::ExtFOp::create(b, b.getF32Type(), x);
  }
  Value truncF(Value x, Type t) {
    return t == x.getType() ? x : arith::TruncFOp::create(b, t, x);
  }

  // Floating point (scalars or vectors).
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, x, y); }
  Value fdiv(Value x, Value y) { return arith::DivFOp::create(b, x, y); }
  Value fmax(Value x, Value y) { return arith::MaximumFOp::create(b, x, y); }
  Value fmin(Value x, Value y) { return arith::MinimumFOp::create(b, x, y); }
  Value fcmp(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, p, x, y);
  }
  Value isNegInf(Value x) {
    return fcmp(arith::CmpFPredicate::OEQ, x,
                cst(x.getType(), -std::numeric_limits<float>::infinity()));
  }
  /// `w` != 0 (true for NaN): the weights whose products count.
  Value nonZero(Value w) {
    return fcmp(arith::CmpFPredicate::UNE, w, cst(w.getType(), 0.0));
  }
  /// acc + w * x, or acc where the f32 weight `w` is 0: a zero weight adds
  /// nothing, even for a NaN or inf `x` (README, "Masked keys").
  Value addWeighted(Value acc, Value w, Value x) {
    return select(nonZero(w), fadd(acc, fmul(w, x)), acc);
  }
  Value exp(Value x) { return math::ExpOp::create(b, x); }
  Value log(Value x) { return math::LogOp::create(b, x); }

  // Constant tables.
  /// A constant f32 table indexed at `i`.
  Value tableF32(ArrayRef<double> values, Value i) {
    SmallVector<float> data(values.begin(), values.end());
    auto type = RankedTensorType::get({static_cast<int64_t>(data.size())},
                                      b.getF32Type());
    Value table = arith::ConstantOp::create(
        b, DenseElementsAttr::get(type, ArrayRef<float>(data)));
    return tensor::ExtractOp::create(b, table, i);
  }
  /// A constant index table indexed at `i`.
  Value tableIndex(ArrayRef<int64_t> values, Value i) {
    auto type = RankedTensorType::get({static_cast<int64_t>(values.size())},
                                      b.getI64Type());
    Value table =
        arith::ConstantOp::create(b, DenseElementsAttr::get(type, values));
    return toIndex(tensor::ExtractOp::create(b, table, i));
  }
};

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_UTILS_ARITH_H
