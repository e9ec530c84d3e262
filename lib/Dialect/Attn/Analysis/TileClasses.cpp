//===- TileClasses.cpp - Symbolic tile classification of masks ------------===//
//
// classifyMask combines the classes of the mask leaves of AttnAttrs.td (the
// key intervals a tile of query positions [p0, p1) can reach, `bound`, and
// must see in full, `full`; each declarative leaf states its own through
// MaskAttrInterface::classifyTile) through and/or/not.
//
// Every rule below must be sound for all integers p0 < p1 (positions can be
// negative or lie past the last key) and every head; the unit tests check
// them against the reference's mask predicate by brute force.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Analysis/TileClasses.h"

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/Utils/Arith.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>
#include <limits>
#include <optional>

using namespace mlir;
using namespace mlir::attn;

using Kind = SymExpr::Kind;

//===----------------------------------------------------------------------===//
// Interval unions
//===----------------------------------------------------------------------===//

using Intervals = SmallVector<SymInterval, 2>;

/// Stands in for +-infinity in hulls of possibly empty intervals; far beyond
/// any position, small enough that adding a position cannot overflow.
static constexpr int64_t kHuge = int64_t(1) << 40;

static SymExpr cst(int64_t v) { return SymExpr::cst(v); }

/// The interval [0, kvEnd): every key.
static SymInterval allKeys() { return {cst(0), SymExpr::kvEnd()}; }

/// Whether `iv` holds [0, kvEnd) whatever the variables are.
static bool coversAllKeys(const SymInterval &iv) {
  return iv.lo.isConst() && iv.lo.getConst() <= 0 &&
         (iv.hi.getKind() == Kind::KvEnd ||
          (iv.hi.isConst() && iv.hi.getConst() >= kHuge));
}

/// Whether `iv` is empty whatever the variables are.
static bool knownEmpty(const SymInterval &iv) {
  SymExpr empty = SymExpr::le(iv.hi, iv.lo);
  return empty.isConst() && empty.getConst();
}

/// [lo, hi) of the union of `ivs`; empty members do not widen it, and an
/// all-empty union gives an empty hull.
static SymInterval hull(ArrayRef<SymInterval> ivs) {
  assert(!ivs.empty() && "hull of an empty union");
  std::optional<SymInterval> h;
  for (const SymInterval &iv : ivs) {
    SymExpr nonEmpty = SymExpr::lt(iv.lo, iv.hi);
    SymExpr lo = SymExpr::select(nonEmpty, iv.lo, cst(kHuge));
    SymExpr hi = SymExpr::select(nonEmpty, iv.hi, cst(-kHuge));
    h = h ? SymInterval{SymExpr::min(h->lo, lo), SymExpr::max(h->hi, hi)}
          : SymInterval{lo, hi};
  }
  return *h;
}

/// Drops members that are empty for every tile; a member holding every key
/// makes the others redundant.
static Intervals simplifyUnion(ArrayRef<SymInterval> ivs) {
  Intervals out;
  for (const SymInterval &iv : ivs) {
    if (coversAllKeys(iv))
      return {iv};
    if (!knownEmpty(iv))
      out.push_back(iv);
  }
  return out;
}

/// Caps a bound at kMaxTileIntervals: the members past the first
/// kMaxTileIntervals - 1 are replaced by their hull, a superset.
static Intervals capBound(ArrayRef<SymInterval> ivs) {
  Intervals out = simplifyUnion(ivs);
  if (out.size() <= kMaxTileIntervals)
    return out;
  SymInterval rest = hull(ArrayRef(out).drop_front(kMaxTileIntervals - 1));
  out.truncate(kMaxTileIntervals - 1);
  out.push_back(rest);
  return out;
}

/// Caps a full union at kMaxTileIntervals by keeping its first members: a
/// subset of a full union is full, and member sizes are symbolic, so the
/// order of the operands decides.
static Intervals capFull(ArrayRef<SymInterval> ivs) {
  Intervals out = simplifyUnion(ivs);
  if (out.size() > kMaxTileIntervals)
    out.truncate(kMaxTileIntervals);
  return out;
}

/// Pairwise intersections of two unions.
static Intervals intersect(ArrayRef<SymInterval> a, ArrayRef<SymInterval> b) {
  Intervals out;
  for (const SymInterval &x : a)
    for (const SymInterval &y : b) {
      // Consumers clip to [0, kvEnd), so [0, kvEnd) need not clip the other.
      if (coversAllKeys(x))
        out.push_back(y);
      else if (coversAllKeys(y))
        out.push_back(x);
      else
        out.push_back({SymExpr::max(x.lo, y.lo), SymExpr::min(x.hi, y.hi)});
    }
  return out;
}

