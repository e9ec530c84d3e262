//===- AmxGradProducts.cpp - AMX tile products of the fused backward ------===//
//
// The building blocks of the backward's bf16 products on AMX
// (FlashGradKernel.cpp, plan.dot == CPUDot::Amx): a product C += A B of
// static extents in 32 x 32 blocks of 2 x 2 accumulator tiles
// (emitTileBlock, AmxTileProducts.cpp), and the two layout changes its
// operands need, both by 16 x 16 transposes of 32-bit words
// (transpose16x16):
//
//   - a matrix Z[k][n] as the B operand ("VNNI" pairs of k: B[k / 2][2n +
//     k % 2]): for Z = X^T of a row-major X[n][k] (K^T, V^T) it is the
//     word transpose of X (a word is a pair of k); for a row-major Z it
//     is rows 2p and 2p + 1 interleaved;
//   - X^T[k][n] of a row-major bf16 X[n][k] as an A operand (Q^T, dO^T):
//     rows 2p and 2p + 1 of X interleaved into words (pairs of n), then
//     word transposed.
//
//===----------------------------------------------------------------------===//

#include "CPUTiler.h"

#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

#include "mlir/Dialect/AMX/AMXDialect.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

void mlir::attn::cpu::emitAmxProduct(ImplicitLocOpBuilder &b, int64_t m,
                                     int64_t n, int64_t k, bool accumulate,
                                     const AmxOperand &c, const AmxOperand &a,
                                     const AmxOperand &pairs) {
  auto operand = amx::TileType::get({16, 32}, b.getBF16Type());
  auto acc = amx::TileType::get({16, 16}, b.getF32Type());
  for (int64_t mb = 0; mb < m; mb += 32)
    for (int64_t nb = 0; nb < n; nb += 32)
      emitTileBlock(
          b, k / 32,
          [&](int64_t x, int64_t y) -> Value {
            if (!accumulate)
              return amx::TileZeroOp::create(b, acc);
            return amx::TileLoadOp::create(
                b, acc, c.buffer, c.at(mb + 16 * x, nb + 16 * y), c.stride);
          },
          [&](int64_t x, int64_t s) -> Value {
            return amx::TileLoadOp::create(b, operand, a.buffer,
                                           a.at(mb + 16 * x, 32 * s), a.stride);
          },
          [&](int64_t y, int64_t s) -> Value {
            return amx::TileLoadOp::create(b, operand, pairs.buffer,
                                           pairs.at(16 * s, 2 * (nb + 16 * y)),
                                           pairs.stride);
          },
          [&](int64_t x, int64_t y, Value tile) {
            amx::TileStoreOp::create(b, c.buffer,
                                     c.at(mb + 16 * x, nb + 16 * y), tile,
                                     c.stride);
          });
}

SmallVector<Value> mlir::attn::cpu::transposeBf16Pairs(ImplicitLocOpBuilder &b,
                                                       ArrayRef<Value> rows) {
  auto words = VectorType::get({16}, b.getI32Type());
  auto pairs = VectorType::get({32}, b.getBF16Type());
  SmallVector<Value> in;
  for (Value row : rows)
    in.push_back(vector::BitCastOp::create(b, words, row));
  SmallVector<Value> out;
  for (Value col : transpose16x16(b, in))
    out.push_back(vector::BitCastOp::create(b, pairs, col));
  return out;
}

Value mlir::attn::cpu::emitNonFiniteBf16(ImplicitLocOpBuilder &b, Value x) {
  // A bf16 is a NaN or inf when its 8 exponent bits are all 1: tested on
  // both halves of each 32-bit word.
  auto words = VectorType::get({16}, b.getI32Type());
  Value w = vector::BitCastOp::create(b, words, x);
  auto is = [&](int64_t bits) -> Value {
    Value e = vector::BroadcastOp::create(
        b, words, arith::ConstantIntOp::create(b, b.getI32Type(), bits));
    Value hit = arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                      arith::AndIOp::create(b, w, e), e);
    return arith::ExtUIOp::create(b, words, hit);
  };
  return arith::OrIOp::create(b, is(0x7F80), is(0x7F800000));
}
