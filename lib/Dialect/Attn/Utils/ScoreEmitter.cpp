//===- ScoreEmitter.cpp - Scalar IR for masks and score modifiers ---------===//
//
// The combinators and data-dependent leaves of masks, and the score
// modifiers that read the op's operands or regions, each following its
// formula in VARIANTS.md; declarative leaves and modifiers emit themselves
// through their attribute interfaces (MaskInterfaceImpl.cpp,
// ScoreModInterfaceImpl.cpp). Integer coordinates are `index` values (signed:
// positions can be negative in cross-attention); floating point is f32
// except the T5 bucket, which is computed in f64 as documented.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"
#include "attn/Dialect/Attn/Utils/Arith.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

//===----------------------------------------------------------------------===//
// Positions and lengths
//===----------------------------------------------------------------------===//

Value ScoreEmitter::emitKvLength(ImplicitLocOpBuilder &b, Value batch) const {
  if (!op.getKvLen())
    return kvSeqLen;
  Arith a{b};
  return a.toIndex(tensor::ExtractOp::create(b, op.getKvLen(), batch));
}

Value ScoreEmitter::emitPosition(ImplicitLocOpBuilder &b, Value i,
                                 Value kvLenB) const {
  Arith a{b};
  // p(i) = i + (kv_len(b) - Sq) + q_offset: bottom-right alignment.
  Value p = a.add(i, a.sub(kvLenB, qLen));
  if (int64_t off = op.getQOffset())
    p = a.add(p, a.idx(off));
  return p;
}

ScorePoint ScoreEmitter::makePoint(ImplicitLocOpBuilder &b, Value batch,
                                   Value head, Value i, Value j,
                                   Value kvLenB) const {
  return ScorePoint{batch, head, i, j, emitPosition(b, i, kvLenB), kvLenB};
}

Value ScoreEmitter::emitScale(ImplicitLocOpBuilder &b, Value headDim) const {
  Arith a{b};
  if (FloatAttr scale = op.getScaleAttr())
    return a.f32(scale.getValueAsDouble());
  // Default scale 1/sqrt(D); for a constant D a constant, computed in f32
  // as the run-time form would.
  if (std::optional<int64_t> d = getConstantIntValue(headDim))
    return a.f32(1.0f / std::sqrt(static_cast<float>(*d)));
  return a.fdiv(a.f32(1.0), math::SqrtOp::create(b, a.toF32(headDim)));
}

//===----------------------------------------------------------------------===//
// Masks
//===----------------------------------------------------------------------===//

/// Whether dim `d` of a rank-`rank` operand is a batch or head dim (one of
/// [B, H, Sq, Skv] after numpy alignment), read with broadcasting.
static bool isBroadcastDim(int64_t rank, int64_t d) { return 4 - rank + d < 2; }

void ScoreEmitter::hoistOperandDims(ImplicitLocOpBuilder &b) {
  for (Value tensor : {op.getDenseMask(), op.getBias()}) {
    if (!tensor || hoistedDims.count(tensor))
      continue;
    auto type = cast<RankedTensorType>(tensor.getType());
    SmallVector<Value, 4> dims(type.getRank());
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (isBroadcastDim(type.getRank(), d) && type.isDynamicDim(d))
        dims[d] = tensor::DimOp::create(b, tensor, d);
    hoistedDims[tensor] = dims;
  }
  for (Value tensor : op.getCaptures()) {
    if (hoistedDims.count(tensor))
      continue;
    auto type = cast<RankedTensorType>(tensor.getType());
    SmallVector<Value, 4> dims(type.getRank());
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.isDynamicDim(d))
        dims[d] = tensor::DimOp::create(b, tensor, d);
    hoistedDims[tensor] = dims;
  }
}

Value ScoreEmitter::emitDim(ImplicitLocOpBuilder &b, Value tensor,
                            int64_t d) const {
  auto type = cast<RankedTensorType>(tensor.getType());
  if (!type.isDynamicDim(d))
    return arith::ConstantIndexOp::create(b, type.getDimSize(d));
  auto hoisted = hoistedDims.find(tensor);
  if (hoisted != hoistedDims.end() && hoisted->second[d])
    return hoisted->second[d];
  return tensor::DimOp::create(b, tensor, d);
}

