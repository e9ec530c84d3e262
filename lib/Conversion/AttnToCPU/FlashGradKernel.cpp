//===- FlashGradKernel.cpp - Fused backward of attn.attention_grad --------===//
//
// The backward pass in the FlashAttention-2 style on the CPU. Scores and
// weights are recomputed tile by tile (P = w(s') / Z with Z = exp(LSE)
// from the forward's LSE for the row-sum normalizers, Z = 1 or kv_len for
// sigmoid and relu); nothing of size Sq x Skv is ever stored. Deterministic, no
// atomics: every output element is written by one work item, and sums run
// in a fixed order. First Delta = rowsum(dO * O) per query row (an O(B *
// Hq * Sq) buffer), then one of two schedules, chosen at run time:
//
// - One pass, where B * Hkv >= 2 x threads: one item per (b, kv head),
//   which walks all its kv tiles (in order) and, for each, every query head
//   of its group and every q-tile that the classification does not rule
//   out (see the kv-tile body below), accumulating the group's dQ in its
//   own f32 buffer (O(G * Sq * D)): 5 tile products per (q-tile, kv-tile)
//   pair, as in FlashAttention-2's backward, without its atomic dQ adds.
// - Two passes otherwise, for parallelism:
//   1. the query pass, one item per (b, h, q-tile), laid out as the
//      forward (CPUTiler.h: query rows in the vector lanes). It walks the
//      kv tiles that the tile classes leave non-empty, and per tile
//        ST[jj][c] = s(i0 + c, j0 + jj)      (Q K^T, QT pre-scaled)
//        DP[jj][c] = dO[i0 + c] . V[j0 + jj]  (dO V^T)
//        DP       <- dS = scale * P * ds'/ds * (dP - Delta)
//        dQT[d][:] += K[j0 + jj, d] * dS[jj][:]
//   2. the kv-tile body alone, one item per (b, kv head, kv tile): 7 tile
//      products per pair in all.
//   With dot = amx (bf16 on AMX hosts) the kv tiles are packed for the
//   tile products once, before the passes, and the query pass takes the
//   kv-tile body's layout (keys in the lanes) for S, dP and dQ += dS K on
//   AMX tiles, unless a NaN or inf in Q, dO or the kv head's K sends the
//   item to the f32 FMAs above.
//
// The kv-tile body has the keys in the lanes: K^T and V^T of the tile
// packed once, then for each query head of the group (GQA: the group's
// sum, in order) and each q-tile that the classification does not rule out
// for this kv tile (the transposed classification: each q-tile's classes,
// evaluated for this kv tile, O(1) index arithmetic per pair)
//   ST[c][:] = s(i0 + c, j0 + :),  DP[c][:] = dO[i0 + c] . V[j0 + :]
//   ST <- P,  DP <- dS
//   dVT[e][:] += dO[i0 + c, e] * P[c][:]
//   dKT[d][:] += Q[i0 + c, d] * dS[c][:]
//   (one pass) dQacc[i0 + c][:] += dS[c][jj] * K[j0 + jj][:]
//
// Full tiles without modifiers take no per-element work; partial tiles
// evaluate the mask (and modifiers and their slope) per element through the
// ScoreEmitter, as the forward does. The top-level document, tree, dense
// and block-table conjuncts are classified per tile at run time with the
// forward's classes (RuntimeTiles, RuntimeSkipping.cpp): the query pass
// asks them of each kv tile for its q-tile's rows, the kv-tile body of
// each q-tile's rows for its kv tile (the transposed question, asked of
// the pairs the symbolic classes keep); tiles they rule out are skipped,
// tiles they allow entirely are full where the symbolic classes say so
// too (mask_mod regions stay per element). Every normalizer, through the
// formulas that the reference lowering uses (emitGradWeightAndFactor,
// Normalizer.h); static head dims up to 256 (else the reference lowering,
// whyNoFusedGrad).
//
//===----------------------------------------------------------------------===//

#include "CPUTiler.h"

#include "attn/Dialect/Attn/Utils/ParamGrads.h"
#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

#include "mlir/IR/TypeUtilities.h"
#include "llvm/Support/Threading.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

/// Head dims up to this size: the scratch tiles of an item stay on the
/// stack (kStackScratchBytes).
static constexpr int64_t kMaxGradHeadDim = 256;

std::optional<std::string> mlir::attn::whyNoFusedGrad(AttentionGradOp op) {
  int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  int64_t dv = cast<ShapedType>(op.getValue().getType()).getDimSize(3);
  if (ShapedType::isDynamic(d) || ShapedType::isDynamic(dv))
    return std::string("the fused backward needs static head dims");
  if (d > kMaxGradHeadDim || dv > kMaxGradHeadDim)
    return "the fused backward takes head dims up to " +
           std::to_string(kMaxGradHeadDim);
  return std::nullopt;
}

CPUTilePlan mlir::attn::resolveCPUGradPlan(AttentionGradOp op,
                                           const CPUTarget &target) {
  CPUTilePlan plan;
  plan.vectorWidth =
      target.vectorWidth > 0 ? target.vectorWidth : hostVectorWidth();
  // Four vectors of lanes per tile side, and register blocks of rows that
  // keep 24 (AVX-512) or 12 (16 registers) accumulators.
  plan.blockQ = plan.blockKv = 4 * plan.vectorWidth;
  plan.unroll = plan.vectorWidth >= 16 ? 6 : 3;
  // The threads that the schedule choice (GradTiler::run) keeps busy.
  static const int64_t hostCores =
      std::max<int64_t>(1, llvm::get_physical_cores());
  plan.threads = target.threads > 0 ? target.threads : hostCores;
  // bf16 on AMX hosts, as the forward (TilePlan.cpp): the kv-tile body's
  // products on AMX tiles, for head dims that are multiples of 32 (the
  // k extent of a tile product), unless the op's #attn.config asks for
  // another `dot`; f16 only where asked for (dot = "amx" or
  // target.f16Amx), Q, K, V and dO rounded to bf16 as they are copied.
  // hostAmx() is asked for those ops only (it requests tile-data
  // permission).
  int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  int64_t dv = cast<ShapedType>(op.getValue().getType()).getDimSize(3);
  ConfigAttr config = op.getConfigAttr();
  StringRef dot = config ? config.getDot() : StringRef();
  Type elem = getElementTypeOrSelf(op.getQuery().getType());
  bool wanted =
      elem.isBF16()
          ? target.amx && (dot.empty() || dot == "amx")
          : elem.isF16() && (dot == "amx" || (dot.empty() && target.f16Amx));
  if (wanted && plan.vectorWidth == 16 && !ShapedType::isDynamic(d) &&
      !ShapedType::isDynamic(dv) && d % 32 == 0 && dv % 32 == 0 &&
      hostAmx().usable)
    plan.dot = CPUDot::Amx;
  return plan;
}

namespace {

/// The key pass's scratch tiles, shared by the pairs of an item: K^T, V^T,
/// the dK^T and dV^T accumulators, scores / P, dP / dS, slopes (with
/// modifiers) and f32 copies of the q-tile's Q and dO rows (f16 / bf16).
struct KeyScratch {
  Value kt, vt, dkt, dvt, st, dp, gt, qr, dor;
  /// The item's dQ accumulator: one pass [G * dqRows][d], the query pass
  /// on AMX tiles [block_q][d]; one pass: the kv tile's K rows in f32,
  /// KR[jj][d].
  Value dqAcc, kr;
  /// dot = amx (emitKeyPairAmx), bf16: the kv tile's K and V in pairs of
  /// head-dim elements, KP[d / 2][2 jj + d % 2] and VP[e / 2][2 jj + e %
  /// 2] (the B operands of Q K^T and dO V^T), K in pairs of keys,
  /// KI[jj / 2][2 d + jj % 2] (of dS K), all 0 past nkv; P and dS in
  /// pairs of query rows, PB[c / 2][2 jj + c % 2] and DSB (of dO^T P and
  /// Q^T dS), and dS in rows, DSR[c][jj] (of dS K). kNonFinite: the
  /// tile's K holds a NaN or inf (i1). f16 K and V are rounded to bf16.
  Value kp, vp, ki, pb, dsb, dsr, kNonFinite;
  /// The dQ accumulator's row of the pair's first query row (dqAcc set).
  Value dqRow0;
  /// The query pass on AMX tiles with capture gradients: the raw scores
  /// and dS' of the pair ([c][jj]), and the accumulators' slot.
  Value rt, dst, slot;
};

/// The coordinates of one work item's current (q-tile, kv-tile) pair.
struct Pair {
  Value bi, hi, kvh, kvLenB, kvEnd;
  /// The normalizer's row bias (sigmoid's beta), or null.
  Value rowBias;
  Value i0, nq, j0, nkv;
};

/// Emits the two passes of one attn.attention_grad op.
class GradTiler {
public:
  GradTiler(AttentionGradOp op, const CPUTilePlan &plan,
            ImplicitLocOpBuilder &b)
      : op(op), plan(plan), b(b), o{b} {}

