//===- DecodeBf16.cpp - The row kernel's bf16 dot products ----------------===//
//
// Decoding from a bf16 cache (plan.rowBf16) on AVX512-BF16: vdpbf16ps
// adds 16 lanes of two bf16 products each into f32, so both products of
// the row kernel read the cache's bf16 as it lies, without widening it to
// f32 tiles:
//   Q K^T: lanes along pairs of head-dim elements, the query row (unscaled
//          bf16) times K's rows read in place (or, for paged caches, from
//          a copy of the span's rows), then the lane-sum tree and the scale;
//   P V:   V's rows of a span interleaved once into pairs of keys per
//          channel (VP, shared by the item's heads), the weights rounded to
//          bf16 and each pair broadcast as one 32-bit word.
// A span whose values hold a NaN or inf takes the masked f32 product
// instead, so that a key whose weight is 0 adds nothing (README, "Masked
// keys"): a pair product would add its 0 * NaN.
//
//===----------------------------------------------------------------------===//

#include "CPUTiler.h"

#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

#include "mlir/Dialect/X86Vector/X86VectorDialect.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

Value CPUTiler::emitRowPackBf16(WorkItem &it, Value vp, Value ks, Value j0,
                                Value nkv) {
  int64_t lanes = plan.vectorWidth;
  Type bf16 = b.getBF16Type();
  Type i32 = b.getI32Type();
  auto rowType = VectorType::get({lanes}, bf16);
  auto pairType = VectorType::get({2 * lanes}, bf16);
  auto words = VectorType::get({lanes}, i32);
  Value zero = o.idx(0), one = o.idx(1), two = o.idx(2);
  auto at = [](ArrayRef<Value> row, Value col) {
    SmallVector<Value, 4> idx(row);
    idx.push_back(col);
    return idx;
  };
  if (ks) {
    int64_t d = cast<MemRefType>(ks.getType()).getDimSize(1);
    emitFor(zero, nkv, one, ValueRange{}, [&](Value jj, ValueRange) {
      SmallVector<Value, 4> row = kvRowIndices(it, o.add(j0, jj));
      for (int64_t c = 0; c < d; c += 2 * lanes)
        vector::StoreOp::create(
            b, vector::LoadOp::create(b, pairType, kB, at(row, o.idx(c))), ks,
            ValueRange{jj, o.idx(c)});
      scf::YieldOp::create(b);
    });
  }
  // A bf16 is a NaN or inf when its exponent bits 0x7F80 are all 1; adding
  // 0x80 to them then carries into the top bit of its half of the 32-bit
  // word, and never into the other half. Or-ed over the span, lane by lane.
  auto constant = [&](int64_t x) {
    return o.splat(words, arith::ConstantIntOp::create(b, i32, x));
  };
  Value exponents = constant(0x7F807F80), carry = constant(0x00800080);
  int64_t dv = cast<MemRefType>(vp.getType()).getDimSize(1) / 2;
  Value zeroRow =
      o.splat(rowType, arith::ConstantOp::create(b, b.getFloatAttr(bf16, 0.0)));
  // VP[p] from keys 2p and 2p + 1 (0 with `half`).
  auto pair = [&](Value p, Value seen, bool half) -> Value {
    Value j = o.add(j0, o.mul(p, two));
    SmallVector<Value, 4> even = kvRowIndices(it, j), odd;
    if (!half)
      odd = kvRowIndices(it, o.add(j, one));
    for (int64_t c = 0; c < dv; c += lanes) {
      Value x = vector::LoadOp::create(b, rowType, vB, at(even, o.idx(c)));
      Value y = half ? zeroRow
                     : Value(vector::LoadOp::create(b, rowType, vB,
                                                    at(odd, o.idx(c))));
      Value both = vector::InterleaveOp::create(b, x, y);
      vector::StoreOp::create(b, both, vp, ValueRange{p, o.idx(2 * c)});
      Value w = vector::BitCastOp::create(b, words, both);
      seen = arith::OrIOp::create(
          b, seen,
          arith::AddIOp::create(b, arith::AndIOp::create(b, w, exponents),
                                carry));
    }
    return seen;
  };
  Value whole = o.divU(nkv, two);
  Value seen = emitFor(zero, whole, one, ValueRange{constant(0)},
                       [&](Value p, ValueRange acc) {
                         scf::YieldOp::create(b, pair(p, acc[0], false));
                       })
                   .getResult(0);
  auto last =
      scf::IfOp::create(b, TypeRange{words}, o.lt(o.mul(whole, two), nkv),
                        /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(last.thenBlock());
    scf::YieldOp::create(b, pair(whole, seen, true));
    b.setInsertionPointToStart(last.elseBlock());
    scf::YieldOp::create(b, seen);
  }
  Value tops =
      arith::AndIOp::create(b, last.getResult(0), constant(0x80008000));
  Value any = vector::ReductionOp::create(b, vector::CombiningKind::OR, tops);
  return o.cmp(arith::CmpIPredicate::ne, any,
               arith::ConstantIntOp::create(b, i32, 0));
}

Value CPUTiler::emitRowKeyDotBf16(ArrayRef<Value> q, Value keys,
                                  ArrayRef<Value> row) {
  // Products of bf16 are exact in f32; the scale multiplies the scores.
  auto pairType = VectorType::get({2 * plan.vectorWidth}, b.getBF16Type());
  Value dot = o.cst(vecType, 0.0);
  for (auto [i, qi] : llvm::enumerate(q)) {
    SmallVector<Value, 4> idx(row);
    idx.push_back(o.idx(i * 2 * plan.vectorWidth));
    dot = x86vector::DotBF16Op::create(
        b, dot, vector::LoadOp::create(b, pairType, keys, idx), qi);
  }
  return dot;
}

SmallVector<Value> CPUTiler::emitRowValuesBf16(Value pw, Value vp, Value nkv,
                                               ValueRange acc) {
  // Each pair of weights, one 32-bit word, broadcast to every lane.
  int64_t lanes = plan.vectorWidth;
  Type bf16 = b.getBF16Type();
  auto pairType = VectorType::get({2 * lanes}, bf16);
  auto twoType = VectorType::get({2}, bf16);
  auto wordType = VectorType::get({1}, b.getI32Type());
  auto wordsType = VectorType::get({lanes}, b.getI32Type());
  Value pairs = o.ceilDiv(nkv, o.idx(2));
  auto loop =
      emitFor(o.idx(0), pairs, o.idx(1), acc, [&](Value p, ValueRange a) {
        Value two = vector::LoadOp::create(b, twoType, pw,
                                           ValueRange{o.mul(p, o.idx(2))});
        Value w = vector::BitCastOp::create(
            b, pairType,
            vector::BroadcastOp::create(
                b, wordsType, vector::BitCastOp::create(b, wordType, two)));
        SmallVector<Value> next;
        for (auto [c, ac] : llvm::enumerate(a))
          next.push_back(x86vector::DotBF16Op::create(
              b, ac, w,
              vector::LoadOp::create(b, pairType, vp,
                                     ValueRange{p, o.idx(c * 2 * lanes)})));
        scf::YieldOp::create(b, next);
      });
  return loop.getResults();
}
