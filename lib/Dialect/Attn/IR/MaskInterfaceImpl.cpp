//===- MaskInterfaceImpl.cpp - MaskAttrInterface of the mask leaves -------===//
//
// Each declarative mask leaf of AttnAttrs.td, in one place: its element
// predicate (the i1 "key j is allowed for the query at position p", as
// emitted by ScoreEmitter into every code generator), its symbolic tile
// classes (the key intervals a tile of query positions [p0, p1) can reach,
// `bound`, and must see in full, `full`, combined by classifyMask), and
// whether those classes are exact for one query row (the CPU row kernel).
//
// Every tile rule must be sound for all integers p0 < p1 (positions can be
// negative or lie past the last key) and every head; TileClassesTest checks
// them against the reference's mask predicate by brute force. Integer
// coordinates are signed `index` values.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/Utils/Arith.h"

#include <algorithm>
#include <optional>

using namespace mlir;
using namespace mlir::attn;

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

static SymExpr cst(int64_t v) { return SymExpr::cst(v); }

/// The interval [0, kvEnd): every key.
static SymInterval allKeys() { return {cst(0), SymExpr::kvEnd()}; }

TileClasses mlir::attn::unknownTileClasses() { return {{allKeys()}, {}}; }

namespace {
/// Grid coordinates of the query (rq, cq) and the key (rk, ck) of a score.
struct GridCells {
  Value rq, cq, rk, ck;
};
} // namespace

/// The grid cells of `pt`'s query position and key on a row-major grid of
/// `cols` columns: token t sits at (floor(t / cols), t mod cols).
static GridCells gridCells(Arith &a, const ScorePoint &pt, int64_t cols) {
  Value c = a.idx(cols);
  return {a.floorDiv(pt.pos, c), a.floorMod(pt.pos, c), a.floorDiv(pt.j, c),
          a.floorMod(pt.j, c)};
}

namespace {
/// The tile variables and the grid coordinates of its first and last query.
struct Tile {
  SymExpr p0 = SymExpr::p0(), p1 = SymExpr::p1();
  /// The last query position, p1 - 1; one node shared by every leaf, so
  /// that a mask's classes emit it once.
  SymExpr last = lastQuery();

  static const SymExpr &lastQuery() {
    static const SymExpr node = SymExpr::p1() - cst(1);
    return node;
  }

  /// Row-major grid coordinates (floor division, so negative positions get
  /// negative rows and in-range columns, as in the reference).
  struct Cell {
    SymExpr row, col;
  };
  Cell cell(const SymExpr &pos, int64_t cols) const {
    SymExpr row = SymExpr::floorDiv(pos, cols);
    return {row, pos - row * cst(cols)};
  }
};
} // namespace

//===----------------------------------------------------------------------===//
// full
//===----------------------------------------------------------------------===//

Value FullMaskAttr::emitAllowed(ImplicitLocOpBuilder &b,
                                const ScorePoint &pt) const {
  return Arith{b}.i1(true);
}

/// full: every key, for every tile.
TileClasses FullMaskAttr::classifyTile() const {
  return {{allKeys()}, {allKeys()}};
}

bool FullMaskAttr::isRowExact() const { return true; }

//===----------------------------------------------------------------------===//
// causal
//===----------------------------------------------------------------------===//

Value CausalMaskAttr::emitAllowed(ImplicitLocOpBuilder &b,
                                  const ScorePoint &pt) const {
  // j <= p
  return Arith{b}.le(pt.j, pt.pos);
}

/// causal: p allows [0, p + 1).
TileClasses CausalMaskAttr::classifyTile() const {
  const Tile t;
  return {{{cst(0), t.p1}}, {{cst(0), t.p0 + cst(1)}}};
}

bool CausalMaskAttr::isRowExact() const { return true; }

//===----------------------------------------------------------------------===//
// sliding_window
//===----------------------------------------------------------------------===//

