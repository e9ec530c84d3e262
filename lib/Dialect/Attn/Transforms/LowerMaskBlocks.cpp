//===- LowerMaskBlocks.cpp - attn.mask_blocks to loops --------------------===//
//
// attn.mask_blocks classifies the blocks of a mask: one parallel item per
// (batch, head, query block) walks the kv blocks. Where the mask is a
// mask_mod region, each block is first bounded by interval arithmetic over
// the region (RegionBounds: q_idx and kv_idx range over the block, b and h
// are fixed), which decides most blocks of arithmetic masks (bands,
// windows, strides) without evaluating a pair. The rest are scanned row by
// row until the block is known to be partial (some pair allowed, some
// not); empty and whole blocks the bounds cannot decide are read pair by
// pair. The inner loop over a row's keys is a plain and/or reduction.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Transforms.h"
#include "attn/Dialect/Attn/Utils/AnyAll.h"
#include "attn/Dialect/Attn/Utils/Arith.h"
#include "attn/Dialect/Attn/Utils/Buffers.h"
#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::attn;

namespace {
/// What is known of one value of a mask_mod region over a block: an
/// integer within [lo, hi] (emitted i64 values; `bits` bounds their
/// magnitude statically, so that no bound computation overflows), an i1
/// that may be true / may be false, or nothing (`known` false).
struct Bound {
  bool known = false;
  Value lo, hi;       // integers
  Value mayT, mayF;   // i1
  int bits = 0;
};

/// Interval evaluation of a mask_mod region over the block of query rows
/// [i0, i1] and keys [j0, j1] (inclusive) of batch row `bi`, head `hi`:
/// each op's result bounded from its operands' bounds. Ops it does not
/// know, captured-array reads and float values are unknown, and so is
/// everything computed from them; the block is then scanned.
class RegionBounds {
public:
  RegionBounds(ImplicitLocOpBuilder &b, MaskBlocksOp op,
               const ScoreEmitter &emitter, Value bi, Value hi, Value kvLenB,
               Value i0, Value i1, Value j0, Value j1)
      : b(b), op(op), emitter(emitter), bi(bi), kvLenB(kvLenB), i0(i0),
        i1(i1) {
    Block &body = op.getMaskModRegion().front();
    ValueRange args = body.getArguments();
    // (b, h, q_idx, kv_idx, captures...); indices are below 2^31.
    bounds[args[0]] = exact(bi, 31);
    bounds[args[1]] = exact(hi, 31);
    bounds[args[2]] = range(i0, i1, 31);
    bounds[args[3]] = range(j0, j1, 31);
  }

  /// (may be true, may be false) of the region's result, or unknown.
  Bound evaluate() {
    Block &body = op.getMaskModRegion().front();
    for (Operation &inner : body.without_terminator())
      for (Value r : inner.getResults())
        bounds[r] = bound(&inner, r);
    Value yielded = body.getTerminator()->getOperand(0);
    return bounds.lookup(yielded);
  }

private:
  static constexpr int kMaxBits = 62;

  Value i64(Value index) {
    return arith::IndexCastOp::create(b, b.getI64Type(), index);
  }
  Value c64(int64_t v) { return arith::ConstantIntOp::create(b, v, 64); }
  Bound exact(Value index, int bits) { return range(index, index, bits); }
  Bound range(Value lo, Value hi, int bits) {
    Bound r;
    r.known = true;
    r.lo = i64(lo);
    r.hi = i64(hi);
    r.bits = bits;
    return r;
  }
  Bound ints(Value lo, Value hi, int bits) {
    Bound r;
    if (bits > kMaxBits)
      return r;
    r.known = true;
    r.lo = lo;
    r.hi = hi;
    r.bits = bits;
    return r;
  }
  Bound bools(Value mayT, Value mayF) {
    Bound r;
    r.known = true;
    r.mayT = mayT;
    r.mayF = mayF;
    return r;
  }
  Value smin(Value x, Value y) { return arith::MinSIOp::create(b, x, y); }
  Value smax(Value x, Value y) { return arith::MaxSIOp::create(b, x, y); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, p, x, y);
  }