  void run();

private:
  /// Pass 1: item (b, h, q-tile) of numQTiles q-tiles per head; with
  /// captures to differentiate, `slot` numbers the accumulators it adds to.
  void emitQueryItem(Value item, Value numQTiles, Value slot = Value());
  /// The query item by f32 FMAs, query rows in the lanes.
  void emitQueryItemFma(Pair &p, Value slot);
  /// The query item by AMX tile products (dot = amx, inputs finite): the
  /// key pass's emitKeyPairAmx for S, dP and dQ += dS K alone, into the
  /// item's f32 dQ tile.
  void emitQueryItemAmx(Pair &p, Value slot);
  /// body(t, full) for the kv tiles of the pair's q-tile that the
  /// symbolic and run-time classes keep, in order, with p.j0 and p.nkv
  /// set.
  void forEachKeptKvTile(Pair &p,
                         function_ref<void(Value t, Value full)> body);
  /// Adds dS' * ds'/dx of the tile's allowed elements to the capture
  /// accumulators of `slot` (see capAccs); RT holds the tile's scores s
  /// and DST its dS', both [jj][c], or [c][jj] with `keyLanes`.
  void emitCaptureGradTile(Pair &p, Value rt, Value dst, Value slot,
                           bool keyLanes);
  /// The capture gradients: the slots' accumulators summed in slot order.
  void emitCaptureGradSums();
  /// Delta of the rows of item (b, h).
  void emitDeltaItem(Value item);
  /// Kv tile `t` of (p.bi, p.kvh): its dK and dV and, with `dqAcc` (the
  /// one-pass schedule), the dQ contributions of its pairs.
  void emitKvTileItem(Pair &p, Value t, Value dqAcc);
  /// The one-pass schedule's item (p.bi, p.kvh): every kv tile, dQ
  /// accumulated in f32.
  void emitOnePassItem(Pair &p, Value numKvTiles);
  /// The key pass's work on one (q-tile, kv-tile) pair: with dot = amx
  /// emitKeyPairAmx, or emitKeyPairFma where a NaN or inf in K, Q or dO
  /// could meet a zero weight in a tile product.
  void emitKeyPair(Pair &p, Value isFull);
  /// emitKeyPair by f32 FMAs (bf16 and f16 widened).
  void emitKeyPairFma(Pair &p, Value isFull);
  /// emitKeyPair by AMX tile products (AmxGradProducts.cpp): S = Q K^T,
  /// dP = dO V^T, dV^T += dO^T P and dK^T += Q^T dS (where the scratch has
  /// dVT and dKT), dQ += dS K (where it has dqAcc), with P and dS rounded
  /// to bf16.
  void emitKeyPairAmx(Pair &p, Value isFull);
  /// dot = amx: the bf16 layouts (KP, VP, KI) of the pair's kv tile in
  /// `kp`, `vp` and `ki`, 0 past nkv (> 0); returns whether its K holds a
  /// NaN or inf (i1).
  Value emitAmxKeyPack(Pair &p, Value kp, Value vp, Value ki);
  /// dot = amx, two passes: every kv tile packed once (amxKP, ...).
  void emitAmxKeyCopies(Value numKvTiles);
  /// dot = amx, two passes: s.kp, s.vp, s.ki and s.kNonFinite of kv tile
  /// `t` of (p.bi, p.kvh), from emitAmxKeyCopies.
  void emitAmxKeyViews(Pair &p, KeyScratch &s, Value t);
  /// Tile `tileIndex` of `packs` (amxKP, amxVP or amxKI), `rows` rows.
  Value amxKeyView(Value packs, int64_t rows, Value tileIndex);
  /// A 64-byte aligned bf16 scratch tile on the stack.
  Value bf16Tile(ArrayRef<int64_t> shape);
  /// dot = amx: the bf16 copies of Q and dO (amxQRows etc.) and
  /// amxQNonFinite.
  void emitAmxQueryCopies();

  /// for iv in [lb, ub) by `step`, no results; body emits no yield.
  void forEach(Value lb, Value ub, int64_t step, function_ref<void(Value)> fn);
  /// body(r0, rows) for blocks of plan.unroll rows of [0, n), then for the
  /// remaining rows one by one.
  void rowBlocks(Value n, function_ref<void(Value r0, int64_t rows)> body);
  void emitIf(Value cond, function_ref<void()> then,
              function_ref<void()> otherwise = nullptr);
  /// body() inside a memref.alloca_scope: its stack scratch is freed at
  /// the end (for bodies of sequential loops).
  void inAllocaScope(function_ref<void()> body);
  /// dst[r][:] = factor * sum_{k < n} a(r, k) * bt[k][:] for r < rows
  /// (factor null: 1), in register blocks of rows.
  void emitProduct(Value dst, Value rows, int64_t n,
                   function_ref<Value(Value r, Value k)> a, Value bt,
                   Value factor = Value());
  /// acc[r][:] += sum_{k < kEnd} a(k, r) * src[k][:] for r < rows; src
  /// holds weights (P or dS), whose zero lanes add nothing.
  void emitAccumulate(Value acc, int64_t rows, Value kEnd,
                      function_ref<Value(Value k, Value r)> a, Value src);
  /// A 64-byte aligned f32 scratch tile on the stack.
  Value tile(ArrayRef<int64_t> shape);
  /// Fills a [rows x lanes*k] tile with `value`.
  void fill(Value tile, double value);
  Value load4(Value buf, Value bi, Value h, Value s, Value d);
  void store4(Value val, Value buf, Value bi, Value h, Value s, Value d);
  Value loadLanes(Value tile, Value row, int64_t v);
  void storeLanes(Value val, Value tile, Value row, int64_t v);
  /// Sets kvLenB and kvEnd of `p` from p.bi.
  void emitKvExtent(Pair &p);
  /// The symbolic tile classes of the pair's q-tile: (non-empty, full)
  /// for its kv tile.
  std::pair<Value, Value> emitPairClass(Pair &p, Value t);
  /// body(full) where the run-time classes keep the pair's kv tile `t`
  /// (all of them without run-time conjuncts) for its q-tile's rows,
  /// `full` being `symFull` and the run-time full class; `rows` from
  /// emitRuntimeRows. Tiles they rule out are skipped.
  void emitRuntimeKept(Pair &p, const RuntimeTileRows &rows,
                       Value denseRowBase, Value t, Value symFull,
                       function_ref<void(Value full)> body);
  /// The pair's q-tile rows for the run-time classes (rows.segMin / segMax
  /// filled), and the dense mask's row base for them (RuntimeTiles::emitRows).
  std::pair<RuntimeTileRows, Value> emitRuntimeRows(Pair &p, Value p0);
  /// ST = (masked, modified) scores per element, GT = ds'/ds, on partial
  /// tiles (and full ones with modifiers). `keyLanes`: ST[c][jj], else
  /// ST[jj][c].
  void emitElementStage(Pair &p, Value st, Value gt, bool keyLanes,
                        Value isFull);
  /// P and dS = scale * w'(s') / Z * ds'/ds * (dP - Delta) of one vector
  /// of scores of rows with LSE `lse` (row-sum normalizers, else null) and
  /// Delta `delta` (0 without a row sum).
  /// With `dsPrime`, also dS' = w'(s') / Z * (dP - Delta), the gradient
  /// of the modified score.
  std::pair<Value, Value> emitWeightAndGrad(Pair &p, Value s, Value dp,
                                            Value lse, Value delta,
                                            Value slope,
                                            Value *dsPrime = nullptr);
  /// (LSE, Delta) of query row `row`; (null, 0) without a row sum.
  std::pair<Value, Value> emitRowStats(Pair &p, Value row);
  Value deltaIndex(Pair &p, Value row);

  AttentionGradOp op;
  const CPUTilePlan &plan;
  ImplicitLocOpBuilder &b;
  Arith o;
  std::unique_ptr<ScoreEmitter> emitter;
  TileClasses classes;
  /// The run-time classes of the mask's document / tree / dense /
  /// block-table conjuncts; null without any.
  std::unique_ptr<RuntimeTiles> runtimeTiles;
  bool hasMods = false, bshd = false, f32In = false;
  NormalizerAttrInterface normalizer;
  /// The normalizer divides by a row sum (it has an LSE; dS needs Delta).
  bool rowSum = false;
  Type f32;
  VectorType vecType;
  int64_t lanes = 16, bq = 64, bk = 64, d = 0, dv = 0;
  GradBuffers bufs;
  /// Delta = rowsum(dO * O) per query row (row-sum normalizers).
  Value deltaB;
  Value scale;
  /// The key item being emitted.
  KeyScratch *scratch = nullptr;
  /// Operands in `wrt` read by the score modifiers (captures, bias,
  /// rel_bias_table, temperature), their element counts, and per operand
  /// an f32 accumulator [numSlots * count]: dQ-pass item n adds to slot n
  /// mod numSlots, and each slot runs its items in order, so every sum has
  /// one fixed order (no atomics).
  SmallVector<Value> wrtOperands;
  SmallVector<Value> capCounts, capAccs;
  Value numSlots;
  /// The identity buffers of their gradients' destinations.
  SmallVector<Value> capOuts;
  /// plan.dot == CPUDot::Amx: bf16 inputs (or f16 ones that opt in) on an
  /// AMX host.
  bool amx = false;
  /// Rows of a query head in the one-pass dQ accumulator: Sq, or with
  /// dot = amx Sq rounded up to block_q (the tile products write whole
  /// q-tiles).
  Value dqRows;
  /// dot = amx: bf16 copies of Q and dO per (b, h), made once before the
  /// passes, with amxLen = Sq rounded up to block_q rows (0 past Sq): Q
  /// and dO rows, [(b Hq + h) amxLen + i][d], the A operands of Q K^T
  /// and dO V^T; Q^T and dO^T, [(b Hq + h) d + dd][i], the A operands of
  /// Q^T dS and dO^T P. amxQNonFinite (i1): some element of Q or dO is a
  /// NaN or inf (every pair then takes emitKeyPairFma).
  Value amxLen, amxQRows, amxDoRows, amxQCols, amxDoCols, amxQNonFinite;
  /// dot = amx, while the two-pass schedule is emitted: KP, VP and KI of
  /// every kv tile ((b Hkv + kvh) numKvTiles + t) one after the other,
  /// [tile * (d / 2) + dd / 2][2 jj + dd % 2] etc., and per tile whether
  /// its K holds a NaN or inf (i32); null otherwise.
  Value amxKP, amxVP, amxKI, amxKFlags, amxKvTiles;
};

/// Accumulator slots of the operand gradients at most: parallel work of
/// the dQ pass, and copies of each operand's gradient...
static constexpr int64_t kCaptureSlots = 64;
/// ...within this many f32 accumulators in all (256 MiB).
static constexpr int64_t kCaptureAccBudget = int64_t(1) << 26;

} // namespace

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

void GradTiler::forEach(Value lb, Value ub, int64_t step,
                        function_ref<void(Value)> fn) {
  emitForLoop(b, lb, ub, o.idx(step), ValueRange{}, [&](Value iv, ValueRange) {
    fn(iv);
    scf::YieldOp::create(b);
  });
}