Value SlidingWindowAttr::emitAllowed(ImplicitLocOpBuilder &b,
                                     const ScorePoint &pt) const {
  Arith a{b};
  Value p = pt.pos, j = pt.j;
  // p - left <= j <= p + right
  return a.land(a.le(a.sub(p, a.idx(getLeft())), j),
                a.le(j, a.add(p, a.idx(getRight()))));
}

/// sliding_window: p allows [p - left, p + right + 1); consecutive windows
/// overlap, so the union is one interval and the intersection is
/// [last - left, p0 + right + 1).
TileClasses SlidingWindowAttr::classifyTile() const {
  const Tile t;
  int64_t left = getLeft(), right = getRight();
  return {{{t.p0 - cst(left), t.p1 + cst(right)}},
          {{t.last - cst(left), t.p0 + cst(right + 1)}}};
}

bool SlidingWindowAttr::isRowExact() const { return true; }

//===----------------------------------------------------------------------===//
// chunked
//===----------------------------------------------------------------------===//

Value ChunkedAttr::emitAllowed(ImplicitLocOpBuilder &b,
                               const ScorePoint &pt) const {
  Arith a{b};
  // floor(p / c) == floor(j / c)
  Value c = a.idx(getSize());
  return a.eq(a.floorDiv(pt.pos, c), a.floorDiv(pt.j, c));
}

/// chunked: p allows its chunk [c(p), c(p) + size), c(p) = floor(p/size)*size.
/// Chunks of consecutive positions are adjacent; the intersection
/// [c(last), c(p0) + size) is empty unless the tile sits in one chunk.
TileClasses ChunkedAttr::classifyTile() const {
  const Tile t;
  int64_t size = getSize();
  SymExpr first = SymExpr::floorDiv(t.p0, size) * cst(size);
  SymExpr lastChunk = SymExpr::floorDiv(t.last, size) * cst(size);
  return {{{first, lastChunk + cst(size)}}, {{lastChunk, first + cst(size)}}};
}

bool ChunkedAttr::isRowExact() const { return true; }

//===----------------------------------------------------------------------===//
// halo
//===----------------------------------------------------------------------===//

Value HaloAttr::emitAllowed(ImplicitLocOpBuilder &b,
                            const ScorePoint &pt) const {
  Arith a{b};
  // blk*B - halo <= j <= blk*B + B - 1 + halo, blk = floor(p / B)
  Value blk = a.floorDiv(pt.pos, a.idx(getBlock()));
  Value base = a.mul(blk, a.idx(getBlock()));
  Value lo = a.sub(base, a.idx(getHalo()));
  Value hi = a.add(base, a.idx(getBlock() - 1 + getHalo()));
  return a.land(a.le(lo, pt.j), a.le(pt.j, hi));
}

/// halo: p allows [s(p) - halo, s(p) + block + halo), s(p) the start of its
/// block; neighbouring blocks' intervals overlap.
TileClasses HaloAttr::classifyTile() const {
  const Tile t;
  int64_t block = getBlock(), halo = getHalo();
  SymExpr first = SymExpr::floorDiv(t.p0, block) * cst(block);
  SymExpr lastBlock = SymExpr::floorDiv(t.last, block) * cst(block);
  return {{{first - cst(halo), lastBlock + cst(block + halo)}},
          {{lastBlock - cst(halo), first + cst(block + halo)}}};
}

bool HaloAttr::isRowExact() const { return true; }

//===----------------------------------------------------------------------===//
// dilated
//===----------------------------------------------------------------------===//

Value DilatedAttr::emitAllowed(ImplicitLocOpBuilder &b,
                               const ScorePoint &pt) const {
  Arith a{b};
  Value p = pt.pos, j = pt.j;
  // Same segment, and both offsets congruent to h modulo the rate:
  // floor(p/w) == floor(j/w), (j mod w) mod r == h mod r == (p mod w) mod r.
  Value w = a.idx(getSegment()), r = a.idx(getRate());
  Value hr = a.floorMod(pt.h, r);
  Value sameSeg = a.eq(a.floorDiv(p, w), a.floorDiv(j, w));
  Value kOk = a.eq(a.floorMod(a.floorMod(j, w), r), hr);
  Value qOk = a.eq(a.floorMod(a.floorMod(p, w), r), hr);
  return a.land(sameSeg, a.land(kOk, qOk));
}