SmallVector<Value>
ScoreEmitter::broadcastIndices(ImplicitLocOpBuilder &b, Value tensor,
                               const ScorePoint &pt) const {
  Arith a{b};
  auto type = cast<RankedTensorType>(tensor.getType());
  int64_t rank = type.getRank();
  Value full[4] = {pt.b, pt.h, pt.i, pt.j};
  SmallVector<Value> indices;
  for (int64_t d = 0; d < rank; ++d) {
    Value coord = full[4 - rank + d];
    // Leading (batch, head) dims of size 1 broadcast; a dynamic size is
    // checked at run time.
    if (isBroadcastDim(rank, d)) {
      int64_t size = type.getDimSize(d);
      if (size == 1) {
        coord = a.idx(0);
      } else if (ShapedType::isDynamic(size)) {
        Value dim = emitDim(b, tensor, d);
        coord = a.select(a.eq(dim, a.idx(1)), a.idx(0), coord);
      }
    }
    indices.push_back(coord);
  }
  return indices;
}

Value ScoreEmitter::emitDenseValue(ImplicitLocOpBuilder &b, Value batch,
                                   Value head, Value row, Value col) const {
  ScorePoint at{batch, head, row, col, Value(), Value()};
  // Unsigned, in i32: i1 entries are 0 or 1, i8 entries 0 to 255.
  Value entry = tensor::ExtractOp::create(
      b, op.getDenseMask(), broadcastIndices(b, op.getDenseMask(), at));
  return arith::ExtUIOp::create(b, b.getI32Type(), entry);
}

Value ScoreEmitter::atLeast(ImplicitLocOpBuilder &b, Value entry,
                            int64_t level) {
  Value min = arith::ConstantIntOp::create(b, level, 32);
  return arith::CmpIOp::create(b, arith::CmpIPredicate::uge, entry, min);
}

Value ScoreEmitter::emitAllowed(ImplicitLocOpBuilder &b,
                                const ScorePoint &pt) const {
  return emitAllowed(b, pt, op.getMaskOrDefault());
}

Value ScoreEmitter::emitAllowed(ImplicitLocOpBuilder &b, const ScorePoint &pt,
                                Attribute mask) const {
  Arith a{b};
  Value allowed = emitMask(b, mask, pt);
  if (op.getKvLen())
    allowed = a.land(allowed, a.lt(pt.j, pt.kvLen));
  return allowed;
}

ScoreEmitter::DraftBlock ScoreEmitter::emitDraftBlock(ImplicitLocOpBuilder &b,
                                                      Value kvLenB) const {
  Arith a{b};
  Value parents = op.getTreeParent();
  int64_t rank = cast<RankedTensorType>(parents.getType()).getRank();
  Value numDraft = tensor::DimOp::create(b, parents, rank - 1);
  // Draft keys are the last T valid keys of the row (kv_len(b) - T on).
  return {a.sub(qLen, numDraft), a.sub(kvLenB, numDraft), numDraft};
}

std::pair<Value, Value> ScoreEmitter::emitTreeTile(ImplicitLocOpBuilder &b,
                                                   Value kvLenB, Value i0,
                                                   Value i1, Value p0, Value p1,
                                                   Value j0, Value j1) const {
  Arith a{b};
  DraftBlock draft = emitDraftBlock(b, kvLenB);
  Value noDraftRow = a.le(i1, draft.firstQuery);
  Value causalFull = a.le(j1, a.add(p0, a.idx(1)));
  Value skip = a.land(noDraftRow, a.ge(j0, p1));
  Value full = a.lor(a.land(noDraftRow, causalFull),
                     a.land(a.le(j1, draft.firstKey),
                            a.lor(a.ge(i0, draft.firstQuery), causalFull)));
  return {skip, full};
}