void GradTiler::rowBlocks(Value n,
                          function_ref<void(Value r0, int64_t rows)> body) {
  int64_t rows = plan.unroll;
  Value blocked = o.mul(o.divU(n, o.idx(rows)), o.idx(rows));
  forEach(o.idx(0), blocked, rows, [&](Value r0) { body(r0, rows); });
  forEach(blocked, n, 1, [&](Value r0) { body(r0, 1); });
}

void GradTiler::emitProduct(Value dst, Value rows, int64_t n,
                            function_ref<Value(Value r, Value k)> a, Value bt,
                            Value factor) {
  int64_t vecs = cast<MemRefType>(bt.getType()).getDimSize(1) / lanes;
  Value zeroVec = o.cst(vecType, 0.0);
  rowBlocks(rows, [&](Value r0, int64_t block) {
    emitRankOneUpdates(
        b, vecType, block, vecs, o.idx(0), o.idx(n),
        [&](int64_t, int64_t) { return zeroVec; },
        [&](int64_t r, Value k) { return a(o.add(r0, o.idx(r)), k); },
        [&](Value k, int64_t v) { return loadLanes(bt, k, v); },
        [&](int64_t r, int64_t v, Value acc) {
          storeLanes(factor ? o.fmul(acc, factor) : acc, dst,
                     o.add(r0, o.idx(r)), v);
        });
  });
}

void GradTiler::emitAccumulate(Value acc, int64_t rows, Value kEnd,
                               function_ref<Value(Value k, Value r)> a,
                               Value src) {
  int64_t vecs = cast<MemRefType>(src.getType()).getDimSize(1) / lanes;
  rowBlocks(o.idx(rows), [&](Value r0, int64_t block) {
    emitRankOneUpdates(
        b, vecType, block, vecs, o.idx(0), kEnd,
        [&](int64_t r, int64_t v) {
          return loadLanes(acc, o.add(r0, o.idx(r)), v);
        },
        [&](int64_t r, Value k) { return a(k, o.add(r0, o.idx(r))); },
        [&](Value k, int64_t v) { return loadLanes(src, k, v); },
        [&](int64_t r, int64_t v, Value x) {
          storeLanes(x, acc, o.add(r0, o.idx(r)), v);
        },
        ZeroSkip::BLanes);
  });
}

void GradTiler::inAllocaScope(function_ref<void()> body) {
  auto scope = memref::AllocaScopeOp::create(b, TypeRange{});
  Block *block = new Block();
  scope.getBodyRegion().push_back(block);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(block);
  body();
  memref::AllocaScopeReturnOp::create(b, ValueRange{});
}

void GradTiler::emitIf(Value cond, function_ref<void()> then,
                       function_ref<void()> otherwise) {
  auto ifOp = scf::IfOp::create(b, TypeRange{}, cond,
                                /*withElseRegion=*/bool(otherwise));
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  then();
  if (otherwise) {
    b.setInsertionPointToStart(ifOp.elseBlock());
    otherwise();
  }
}

Value GradTiler::tile(ArrayRef<int64_t> shape) {
  return memref::AllocaOp::create(b, MemRefType::get(shape, f32),
                                  b.getI64IntegerAttr(64));
}

void GradTiler::fill(Value t, double value) {
  auto type = cast<MemRefType>(t.getType());
  Value x = o.cst(vecType, value);
  forEach(o.idx(0), o.idx(type.getDimSize(0)), 1, [&](Value r) {
    for (int64_t v = 0; v < type.getDimSize(1) / lanes; ++v)
      storeLanes(x, t, r, v);
  });
}

Value GradTiler::load4(Value buf, Value bi, Value h, Value s, Value dd) {
  return o.extF(
      memref::LoadOp::create(b, buf, layoutIndices(bshd, bi, h, s, dd)));
}

void GradTiler::store4(Value val, Value buf, Value bi, Value h, Value s,
                       Value dd) {
  auto elem = cast<MemRefType>(buf.getType()).getElementType();
  memref::StoreOp::create(b, o.truncF(val, elem), buf,
                          layoutIndices(bshd, bi, h, s, dd));
}

Value GradTiler::loadLanes(Value t, Value row, int64_t v) {
  return vector::LoadOp::create(b, vecType, t,
                                ValueRange{row, o.idx(v * lanes)});
}

void GradTiler::storeLanes(Value val, Value t, Value row, int64_t v) {
  vector::StoreOp::create(b, val, t, ValueRange{row, o.idx(v * lanes)});
}

void GradTiler::emitKvExtent(Pair &p) {
  p.kvLenB = emitter->emitKvLength(b, p.bi);
  // Keys visited: [0, kvEnd), kv_len clamped as in the forward.
  p.kvEnd = o.max(o.min(p.kvLenB, bufs.kvLen), o.idx(0));
  p.rowBias = normalizer.emitRowBias(b, p.kvLenB);
}

std::pair<Value, Value> GradTiler::emitPairClass(Pair &p, Value t) {
  Value p0 = emitter->emitPosition(b, p.i0, p.kvLenB);
  SymValues sym = {p0, o.add(p0, p.nq), p.kvEnd};
  Value touched = o.i1(false);
  for (auto [lo, hi] :
       mlir::attn::emitTileRanges(b, classes, sym, p.kvEnd, plan.blockKv))
    touched = o.lor(touched, o.land(o.le(lo, t), o.lt(t, hi)));
  Value full = emitTileIsFull(b, emitFullIntervals(b, classes, sym), p.j0,
                              plan.blockKv, p.kvEnd);
  return {touched, full};
}

std::pair<RuntimeTileRows, Value> GradTiler::emitRuntimeRows(Pair &p,
                                                             Value p0) {
  RuntimeTileRows rows{p.bi,     p.hi,    p.i0,   o.add(p.i0, p.nq), p0,
                       o.add(p0, p.nq), p.kvLenB, Value(), Value()};
  Value denseRowBase;
  if (runtimeTiles)
    denseRowBase = runtimeTiles->emitRows(b, rows);
  return {rows, denseRowBase};
}

void GradTiler::emitRuntimeKept(Pair &p, const RuntimeTileRows &rows,
                                Value denseRowBase, Value t, Value symFull,
                                function_ref<void(Value full)> body) {
  if (!runtimeTiles)
    return body(symFull);
  // The tile's keys [j0, j0 + nkv) are not empty: callers visit tiles
  // below kvEnd only.
  auto [kept, full] = runtimeTiles->emitTileClass(
      b, rows, denseRowBase, t, p.j0, o.add(p.j0, p.nkv));
  emitIf(kept, [&, full = full] { body(o.land(symFull, full)); });
}

Value GradTiler::deltaIndex(Pair &p, Value row) {
  return o.add(o.mul(o.add(o.mul(p.bi, bufs.qHeads), p.hi), bufs.qLen), row);
}

std::pair<Value, Value> GradTiler::emitRowStats(Pair &p, Value row) {
  if (!rowSum)
    return {Value(), o.f32(0.0)};
  Value lse = memref::LoadOp::create(b, bufs.lseB, ValueRange{p.bi, p.hi, row});
  Value delta = memref::LoadOp::create(b, deltaB, deltaIndex(p, row));
  return {lse, delta};
}

std::pair<Value, Value> GradTiler::emitWeightAndGrad(Pair &p, Value s, Value dp,
                                                     Value lse, Value delta,
                                                     Value slope,
                                                     Value *dsPrime) {
  auto [prob, factor] =
      emitGradWeightAndFactor(b, normalizer, s, lse, p.rowBias, p.kvLenB);
  // dS' is 0 where the factor is 0 (a masked key), whatever a NaN or inf
  // value made of dP (README, "Masked keys"); dS and the operand
  // gradients both derive from it.
  Value dsp = o.select(o.nonZero(factor), o.fmul(factor, o.fsub(dp, delta)),
                       o.cst(vecType, 0.0));
  if (dsPrime)
    *dsPrime = dsp;
  Value ds = o.fmul(dsp, o.splat(vecType, scale));
  if (slope)
    ds = o.fmul(ds, slope);
  return {prob, ds};
}

void GradTiler::emitElementStage(Pair &p, Value st, Value gt, bool keyLanes,
                                 Value isFull) {
  auto loop = [&](bool mask) {
    Value rows = keyLanes ? p.nq : p.nkv, cols = keyLanes ? p.nkv : p.nq;
    forEach(o.idx(0), rows, 1, [&](Value r) {
      forEach(o.idx(0), cols, 1, [&](Value l) {
        Value c = keyLanes ? r : l, jj = keyLanes ? l : r;
        Value s = memref::LoadOp::create(b, st, ValueRange{r, l});
        ScorePoint pt = emitter->makePoint(b, p.bi, p.hi, o.add(p.i0, c),
                                           o.add(p.j0, jj), p.kvLenB);
        if (hasMods) {
          auto [mod, slope] = emitter->emitScoreModsAndSlope(b, s, pt);
          s = mod;
          memref::StoreOp::create(b, slope, gt, ValueRange{r, l});
        }
        if (mask)
          s = o.select(emitter->emitAllowed(b, pt), s, o.f32(kNegInf));
        memref::StoreOp::create(b, s, st, ValueRange{r, l});
      });
    });
  };
  if (hasMods)
    emitIf(
        isFull, [&] { loop(/*mask=*/false); }, [&] { loop(/*mask=*/true); });
  else
    emitIf(o.lnot(isFull), [&] { loop(/*mask=*/true); });
}

//===----------------------------------------------------------------------===//
// Setup
//===----------------------------------------------------------------------===//