/// dilated: bound is the segments of the tile's positions (the lanes within
/// a segment are not intervals). With rate > 1 some head's lane misses every
/// query, so nothing is allowed for all heads; rate 1 is `chunked`.
TileClasses DilatedAttr::classifyTile() const {
  const Tile t;
  int64_t segment = getSegment();
  SymExpr first = SymExpr::floorDiv(t.p0, segment) * cst(segment);
  SymExpr lastSegment = SymExpr::floorDiv(t.last, segment) * cst(segment);
  TileClasses tc;
  tc.bound.push_back({first, lastSegment + cst(segment)});
  if (getRate() == 1)
    tc.full.push_back({lastSegment, first + cst(segment)});
  return tc;
}

bool DilatedAttr::isRowExact() const { return false; }

//===----------------------------------------------------------------------===//
// global
//===----------------------------------------------------------------------===//

Value GlobalAttr::emitAllowed(ImplicitLocOpBuilder &b,
                              const ScorePoint &pt) const {
  Arith a{b};
  // One of the first `first` positions (0 <= x < first; a query before the
  // first key, p < 0, is not), or a listed one; p or j global.
  auto isGlobal = [&](Value x) {
    Value g = a.i1(false);
    if (getFirst() > 0)
      g = a.land(a.ge(x, a.idx(0)), a.lt(x, a.idx(getFirst())));
    for (int64_t pos : getPositions())
      g = a.lor(g, a.eq(x, a.idx(pos)));
    return g;
  };
  return a.lor(isGlobal(pt.pos), isGlobal(pt.j));
}

/// global: with G the global positions ([0, first) and the listed ones),
/// a tile touching G allows every key, a tile inside G needs no mask, and
/// otherwise exactly the keys in G are allowed for every query. G is
/// constant: past kMaxTileIntervals runs, bound merges the runs across the
/// smallest gaps and full keeps the longest runs.
TileClasses GlobalAttr::classifyTile() const {
  const Tile t;
  SmallVector<std::pair<int64_t, int64_t>> runs;
  if (getFirst() > 0)
    runs.push_back({0, getFirst()});
  for (int64_t pos : getPositions())
    runs.push_back({pos, pos + 1});
  llvm::sort(runs);
  SmallVector<std::pair<int64_t, int64_t>> merged;
  for (auto run : runs) {
    if (!merged.empty() && run.first <= merged.back().second)
      merged.back().second = std::max(merged.back().second, run.second);
    else
      merged.push_back(run);
  }
  if (merged.empty())
    return {};

  SymExpr anyGlobal = SymExpr::boolean(false), allGlobal = anyGlobal;
  for (auto [lo, hi] : merged) {
    anyGlobal =
        SymExpr::lor(anyGlobal, SymExpr::land(SymExpr::lt(t.p0, cst(hi)),
                                              SymExpr::lt(cst(lo), t.p1)));
    allGlobal =
        SymExpr::lor(allGlobal, SymExpr::land(SymExpr::le(cst(lo), t.p0),
                                              SymExpr::le(t.p1, cst(hi))));
  }

  SmallVector<std::pair<int64_t, int64_t>> boundRuns = merged;
  while (boundRuns.size() > kMaxTileIntervals) {
    size_t best = 0;
    for (size_t k = 1; k + 1 < boundRuns.size(); ++k)
      if (boundRuns[k + 1].first - boundRuns[k].second <
          boundRuns[best + 1].first - boundRuns[best].second)
        best = k;
    boundRuns[best].second = boundRuns[best + 1].second;
    boundRuns.erase(boundRuns.begin() + best + 1);
  }
  SmallVector<std::pair<int64_t, int64_t>> fullRuns = merged;
  if (fullRuns.size() > kMaxTileIntervals) {
    llvm::sort(fullRuns, [](auto a, auto b) {
      return std::make_pair(a.second - a.first, -a.first) >
             std::make_pair(b.second - b.first, -b.first);
    });
    fullRuns.resize(kMaxTileIntervals);
    llvm::sort(fullRuns);
  }

  // The first member grows to [0, kvEnd) when the condition holds.
  auto toUnion = [&](ArrayRef<std::pair<int64_t, int64_t>> list,
                     const SymExpr &everything) {
    SmallVector<SymInterval, 2> out;
    for (auto [lo, hi] : list)
      out.push_back({cst(lo), cst(hi)});
    out.front() = {
        SymExpr::select(everything, cst(0), out.front().lo),
        SymExpr::select(everything, SymExpr::kvEnd(), out.front().hi)};
    return out;
  };
  return {toUnion(boundRuns, anyGlobal), toUnion(fullRuns, allGlobal)};
}