Value ScoreEmitter::emitTreeMask(ImplicitLocOpBuilder &b,
                                 const ScorePoint &pt) const {
  Arith a{b};
  Value parents = op.getTreeParent();
  auto type = cast<RankedTensorType>(parents.getType());
  auto [firstDraftQ, firstDraftK, numDraft] = emitDraftBlock(b, pt.kvLen);
  // Queries before the draft block are causal.
  Value causal = a.le(pt.j, pt.pos);
  Value isDraftQ = a.ge(pt.i, firstDraftQ);
  Value nonDraftKey = a.lt(pt.j, firstDraftK);
  // A draft query t sees draft key u when u is t or one of its ancestors:
  // follow parent links from t for at most T steps.
  Value t = a.sub(pt.i, firstDraftQ);
  Value u = a.sub(pt.j, firstDraftK);
  Value start = a.select(isDraftQ, t, a.idx(-1));
  auto loop = scf::ForOp::create(
      b, a.idx(0), numDraft, a.idx(1), ValueRange{start, a.i1(false)},
      [&](OpBuilder &nb, Location loc, Value, ValueRange iter) {
        ImplicitLocOpBuilder ib(loc, nb);
        Arith ia{ib};
        Value cur = iter[0];
        Value found = ia.lor(iter[1], ia.eq(cur, u));
        Value valid = ia.ge(cur, ia.idx(0));
        Value safe = ia.select(valid, cur, ia.idx(0));
        SmallVector<Value> at;
        if (type.getRank() == 2)
          at.push_back(pt.b);
        at.push_back(safe);
        Value parent = ia.toIndex(tensor::ExtractOp::create(ib, parents, at));
        Value next = ia.select(valid, parent, ia.idx(-1));
        scf::YieldOp::create(ib, ValueRange{next, found});
      });
  Value ancestor = loop.getResult(1);
  Value draftAllowed = a.lor(nonDraftKey, a.land(a.ge(u, a.idx(0)), ancestor));
  return a.select(isDraftQ, draftAllowed, causal);
}

Value ScoreEmitter::emitMask(ImplicitLocOpBuilder &b, Attribute mask,
                             const ScorePoint &pt) const {
  // Declarative leaves emit themselves (MaskInterfaceImpl.cpp).
  if (Value leaf = cast<MaskAttrInterface>(mask).emitAllowed(b, pt))
    return leaf;
  Arith a{b};
  return TypeSwitch<Attribute, Value>(mask)
      .Case<AndMaskAttr>([&](AndMaskAttr m) {
        Value acc = a.i1(true);
        for (Attribute child : m.getMasks())
          acc = a.land(acc, emitMask(b, child, pt));
        return acc;
      })
      .Case<OrMaskAttr>([&](OrMaskAttr m) {
        Value acc = a.i1(false);
        for (Attribute child : m.getMasks())
          acc = a.lor(acc, emitMask(b, child, pt));
        return acc;
      })
      .Case<NotMaskAttr>(
          [&](NotMaskAttr m) { return a.lnot(emitMask(b, m.getMask(), pt)); })
      .Case<DocumentMaskAttr>([&](auto) {
        Value sq = a.toIndex(
            tensor::ExtractOp::create(b, op.getSegQ(), ValueRange{pt.b, pt.i}));
        Value sk = a.toIndex(tensor::ExtractOp::create(b, op.getSegKv(),
                                                       ValueRange{pt.b, pt.j}));
        return a.eq(sq, sk);
      })
      .Case<TreeMaskAttr>([&](auto) { return emitTreeMask(b, pt); })
      .Case<DenseMaskAttr>([&](DenseMaskAttr dense) {
        auto blockOf = [&](Value x, int64_t block) {
          return block == 1 ? x : a.divU(x, a.idx(block));
        };
        return emitDenseEntry(b, pt.b, pt.h, blockOf(pt.i, dense.getBlockQ()),
                              blockOf(pt.j, dense.getBlockKv()));
      })
      .Case<BlocksMaskAttr>([&](BlocksMaskAttr blocks) {
        // Entry >= 2: allowed; 1: the inner mask decides; 0: masked.
        Value r = a.divU(pt.i, a.idx(blocks.getBlockQ()));
        Value c = a.divU(pt.j, a.idx(blocks.getBlockKv()));
        Value entry = emitDenseValue(b, pt.b, pt.h, r, c);
        return a.lor(
            atLeast(b, entry, 2),
            a.land(atLeast(b, entry, 1), emitMask(b, blocks.getMask(), pt)));
      })
      .Case<MaskModAttr>([&](auto) {
        return inlineRegion(b, op.getMaskModRegion(),
                            ValueRange{pt.b, pt.h, pt.i, pt.j});
      })
      .Default([&](Attribute) -> Value {
        llvm_unreachable("verifier admits only mask attributes");
      });
}