void GradTiler::run() {
  f32 = b.getF32Type();
  lanes = plan.vectorWidth;
  bq = plan.blockQ;
  bk = plan.blockKv;
  vecType = VectorType::get({lanes}, f32);
  bshd = op.getLayoutOrDefault() == Layout::bshd;
  hasMods = !op.getScoreModList().empty();
  RuntimeConjuncts runtime = splitRuntimeConjuncts(op.getMaskOrDefault());
  classes = classifyMask(runtime.declarative);
  d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  dv = cast<ShapedType>(op.getValue().getType()).getDimSize(3);
  f32In = getElementTypeOrSelf(op.getQuery().getType()).isF32();
  normalizer = cast<NormalizerAttrInterface>(op.getNormalizerOrDefault());
  rowSum = normalizer.getRowDenominator() == RowDenominator::RowSum;

  amx = plan.dot == CPUDot::Amx;
  SmallVector<Value> paramGrads = emitParamGradients(b, op);
  bufs = GradBuffers::emit(b, op, rowSum);
  dqRows = bufs.qLen;
  if (amx) {
    amxLen = o.mul(o.ceilDiv(bufs.qLen, o.idx(bq)), o.idx(bq));
    dqRows = amxLen;
    emitAmxQueryCopies();
  }
  auto out = [&](Value t) {
    return toIdentityBuffer(b, t, /*readOnly=*/false);
  };

  emitter = makeScoreEmitter(
      b, op, op.getQuery(),
      tensor::DimOp::create(b, op.getKey(), op.getSeqDim()));
  scale = emitter->emitScale(b, tensor::DimOp::create(b, op.getQuery(), 3));
  if (runtime.any())
    runtimeTiles = std::make_unique<RuntimeTiles>(
        b, op, runtime, *emitter, bk, bufs.batch, bufs.kvLen);

  // Delta = rowsum(dO * O) per query row: O(B * Hq * Sq).
  if (rowSum) {
    Value rows = o.mul(o.mul(bufs.batch, bufs.qHeads), bufs.qLen);
    deltaB = memref::AllocOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, f32), ValueRange{rows});
    emitParallelItems(b, o.mul(bufs.batch, bufs.qHeads),
                      [&](Value item) { emitDeltaItem(item); });
  }
  // Operands read by the score modifiers with a gradient (those
  // emitParamGradients leaves to the lowering).
  ArrayAttr wrt = op.getWrtAttr() ? op.getWrtAttr() : b.getArrayAttr({});
  Value totalCount = o.idx(0);
  for (auto [i, name] : llvm::enumerate(wrt.getAsValueRange<StringAttr>())) {
    if (paramGrads[i])
      continue;
    Value operand = op.getGradOperand(name);
    wrtOperands.push_back(operand);
    Value count = o.idx(1);
    for (int64_t dd = 0, e = cast<ShapedType>(operand.getType()).getRank();
         dd < e; ++dd)
      count = o.mul(count, tensor::DimOp::create(b, operand, dd));
    capCounts.push_back(count);
    capOuts.push_back(out(op.getParamGradInits()[i]));
    totalCount = o.add(totalCount, count);
  }
  if (!wrtOperands.empty()) {
    // As many slots as keep the accumulators within kCaptureAccBudget
    // floats (at least one, at most kCaptureSlots): large operands (a
    // [B, H, Sq, Skv] bias) trade parallelism for memory. The count
    // depends on the shapes only, so the sums' order does too.
    numSlots = o.max(
        o.idx(1), o.min(o.idx(kCaptureSlots),
                        o.divU(o.idx(kCaptureAccBudget),
                               o.max(totalCount, o.idx(1)))));
    for (Value count : capCounts) {
      Value size = o.mul(count, numSlots);
      Value acc = memref::AllocOp::create(
          b, MemRefType::get({ShapedType::kDynamic}, f32), ValueRange{size},
          b.getI64IntegerAttr(64));
      forEach(o.idx(0), size, 1, [&](Value x) {
        memref::StoreOp::create(b, o.f32(0.0), acc, x);
      });
      capAccs.push_back(acc);
    }
  }

  Value numQTiles = o.ceilDiv(bufs.qLen, o.idx(bq));
  Value numKvTiles = o.ceilDiv(bufs.kvLen, o.idx(bk));
  auto queryPass = [&] {
    Value items = o.mul(numQTiles, o.mul(bufs.batch, bufs.qHeads));
    if (wrtOperands.empty()) {
      emitParallelItems(b, items,
                        [&](Value item) { emitQueryItem(item, numQTiles); });
      return;
    }
    // Slot n takes items n, n + numSlots, ... in order, each in its own
    // stack scope.
    emitParallelItems(b, numSlots, [&](Value slot) {
      emitForLoop(b, slot, items, numSlots, ValueRange{},
                  [&](Value item, ValueRange) {
                    inAllocaScope(
                        [&] { emitQueryItem(item, numQTiles, slot); });
                    scf::YieldOp::create(b);
                  });
    });
  };
  auto twoPasses = [&] {
    // Both passes read each kv tile's AMX layouts, so they are made once.
    if (amx)
      emitAmxKeyCopies(numKvTiles);
    queryPass();
    emitParallelItems(b, o.mul(numKvTiles, o.mul(bufs.batch, bufs.kvHeads)),
                      [&](Value item) {
                        Pair p;
                        Value rest = o.divU(item, numKvTiles);
                        p.bi = o.divU(rest, bufs.kvHeads);
                        p.kvh = o.remU(rest, bufs.kvHeads);
                        emitKvExtent(p);
                        emitKvTileItem(p, o.remU(item, numKvTiles), Value());
                      });
    amxKP = amxVP = amxKI = amxKFlags = amxKvTiles = Value();
  };
  // The operand gradients come from the dQ pass, which only the two-pass
  // schedule has.
  if (d % lanes != 0 || !wrtOperands.empty()) {
    twoPasses();
  } else {
    // One pass per (b, kv head) where those keep the threads busy: the
    // group's dQ accumulates in the item's own f32 buffer, so S and dP are
    // computed once (5 tile products per pair instead of 7).
    int64_t threads = std::max<int64_t>(plan.threads, 1);
    Value onePass = o.le(o.idx(2 * threads), o.mul(bufs.batch, bufs.kvHeads));
    emitIf(
        onePass,
        [&] {
          emitParallelItems(b, o.mul(bufs.batch, bufs.kvHeads),
                            [&](Value item) {
                              Pair p;
                              p.bi = o.divU(item, bufs.kvHeads);
                              p.kvh = o.remU(item, bufs.kvHeads);
                              emitKvExtent(p);
                              emitOnePassItem(p, numKvTiles);
                            });
        },
        twoPasses);
  }

  SmallVector<Value> extra;
  emitCaptureGradSums();
  unsigned nextCapture = 0;
  for (auto [grad, init] : llvm::zip_equal(paramGrads, op.getParamGradInits()))
    extra.push_back(grad ? grad
                         : bufferization::ToTensorOp::create(
                               b, init.getType(), capOuts[nextCapture++],
                               /*restrict=*/true, /*writable=*/true)
                               .getResult());
  bufs.replaceOp(b, op, extra);
}

//===----------------------------------------------------------------------===//
// Pass 1: dQ, one item per (b, h, q-tile)
//===----------------------------------------------------------------------===//

void GradTiler::emitQueryItem(Value item, Value numQTiles, Value slot) {
  // Heaviest causal q-tiles of a head first, as in the forward.
  Pair p;
  Value qtile = o.sub(o.sub(numQTiles, o.idx(1)), o.remU(item, numQTiles));
  Value rest = o.divU(item, numQTiles);
  p.bi = o.divU(rest, bufs.qHeads);
  p.hi = o.remU(rest, bufs.qHeads);
  p.kvh = o.divU(p.hi, bufs.group);
  p.i0 = o.mul(qtile, o.idx(bq));
  p.nq = o.min(o.idx(bq), o.sub(bufs.qLen, p.i0));
  emitKvExtent(p);
  if (!amx)
    return emitQueryItemFma(p, slot);
  // The tile products would spread a NaN or inf of Q, dO or K through
  // zero weights (emitKeyPair): such items take the f32 FMAs, which skip
  // them.
  Value firstTile = o.mul(o.add(o.mul(p.bi, bufs.kvHeads), p.kvh), amxKvTiles);
  auto anyK = emitForLoop(
      b, o.idx(0), amxKvTiles, o.idx(1),
      ValueRange{arith::ConstantIntOp::create(b, b.getI32Type(), 0)},
      [&](Value t, ValueRange acc) {
        Value f = memref::LoadOp::create(b, amxKFlags,
                                         ValueRange{o.add(firstTile, t)});
        scf::YieldOp::create(b, arith::OrIOp::create(b, acc[0], f).getResult());
      });
  Value kNonFinite =
      o.cmp(arith::CmpIPredicate::ne, anyK.getResult(0),
            arith::ConstantIntOp::create(b, b.getI32Type(), 0));
  emitIf(
      o.lor(kNonFinite, amxQNonFinite), [&] { emitQueryItemFma(p, slot); },
      [&] { emitQueryItemAmx(p, slot); });
}

void GradTiler::forEachKeptKvTile(
    Pair &p, function_ref<void(Value t, Value full)> body) {
  Value p0 = emitter->emitPosition(b, p.i0, p.kvLenB);
  SymValues sym = {p0, o.add(p0, p.nq), p.kvEnd};
  SmallVector<KeyRange> fullBounds = emitFullIntervals(b, classes, sym);
  RuntimeTileRows rows;
  Value denseRowBase;
  std::tie(rows, denseRowBase) = emitRuntimeRows(p, p0);
  for (auto [lo, hi] :
       mlir::attn::emitTileRanges(b, classes, sym, p.kvEnd, bk))
    forEach(lo, hi, 1, [&](Value t) {
      p.j0 = o.mul(t, o.idx(bk));
      p.nkv = o.min(o.idx(bk), o.sub(p.kvEnd, p.j0));
      emitRuntimeKept(p, rows, denseRowBase, t,
                      emitTileIsFull(b, fullBounds, p.j0, bk, p.kvEnd),
                      [&](Value full) { body(t, full); });
    });
}