  Bound compare(arith::CmpIPredicate pred, const Bound &x, const Bound &y) {
    using P = arith::CmpIPredicate;
    Arith a{b};
    switch (pred) {
    case P::slt: // x < y somewhere: xl < yh; x >= y somewhere: xh >= yl
      return bools(cmp(P::slt, x.lo, y.hi), cmp(P::sge, x.hi, y.lo));
    case P::sle:
      return bools(cmp(P::sle, x.lo, y.hi), cmp(P::sgt, x.hi, y.lo));
    case P::sgt:
      return bools(cmp(P::sgt, x.hi, y.lo), cmp(P::sle, x.lo, y.hi));
    case P::sge:
      return bools(cmp(P::sge, x.hi, y.lo), cmp(P::slt, x.lo, y.hi));
    case P::eq:
    case P::ne: {
      Value overlap = a.land(cmp(P::sle, x.lo, y.hi), cmp(P::sle, y.lo, x.hi));
      Value single = a.land(a.land(cmp(P::eq, x.lo, x.hi),
                                   cmp(P::eq, y.lo, y.hi)),
                            cmp(P::eq, x.lo, y.lo));
      Value mayEq = overlap, mayNe = a.lnot(single);
      return pred == P::eq ? bools(mayEq, mayNe) : bools(mayNe, mayEq);
    }
    default: // unsigned compares: unknown
      return Bound();
    }
  }