/// Exact only for the first n positions: listed positions are merged into
/// runs past kMaxTileIntervals.
bool GlobalAttr::isRowExact() const { return getPositions().empty(); }

//===----------------------------------------------------------------------===//
// sinks
//===----------------------------------------------------------------------===//

Value SinksAttr::emitAllowed(ImplicitLocOpBuilder &b,
                             const ScorePoint &pt) const {
  // j < count
  Arith a{b};
  return a.lt(pt.j, a.idx(getCount()));
}

/// sinks: [0, count) for every query.
TileClasses SinksAttr::classifyTile() const {
  SymInterval sinks = {cst(0), cst(getCount())};
  return {{sinks}, {sinks}};
}

bool SinksAttr::isRowExact() const { return true; }

//===----------------------------------------------------------------------===//
// a_shape
//===----------------------------------------------------------------------===//

Value AShapeAttr::emitAllowed(ImplicitLocOpBuilder &b,
                              const ScorePoint &pt) const {
  Arith a{b};
  Value p = pt.pos, j = pt.j;
  // j <= p and (j < sinks or p - window <= j)
  Value sink = a.lt(j, a.idx(getSinks()));
  Value local = a.le(a.sub(p, a.idx(getWindow())), j);
  return a.land(a.le(j, p), a.lor(sink, local));
}

/// a_shape: p allows [0, min(sinks, p + 1)) and [p - window, p + 1). Over
/// the tile the sinks reach [0, min(sinks, p1)) and the windows, which
/// overlap, [p0 - window, p1); every query sees [0, min(sinks, p0 + 1))
/// and [last - window, p0 + 1).
TileClasses AShapeAttr::classifyTile() const {
  const Tile t;
  SymExpr sinks = cst(getSinks());
  int64_t window = getWindow();
  return {{{cst(0), SymExpr::min(sinks, t.p1)}, {t.p0 - cst(window), t.p1}},
          {{cst(0), SymExpr::min(sinks, t.p0 + cst(1))},
           {t.last - cst(window), t.p0 + cst(1)}}};
}

/// One row's two intervals are exactly its allowed keys.
bool AShapeAttr::isRowExact() const { return true; }

//===----------------------------------------------------------------------===//
// dilated_window
//===----------------------------------------------------------------------===//

Value DilatedWindowAttr::emitAllowed(ImplicitLocOpBuilder &b,
                                     const ScorePoint &pt) const {
  Arith a{b};
  // |p - j| <= window and (p - j) mod dilation == 0
  Value d = a.sub(pt.pos, pt.j);
  Value inWindow = a.le(a.absI(d), a.idx(getWindow()));
  if (getDilation() == 1)
    return inWindow;
  Value onStride = a.eq(a.floorMod(d, a.idx(getDilation())), a.idx(0));
  return a.land(inWindow, onStride);
}