//===----------------------------------------------------------------------===//
// Score modifiers
//===----------------------------------------------------------------------===//

Value ScoreEmitter::emitScoreMods(ImplicitLocOpBuilder &b, Value s,
                                  const ScorePoint &pt) const {
  for (Attribute mod : op.getScoreModList())
    s = emitScoreMod(b, mod, s, pt);
  return s;
}

std::pair<Value, Value>
ScoreEmitter::emitScoreModsAndSlope(ImplicitLocOpBuilder &b, Value s,
                                    const ScorePoint &pt) const {
  SmallVector<OperandRead> none;
  return emitScoreModsAndSlope(b, s, pt, {}, none);
}

std::pair<Value, Value> ScoreEmitter::emitScoreModsAndSlope(
    ImplicitLocOpBuilder &b, Value s, const ScorePoint &pt,
    ArrayRef<Value> operands, SmallVectorImpl<OperandRead> &reads) const {
  Arith a{b};
  Value slope = a.f32(1.0);
  SmallVector<unsigned> captures;
  for (auto [n, capture] : llvm::enumerate(op.getCaptures()))
    if (llvm::is_contained(operands, capture))
      captures.push_back(n);
  auto wanted = [&](Value operand) {
    return operand && llvm::is_contained(operands, operand);
  };
  for (Attribute mod : op.getScoreModList()) {
    // d(this modifier's result) / d(its input s); null: 1.
    Value d;
    size_t before = reads.size();
    if (isa<ScoreModRegionAttr>(mod)) {
      // Forward-mode derivatives of the region's body (Differentiate.h).
      s = inlineRegion(b, op.getScoreModRegion(),
                       ValueRange{s, pt.b, pt.h, pt.i, pt.j}, &d, captures,
                       captures.empty() ? nullptr : &reads);
    } else {
      // The operand a builtin modifier reads: s + x (bias, rel_bias;
      // ds'/dx = 1) or s * x (temperature; ds'/dx = s).
      if (isa<BiasAttr>(mod) && wanted(op.getBias()))
        reads.push_back({op.getBias(), broadcastIndices(b, op.getBias(), pt),
                         a.f32(1.0)});
      if (auto rel = dyn_cast<RelBiasAttr>(mod);
          rel && wanted(op.getRelBiasTable()))
        reads.push_back({op.getRelBiasTable(),
                         {pt.h, emitRelBucket(b, rel, pt)}, a.f32(1.0)});
      if (isa<TemperatureAttr>(mod) && wanted(op.getTemperature()))
        reads.push_back({op.getTemperature(), {pt.b, pt.h, pt.i}, s});
      s = emitScoreMod(b, mod, s, pt);
    }
    d = TypeSwitch<Attribute, Value>(mod)
            // Additive terms: d(s + t)/ds = 1.
            .Case<AlibiAttr, GaussianAttr, BiasAttr, RelBiasAttr>(
                [&](auto) { return Value(); })
            // s' = c tanh(s / c): ds'/ds = 1 - tanh^2(s / c)
            // = 1 - (s' / c)^2.
            .Case<SoftcapAttr>([&](SoftcapAttr cap) {
              Value t = a.fdiv(s, a.f32(cap.getCap().getValueAsDouble()));
              return a.fsub(a.f32(1.0), a.fmul(t, t));
            })
            // s' = s * tau[b, h, i]: ds'/ds = tau, which is s' / s
            // only where s != 0, so tau is read again.
            .Case<TemperatureAttr>([&](auto) {
              return tensor::ExtractOp::create(b, op.getTemperature(),
                                               ValueRange{pt.b, pt.h, pt.i})
                  .getResult();
            })
            .Case<ScoreModRegionAttr>([&](auto) { return d; })
            .Default([&](Attribute) -> Value {
              llvm_unreachable("the verifier admits only modifiers with "
                               "a gradient");
            });
    if (!d)
      continue;
    // The chain rule: this modifier's slope multiplies the derivatives of
    // the reads before it.
    slope = a.fmul(slope, d);
    for (OperandRead &read : MutableArrayRef(reads).take_front(before))
      read.tangent = a.fmul(read.tangent, d);
  }
  return {s, slope};
}