void GradTiler::emitQueryItemFma(Pair &p, Value slot) {
  int64_t vecs = bq / lanes;
  Value qt = tile({d, bq}), dot = tile({dv, bq}), dqt = tile({d, bq});
  Value st = tile({bk, bq}), dp = tile({bk, bq});
  Value gt = hasMods ? tile({bk, bq}) : Value();
  // With capture gradients: the raw scores and dS' of the kv tile.
  Value rt = slot ? tile({bk, bq}) : Value();
  Value dst = slot ? tile({bk, bq}) : Value();
  auto rowStat = [&] {
    return memref::AllocaOp::create(b, MemRefType::get({bq}, f32),
                                    b.getI64IntegerAttr(64));
  };
  Value rowL = rowStat(), rowD = rowStat();
  Value kr, vr;
  if (!f32In) {
    kr = tile({bk, d});
    vr = tile({bk, dv});
  }

  // QT[d][c] = scale * Q[i0 + c', d], dOT[e][c] = dO[i0 + c', e] with c' =
  // min(c, nq - 1) (padded lanes repeat the last row), Delta and the LSE
  // per lane.
  Value lastRow = o.sub(p.nq, o.idx(1));
  forEach(o.idx(0), o.idx(bq), 1, [&](Value c) {
    Value row = o.add(p.i0, o.min(c, lastRow));
    forEach(o.idx(0), o.idx(d), 1, [&](Value dd) {
      memref::StoreOp::create(
          b, o.fmul(load4(bufs.qB, p.bi, p.hi, row, dd), scale), qt,
          ValueRange{dd, c});
    });
    forEach(o.idx(0), o.idx(dv), 1, [&](Value e) {
      memref::StoreOp::create(b, load4(bufs.doB, p.bi, p.hi, row, e), dot,
                              ValueRange{e, c});
    });
    auto [lse, delta] = emitRowStats(p, row);
    memref::StoreOp::create(b, delta, rowD, ValueRange{c});
    if (lse)
      memref::StoreOp::create(b, lse, rowL, ValueRange{c});
  });
  fill(dqt, 0.0);
  if (gt)
    fill(gt, 1.0);

  SmallVector<Value> lseV, deltaV;
  for (int64_t v = 0; v < vecs; ++v) {
    lseV.push_back(rowSum ? vector::LoadOp::create(b, vecType, rowL,
                                                   ValueRange{o.idx(v * lanes)})
                          : Value());
    deltaV.push_back(
        vector::LoadOp::create(b, vecType, rowD, ValueRange{o.idx(v * lanes)}));
  }

  // A key's element: from the f32 copy of the tile, or the buffer.
  auto keyElem = [&](Value packed, Value buf, Value jj, Value col) -> Value {
    if (packed)
      return memref::LoadOp::create(b, packed, ValueRange{jj, col});
    return load4(buf, p.bi, p.kvh, o.add(p.j0, jj), col);
  };
  auto kvTileBody = [&](Value isFull) {
    if (!f32In) {
      forEach(o.idx(0), p.nkv, 1, [&](Value jj) {
        Value key = o.add(p.j0, jj);
        forEach(o.idx(0), o.idx(d), 1, [&](Value dd) {
          memref::StoreOp::create(b, load4(bufs.kB, p.bi, p.kvh, key, dd), kr,
                                  ValueRange{jj, dd});
        });
        forEach(o.idx(0), o.idx(dv), 1, [&](Value e) {
          memref::StoreOp::create(b, load4(bufs.vB, p.bi, p.kvh, key, e), vr,
                                  ValueRange{jj, e});
        });
      });
    }
    // ST[jj][:] = sum_d K[j, d] QT[d][:], DP[jj][:] = sum_e V[j, e]
    // dOT[e][:].
    emitProduct(
        st, p.nkv, d,
        [&](Value jj, Value k) { return keyElem(kr, bufs.kB, jj, k); }, qt);
    emitProduct(
        dp, p.nkv, dv,
        [&](Value jj, Value e) { return keyElem(vr, bufs.vB, jj, e); }, dot);
    if (rt)
      forEach(o.idx(0), p.nkv, 1, [&](Value jj) {
        for (int64_t v = 0; v < vecs; ++v)
          storeLanes(loadLanes(st, jj, v), rt, jj, v);
      });
    emitElementStage(p, st, gt, /*keyLanes=*/false, isFull);
    forEach(o.idx(0), p.nkv, 1, [&](Value jj) {
      for (int64_t v = 0; v < vecs; ++v) {
        Value slope = gt ? loadLanes(gt, jj, v) : Value();
        Value dsPrime;
        auto [prob, ds] =
            emitWeightAndGrad(p, loadLanes(st, jj, v), loadLanes(dp, jj, v),
                              lseV[v], deltaV[v], slope, &dsPrime);
        storeLanes(ds, dp, jj, v);
        if (dst)
          storeLanes(dsPrime, dst, jj, v);
      }
    });
    if (rt)
      emitCaptureGradTile(p, rt, dst, slot, /*keyLanes=*/false);
    // dQT[d][:] += sum_jj K[j0 + jj, d] dS[jj][:].
    emitAccumulate(
        dqt, d, p.nkv,
        [&](Value jj, Value dd) { return keyElem(kr, bufs.kB, jj, dd); }, dp);
  };
  forEachKeptKvTile(p, [&](Value, Value full) { kvTileBody(full); });

  forEach(o.idx(0), p.nq, 1, [&](Value c) {
    forEach(o.idx(0), o.idx(d), 1, [&](Value dd) {
      Value x = memref::LoadOp::create(b, dqt, ValueRange{dd, c});
      store4(x, bufs.dqB, p.bi, p.hi, o.add(p.i0, c), dd);
    });
  });
}

void GradTiler::emitQueryItemAmx(Pair &p, Value slot) {
  // The kv-tile body's scratch for one q-tile against each kept kv tile:
  // ST and DP [c][jj], dS in bf16 rows, and the dQ tile dQacc[c][d].
  KeyScratch s;
  s.st = tile({bq, bk});
  s.dp = tile({bq, bk});
  s.dsr = bf16Tile({bq, bk});
  if (hasMods) {
    s.gt = tile({bq, bk});
    fill(s.gt, 1.0);
  }
  if (slot) {
    s.rt = tile({bq, bk});
    s.dst = tile({bq, bk});
    s.slot = slot;
  }
  s.dqAcc = tile({bq, d});
  fill(s.dqAcc, 0.0);
  s.dqRow0 = o.idx(0);
  scratch = &s;
  forEachKeptKvTile(p, [&](Value t, Value full) {
    emitAmxKeyViews(p, s, t);
    emitKeyPairAmx(p, full);
  });
  scratch = nullptr;
  forEach(o.idx(0), p.nq, 1, [&](Value c) {
    forEach(o.idx(0), o.idx(d), 1, [&](Value dd) {
      Value x = memref::LoadOp::create(b, s.dqAcc, ValueRange{c, dd});
      store4(x, bufs.dqB, p.bi, p.hi, o.add(p.i0, c), dd);
    });
  });
}

void GradTiler::emitCaptureGradTile(Pair &p, Value rt, Value dst,
                                    Value slot, bool keyLanes) {
  forEach(o.idx(0), p.nkv, 1, [&](Value jj) {
    forEach(o.idx(0), p.nq, 1, [&](Value c) {
      ScorePoint pt = emitter->makePoint(b, p.bi, p.hi, o.add(p.i0, c),
                                         o.add(p.j0, jj), p.kvLenB);
      SmallVector<Value> at = keyLanes ? SmallVector<Value>{c, jj}
                                       : SmallVector<Value>{jj, c};
      Value s = memref::LoadOp::create(b, rt, at);
      SmallVector<ScoreEmitter::OperandRead> reads;
      emitter->emitScoreModsAndSlope(b, s, pt, wrtOperands, reads);
      Value allowed = emitter->emitAllowed(b, pt);
      Value ds = memref::LoadOp::create(b, dst, at);
      for (ScoreEmitter::OperandRead &read : reads) {
        unsigned k = llvm::find(wrtOperands, read.operand) -
                     wrtOperands.begin();
        // Row-major flat index of the read, in range or not read at all.
        Value capture = read.operand;
        Value ok = allowed, flat = o.idx(0);
        for (auto [dd, index] : llvm::enumerate(read.indices)) {
          Value size = tensor::DimOp::create(b, capture, dd);
          ok = o.land(ok, o.cmp(arith::CmpIPredicate::ult, index, size));
          flat = o.add(o.mul(flat, size), index);
        }
        emitIf(ok, [&] {
          Value at = o.add(o.mul(slot, capCounts[k]), flat);
          Value old = memref::LoadOp::create(b, capAccs[k], at);
          memref::StoreOp::create(b, o.fadd(old, o.fmul(ds, read.tangent)),
                                  capAccs[k], at);
        });
      }
    });
  });
}

void GradTiler::emitCaptureGradSums() {
  // grad[x] = sum over slots in order of acc[slot * count + x], in chunks
  // of elements.
  constexpr int64_t kChunk = 4096;
  for (size_t k = 0; k < wrtOperands.size(); ++k) {
    Value out = capOuts[k];
    auto type = cast<MemRefType>(out.getType());
    SmallVector<ReassociationIndices> all(1);
    for (int64_t dd = 0; dd < type.getRank(); ++dd)
      all[0].push_back(dd);
    Value flatOut = type.getRank() == 1
                        ? out
                        : memref::CollapseShapeOp::create(b, out, all);
    Value count = capCounts[k], acc = capAccs[k];
    emitParallelItems(b, o.ceilDiv(count, o.idx(kChunk)), [&](Value chunk) {
      Value x0 = o.mul(chunk, o.idx(kChunk));
      forEach(x0, o.min(count, o.add(x0, o.idx(kChunk))), 1, [&](Value x) {
        auto sum = emitForLoop(
            b, o.idx(0), numSlots, o.idx(1),
            ValueRange{o.f32(0.0)}, [&](Value slot, ValueRange partial) {
              Value v = memref::LoadOp::create(
                  b, acc, o.add(o.mul(slot, count), x));
              scf::YieldOp::create(b, o.fadd(partial[0], v));
            });
        memref::StoreOp::create(b, sum.getResult(0), flatOut, x);
      });
    });
  }
}

//===----------------------------------------------------------------------===//
// Pass 2: dK and dV, one item per (b, kv head, kv tile)
//===----------------------------------------------------------------------===//