/// [0, kvEnd) minus [lo, hi), as [0, lo) and [hi, kvEnd). When lo >= hi the
/// two pieces still cover every key.
static Intervals complement(const SymInterval &iv) {
  return {{cst(0), iv.lo}, {iv.hi, SymExpr::kvEnd()}};
}

//===----------------------------------------------------------------------===//
// classifyMask
//===----------------------------------------------------------------------===//

/// not: keys in full(child) are disallowed by the negation for every query,
/// so bound(not) is the complement of one member of full(child) (any member
/// is sound; the first is taken). Keys outside bound(child) are allowed by
/// the negation for every query, so full(not) is the complement of the
/// hull of bound(child).
static TileClasses classifyNot(const TileClasses &child) {
  TileClasses tc;
  if (child.full.empty())
    tc.bound.push_back(allKeys());
  else
    tc.bound = complement(child.full.front());
  if (child.bound.empty()) {
    tc.full.push_back(allKeys());
  } else {
    SymInterval h =
        child.bound.size() == 1 ? child.bound.front() : hull(child.bound);
    // An empty hull leaves every key to the negation.
    tc.full = complement(
        {SymExpr::select(SymExpr::lt(h.lo, h.hi), h.lo, SymExpr::kvEnd()),
         h.hi});
  }
  tc.bound = capBound(tc.bound);
  tc.full = capFull(tc.full);
  return tc;
}

TileClasses mlir::attn::classifyMask(Attribute mask) {
  return TypeSwitch<Attribute, TileClasses>(mask)
      .Case<AndMaskAttr>([&](AndMaskAttr m) {
        TileClasses tc = classifyMask(m.getMasks().front());
        for (Attribute child : m.getMasks().drop_front()) {
          TileClasses c = classifyMask(child);
          tc.bound = capBound(intersect(tc.bound, c.bound));
          tc.full = capFull(intersect(tc.full, c.full));
        }
        return tc;
      })
      .Case<OrMaskAttr>([&](OrMaskAttr m) {
        TileClasses tc;
        for (Attribute child : m.getMasks()) {
          TileClasses c = classifyMask(child);
          llvm::append_range(tc.bound, c.bound);
          llvm::append_range(tc.full, c.full);
        }
        tc.bound = capBound(tc.bound);
        tc.full = capFull(tc.full);
        return tc;
      })
      .Case<NotMaskAttr>(
          [&](NotMaskAttr m) { return classifyNot(classifyMask(m.getMask())); })
      // Leaves state their own classes (MaskInterfaceImpl.cpp); the
      // data-dependent ones (document, tree, dense, mask_mod) are unknown:
      // every key may be allowed, none is known to be.
      .Case<MaskAttrInterface>(
          [&](MaskAttrInterface leaf) { return leaf.classifyTile(); })
      .Default([&](Attribute) { return unknownTileClasses(); });
}

std::optional<int64_t> mlir::attn::boundBandWidth(const TileClasses &classes) {
  if (classes.bound.empty())
    return std::nullopt;
  // Two far-apart single-row blocks with different key counts: a band has
  // the same clipped width at both.
  const int64_t far = int64_t(1) << 30;
  const SymEnv envs[2] = {{far, far + 1, far << 10},
                          {far << 2, (far << 2) + 1, far << 12}};
  int64_t total = 0;
  for (const SymInterval &in : classes.bound) {
    int64_t widths[2];
    for (int e = 0; e < 2; ++e) {
      const SymEnv &env = envs[e];
      int64_t lo = std::max<int64_t>(in.lo.evaluate(env), 0);
      int64_t hi = std::min(in.hi.evaluate(env), env.kvEnd);
      widths[e] = std::max<int64_t>(hi - lo, 0);
    }
    if (widths[0] != widths[1])
      return std::nullopt;
    total += widths[0];
  }
  return total;
}

//===----------------------------------------------------------------------===//
// Emitting tile ranges
//===----------------------------------------------------------------------===//