Value ScoreEmitter::emitRelBucket(ImplicitLocOpBuilder &b, RelBiasAttr rel,
                                  const ScorePoint &pt) const {
  Arith a{b};
  // T5 bucket of rel = j - p: n = p - j; with both directions, the sign
  // picks the half; the first half of a half is exact, the rest log-spaced
  // up to max_distance (computed in f64).
  int64_t numBuckets = rel.getNumBuckets();
  Value n = a.sub(pt.pos, pt.j);
  Value ret = a.idx(0);
  if (rel.getBidirectional()) {
    numBuckets /= 2;
    ret = a.select(a.lt(n, a.idx(0)), a.idx(numBuckets), a.idx(0));
    n = a.absI(n);
  } else {
    n = arith::MaxSIOp::create(b, n, a.idx(0));
  }
  int64_t maxExact = numBuckets / 2;
  Type f64 = b.getF64Type();
  auto cst = [&](double v) {
    return arith::ConstantOp::create(b, b.getF64FloatAttr(v)).getResult();
  };
  Value nF = arith::SIToFPOp::create(
      b, f64, arith::IndexCastOp::create(b, b.getI64Type(), n));
  Value ratio = arith::DivFOp::create(b, nF, cst(double(maxExact)));
  Value logRatio = math::LogOp::create(b, ratio);
  Value logMax = math::LogOp::create(
      b, cst(double(rel.getMaxDistance()) / double(maxExact)));
  Value scaled =
      arith::MulFOp::create(b, arith::DivFOp::create(b, logRatio, logMax),
                            cst(double(numBuckets - maxExact)));
  // Clamp before converting: log(0) is -inf and the select below discards
  // that lane, but fptosi of -inf would be poison.
  scaled = arith::MaximumFOp::create(b, scaled, cst(0.0));
  Value large =
      a.add(a.idx(maxExact),
            a.toIndex(arith::FPToSIOp::create(b, b.getI64Type(), scaled)));
  large = arith::MinSIOp::create(b, large, a.idx(numBuckets - 1));
  return a.add(ret, a.select(a.lt(n, a.idx(maxExact)), n, large));
}

Value ScoreEmitter::emitScoreMod(ImplicitLocOpBuilder &b, Attribute mod,
                                 Value s, const ScorePoint &pt) const {
  // Declarative modifiers emit themselves (ScoreModInterfaceImpl.cpp).
  if (Value modified =
          cast<ScoreModAttrInterface>(mod).emitScoreMod(b, s, pt, qHeads))
    return modified;
  Arith a{b};
  return TypeSwitch<Attribute, Value>(mod)
      .Case<RelBiasAttr>([&](RelBiasAttr m) {
        Value bias = tensor::ExtractOp::create(
            b, op.getRelBiasTable(), ValueRange{pt.h, emitRelBucket(b, m, pt)});
        return a.fadd(s, a.extF(bias));
      })
      .Case<BiasAttr>([&](auto) {
        Value bias = tensor::ExtractOp::create(
            b, op.getBias(), broadcastIndices(b, op.getBias(), pt));
        return a.fadd(s, a.extF(bias));
      })
      .Case<TemperatureAttr>([&](auto) {
        Value tau = tensor::ExtractOp::create(b, op.getTemperature(),
                                              ValueRange{pt.b, pt.h, pt.i});
        return a.fmul(s, tau);
      })
      .Case<ScoreModRegionAttr>([&](auto) {
        return inlineRegion(b, op.getScoreModRegion(),
                            ValueRange{s, pt.b, pt.h, pt.i, pt.j});
      })
      .Default([&](Attribute) -> Value {
        llvm_unreachable("verifier admits only score modifier attributes");
      });
}

//===----------------------------------------------------------------------===//
// Regions
//===----------------------------------------------------------------------===//