/// dilated_window: p allows keys of [p - window, p + window + 1) on its
/// stride, so the tile's bound is [p0 - window, p1 + window). Every key of
/// the intersection [last - window, p0 + window + 1) is allowed for every
/// row only without dilation; with it, no key is (rows differ in stride).
TileClasses DilatedWindowAttr::classifyTile() const {
  const Tile t;
  int64_t window = getWindow();
  TileClasses tc;
  tc.bound.push_back({t.p0 - cst(window), t.p1 + cst(window)});
  if (getDilation() == 1)
    tc.full.push_back({t.last - cst(window), t.p0 + cst(window + 1)});
  return tc;
}

/// One row's bound holds only allowed keys when nothing is skipped.
bool DilatedWindowAttr::isRowExact() const { return getDilation() == 1; }

//===----------------------------------------------------------------------===//
// prefix_lm
//===----------------------------------------------------------------------===//

Value PrefixLMAttr::emitAllowed(ImplicitLocOpBuilder &b,
                                const ScorePoint &pt) const {
  // j < prefix or j <= p
  Arith a{b};
  return a.lor(a.lt(pt.j, a.idx(getPrefix())), a.le(pt.j, pt.pos));
}

/// prefix_lm: p allows [0, max(prefix, p + 1)).
TileClasses PrefixLMAttr::classifyTile() const {
  const Tile t;
  SymExpr prefix = cst(getPrefix());
  return {{{cst(0), SymExpr::max(prefix, t.p1)}},
          {{cst(0), SymExpr::max(prefix, t.p0 + cst(1))}}};
}

bool PrefixLMAttr::isRowExact() const { return true; }

//===----------------------------------------------------------------------===//
// neighborhood_2d
//===----------------------------------------------------------------------===//

Value Neighborhood2DAttr::emitAllowed(ImplicitLocOpBuilder &b,
                                      const ScorePoint &pt) const {
  Arith a{b};
  auto [rq, cq, rk, ck] = gridCells(a, pt, getCols());
  // |dr| <= floor(kh / 2) and |dc| <= floor(kw / 2)
  Value rOk = a.le(a.absI(a.sub(rk, rq)), a.idx(getKernelRows() / 2));
  Value cOk = a.le(a.absI(a.sub(ck, cq)), a.idx(getKernelCols() / 2));
  return a.land(rOk, cOk);
}

/// neighborhood_2d: bound is the hull of the allowed keys. Key row r is
/// reachable from query rows [r - kr/2, r + kr/2], so the first allowed key
/// lies kr/2 rows above the first query row, in the leftmost column within
/// kc/2 of that row's first query (p0); likewise the last. full: the key rows
/// within kr/2 of every query row times the columns within kc/2 of every
/// query column (a tile spanning two rows has columns 0 and cols - 1); one
/// interval when those columns are whole rows, else the first such row.
TileClasses Neighborhood2DAttr::classifyTile() const {
  const Tile t;
  int64_t cols = getCols(), hr = getKernelRows() / 2, hc = getKernelCols() / 2;
  Tile::Cell first = t.cell(t.p0, cols), last = t.cell(t.last, cols);
  SymExpr c = cst(cols);
  bool wholeRows = hc >= cols - 1;

  SymExpr loCol =
      wholeRows ? cst(0) : SymExpr::max(cst(0), first.col - cst(hc));
  SymExpr hiCol = wholeRows ? cst(cols - 1)
                            : SymExpr::min(cst(cols - 1), last.col + cst(hc));
  SymInterval bound = {(first.row - cst(hr)) * c + loCol,
                       (last.row + cst(hr)) * c + hiCol + cst(1)};

  SymExpr rowLo = last.row - cst(hr), rowHi = first.row + cst(hr);
  if (wholeRows)
    return {{bound}, {{rowLo * c, (rowHi + cst(1)) * c}}};
  SymExpr oneRow = SymExpr::eq(first.row, last.row);
  SymExpr colLo = SymExpr::max(
      cst(0), SymExpr::select(oneRow, last.col, cst(cols - 1)) - cst(hc));
  SymExpr colHi = SymExpr::min(
      cst(cols - 1), SymExpr::select(oneRow, first.col, cst(0)) + cst(hc));
  SymExpr fullWidth = SymExpr::land(SymExpr::eq(colLo, cst(0)),
                                    SymExpr::eq(colHi, cst(cols - 1)));
  SymExpr lo = rowLo * c + colLo;
  SymExpr hi = SymExpr::select(SymExpr::le(rowLo, rowHi),
                               SymExpr::select(fullWidth, (rowHi + cst(1)) * c,
                                               rowLo * c + colHi + cst(1)),
                               lo);
  return {{bound}, {{lo, hi}}};
}