SmallVector<KeyRange> mlir::attn::emitTileRanges(ImplicitLocOpBuilder &b,
                                                 const TileClasses &classes,
                                                 const SymValues &vals,
                                                 Value kvEnd, int64_t blockKv) {
  Arith o{b};
  Value zero = o.idx(0), bkv = o.idx(blockKv);
  // Clip each key interval to [0, kvEnd) and convert to tile indices.
  SmallVector<KeyRange> ranges;
  auto addRange = [&](Value lo, Value hi) {
    lo = o.max(lo, zero);
    hi = o.max(o.min(hi, kvEnd), lo);
    Value tlo = o.floorDiv(lo, bkv);
    Value thi = o.select(o.lt(lo, hi), o.ceilDiv(hi, bkv), tlo);
    ranges.push_back({tlo, thi});
  };
  if (classes.bound.empty())
    addRange(zero, zero);
  for (const SymInterval &in : classes.bound)
    addRange(in.lo.emit(b, vals), in.hi.emit(b, vals));
  // Sort by start (a compare-exchange network), then cut every range at
  // the end of those before it, so that no tile is visited twice.
  for (size_t i = 0; i < ranges.size(); ++i)
    for (size_t j = 0; j + 1 < ranges.size() - i; ++j) {
      KeyRange &x = ranges[j], &y = ranges[j + 1];
      Value swap = o.lt(y.first, x.first);
      KeyRange nx = {o.select(swap, y.first, x.first),
                     o.select(swap, y.second, x.second)};
      KeyRange ny = {o.select(swap, x.first, y.first),
                     o.select(swap, x.second, y.second)};
      x = nx;
      y = ny;
    }
  Value mark = zero;
  for (KeyRange &range : ranges) {
    range.first = o.max(range.first, mark);
    range.second = o.max(range.second, range.first);
    mark = o.max(mark, range.second);
  }
  return ranges;
}

SmallVector<KeyRange> mlir::attn::emitFullIntervals(ImplicitLocOpBuilder &b,
                                                    const TileClasses &classes,
                                                    const SymValues &vals) {
  SmallVector<KeyRange> full;
  for (const SymInterval &in : classes.full)
    full.push_back({in.lo.emit(b, vals), in.hi.emit(b, vals)});
  return full;
}

Value mlir::attn::emitTileIsFull(ImplicitLocOpBuilder &b,
                                 ArrayRef<KeyRange> full, Value j0,
                                 int64_t blockKv, Value kvEnd) {
  Arith o{b};
  Value j1 = o.add(j0, o.idx(blockKv));
  Value isFull = o.i1(false);
  for (auto [lo, hi] : full)
    isFull = o.lor(isFull, o.land(o.le(lo, j0), o.le(j1, hi)));
  return o.land(isFull, o.le(j1, kvEnd));
}

Attribute mlir::attn::dropConjuncts(Attribute mask,
                                    function_ref<bool(Attribute)> drop) {
  MLIRContext *ctx = mask.getContext();
  auto conj = dyn_cast<AndMaskAttr>(mask);
  SmallVector<Attribute> members = conj
                                       ? SmallVector<Attribute>(conj.getMasks())
                                       : SmallVector<Attribute>{mask};
  SmallVector<Attribute> rest;
  for (Attribute m : members)
    if (!drop(m))
      rest.push_back(m);
  if (rest.size() == members.size())
    return mask;
  if (rest.empty())
    return FullMaskAttr::get(ctx);
  return rest.size() == 1 ? rest.front() : AndMaskAttr::get(ctx, rest);
}

RuntimeConjuncts mlir::attn::splitRuntimeConjuncts(Attribute mask,
                                                   bool splitDense) {
  RuntimeConjuncts out;
  if (auto blocks = dyn_cast<BlocksMaskAttr>(mask); blocks && splitDense) {
    // The table decides every tile: 0s are skipped, 2s need no mask, and
    // the element mask (the whole #attn.blocks) handles the rest.
    out.blocks = blocks;
    out.declarative = FullMaskAttr::get(mask.getContext());
    return out;
  }
  out.declarative = dropConjuncts(mask, [&](Attribute m) {
    if (isa<DocumentMaskAttr>(m))
      return out.document = true;
    if (isa<TreeMaskAttr>(m))
      return out.tree = true;
    if (auto dense = dyn_cast<DenseMaskAttr>(m); dense && splitDense) {
      out.denseLeaf = dense;
      return true;
    }
    return false;
  });
  return out;
}

std::pair<Value, Value> mlir::attn::emitIdRange(ImplicitLocOpBuilder &b,
                                                Value ids, Value bIdx, Value lo,
                                                Value hi) {
  Arith o{b};
  Value big = o.idx(std::numeric_limits<int64_t>::max());
  Value small = o.idx(std::numeric_limits<int64_t>::min());
  auto loop = scf::ForOp::create(
      b, lo, hi, o.idx(1), ValueRange{big, small},
      [&](OpBuilder &nb, Location loc, Value j, ValueRange acc) {
        ImplicitLocOpBuilder ib(loc, nb);
        Arith io{ib};
        Value id =
            io.toIndex(tensor::ExtractOp::create(ib, ids, ValueRange{bIdx, j}));
        scf::YieldOp::create(
            ib, ValueRange{io.min(acc[0], id), io.max(acc[1], id)});
      });
  return {loop.getResult(0), loop.getResult(1)};
}