/// The derivative of `clone`'s (float) result by forward-mode rules, given
/// its operands' derivatives `t` (null: zero) and its primal operands and
/// result; null when it is zero. Only ops with
/// attn::hasTangentRule (Differentiate.h) reach here with a non-zero `t`.
static Value tangentOf(ImplicitLocOpBuilder &b, Operation *clone,
                       ArrayRef<Value> t) {
  Arith a{b};
  Value r = clone->getResult(0);
  Type type = r.getType();
  auto c = [&](double v) -> Value {
    return arith::ConstantOp::create(b, b.getFloatAttr(type, v));
  };
  auto in = [&](unsigned k) { return clone->getOperand(k); };
  auto add = [&](Value x, Value y) -> Value {
    return !x ? y : !y ? x : a.fadd(x, y);
  };
  auto mul = [&](Value x, Value y) -> Value { return x ? a.fmul(x, y) : x; };
  auto neg = [&](Value x) -> Value {
    return x ? arith::NegFOp::create(b, x).getResult() : x;
  };
  auto pick = [&](Value cond, Value x, Value y) -> Value {
    if (!x && !y)
      return Value();
    return a.select(cond, x ? x : c(0.0), y ? y : c(0.0));
  };
  using P = arith::CmpFPredicate;
  return TypeSwitch<Operation *, Value>(clone)
      .Case<arith::AddFOp>([&](auto) { return add(t[0], t[1]); })
      .Case<arith::SubFOp>([&](auto) { return add(t[0], neg(t[1])); })
      .Case<arith::NegFOp>([&](auto) { return neg(t[0]); })
      .Case<arith::MulFOp>(
          [&](auto) { return add(mul(t[0], in(1)), mul(t[1], in(0))); })
      // (a / b)' = (a' - r b') / b
      .Case<arith::DivFOp>([&](auto) {
        Value num = add(t[0], neg(mul(t[1], r)));
        return num ? a.fdiv(num, in(1)) : num;
      })
      .Case<arith::MaximumFOp, arith::MaxNumFOp>(
          [&](auto) { return pick(a.fcmp(P::OGE, in(0), in(1)), t[0], t[1]); })
      .Case<arith::MinimumFOp, arith::MinNumFOp>(
          [&](auto) { return pick(a.fcmp(P::OLE, in(0), in(1)), t[0], t[1]); })
      .Case<arith::SelectOp>([&](auto) { return pick(in(0), t[1], t[2]); })
      .Case<arith::ExtFOp>(
          [&](auto) -> Value { return arith::ExtFOp::create(b, type, t[0]); })
      .Case<arith::TruncFOp>(
          [&](auto) -> Value { return arith::TruncFOp::create(b, type, t[0]); })
      .Case<math::AbsFOp>([&](auto) {
        return pick(a.fcmp(P::OGE, in(0), c(0.0)), t[0], neg(t[0]));
      })
      // Piecewise constant.
      .Case<math::FloorOp, math::CeilOp, math::RoundOp, math::RoundEvenOp,
            math::TruncOp, arith::ConstantOp>([&](auto) { return Value(); })
      .Case<math::FmaOp>([&](auto) {
        return add(add(mul(t[0], in(1)), mul(t[1], in(0))), t[2]);
      })
      .Case<math::ExpOp>([&](auto) { return mul(t[0], r); })
      .Case<math::Exp2Op>([&](auto) { return mul(t[0], a.fmul(r, c(M_LN2))); })
      .Case<math::LogOp>([&](auto) { return a.fdiv(t[0], in(0)); })
      .Case<math::Log2Op>(
          [&](auto) { return a.fdiv(t[0], a.fmul(in(0), c(M_LN2))); })
      .Case<math::TanhOp>(
          [&](auto) { return mul(t[0], a.fsub(c(1.0), a.fmul(r, r))); })
      .Case<math::SqrtOp>([&](auto) { return a.fdiv(t[0], a.fmul(c(2.0), r)); })
      // (x^-1/2)' = -r / (2 x)
      .Case<math::RsqrtOp>([&](auto) {
        return mul(t[0], a.fdiv(neg(r), a.fmul(c(2.0), in(0))));
      })
      .Case<math::SinOp>(
          [&](auto) { return mul(t[0], math::CosOp::create(b, in(0))); })
      .Case<math::CosOp>(
          [&](auto) { return neg(mul(t[0], math::SinOp::create(b, in(0)))); })
      // (x^y)' = y x^(y-1) x' + r log(x) y'; each term only where its
      // operand varies (log(x) of a negative base is NaN).
      .Case<math::PowFOp>([&](auto) {
        Value dx;
        if (t[0])
          dx =
              a.fmul(t[0], a.fmul(in(1), math::PowFOp::create(
                                             b, in(0), a.fsub(in(1), c(1.0)))));
        Value dy;
        if (t[1])
          dy = a.fmul(t[1], a.fmul(r, a.log(in(0))));
        return add(dx, dy);
      })
      .Default([&](Operation *op) -> Value {
        llvm_unreachable("the verifier admits only differentiable regions");
      });
}