  Bound bound(Operation *op, Value result) {
    auto get = [&](unsigned k) { return bounds.lookup(op->getOperand(k)); };
    Type type = result.getType();
    bool isInt = type.isIndex() || type.isInteger(64) || type.isInteger(32);
    Arith a{b};
    if (auto c = dyn_cast<arith::ConstantOp>(op)) {
      auto attr = dyn_cast<IntegerAttr>(c.getValue());
      if (!attr)
        return Bound();
      if (type.isInteger(1))
        return bools(a.i1(attr.getInt() != 0), a.i1(attr.getInt() == 0));
      if (!isInt)
        return Bound();
      int64_t v = attr.getInt();
      if (v == std::numeric_limits<int64_t>::min())
        return Bound();
      int bits = 64 - llvm::countl_zero(static_cast<uint64_t>(std::abs(v))) + 1;
      return ints(c64(v), c64(v), bits);
    }
    if (auto p = dyn_cast<PositionOp>(op)) {
      // p = q_idx + (kv_len(b) - Sq) + q_offset, increasing in q_idx.
      Block &body = this->op.getMaskModRegion().front();
      if (p.getBatch() != body.getArgument(0) ||
          p.getQIdx() != body.getArgument(2) ||
          this->op.getQOffset() >= (uint64_t(1) << 40))
        return Bound();
      return ints(i64(emitter.emitPosition(b, i0, kvLenB)),
                  i64(emitter.emitPosition(b, i1, kvLenB)), 42);
    }
    if (auto read = dyn_cast<tensor::ExtractOp>(op))
      return captureRange(read);
    // Every other op needs known operands.
    for (Value operand : op->getOperands())
      if (!bounds.lookup(operand).known)
        return Bound();
    if (auto c = dyn_cast<arith::CmpIOp>(op))
      return compare(c.getPredicate(), get(0), get(1));
    if (type.isInteger(1)) {
      if (op->getNumOperands() != 2 && !isa<arith::SelectOp>(op))
        return Bound();
      if (isa<arith::AndIOp>(op))
        return bools(a.land(get(0).mayT, get(1).mayT),
                     a.lor(get(0).mayF, get(1).mayF));
      if (isa<arith::OrIOp>(op))
        return bools(a.lor(get(0).mayT, get(1).mayT),
                     a.land(get(0).mayF, get(1).mayF));
      if (isa<arith::XOrIOp>(op)) {
        Bound x = get(0), y = get(1);
        return bools(a.lor(a.land(x.mayT, y.mayF), a.land(x.mayF, y.mayT)),
                     a.lor(a.land(x.mayT, y.mayT), a.land(x.mayF, y.mayF)));
      }
      if (isa<arith::SelectOp>(op)) {
        Bound c = get(0), x = get(1), y = get(2);
        // Either branch's outcome, where the condition can take it.
        return bools(a.lor(a.land(c.mayT, x.mayT), a.land(c.mayF, y.mayT)),
                     a.lor(a.land(c.mayT, x.mayF), a.land(c.mayF, y.mayF)));
      }
      return Bound();
    }
    if (!isInt)
      return Bound();
    if (isa<arith::IndexCastOp, arith::ExtSIOp>(op)) {
      // The value is unchanged where it fits the result type.
      Bound x = get(0);
      if (type.isInteger(32) && x.bits > 31)
        return Bound();
      return ints(x.lo, x.hi, x.bits);
    }
    if (op->getNumOperands() == 1 && isa<math::AbsIOp>(op)) {
      Bound x = get(0);
      Value zero = c64(0);
      Value negLo = a.sub(zero, x.lo), negHi = a.sub(zero, x.hi);
      Value nonNeg = cmp(arith::CmpIPredicate::sge, x.lo, zero);
      Value nonPos = cmp(arith::CmpIPredicate::sle, x.hi, zero);
      Value lo = a.select(nonNeg, x.lo, a.select(nonPos, negHi, zero));
      Value hi = a.select(nonNeg, x.hi,
                          a.select(nonPos, negLo, smax(negLo, x.hi)));
      return ints(lo, hi, x.bits);
    }
    if (isa<arith::SelectOp>(op)) {
      Bound c = get(0), x = get(1), y = get(2);
      Value onlyT = a.lnot(c.mayF), onlyF = a.lnot(c.mayT);
      Value lo = a.select(onlyT, x.lo, a.select(onlyF, y.lo, smin(x.lo, y.lo)));
      Value hi = a.select(onlyT, x.hi, a.select(onlyF, y.hi, smax(x.hi, y.hi)));
      return ints(lo, hi, std::max(x.bits, y.bits));
    }
    if (op->getNumOperands() != 2)
      return Bound();
    Bound x = get(0), y = get(1);
    int wide = std::max(x.bits, y.bits) + 1;
    if (isa<arith::AddIOp>(op))
      return ints(a.add(x.lo, y.lo), a.add(x.hi, y.hi), wide);
    if (isa<arith::SubIOp>(op))
      return ints(a.sub(x.lo, y.hi), a.sub(x.hi, y.lo), wide);
    if (isa<arith::MaxSIOp>(op))
      return ints(smax(x.lo, y.lo), smax(x.hi, y.hi), wide);
    if (isa<arith::MinSIOp>(op))
      return ints(smin(x.lo, y.lo), smin(x.hi, y.hi), wide);
    if (isa<arith::MulIOp>(op)) {
      Value p0 = a.mul(x.lo, y.lo), p1 = a.mul(x.lo, y.hi),
            p2 = a.mul(x.hi, y.lo), p3 = a.mul(x.hi, y.hi);
      return ints(smin(smin(p0, p1), smin(p2, p3)),
                  smax(smax(p0, p1), smax(p2, p3)), x.bits + y.bits);
    }
    // Division and remainder by a positive constant.
    auto divisor = [&]() -> std::optional<int64_t> {
      auto c = op->getOperand(1).getDefiningOp<arith::ConstantOp>();
      auto attr = c ? dyn_cast<IntegerAttr>(c.getValue()) : IntegerAttr();
      if (!attr || attr.getInt() <= 0)
        return std::nullopt;
      return attr.getInt();
    }();
    if (!divisor)
      return Bound();
    Value d = c64(*divisor);
    if (isa<arith::FloorDivSIOp>(op)) // increasing in x
      return ints(arith::FloorDivSIOp::create(b, x.lo, d),
                  arith::FloorDivSIOp::create(b, x.hi, d), x.bits);
    if (isa<arith::DivSIOp>(op)) // increasing in x
      return ints(arith::DivSIOp::create(b, x.lo, d),
                  arith::DivSIOp::create(b, x.hi, d), x.bits);
    if (isa<arith::RemSIOp>(op)) {
      // Increasing within one quotient of one sign; else the sign's range.
      Value zero = c64(0), top = c64(*divisor - 1);
      Value same = a.land(
          cmp(arith::CmpIPredicate::eq, arith::DivSIOp::create(b, x.lo, d),
              arith::DivSIOp::create(b, x.hi, d)),
          a.lor(cmp(arith::CmpIPredicate::sge, x.lo, zero),
                cmp(arith::CmpIPredicate::sle, x.hi, zero)));
      Value lo = a.select(
          same, arith::RemSIOp::create(b, x.lo, d),
          a.select(cmp(arith::CmpIPredicate::sge, x.lo, zero), zero,
                   a.sub(zero, top)));
      Value hi = a.select(
          same, arith::RemSIOp::create(b, x.hi, d),
          a.select(cmp(arith::CmpIPredicate::sle, x.hi, zero), zero, top));
      return ints(lo, hi, x.bits);
    }
    return Bound();
  }