bool Neighborhood2DAttr::isRowExact() const { return false; }

//===----------------------------------------------------------------------===//
// natten
//===----------------------------------------------------------------------===//

/// One dimension of natten: the key at `x` is in the window of the query
/// at `q` on an axis of `n` tokens, kernel `k`, dilation `d`.
static Value nattenAxis(Arith &a, Value q, Value x, int64_t n, int64_t k,
                        int64_t d) {
  Value dv = a.idx(d), half = a.idx(k / 2);
  Value res = a.floorMod(q, dv);
  // The dilated sub-grid of the query's residue has m tokens; the centre
  // is the query's index in it, clamped so the window stays inside.
  Value m = a.floorDiv(a.add(a.sub(a.idx(n), res), a.idx(d - 1)), dv);
  Value centre =
      a.min(a.max(a.floorDiv(q, dv), half), a.sub(a.sub(m, a.idx(1)), half));
  Value near = a.le(a.absI(a.sub(a.floorDiv(x, dv), centre)), half);
  return d == 1 ? near : a.land(near, a.eq(a.floorMod(x, dv), res));
}

Value NattenAttr::emitAllowed(ImplicitLocOpBuilder &b,
                              const ScorePoint &pt) const {
  Arith a{b};
  auto [rq, cq, rk, ck] = gridCells(a, pt, getCols());
  return a.land(
      nattenAxis(a, rq, rk, getRows(), getKernelRows(), getDilationRows()),
      nattenAxis(a, cq, ck, getCols(), getKernelCols(), getDilationCols()));
}

/// natten: a window spans w = 2 (kernel_rows / 2) + 1 sub-grid rows (the
/// kernel, or one more for even kernels) and, for a query row inside the
/// grid, holds the query's index in its sub-grid: the key rows lie within
/// (w - 1) x dilation_rows of the query's. A query row above the grid sees
/// what the first row of its residue class sees (that row is below
/// dilation_rows), below the grid the last one's: within
/// w x dilation_rows - 1 of row 0 or rows - 1. bound: the whole rows within
/// that reach of the tile's first and last query row clamped into the
/// grid. No tile is known to be full.
TileClasses NattenAttr::classifyTile() const {
  const Tile t;
  int64_t cols = getCols();
  int64_t reach = (2 * (getKernelRows() / 2) + 1) * getDilationRows() - 1;
  auto clampRow = [&](const SymExpr &row) {
    return SymExpr::max(cst(0), SymExpr::min(row, cst(getRows() - 1)));
  };
  SymExpr c = cst(cols);
  SymInterval bound = {(clampRow(t.cell(t.p0, cols).row) - cst(reach)) * c,
                       (clampRow(t.cell(t.last, cols).row) + cst(reach + 1)) *
                           c};
  return {{bound}, {}};
}

bool NattenAttr::isRowExact() const { return false; }

//===----------------------------------------------------------------------===//
// window_2d
//===----------------------------------------------------------------------===//