Value ScoreEmitter::inlineRegion(ImplicitLocOpBuilder &b, Region &region,
                                 ValueRange leading, Value *tangent,
                                 ArrayRef<unsigned> wrtCaptures,
                                 SmallVectorImpl<OperandRead> *reads) const {
  Block &block = region.front();
  IRMapping map;
  for (auto [arg, v] :
       llvm::zip(block.getArguments().take_front(leading.size()), leading))
    map.map(arg, v);
  for (auto [arg, v] : llvm::zip(
           block.getArguments().drop_front(leading.size()), op.getCaptures()))
    map.map(arg, v);
  // Forward mode, one seed per derivative wanted: with `tangent`, seed 0
  // is the first argument; with `reads`, each read of a capture in
  // `wrtCaptures` is a seed of its own (its value x, dx/dx = 1). Each seed
  // maps the region's values to their derivatives, emitted after each
  // clone (absent: 0). The rewrites below replace clones' uses, the
  // derivatives' included.
  SmallVector<DenseMap<Value, Value>> seeds;
  auto one = [&](Value v) -> Value {
    return arith::ConstantOp::create(b, b.getFloatAttr(v.getType(), 1.0));
  };
  if (tangent)
    seeds.emplace_back().try_emplace(block.getArgument(0),
                                     one(block.getArgument(0)));
  size_t firstRead = seeds.size();
  SmallVector<Operation *> cloned;
  for (Operation &inner : block.without_terminator()) {
    Operation *c = b.clone(inner, map);
    cloned.push_back(c);
    if (reads)
      if (auto read = dyn_cast<tensor::ExtractOp>(inner))
        if (auto arg = dyn_cast<BlockArgument>(read.getTensor());
            arg && arg.getOwner() == &block &&
            arg.getArgNumber() >= leading.size() &&
            llvm::is_contained(wrtCaptures,
                               arg.getArgNumber() - leading.size())) {
          auto clone = cast<tensor::ExtractOp>(c);
          reads->push_back(
              {op.getCaptures()[arg.getArgNumber() - leading.size()],
               SmallVector<Value, 4>(clone.getIndices()), Value()});
          seeds.emplace_back().try_emplace(read.getResult(),
                                           one(read.getResult()));
          continue;
        }
    if (seeds.empty() || c->getNumResults() != 1 ||
        !isa<FloatType>(getElementTypeOrSelf(c->getResult(0).getType())))
      continue;
    for (DenseMap<Value, Value> &tangents : seeds) {
      SmallVector<Value> t;
      for (Value v : inner.getOperands())
        t.push_back(tangents.lookup(v));
      if (llvm::any_of(t, [](Value v) { return bool(v); }))
        if (Value d = tangentOf(b, c, t))
          tangents[inner.getResult(0)] = d;
    }
  }
  // Collect what is rewritten below before rewriting anything: both steps
  // erase ops, which may be among `cloned`.
  SmallVector<PositionOp> positions;
  SmallVector<std::pair<tensor::ExtractOp, unsigned>> guarded;
  for (Operation *c : cloned)
    c->walk([&](Operation *inner) {
      if (auto p = dyn_cast<PositionOp>(inner)) {
        positions.push_back(p);
      } else if (auto read = dyn_cast<tensor::ExtractOp>(inner)) {
        auto at = llvm::find(op.getCaptures(), read.getTensor());
        if (at != op.getCaptures().end())
          guarded.push_back(
              {read, static_cast<unsigned>(at - op.getCaptures().begin())});
      }
    });
  auto yield = cast<YieldOp>(block.getTerminator());
  Value result = map.lookupOrDefault(yield.getValues()[0]);
  auto derivative = [&](const DenseMap<Value, Value> &tangents) -> Value {
    if (Value d = tangents.lookup(yield.getValues()[0]))
      return d;
    return arith::ConstantOp::create(b, b.getFloatAttr(result.getType(), 0.0));
  };
  if (tangent)
    *tangent = derivative(seeds.front());
  if (reads) {
    // The reads of this region are the last seeds.size() - firstRead.
    size_t base = reads->size() - (seeds.size() - firstRead);
    for (size_t k = firstRead; k < seeds.size(); ++k)
      (*reads)[base + k - firstRead].tangent = derivative(seeds[k]);
  }
  // attn.position only has meaning inside the op; replace each (possibly
  // nested) clone with the position formula at its own operands.
  for (PositionOp p : positions) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(p);
    Value kvLenB = emitKvLength(b, p.getBatch());
    p.getResult().replaceAllUsesWith(emitPosition(b, p.getQIdx(), kvLenB));
    p.erase();
  }
  // Bounds checks of the captured arrays' reads (the user's indices). The
  // region may yield such a read directly (a bool capture as the mask).
  for (auto [read, capture] : guarded) {
    Value checked = guardCaptureRead(b, read, capture);
    if (result == read.getResult())
      result = checked;
    read.getResult().replaceAllUsesWith(checked);
    read.erase();
  }
  return result;
}