  /// A read `c[x]` of a 1-D i32 captured array with x in a short range
  /// inside the array (a block's rows or keys): within the smallest and
  /// largest entry of that range, found by a loop over it (O(block) per
  /// block rather than per pair); elsewhere any i32. Document ids, for
  /// one, then rule out the blocks between two documents.
  Bound captureRange(tensor::ExtractOp read) {
    Block &body = op.getMaskModRegion().front();
    auto arg = dyn_cast<BlockArgument>(read.getTensor());
    if (!arg || arg.getOwner() != &body || arg.getArgNumber() < 4 ||
        read.getIndices().size() != 1 ||
        !read.getType().isInteger(32))
      return Bound();
    Bound x = bounds.lookup(read.getIndices()[0]);
    if (!x.known || x.bits > 31)
      return Bound();
    Value capture = op.getCaptures()[arg.getArgNumber() - 4];
    Arith a{b};
    Value size = i64(tensor::DimOp::create(b, capture, 0));
    Value ok = a.land(a.land(cmp(arith::CmpIPredicate::sge, x.lo, c64(0)),
                             cmp(arith::CmpIPredicate::slt, x.hi, size)),
                      cmp(arith::CmpIPredicate::slt, a.sub(x.hi, x.lo),
                          c64(kMaxCaptureRange)));
    Type i64Type = b.getI64Type();
    auto ifOp = scf::IfOp::create(b, TypeRange{i64Type, i64Type}, ok,
                                  /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      Type index = b.getIndexType();
      Value first = arith::IndexCastOp::create(b, index, x.lo);
      Value end = arith::IndexCastOp::create(b, index, a.add(x.hi, c64(1)));
      auto loop = scf::ForOp::create(
          b, first, end, a.idx(1),
          ValueRange{c64(std::numeric_limits<int64_t>::max()),
                     c64(std::numeric_limits<int64_t>::min())},
          [&](OpBuilder &nb, Location loc, Value k, ValueRange acc) {
            ImplicitLocOpBuilder lb(loc, nb);
            Value v = tensor::ExtractOp::create(lb, capture, ValueRange{k});
            v = arith::ExtSIOp::create(lb, i64Type, v);
            scf::YieldOp::create(
                lb, ValueRange{arith::MinSIOp::create(lb, acc[0], v),
                               arith::MaxSIOp::create(lb, acc[1], v)});
          });
      scf::YieldOp::create(b, loop.getResults());
      b.setInsertionPointToStart(ifOp.elseBlock());
      scf::YieldOp::create(
          b, ValueRange{c64(std::numeric_limits<int32_t>::min()),
                        c64(std::numeric_limits<int32_t>::max())});
    }
    return ints(ifOp.getResult(0), ifOp.getResult(1), 32);
  }

  /// The longest index range captureRange reads.
  static constexpr int64_t kMaxCaptureRange = 4096;

  ImplicitLocOpBuilder &b;
  mutable MaskBlocksOp op;
  const ScoreEmitter &emitter;
  Value bi, kvLenB, i0, i1;
  DenseMap<Value, Bound> bounds;
};

/// (any, all) over the pairs of rows [i0, i1) and keys [j0, j1) of one
/// block; stops after the first row at which the block is partial.
std::pair<Value, Value> emitBlockScan(ImplicitLocOpBuilder &b,
                                      const ScoreEmitter &emitter, Value bi,
                                      Value hi, Value kvLenB, Value i0,
                                      Value i1, Value j0, Value j1) {
  return emitAnyAllByRows(
      b, i0, i1,
      [&](ImplicitLocOpBuilder &rb, Value i, Value any, Value all) {
        Arith r{rb};
        auto row = scf::ForOp::create(
            rb, j0, j1, r.idx(1), ValueRange{any, all},
            [&](OpBuilder &nb, Location loc, Value j, ValueRange acc) {
              ImplicitLocOpBuilder jb(loc, nb);
              Arith a{jb};
              ScorePoint pt = emitter.makePoint(jb, bi, hi, i, j, kvLenB);
              Value allowed = emitter.emitAllowed(jb, pt);
              scf::YieldOp::create(jb, ValueRange{a.lor(acc[0], allowed),
                                                  a.land(acc[1], allowed)});
            });
        return std::make_pair(row.getResult(0), row.getResult(1));
      });
}
} // namespace