Value Window2DAttr::emitAllowed(ImplicitLocOpBuilder &b,
                                const ScorePoint &pt) const {
  Arith a{b};
  auto [rq, cq, rk, ck] = gridCells(a, pt, getCols());
  // Same wh x ww window: floor(r_q/wh) == floor(r_k/wh), likewise columns.
  Value wr = a.idx(getWindowRows()), wc = a.idx(getWindowCols());
  return a.land(a.eq(a.floorDiv(rq, wr), a.floorDiv(rk, wr)),
                a.eq(a.floorDiv(cq, wc), a.floorDiv(ck, wc)));
}

/// window_2d: bound is the hull of the allowed keys: from the first key row
/// of the first query's window band, in the leftmost window any of the
/// tile's queries in that band has, to the last key row of the last query's
/// band, in the rightmost such window. full: the window holding the whole
/// tile, as the tile's row of it (its whole band when one window spans the
/// grid's width).
TileClasses Window2DAttr::classifyTile() const {
  const Tile t;
  int64_t cols = getCols(), wr = getWindowRows(), wc = getWindowCols();
  Tile::Cell first = t.cell(t.p0, cols), last = t.cell(t.last, cols);
  SymExpr c = cst(cols);
  SymExpr band0 = SymExpr::floorDiv(first.row, wr);
  SymExpr band1 = SymExpr::floorDiv(last.row, wr);
  SymExpr multiRow = SymExpr::lt(first.row, last.row);

  if (wc >= cols) {
    // One window per band: whole rows.
    SymExpr lo = band0 * cst(wr * cols);
    return {{{lo, (band1 + cst(1)) * cst(wr * cols)}},
            {{lo, SymExpr::select(SymExpr::eq(band0, band1),
                                  (band0 + cst(1)) * cst(wr * cols), lo)}}};
  }
  // A query in the band's next row (column 0) or previous row (column
  // cols - 1) widens the reachable windows to the grid's edge.
  SymExpr firstWin = SymExpr::floorDiv(first.col, wc);
  SymExpr lastWin = SymExpr::floorDiv(last.col, wc);
  SymExpr minWin = SymExpr::select(
      SymExpr::land(
          multiRow,
          SymExpr::eq(SymExpr::floorDiv(first.row + cst(1), wr), band0)),
      cst(0), firstWin);
  SymExpr maxWin = SymExpr::select(
      SymExpr::land(
          multiRow,
          SymExpr::eq(SymExpr::floorDiv(last.row - cst(1), wr), band1)),
      cst((cols - 1) / wc), lastWin);
  SymInterval bound = {band0 * cst(wr) * c + minWin * cst(wc),
                       ((band1 + cst(1)) * cst(wr) - cst(1)) * c +
                           SymExpr::min(c, (maxWin + cst(1)) * cst(wc))};

  SymExpr oneWindow =
      SymExpr::land(SymExpr::lnot(multiRow), SymExpr::eq(firstWin, lastWin));
  SymExpr lo = first.row * c + firstWin * cst(wc);
  SymExpr hi = SymExpr::select(
      oneWindow, first.row * c + SymExpr::min(c, (firstWin + cst(1)) * cst(wc)),
      lo);
  return {{bound}, {{lo, hi}}};
}

bool Window2DAttr::isRowExact() const { return false; }

//===----------------------------------------------------------------------===//
// directional_2d
//===----------------------------------------------------------------------===//

Value Directional2DAttr::emitAllowed(ImplicitLocOpBuilder &b,
                                     const ScorePoint &pt) const {
  Arith a{b};
  auto [rq, cq, rk, ck] = gridCells(a, pt, getCols());
  ArrayRef<int64_t> dirs = getDirections();
  int64_t n = dirs.size() / 2;
  SmallVector<int64_t> ur, uc;
  for (int64_t k = 0; k < n; ++k) {
    ur.push_back(dirs[2 * k]);
    uc.push_back(dirs[2 * k + 1]);
  }
  Value which = a.floorMod(pt.h, a.idx(n));
  Value dirR = a.tableIndex(ur, which), dirC = a.tableIndex(uc, which);
  Value dr = a.sub(rk, rq), dc = a.sub(ck, cq);
  // dot(d, u) and cross(d, u) = d_r u_c - d_c u_r; the cone is
  // dot >= |cross|, the half-plane dot >= 0.
  Value dot = a.add(a.mul(dr, dirR), a.mul(dc, dirC));
  if (getHalfPlane())
    return a.ge(dot, a.idx(0));
  Value cross = a.sub(a.mul(dr, dirC), a.mul(dc, dirR));
  return a.ge(dot, a.absI(cross));
}