void GradTiler::emitDeltaItem(Value item) {
  // Delta[b, h, i] = sum_e dO[b, h, i, e] O[b, h, i, e].
  Pair p;
  p.bi = o.divU(item, bufs.qHeads);
  p.hi = o.remU(item, bufs.qHeads);
  forEach(o.idx(0), bufs.qLen, 1, [&](Value row) {
    auto sum =
        emitForLoop(b, o.idx(0), o.idx(dv), o.idx(1), ValueRange{o.f32(0.0)},
                    [&](Value e, ValueRange acc) {
                      Value x = o.fmul(load4(bufs.doB, p.bi, p.hi, row, e),
                                       load4(bufs.oB, p.bi, p.hi, row, e));
                      scf::YieldOp::create(b, o.fadd(acc[0], x));
                    });
    memref::StoreOp::create(b, sum.getResult(0), deltaB, deltaIndex(p, row));
  });
}

void GradTiler::emitOnePassItem(Pair &p, Value numKvTiles) {
  // dQacc[g * Sq + i][d]: the group's dQ in f32, zeroed, then every kv
  // tile in order, then written out.
  Value rows = o.mul(bufs.group, dqRows);
  Value dqAcc = memref::AllocOp::create(
      b, MemRefType::get({ShapedType::kDynamic, d}, f32), ValueRange{rows},
      b.getI64IntegerAttr(64));
  Value zeroVec = o.cst(vecType, 0.0);
  forEach(o.idx(0), rows, 1, [&](Value r) {
    for (int64_t v = 0; v < d / lanes; ++v)
      storeLanes(zeroVec, dqAcc, r, v);
  });
  forEach(o.idx(0), numKvTiles, 1, [&](Value t) {
    // The tile's scratch is freed at the end of each iteration.
    inAllocaScope([&] { emitKvTileItem(p, t, dqAcc); });
  });
  forEach(o.idx(0), bufs.group, 1, [&](Value g) {
    Value hi = o.add(o.mul(p.kvh, bufs.group), g);
    forEach(o.idx(0), bufs.qLen, 1, [&](Value i) {
      Value r = o.add(o.mul(g, dqRows), i);
      forEach(o.idx(0), o.idx(d), 1, [&](Value dd) {
        Value x = memref::LoadOp::create(b, dqAcc, ValueRange{r, dd});
        store4(x, bufs.dqB, p.bi, hi, i, dd);
      });
    });
  });
}

void GradTiler::emitKvTileItem(Pair &p, Value t, Value dqAcc) {
  p.j0 = o.mul(t, o.idx(bk));
  p.nkv = o.max(o.min(o.idx(bk), o.sub(p.kvEnd, p.j0)), o.idx(0));
  Value nStore = o.min(o.idx(bk), o.sub(bufs.kvLen, p.j0));
  Value zero = o.f32(0.0);

  Value dkt = tile({d, bk}), dvt = tile({dv, bk});
  fill(dkt, 0.0);
  fill(dvt, 0.0);
  emitIf(o.lt(o.idx(0), p.nkv), [&] {
    // KT[d][jj] = K[j0 + jj, d], VT[e][jj] = V[j0 + jj, e]; 0 past nkv.
    Value kt = tile({d, bk}), vt = tile({dv, bk});
    KeyScratch s;
    s.kt = kt;
    s.vt = vt;
    s.dkt = dkt;
    s.dvt = dvt;
    s.st = tile({bq, bk});
    s.dp = tile({bq, bk});
    s.dqAcc = dqAcc;
    if (dqAcc)
      s.kr = tile({bk, d});
    auto packF32 = [&] {
      Value lastKey = o.add(p.j0, o.sub(p.nkv, o.idx(1)));
      forEach(o.idx(0), o.idx(bk), 1, [&](Value jj) {
        Value key = o.min(o.add(p.j0, jj), lastKey);
        Value live = o.lt(jj, p.nkv);
        forEach(o.idx(0), o.idx(d), 1, [&](Value dd) {
          Value x =
              o.select(live, load4(bufs.kB, p.bi, p.kvh, key, dd), zero);
          memref::StoreOp::create(b, x, kt, ValueRange{dd, jj});
        });
        forEach(o.idx(0), o.idx(dv), 1, [&](Value e) {
          Value x = o.select(live, load4(bufs.vB, p.bi, p.kvh, key, e), zero);
          memref::StoreOp::create(b, x, vt, ValueRange{e, jj});
        });
      });
      if (dqAcc)
        forEach(o.idx(0), o.idx(bk), 1, [&](Value jj) {
          forEach(o.idx(0), o.idx(d), 1, [&](Value dd) {
            memref::StoreOp::create(
                b, memref::LoadOp::create(b, kt, ValueRange{dd, jj}), s.kr,
                ValueRange{jj, dd});
          });
        });
    };
    if (amx) {
      if (amxKP) {
        emitAmxKeyViews(p, s, t);
      } else {
        s.kp = bf16Tile({d / 2, 2 * bk});
        s.vp = bf16Tile({dv / 2, 2 * bk});
        s.ki = bf16Tile({bk / 2, 2 * d});
        s.kNonFinite = emitAmxKeyPack(p, s.kp, s.vp, s.ki);
      }
      s.pb = bf16Tile({bq / 2, 2 * bk});
      s.dsb = bf16Tile({bq / 2, 2 * bk});
      s.dsr = bf16Tile({bq, bk});
      // The f32 tiles only for the pairs that take emitKeyPairFma.
      emitIf(o.lor(s.kNonFinite, amxQNonFinite), packF32);
    } else {
      packF32();
    }
    if (hasMods) {
      s.gt = tile({bq, bk});
      fill(s.gt, 1.0);
    }
    if (!f32In) {
      s.qr = tile({bq, d});
      s.dor = tile({bq, dv});
    }
    scratch = &s;
    Value numQTiles = o.ceilDiv(bufs.qLen, o.idx(bq));
    forEach(o.idx(0), bufs.group, 1, [&](Value g) {
      p.hi = o.add(o.mul(p.kvh, bufs.group), g);
      forEach(o.idx(0), numQTiles, 1, [&](Value qtile) {
        p.i0 = o.mul(qtile, o.idx(bq));
        p.nq = o.min(o.idx(bq), o.sub(bufs.qLen, p.i0));
        if (dqAcc)
          s.dqRow0 = o.add(o.mul(g, dqRows), p.i0);
        auto [touched, full] = emitPairClass(p, t);
        emitIf(touched, [&, full = full] {
          // The transposed question of the run-time classes: this kv
          // tile for the q-tile's rows, asked of touched pairs only.
          auto [rows, denseRowBase] = emitRuntimeRows(
              p, emitter->emitPosition(b, p.i0, p.kvLenB));
          emitRuntimeKept(p, rows, denseRowBase, t, full,
                          [&](Value isFull) { emitKeyPair(p, isFull); });
        });
      });
    });
    scratch = nullptr;
  });

  // Keys past kv_len[b] (lanes past nkv, whose scores are not masked)
  // get exactly 0.
  forEach(o.idx(0), nStore, 1, [&](Value jj) {
    Value key = o.add(p.j0, jj);
    Value live = o.lt(jj, p.nkv);
    forEach(o.idx(0), o.idx(d), 1, [&](Value dd) {
      Value x = memref::LoadOp::create(b, dkt, ValueRange{dd, jj});
      store4(o.select(live, x, zero), bufs.dkB, p.bi, p.kvh, key, dd);
    });
    forEach(o.idx(0), o.idx(dv), 1, [&](Value e) {
      Value x = memref::LoadOp::create(b, dvt, ValueRange{e, jj});
      store4(o.select(live, x, zero), bufs.dvB, p.bi, p.kvh, key, e);
    });
  });
}

void GradTiler::emitKeyPair(Pair &p, Value isFull) {
  if (!amx)
    return emitKeyPairFma(p, isFull);
  emitIf(
      o.lor(scratch->kNonFinite, amxQNonFinite),
      [&] { emitKeyPairFma(p, isFull); }, [&] { emitKeyPairAmx(p, isFull); });
}

void GradTiler::emitKeyPairFma(Pair &p, Value isFull) {
  KeyScratch &s = *scratch;
  int64_t vecs = bk / lanes;
  if (!f32In) {
    forEach(o.idx(0), p.nq, 1, [&](Value c) {
      Value row = o.add(p.i0, c);
      forEach(o.idx(0), o.idx(d), 1, [&](Value dd) {
        memref::StoreOp::create(b, load4(bufs.qB, p.bi, p.hi, row, dd), s.qr,
                                ValueRange{c, dd});
      });
      forEach(o.idx(0), o.idx(dv), 1, [&](Value e) {
        memref::StoreOp::create(b, load4(bufs.doB, p.bi, p.hi, row, e), s.dor,
                                ValueRange{c, e});
      });
    });
  }
  auto queryElem = [&](Value packed, Value buf, Value c, Value col) -> Value {
    if (packed)
      return memref::LoadOp::create(b, packed, ValueRange{c, col});
    return load4(buf, p.bi, p.hi, o.add(p.i0, c), col);
  };
  // ST[c][:] = scale * sum_d Q[i0 + c, d] KT[d][:], DP[c][:] = sum_e
  // dO[i0 + c, e] VT[e][:].
  emitProduct(
      s.st, p.nq, d,
      [&](Value c, Value dd) { return queryElem(s.qr, bufs.qB, c, dd); }, s.kt,
      o.splat(vecType, scale));
  emitProduct(
      s.dp, p.nq, dv,
      [&](Value c, Value e) { return queryElem(s.dor, bufs.doB, c, e); }, s.vt);
  emitElementStage(p, s.st, s.gt, /*keyLanes=*/true, isFull);
  forEach(o.idx(0), p.nq, 1, [&](Value c) {
    auto [lse, delta] = emitRowStats(p, o.add(p.i0, c));
    Value lseV = lse ? o.splat(vecType, lse) : Value();
    Value deltaV = o.splat(vecType, delta);
    for (int64_t v = 0; v < vecs; ++v) {
      Value slope = s.gt ? loadLanes(s.gt, c, v) : Value();
      auto [prob, ds] = emitWeightAndGrad(
          p, loadLanes(s.st, c, v), loadLanes(s.dp, c, v), lseV, deltaV, slope);
      storeLanes(prob, s.st, c, v);
      storeLanes(ds, s.dp, c, v);
    }
  });
  // dVT[e][:] += sum_c dO[i0 + c, e] P[c][:], dKT[d][:] += sum_c Q[i0 + c,
  // d] dS[c][:].
  emitAccumulate(
      s.dvt, dv, p.nq,
      [&](Value c, Value e) { return queryElem(s.dor, bufs.doB, c, e); }, s.st);
  emitAccumulate(
      s.dkt, d, p.nq,
      [&](Value c, Value dd) { return queryElem(s.qr, bufs.qB, c, dd); }, s.dp);
  if (!s.dqAcc)
    return;
  // One pass: dQacc[dqRow0 + c][:] += sum_jj dS[c][jj] KR[jj][:].
  rowBlocks(p.nq, [&](Value c0, int64_t rows) {
    auto row = [&](int64_t r) {
      return o.add(s.dqRow0, o.add(c0, o.idx(r)));
    };
    emitRankOneUpdates(
        b, vecType, rows, d / lanes, o.idx(0), p.nkv,
        [&](int64_t r, int64_t v) { return loadLanes(s.dqAcc, row(r), v); },
        [&](int64_t r, Value jj) -> Value {
          return memref::LoadOp::create(b, s.dp,
                                        ValueRange{o.add(c0, o.idx(r)), jj});
        },
        [&](Value jj, int64_t v) { return loadLanes(s.kr, jj, v); },
        [&](int64_t r, int64_t v, Value acc) {
          storeLanes(acc, s.dqAcc, row(r), v);
        },
        ZeroSkip::AScalar);
  });
}