LogicalResult mlir::attn::lowerMaskBlocks(RewriterBase &rewriter,
                                          MaskBlocksOp op) {
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  b.setInsertionPoint(op);
  Arith o{b};
  unsigned sDim = op.getSeqDim(), hDim = op.getHeadDim();
  Value batch = tensor::DimOp::create(b, op.getQuery(), 0);
  Value qHeads = tensor::DimOp::create(b, op.getQuery(), hDim);
  Value qLen = tensor::DimOp::create(b, op.getQuery(), sDim);
  Value kvLen = tensor::DimOp::create(b, op.getKey(), sDim);
  ScoreEmitter emitter(op, qHeads, qLen, kvLen);
  emitter.hoistOperandDims(b);
  emitter.setCaptureErrorFlag(ScoreEmitter::emitCaptureErrorFlag(b, op));

  Value table = toIdentityBuffer(b, op.getTableInit(), /*readOnly=*/false);
  Value qBlocks = memref::DimOp::create(b, table, 2);
  Value kvBlocks = memref::DimOp::create(b, table, 3);
  Value blockQ = o.idx(op.getBlockQ()), blockKv = o.idx(op.getBlockKv());
  Value items = o.mul(o.mul(batch, qHeads), qBlocks);
  // Blocks are first bounded by interval evaluation of the mask_mod region
  // (RegionBounds) where the mask is that region alone: a block it proves
  // empty or whole is not scanned. kv_len and other mask leaves would need
  // their own bounds, so those ops scan every block.
  bool byBounds = isa<MaskModAttr>(op.getMaskOrDefault()) && !op.getKvLen();
  scf::ParallelOp::create(
      b, ValueRange{o.idx(0)}, ValueRange{items}, ValueRange{o.idx(1)},
      [&](OpBuilder &nb, Location loc, ValueRange ivs) {
        ImplicitLocOpBuilder ib(loc, nb);
        Arith a{ib};
        Value r = a.remU(ivs[0], qBlocks);
        Value bh = a.divU(ivs[0], qBlocks);
        Value hi = a.remU(bh, qHeads), bi = a.divU(bh, qHeads);
        Value kvLenB = emitter.emitKvLength(ib, bi);
        Value i0 = a.mul(r, blockQ);
        Value i1 = a.min(a.add(i0, blockQ), qLen);
        scf::ForOp::create(
            ib, a.idx(0), kvBlocks, a.idx(1), ValueRange{},
            [&](OpBuilder &nb2, Location loc2, Value c, ValueRange) {
              ImplicitLocOpBuilder cb(loc2, nb2);
              Arith x{cb};
              Value j0 = x.mul(c, blockKv);
              Value j1 = x.min(x.add(j0, blockKv), kvLen);
              Type i8 = cb.getI8Type();
              auto level = [&](int64_t v) -> Value {
                return arith::ConstantIntOp::create(cb, i8, v);
              };
              auto classify = [&](ImplicitLocOpBuilder &sb) -> Value {
                Arith y{sb};
                auto [any, all] =
                    emitBlockScan(sb, emitter, bi, hi, kvLenB, i0, i1, j0, j1);
                return y.select(any, y.select(all, level(2), level(1)),
                                level(0));
              };
              Value entry;
              Bound known;
              if (byBounds)
                known = RegionBounds(cb, op, emitter, bi, hi, kvLenB, i0,
                                     x.sub(i1, x.idx(1)), j0,
                                     x.sub(j1, x.idx(1)))
                            .evaluate();
              if (!known.known || !known.mayT) {
                entry = classify(cb);
              } else {
                // Decided by the bounds where they tell (no pair allowed,
                // or no pair masked); scanned where they do not.
                Value decided = x.lor(x.lnot(known.mayT), x.lnot(known.mayF));
                auto ifOp = scf::IfOp::create(cb, TypeRange{i8}, decided,
                                              /*withElseRegion=*/true);
                OpBuilder::InsertionGuard g(cb);
                cb.setInsertionPointToStart(ifOp.thenBlock());
                scf::YieldOp::create(
                    cb, x.select(known.mayT, level(2), level(0)));
                cb.setInsertionPointToStart(ifOp.elseBlock());
                scf::YieldOp::create(cb, classify(cb));
                cb.setInsertionPointAfter(ifOp);
                entry = ifOp.getResult(0);
              }
              memref::StoreOp::create(cb, entry, table,
                                      ValueRange{bi, hi, r, c});
              scf::YieldOp::create(cb);
            });
        scf::ReduceOp::create(ib);
      });
  Value result = bufferization::ToTensorOp::create(
      b, op.getTable().getType(), table, /*restrict=*/true, /*writable=*/true);
  rewriter.replaceOp(op, result);
  return success();
}