Value ScoreEmitter::guardCaptureRead(ImplicitLocOpBuilder &b,
                                     tensor::ExtractOp read,
                                     unsigned capture) const {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(read);
  Arith a{b};
  // 0 <= index < size for every dim: one unsigned compare each. Constant
  // indices into static dims fold away.
  Value inRange = a.i1(true);
  for (auto [d, index] : llvm::enumerate(read.getIndices()))
    inRange = a.land(inRange, a.cmp(arith::CmpIPredicate::ult, index,
                                    emitDim(b, read.getTensor(), d)));
  Type elem = read.getType();
  auto ifOp = scf::IfOp::create(b, elem, inRange, /*withElseRegion=*/true);
  b.setInsertionPointToStart(ifOp.thenBlock());
  Value value =
      tensor::ExtractOp::create(b, read.getTensor(), read.getIndices());
  scf::YieldOp::create(b, value);
  b.setInsertionPointToStart(ifOp.elseBlock());
  if (captureErrorFlag) {
    // Atomic max: threads (CPU work items, GPU lanes) that read out of
    // range at once agree on the greatest capture number.
    Value number = arith::ConstantIntOp::create(b, capture + 1, 32);
    memref::AtomicRMWOp::create(b, arith::AtomicRMWKind::maxs, number,
                                captureErrorFlag, ValueRange{});
  }
  scf::YieldOp::create(
      b, arith::ConstantOp::create(b, cast<TypedAttr>(b.getZeroAttr(elem)))
             .getResult());
  return ifOp.getResult(0);
}

Value ScoreEmitter::emitCaptureErrorFlag(ImplicitLocOpBuilder &b,
                                         VariantOpInterface op) {
  if (op.getCaptures().empty())
    return Value();
  auto type = MemRefType::get({}, b.getI32Type());
  Operation *table = SymbolTable::getNearestSymbolTable(op);
  if (!SymbolTable::lookupSymbolIn(table, kCaptureErrorSymbol)) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&table->getRegion(0).front());
    auto init = DenseElementsAttr::get(
        RankedTensorType::get({}, b.getI32Type()), int32_t(0));
    memref::GlobalOp::create(b, kCaptureErrorSymbol,
                             /*sym_visibility=*/b.getStringAttr("public"), type,
                             init, /*constant=*/false,
                             /*alignment=*/nullptr);
  }
  return memref::GetGlobalOp::create(b, type, kCaptureErrorSymbol);
}