//===----------------------------------------------------------------------===//
// dot = amx: the kv-tile body's products on AMX tiles
//===----------------------------------------------------------------------===//

void GradTiler::emitAmxQueryCopies() {
  // Per (b, h): rows i < amxLen of Q and dO (0 past Sq), then their
  // transposes from those rows, 32 rows by 16 columns at a time (rows 2p
  // and 2p + 1 interleaved into words, then transposed); and whether an
  // element is a NaN or inf.
  Type bf16 = b.getBF16Type(), i32 = b.getI32Type();
  Value heads = o.mul(bufs.batch, bufs.qHeads);
  IntegerAttr align = b.getI64IntegerAttr(64);
  auto rowsOf = [&](int64_t dim) -> Value {
    return memref::AllocOp::create(
        b, MemRefType::get({ShapedType::kDynamic, dim}, bf16),
        ValueRange{o.mul(heads, amxLen)}, align);
  };
  auto colsOf = [&](int64_t dim) -> Value {
    return memref::AllocOp::create(
        b, MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic}, bf16),
        ValueRange{o.mul(heads, o.idx(dim)), amxLen}, align);
  };
  amxQRows = rowsOf(d);
  amxDoRows = rowsOf(dv);
  amxQCols = colsOf(d);
  amxDoCols = colsOf(dv);
  Value flags = memref::AllocOp::create(
      b, MemRefType::get({ShapedType::kDynamic}, i32), ValueRange{heads});
  auto words = VectorType::get({16}, i32);
  auto row32 = VectorType::get({32}, bf16);
  auto row16 = VectorType::get({16}, bf16);
  Value zeros32 = arith::ConstantOp::create(b, b.getZeroAttr(row32));
  Value none = arith::ConstantOp::create(b, b.getZeroAttr(words));
  emitParallelItems(b, heads, [&](Value item) {
    Value bi = o.divU(item, bufs.qHeads), hi = o.remU(item, bufs.qHeads);
    Value base = o.mul(item, amxLen);
    Value lastRow = o.sub(bufs.qLen, o.idx(1));
    auto copy = emitForLoop(
        b, o.idx(0), amxLen, o.idx(1), ValueRange{none},
        [&](Value i, ValueRange seen) {
          Value live = o.lt(i, bufs.qLen), row = o.min(i, lastRow);
          Value acc = seen[0];
          auto rowCopy = [&](Value src, Value dst, int64_t dim) {
            for (int64_t e0 = 0; e0 < dim; e0 += 32) {
              Value x = loadBf16(b, 32, src,
                                 layoutIndices(bshd, bi, hi, row, o.idx(e0)));
              x = o.select(live, x, zeros32);
              acc = arith::OrIOp::create(b, acc, emitNonFiniteBf16(b, x));
              vector::StoreOp::create(b, x, dst,
                                      ValueRange{o.add(base, i), o.idx(e0)});
            }
          };
          rowCopy(bufs.qB, amxQRows, d);
          rowCopy(bufs.doB, amxDoRows, dv);
          scf::YieldOp::create(b, acc);
        });
    auto transpose = [&](Value rows, Value cols, int64_t dim) {
      forEach(o.idx(0), amxLen, 32, [&](Value i0) {
        for (int64_t e0 = 0; e0 < dim; e0 += 16) {
          SmallVector<Value> pairs;
          for (int64_t r = 0; r < 32; r += 2) {
            auto at = [&](int64_t x) {
              return SmallVector<Value>{o.add(base, o.add(i0, o.idx(x))),
                                        o.idx(e0)};
            };
            Value even = vector::LoadOp::create(b, row16, rows, at(r));
            Value odd = vector::LoadOp::create(b, row16, rows, at(r + 1));
            pairs.push_back(vector::InterleaveOp::create(b, even, odd));
          }
          SmallVector<Value> t = transposeBf16Pairs(b, pairs);
          for (int64_t e = 0; e < 16; ++e)
            vector::StoreOp::create(
                b, t[e], cols,
                ValueRange{o.add(o.mul(item, o.idx(dim)), o.idx(e0 + e)), i0});
        }
      });
    };
    transpose(amxQRows, amxQCols, d);
    transpose(amxDoRows, amxDoCols, dv);
    Value any = vector::ReductionOp::create(b, vector::CombiningKind::OR,
                                            copy.getResult(0));
    memref::StoreOp::create(b, any, flags, ValueRange{item});
  });
  auto any = emitForLoop(
      b, o.idx(0), heads, o.idx(1),
      ValueRange{arith::ConstantIntOp::create(b, i32, 0)},
      [&](Value item, ValueRange acc) {
        Value f = memref::LoadOp::create(b, flags, ValueRange{item});
        scf::YieldOp::create(b, arith::OrIOp::create(b, acc[0], f).getResult());
      });
  amxQNonFinite =
      o.cmp(arith::CmpIPredicate::ne, any.getResult(0),
            arith::ConstantIntOp::create(b, i32, 0));
}

Value GradTiler::bf16Tile(ArrayRef<int64_t> shape) {
  return memref::AllocaOp::create(b, MemRefType::get(shape, b.getBF16Type()),
                                  b.getI64IntegerAttr(64));
}

void GradTiler::emitAmxKeyCopies(Value numKvTiles) {
  // One item per (b, kv head, kv tile); tiles past kv_len[b] keep their
  // flag 0 and are never read.
  Type bf16 = b.getBF16Type(), i32 = b.getI32Type();
  Value tiles = o.mul(o.mul(bufs.batch, bufs.kvHeads), numKvTiles);
  IntegerAttr align = b.getI64IntegerAttr(64);
  auto packs = [&](int64_t rows, int64_t cols) -> Value {
    return memref::AllocOp::create(
        b, MemRefType::get({ShapedType::kDynamic, cols}, bf16),
        ValueRange{o.mul(tiles, o.idx(rows))}, align);
  };
  amxKP = packs(d / 2, 2 * bk);
  amxVP = packs(dv / 2, 2 * bk);
  amxKI = packs(bk / 2, 2 * d);
  amxKFlags = memref::AllocOp::create(
      b, MemRefType::get({ShapedType::kDynamic}, i32), ValueRange{tiles});
  amxKvTiles = numKvTiles;
  emitParallelItems(b, tiles, [&](Value item) {
    Pair p;
    Value t = o.remU(item, numKvTiles);
    Value rest = o.divU(item, numKvTiles);
    p.bi = o.divU(rest, bufs.kvHeads);
    p.kvh = o.remU(rest, bufs.kvHeads);
    emitKvExtent(p);
    p.j0 = o.mul(t, o.idx(bk));
    p.nkv = o.min(o.idx(bk), o.sub(p.kvEnd, p.j0));
    memref::StoreOp::create(b, arith::ConstantIntOp::create(b, i32, 0),
                            amxKFlags, ValueRange{item});
    emitIf(o.lt(o.idx(0), p.nkv), [&] {
      Value nonFinite =
          emitAmxKeyPack(p, amxKeyView(amxKP, d / 2, item),
                         amxKeyView(amxVP, dv / 2, item),
                         amxKeyView(amxKI, bk / 2, item));
      memref::StoreOp::create(b, arith::ExtUIOp::create(b, i32, nonFinite),
                              amxKFlags, ValueRange{item});
    });
  });
}