/// The key-row offsets dr = key_row - query_row that direction (ur, uc)
/// allows for some column offset |dc| < cols; nullopt where unbounded.
/// For fixed dc every constraint is linear in dr, a*dr + k >= 0.
static std::pair<std::optional<int64_t>, std::optional<int64_t>>
directionRowRange(int64_t ur, int64_t uc, bool halfPlane, int64_t cols) {
  // dot >= |cross|  <=>  dot - cross >= 0 and dot + cross >= 0, with
  // dot = dr*ur + dc*uc and cross = dr*uc - dc*ur.
  // Each constraint (a, b) reads a*dr + b*dc >= 0.
  SmallVector<std::pair<int64_t, int64_t>, 2> constraints;
  if (halfPlane)
    constraints.push_back({ur, uc});
  else
    constraints.append({{ur - uc, uc + ur}, {ur + uc, uc - ur}});
  std::optional<int64_t> lo = 0, hi = 0; // dr = dc = 0 is always allowed
  bool unboundedLo = false, unboundedHi = false;
  for (int64_t dc = -(cols - 1); dc <= cols - 1; ++dc) {
    std::optional<int64_t> from, to; // nullopt: unbounded
    bool feasible = true;
    for (auto [a, b] : constraints) {
      int64_t k = b * dc;
      if (a > 0) { // dr >= ceil(-k / a)
        int64_t bound = -floorDivInt(k, a);
        from = from ? std::max(*from, bound) : bound;
      } else if (a < 0) { // dr <= floor(k / -a)
        int64_t bound = floorDivInt(k, -a);
        to = to ? std::min(*to, bound) : bound;
      } else if (k < 0) {
        feasible = false;
      }
    }
    if (!feasible || (from && to && *from > *to))
      continue;
    if (!from)
      unboundedLo = true;
    else
      lo = std::min(*lo, *from);
    if (!to)
      unboundedHi = true;
    else
      hi = std::max(*hi, *to);
  }
  return {unboundedLo ? std::nullopt : lo, unboundedHi ? std::nullopt : hi};
}

/// directional_2d: every head's direction bounds the key rows relative to
/// the query rows (ignoring columns); the union over directions is the
/// bound. Which keys every head allows is not tracked: full is empty.
TileClasses Directional2DAttr::classifyTile() const {
  const Tile t;
  int64_t cols = getCols();
  ArrayRef<int64_t> dirs = getDirections();
  std::optional<int64_t> minOff = 0, maxOff = 0;
  for (size_t k = 0; k + 1 < dirs.size(); k += 2) {
    auto [lo, hi] =
        directionRowRange(dirs[k], dirs[k + 1], getHalfPlane(), cols);
    minOff =
        minOff && lo ? std::optional(std::min(*minOff, *lo)) : std::nullopt;
    maxOff =
        maxOff && hi ? std::optional(std::max(*maxOff, *hi)) : std::nullopt;
  }
  Tile::Cell first = t.cell(t.p0, cols), last = t.cell(t.last, cols);
  SymExpr lo = minOff ? (first.row + cst(*minOff)) * cst(cols) : cst(0);
  SymExpr hi =
      maxOff ? (last.row + cst(*maxOff + 1)) * cst(cols) : SymExpr::kvEnd();
  TileClasses tc;
  tc.bound.push_back({lo, hi});
  return tc;
}

bool Directional2DAttr::isRowExact() const { return false; }