Value GradTiler::amxKeyView(Value packs, int64_t rows, Value tileIndex) {
  int64_t cols = cast<MemRefType>(packs.getType()).getDimSize(1);
  SmallVector<OpFoldResult> offsets = {o.mul(tileIndex, o.idx(rows)),
                                       b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = {b.getIndexAttr(rows),
                                     b.getIndexAttr(cols)};
  SmallVector<OpFoldResult> strides = {b.getIndexAttr(1), b.getIndexAttr(1)};
  return memref::SubViewOp::create(b, packs, offsets, sizes, strides);
}

void GradTiler::emitAmxKeyViews(Pair &p, KeyScratch &s, Value t) {
  Value tileIndex = o.add(
      o.mul(o.add(o.mul(p.bi, bufs.kvHeads), p.kvh), amxKvTiles), t);
  s.kp = amxKeyView(amxKP, d / 2, tileIndex);
  s.vp = amxKeyView(amxVP, dv / 2, tileIndex);
  s.ki = amxKeyView(amxKI, bk / 2, tileIndex);
  Value flag = memref::LoadOp::create(b, amxKFlags, ValueRange{tileIndex});
  s.kNonFinite =
      o.cmp(arith::CmpIPredicate::ne, flag,
            arith::ConstantIntOp::create(b, b.getI32Type(), 0));
}

Value GradTiler::emitAmxKeyPack(Pair &p, Value kp, Value vp, Value ki) {
  Type bf16 = b.getBF16Type(), i32 = b.getI32Type();
  auto row32 = VectorType::get({32}, bf16);
  auto row16 = VectorType::get({16}, bf16);
  auto words = VectorType::get({16}, i32);
  Value lastKey = o.add(p.j0, o.sub(p.nkv, o.idx(1)));
  // Elements e0.. of the tile's row jj of `buf` (K or V), 0 past nkv.
  auto keyRow = [&](Value buf, VectorType type, Value jj, int64_t e0) {
    Value key = o.min(o.add(p.j0, jj), lastKey);
    Value x = loadBf16(b, type.getNumElements(), buf,
                       layoutIndices(bshd, p.bi, p.kvh, key, o.idx(e0)));
    return o.select(o.lt(jj, p.nkv), x,
                    arith::ConstantOp::create(b, b.getZeroAttr(type)));
  };
  // KP and VP: 16 keys by 16 head-dim pairs at a time, word transposed;
  // the NaN / inf test on K's.
  auto pack = emitForLoop(
      b, o.idx(0), o.idx(bk), o.idx(16),
      ValueRange{arith::ConstantOp::create(b, b.getZeroAttr(words))},
      [&](Value jb, ValueRange seen) {
        Value acc = seen[0];
        auto pairs = [&](Value buf, Value dst, int64_t dim, bool check) {
          for (int64_t e0 = 0; e0 < dim; e0 += 32) {
            SmallVector<Value> rows;
            for (int64_t r = 0; r < 16; ++r) {
              rows.push_back(keyRow(buf, row32, o.add(jb, o.idx(r)), e0));
              if (check)
                acc = arith::OrIOp::create(b, acc,
                                           emitNonFiniteBf16(b, rows.back()));
            }
            SmallVector<Value> t = transposeBf16Pairs(b, rows);
            for (int64_t w = 0; w < 16; ++w)
              vector::StoreOp::create(
                  b, t[w], dst, ValueRange{o.idx(e0 / 2 + w), o.mul(jb, o.idx(2))});
          }
        };
        pairs(bufs.kB, kp, d, /*check=*/true);
        pairs(bufs.vB, vp, dv, /*check=*/false);
        scf::YieldOp::create(b, acc);
      });
  Value any = vector::ReductionOp::create(b, vector::CombiningKind::OR,
                                          pack.getResult(0));
  // KI: rows 2p and 2p + 1 of K interleaved.
  forEach(o.idx(0), o.idx(bk / 2), 1, [&](Value pr) {
    Value even = o.mul(pr, o.idx(2));
    for (int64_t e0 = 0; e0 < d; e0 += 16)
      vector::StoreOp::create(
          b,
          vector::InterleaveOp::create(
              b, keyRow(bufs.kB, row16, even, e0),
              keyRow(bufs.kB, row16, o.add(even, o.idx(1)), e0)),
          ki, ValueRange{pr, o.idx(2 * e0)});
  });
  return o.cmp(arith::CmpIPredicate::ne, any,
               arith::ConstantIntOp::create(b, i32, 0));
}

void GradTiler::emitKeyPairAmx(Pair &p, Value isFull) {
  KeyScratch &s = *scratch;
  int64_t vecs = bk / lanes;
  Type bf16 = b.getBF16Type();
  Value bh = o.add(o.mul(p.bi, bufs.qHeads), p.hi);
  Value row0 = o.add(o.mul(bh, amxLen), p.i0);
  auto rowsAt = [&](Value buf) {
    return AmxOperand{buf,
                      [&](int64_t r, int64_t c) {
                        return SmallVector<Value>{o.add(row0, o.idx(r)),
                                                  o.idx(c)};
                      },
                      Value()};
  };
  auto tileAt = [&](Value t) {
    return AmxOperand{t,
                      [&](int64_t r, int64_t c) {
                        return SmallVector<Value>{o.idx(r), o.idx(c)};
                      },
                      Value()};
  };
  // ST[c][jj] = scale * sum_d Q[i0 + c, d] K[j0 + jj, d], DP[c][jj] =
  // sum_e dO[i0 + c, e] V[j0 + jj, e].
  emitAmxProduct(b, bq, bk, d, /*accumulate=*/false, tileAt(s.st),
                 rowsAt(amxQRows), tileAt(s.kp));
  emitAmxProduct(b, bq, bk, dv, /*accumulate=*/false, tileAt(s.dp),
                 rowsAt(amxDoRows), tileAt(s.vp));
  Value scaleVec = o.splat(vecType, scale);
  forEach(o.idx(0), p.nq, 1, [&](Value c) {
    for (int64_t v = 0; v < vecs; ++v) {
      Value scores = o.fmul(loadLanes(s.st, c, v), scaleVec);
      storeLanes(scores, s.st, c, v);
      if (s.rt)
        storeLanes(scores, s.rt, c, v);
    }
  });
  emitElementStage(p, s.st, s.gt, /*keyLanes=*/true, isFull);
  // P and dS for rows c < nq and keys below nkv, 0 elsewhere (the
  // products read whole tiles), rounded to bf16: PB and DSB two rows at a
  // time (for dV and dK), DSR row by row (for dQ); with captures dS' in
  // f32.
  auto laneIds = VectorType::get({lanes}, b.getIndexType());
  SmallVector<Value> keyIn;
  for (int64_t v = 0; v < vecs; ++v) {
    SmallVector<int64_t> ids;
    for (int64_t l = 0; l < lanes; ++l)
      ids.push_back(v * lanes + l);
    Value iota = arith::ConstantOp::create(
        b, DenseElementsAttr::get(laneIds, ArrayRef<int64_t>(ids)));
    keyIn.push_back(
        o.cmp(arith::CmpIPredicate::slt, iota, o.splat(laneIds, p.nkv)));
  }
  auto halfType = VectorType::get({lanes}, bf16);
  Value zeroVec = o.cst(vecType, 0.0);
  Value lastRow = o.sub(p.nq, o.idx(1));
  forEach(o.idx(0), o.idx(bq / 2), 1, [&](Value pr) {
    SmallVector<Value> prob[2], ds[2];
    for (int64_t t = 0; t < 2; ++t) {
      Value c = o.add(o.mul(pr, o.idx(2)), o.idx(t));
      Value live = o.lt(c, p.nq);
      auto [lse, delta] = emitRowStats(p, o.add(p.i0, o.min(c, lastRow)));
      Value lseV = lse ? o.splat(vecType, lse) : Value();
      Value deltaV = o.splat(vecType, delta);
      for (int64_t v = 0; v < vecs; ++v) {
        Value slope = s.gt ? loadLanes(s.gt, c, v) : Value();
        Value dsPrime;
        auto [w, g] = emitWeightAndGrad(p, loadLanes(s.st, c, v),
                                        loadLanes(s.dp, c, v), lseV, deltaV,
                                        slope, &dsPrime);
        auto keep = [&](Value x) {
          return o.select(keyIn[v], o.select(live, x, zeroVec), zeroVec);
        };
        prob[t].push_back(arith::TruncFOp::create(b, halfType, keep(w)));
        ds[t].push_back(arith::TruncFOp::create(b, halfType, keep(g)));
        vector::StoreOp::create(b, ds[t].back(), s.dsr,
                                ValueRange{c, o.idx(v * lanes)});
        if (s.dst)
          storeLanes(dsPrime, s.dst, c, v);
      }
    }
    if (!s.pb)
      return;
    for (int64_t v = 0; v < vecs; ++v) {
      SmallVector<Value> at{pr, o.idx(2 * v * lanes)};
      vector::StoreOp::create(
          b, vector::InterleaveOp::create(b, prob[0][v], prob[1][v]), s.pb,
          at);
      vector::StoreOp::create(
          b, vector::InterleaveOp::create(b, ds[0][v], ds[1][v]), s.dsb, at);
    }
  });
  if (s.rt)
    emitCaptureGradTile(p, s.rt, s.dst, s.slot, /*keyLanes=*/true);
  // dVT[e][jj] += sum_c dO[i0 + c, e] P[c][jj], dKT[d][jj] += sum_c
  // Q[i0 + c, d] dS[c][jj]: A = dO^T and Q^T, k = the q-tile's rows.
  auto colsAt = [&](Value buf, int64_t dim) {
    Value first = o.mul(bh, o.idx(dim));
    return AmxOperand{buf,
                      [&, first](int64_t r, int64_t c) {
                        return SmallVector<Value>{o.add(first, o.idx(r)),
                                                  o.add(p.i0, o.idx(c))};
                      },
                      amxLen};
  };
  if (s.dvt) {
    emitAmxProduct(b, dv, bk, bq, /*accumulate=*/true, tileAt(s.dvt),
                   colsAt(amxDoCols, dv), tileAt(s.pb));
    emitAmxProduct(b, d, bk, bq, /*accumulate=*/true, tileAt(s.dkt),
                   colsAt(amxQCols, d), tileAt(s.dsb));
  }
  if (!s.dqAcc)
    return;
  // dQacc[dqRow0 + c][:] += sum_jj dS[c][jj] K[j0 + jj][:] (rows past nq
  // add zeros to rows never read).
  AmxOperand acc{s.dqAcc,
                 [&](int64_t r, int64_t c) {
                   return SmallVector<Value>{o.add(s.dqRow0, o.idx(r)),
                                             o.idx(c)};
                 },
                 Value()};
  emitAmxProduct(b, bq, d, bk, /*accumulate=*/true, acc, tileAt(s.dsr),
                 tileAt(s.ki));
}

LogicalResult mlir::attn::tileAttentionGradForCPU(RewriterBase &rewriter,
                                                  AttentionGradOp op,
                                                  const CPUTilePlan &plan) {
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  b.setInsertionPoint(op);
  GradTiler(op, plan, b).run();
  return success();
}
