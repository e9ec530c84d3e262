//===- CPUTiler.h - Fused flash-attention loops for the CPU -----*- C++ -*-===//
//
// Private to AttnToCPU: the emitter of the fused CPU lowering of
// attn.attention (FlashAttention-2 on the CPU). Work items are (q-tiles, b,
// h): q_blocks consecutive q-tiles (one with AMX) that each walk the kv
// tiles that the symbolic tile classification leaves non-empty, carrying a
// running row shift m, row sum l and an f32 accumulator; with several,
// the kv tiles run in L2-sized chunks, each chunk against every q-tile of
// the item in turn (CPUTiler::emitItemGroup). Scores never leave a
// [block_kv x block_q] scratch tile.
//
// Data layout of a work item, with L = lanes per vector:
//   QT[d][c]  = scale * Q[i0 + c, d]        (query rows in vector lanes)
//   ST[jj][c] = score of key j0 + jj for query i0 + c, then its weight
//   OT[e][c]  = unnormalised output, head-dim row e
// With queries in the lanes, row statistics (max, sum) are lane-wise vector
// ops and both products are rank-one updates:
//   ST[jj][:] += K[j0 + jj, d] * QT[d][:]   (Q K^T, a broadcast K element)
//   OT[e][:]  += V[j0 + jj, e] * ST[jj][:]  (P V,  a broadcast V element)
// each register-blocked over a few rows (keyRows), so that
// every vector load feeds several FMAs.
//
// With dot = "amx" (bf16 on AMX hosts, f16 rounded to bf16 as an opt-in)
// both products are AMX tile products over the same layouts instead
// (AmxTileProducts.cpp); with the opt-in
// dot = "amx_int8" (int8 quantized caches) Q K^T is an AMX int8 product
// of the key codes (AmxInt8Products.cpp) and, for bf16 queries, P V the
// AMX bf16 product.
//
// Decoding (a single query row per (b, h)) uses the row kernel instead,
// with lanes along the head dimension, the query heads of a GQA group in one
// item and the kv range split across threads; with dot = "bf16" its
// products of bf16 caches are AVX512-BF16 dot products (DecodeBf16.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOCPU_CPUTILER_H
#define ATTN_LIB_CONVERSION_ATTNTOCPU_CPUTILER_H

#include "attn/Conversion/AttnToCPU/AttnToCPU.h"
#include "attn/Conversion/RuntimeSkipping/RuntimeSkipping.h"
#include "attn/Dialect/Attn/Analysis/TileClasses.h"
#include "attn/Dialect/Attn/Utils/Arith.h"
#include "attn/Dialect/Attn/Utils/Buffers.h"
#include "attn/Dialect/Attn/Utils/Normalizer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <functional>
#include <limits>
#include <memory>

namespace mlir::attn {
class ScoreEmitter;
} // namespace mlir::attn

namespace mlir::attn::cpu {

/// Scratch tiles of one work item up to this size live on the stack. A
/// libomp worker has 4 MiB of stack by default (KMP_STACKSIZE) and a
/// Python thread 8 MiB; 1 MiB covers head dims up to about 1024 in f32.
inline constexpr int64_t kStackScratchBytes = 1 << 20;

inline constexpr float kNegInf = -std::numeric_limits<float>::infinity();
/// dot = amx, softmax: a row's running shift moves only when a kv tile's
/// max exceeds it by more than this (CPUTiler::emitWeights).
inline constexpr double kLazyShift = 8.0;

/// Automatic q-tiles per item where a head's K and V exceed half the L2
/// cache (CPUTiler::emitQBlocksPerItem), and the items per thread below
/// which fewer are taken. 1-thread CPU time, f32 full, against one q-tile
/// per item: 4 q-tiles 0.93-0.96x at B1 H8 S4096 D64, H16 S2048 D128 and
/// H8 S8192 D64, 8 q-tiles 0.92-0.95x (bench/results/2026-12-07-f32-l2.md).
inline constexpr int64_t kAutoQBlocks = 8;
inline constexpr int64_t kMinItemsPerThread = 4;

/// Query rows per (b, h) up to which the row (decoding) kernel runs.
inline constexpr int64_t kRowKernelMaxQueries = 2;
/// The row kernel's K and V rows of one span of keys (f32) fit in this
/// much of the L1 cache (CPUTiler::emitRowItem).
inline constexpr int64_t kRowSpanBytes = 32 << 10;

/// True when the tile classification of a one-row tile is exact for `mask`.
bool isRowExact(Attribute mask);

/// The ScoreEmitter of a fused CPU kernel for `op` (attn.attention or
/// attn.attention_grad) with `kvSeqLen` keys (Skv, or a paged cache's
/// max_pages * page_size), its operand dims hoisted here and its capture
/// error flag set.
std::unique_ptr<ScoreEmitter> makeScoreEmitter(ImplicitLocOpBuilder &b,
                                               VariantOpInterface op,
                                               Value query, Value kvSeqLen);

/// scf.for lb..ub by step carrying `init`; `body(iv, iterArgs)` emits the
/// loop body, yield included, through `b`, positioned inside the body.
scf::ForOp emitForLoop(ImplicitLocOpBuilder &b, Value lb, Value ub, Value step,
                       ValueRange init,
                       function_ref<void(Value iv, ValueRange iter)> body);
/// A parallel loop over [0, count) (OpenMP after the pipeline), each
/// iteration in an alloca scope; `body(item)` is emitted through `b`.
void emitParallelItems(ImplicitLocOpBuilder &b, Value count,
                       function_ref<void(Value)> body);

/// acc[r][v] = init(r, v); for k in [lb, ub): acc[r][v] += a(r, k) *
/// bvec(k, v); then store(r, v, acc[r][v]): `rows` x `vecs` vector
/// accumulators in registers, emitted at `b` (which the callbacks use,
/// positioned in the loop body). The micro-kernel of every product of the
/// forward and backward tile kernels. `skip` names the factor that holds
/// weights: where it is 0 (a masked key), the accumulator is kept (a
/// masked FMA), so that a NaN or inf in the other factor does not become a
/// NaN (README, "Masked keys").
enum class ZeroSkip { None, BLanes, AScalar };
void emitRankOneUpdates(
    ImplicitLocOpBuilder &b, VectorType vecType, int64_t rows, int64_t vecs,
    Value lb, Value ub, function_ref<Value(int64_t r, int64_t v)> init,
    function_ref<Value(int64_t r, Value k)> a,
    function_ref<Value(Value k, int64_t v)> bvec,
    function_ref<void(int64_t r, int64_t v, Value acc)> store,
    ZeroSkip skip = ZeroSkip::None);

/// The 16 x 16 transpose of the 32-bit vectors `rows` (16 of 16 lanes):
/// out[i][c] = rows[c][i], by four stages of two-source shuffles that swap
/// the off-diagonal s x s blocks of each pair of rows (i, i + s), s = 8, 4,
/// 2, 1.
SmallVector<Value> transpose16x16(ImplicitLocOpBuilder &b,
                                  ArrayRef<Value> rows);

/// `n` elements of the bf16 or f16 buffer `buf` at `indices`, as bf16: f16
/// values (dot = "amx" on f16 inputs, an opt-in) rounded to the nearest
/// bf16, ties to even (widened exactly to f32, then rounded once; bf16 has
/// f32's exponent range, so only the significand loses bits, 11 to 8)
/// (AmxTileProducts.cpp).
Value loadBf16(ImplicitLocOpBuilder &b, int64_t n, Value buf,
               ValueRange indices);

/// One 32 x 32 block of an AMX product in 2 x 2 accumulator tiles: acc[x][y]
/// = init(x, y); acc[x][y] += lhs(x, s) rhs(y, s) for each 32-element slice
/// s < `slices` of the k dimension; store(x, y, acc[x][y])
/// (AmxTileProducts.cpp).
void emitTileBlock(ImplicitLocOpBuilder &b, int64_t slices,
                   function_ref<Value(int64_t x, int64_t y)> init,
                   function_ref<Value(int64_t x, int64_t s)> lhs,
                   function_ref<Value(int64_t y, int64_t s)> rhs,
                   function_ref<void(int64_t x, int64_t y, Value acc)> store);

/// An operand of emitAmxProduct: its buffer, the indices of its element
/// (row, col), and its row stride (null: the buffer's own).
struct AmxOperand {
  Value buffer;
  std::function<SmallVector<Value>(int64_t row, int64_t col)> at;
  Value stride;
};

/// C[m][n] (+)= sum_{k' < k} A[m][k'] B[k'][n] by AMX bf16 tile products
/// (AmxGradProducts.cpp), m, n and k static multiples of 32: `a` is
/// row-major bf16 (A[m][k'] at a.at(m, k'), k' contiguous), `pairs` holds
/// B in pairs of k' (B[k'][n] at column 2n + k' % 2 of row k' / 2 of
/// pairs.at(k' / 2, 2n)), `c` is f32 (C[m][n] at c.at(m, n)), loaded when
/// `accumulate`, else overwritten.
void emitAmxProduct(ImplicitLocOpBuilder &b, int64_t m, int64_t n, int64_t k,
                    bool accumulate, const AmxOperand &c, const AmxOperand &a,
                    const AmxOperand &pairs);

/// The 16 x 16 transpose of 32-bit pairs of bf16: rows are 16 vectors of
/// 32 bf16; out[w][2r + t] = rows[r][2w + t].
SmallVector<Value> transposeBf16Pairs(ImplicitLocOpBuilder &b,
                                      ArrayRef<Value> rows);

/// vector<16xi32>, lane w 1 where element 2w or 2w + 1 of the bf16 vector
/// `x` (32 elements) is a NaN or inf, else 0.
Value emitNonFiniteBf16(ImplicitLocOpBuilder &b, Value x);

using Norm = StreamingNormalizer::Kind;
using Denom = StreamingNormalizer::Denom;

/// The state of one work item: a tile kernel item (q-tile, b, h), or one
/// (row, kv split) of the row kernel, which sets only what it uses. Each is
/// made by the method that emits the item and passed to what it calls.
struct WorkItem {
  /// Batch row, query head, its kv head, the first query row and the
  /// number of rows.
  Value bi, hi, kvh, i0, nq;
  /// Visible keys of the batch row: kv_len[b] (or Skv), and that clamped to
  /// [0, Skv], the end of the keys visited.
  Value kvLenB, kvEnd;
  /// Positions of the first query row and one past the last.
  Value p0, p1;
  SymValues symVals;
  /// The item's full-key intervals [lo, hi) (see emitFullIntervals).
  SmallVector<KeyRange> fullBounds;
  /// The item's rows for the run-time tile classes (RuntimeSkipping.h).
  RuntimeTileRows rows;
  /// Dense masks: the address of entry [b', h', 0, 0] for the item's batch
  /// row and head (size-1 dims broadcast).
  Value denseItemBase;
  /// Row intervals, when the mask allows them (CPUTiler::rowExact).
  Value rowLo, rowHi, rowSeg;
  /// Scratch tiles: QT, ST, OT and a row of lanes (see the file comment).
  Value qt, st, ot, scratch;
  /// dot = bf16 or amx: QT2[p][2c + t] = Q[i0 + c, 2p + t] (bf16, f16
  /// rounded; unscaled): Q^T in pairs of head-dim elements, the B operand of
  /// AMX's Q K^T.
  Value qt2;
  /// dot = amx (AmxTileProducts.cpp): KS[jj][d], the kv tile's K rows when
  /// its last 32-row block would read past the end of K (f16 K: always,
  /// rounded to bf16); PB[p][2c + t] =
  /// P[i0 + c, j0 + 2p + t] (bf16 weights in pairs of keys, the B operand
  /// of P V; its A operand is CPUTiler::amxVT2).
  Value ks, pb;
  /// dot = amx: two PBs, rows [0, block_kv / 2) and [block_kv / 2,
  /// block_kv): the P V of a kv tile runs during the next tile's weights
  /// (emitKvTileBody), reading its slot while the next tile writes the
  /// other; pb is the view of the slot that the current tile writes.
  Value pbSlots;
  /// dot = amx, set during emitWeights: the kv tile whose P V runs in
  /// pieces between the chunks of the weight loop (an amxVT2 index, or -1:
  /// none) and the view of its PB slot; null outside the AMX kv loop.
  Value pendingTile, pendingPb;
  /// Non-null when ST holds unscaled scores that readers multiply by this
  /// (a positive constant scale folded into the weights, dot = amx without
  /// modifiers).
  Value scoreScale;
  /// f16 / bf16 inputs: the kv tile's K and V rows widened to f32 once per
  /// tile (KT[jj][d], VT[jj][e]), so that the inner loops broadcast f32
  /// from memory instead of converting each element.
  Value kt, vt;
  /// dot = amx_int8 (AmxInt8Products.cpp), for the key group last
  /// quantised: QI[p][4c + t] = the int8 query element (i0 + c, 4p + t)
  /// (the B operand of TDPBUSD), QR[c] its row's step r and QZ[c] =
  /// sum_d QT[d][c] z[g, d]; CI[jj][c], the int32 products of one 32-key
  /// block; KS8[jj][d], the kv tile's codes when its last 32-key block
  /// would read past the end of K; QG[], the group QI holds (-1: none).
  Value qi, qr, qz, ci, ks8, qg;
};

/// The CPU's side of the run-time tile classes (RuntimeSkipping.h) of one
/// op, shared by the forward's kernels and the backward's passes
/// (RuntimeSkipping.cpp): the classifier, per (b, kv tile) segment id
/// ranges of a document conjunct's keys, computed before the work items
/// (so that the key questions are O(1) per tile), and the dense mask
/// operand's address, whose entries are scanned 16 bytes at a time.
class RuntimeTiles {
public:
  /// Emits the op-level part for the run-time conjuncts `runtime` of `op`
  /// (at least one): kv tiles of `blockKv` keys, `batch` rows of `kvLen`
  /// keys (the K operand's).
  RuntimeTiles(ImplicitLocOpBuilder &b, VariantOpInterface op,
               const RuntimeConjuncts &runtime, const ScoreEmitter &emitter,
               int64_t blockKv, Value batch, Value kvLen);

  /// Fills rows.segMin / segMax (a document conjunct) and returns the
  /// address of the dense mask's entry [b', h', 0, 0] for the rows' batch
  /// row and head (size-1 dims broadcast); null when it is not read.
  Value emitRows(ImplicitLocOpBuilder &b, RuntimeTileRows &rows) const;

  /// (kept, full) of kv tile `tile`, keys [j0, j1) with j0 < j1, for
  /// `rows` (RuntimeTileClassifier::emitTileClass); `denseRowBase` is what
  /// emitRows returned for them.
  std::pair<Value, Value> emitTileClass(ImplicitLocOpBuilder &b,
                                        const RuntimeTileRows &rows,
                                        Value denseRowBase, Value tile,
                                        Value j0, Value j1) const;

private:
  class Reader;
  /// Fills kvSegMin / kvSegMax (O(B * Skv), before the work items).
  void emitDocumentTable(ImplicitLocOpBuilder &b, Value batch, Value kvLen);

  VariantOpInterface op;
  const ScoreEmitter &emitter;
  RuntimeTileClassifier classifier;
  int64_t blockKv;
  /// Document masks: per (b, kv tile) min / max segment id.
  Value kvSegMin, kvSegMax;
  /// The dense mask's address (index) and dims, when it is read.
  Value denseBase;
  SmallVector<Value, 4> denseDims;
};

/// Emits the fused loops of one attn.attention op.
class CPUTiler : AttentionBuffers, QuantBuffers {
public:
  CPUTiler(AttentionOp op, const CPUTilePlan &plan, ImplicitLocOpBuilder &b)
      : op(op), plan(plan), b(b), o{b} {}

  LogicalResult run();

private:
  void emitParallel(Value count, function_ref<void(Value)> body);
  /// scf.for lb..ub by step carrying `init`; `body(iv, iterArgs)` emits the
  /// loop body, yield included, through `b` (which the emit methods use),
  /// positioned inside the body.
  scf::ForOp emitFor(Value lb, Value ub, Value step, ValueRange init,
                     function_ref<void(Value iv, ValueRange iter)> body);
  void emitTileKernel();
  /// The row kernel for decoding, with `qVecs` / `vVecs` vectors per query
  /// / value row; see emitRowItem.
  void emitRowKernel(int64_t qVecs, int64_t vVecs);
  /// One item of the row kernel: kv split `item % splits` of query row
  /// `item / splits`, or with `packed` of every query head of a GQA group
  /// at once (row (b, kvh, i)).
  void emitRowItem(Value item, Value splits, bool packed, int64_t qVecs,
                   int64_t vVecs, Value accP, Value mP, Value lP);
  void emitRowMerge(Value row, Value splits, int64_t vVecs, Value accP,
                    Value mP, Value lP);
  /// plan.rowBf16 (DecodeBf16.cpp), once per span of keys [j0, j0 + nkv)
  /// for the item's heads: VP[p][2e + t] = V[j0 + 2p + t, e] (bf16 pairs
  /// of keys, the B operand of emitRowValuesBf16; the odd key of a last,
  /// half pair 0) and, where `ks` is given (paged caches), KS[jj][d] =
  /// K[j0 + jj, d]. Returns whether a value of the span is a NaN or inf
  /// (i1).
  Value emitRowPackBf16(WorkItem &it, Value vp, Value ks, Value j0,
                        Value nkv);
  /// plan.rowBf16: the row's vector of partial dot products with key row
  /// `row` of `keys` (K, or KS: see emitRowPackBf16): lanes c of
  /// sum_i dot(q[i], K[row][32 i ..]), `q` the query row as vectors of 16
  /// pairs of head-dim elements.
  Value emitRowKeyDotBf16(ArrayRef<Value> q, Value keys,
                          ArrayRef<Value> row);
  /// plan.rowBf16: acc[c] + sum over the pairs p < ceil(nkv / 2) of
  /// PW[2p] VP[p][32 c + 2e] + PW[2p + 1] VP[p][32 c + 2e + 1] (lane e),
  /// PW the span's weights in bf16 and VP from emitRowPackBf16.
  SmallVector<Value> emitRowValuesBf16(Value pw, Value vp, Value nkv,
                                       ValueRange acc);
  /// plan.rowAmx (DecodeAmx.cpp), once per item: the query
  /// rows of heads h0 .. h0 + heads - 1 at position i as the B operand of
  /// the scores' tile products, `blocks` = ceil(heads / 16) blocks of
  /// D / 2 rows of 16 bf16 pairs (zero columns past the last head).
  Value emitRowQueryPairsAmx(WorkItem &it, Value i, Value h0, Value heads,
                             Value blocks);
  /// plan.rowAmx, once per span of keys [j0, j0 + nkv):
  /// scores[g][jj] = sum_d K[j0 + jj, d] Q[h0 + g, d] (unscaled) for the
  /// 16 blocks heads of `qp` and jj < nkv rounded up to 16, by AMX tiles;
  /// `staging` (bf16, [span, D]) holds the span's K rows where its 16-key
  /// blocks would read past K, and a paged cache's.
  void emitRowScoresAmx(WorkItem &it, Value qp, Value blocks, Value scores,
                        Value staging, Value j0, Value nkv);
  /// plan.rowAmx, once per span after its heads' weights: acc[g][e] +=
  /// sum_jj PA[g][jj] V[j0 + jj, e] by AMX tiles, over all pairs of keys
  /// of VP (emitRowPackBf16's layout, zeros past the span; a multiple of
  /// 16 pairs), for the 16 blocks rows of acc and PA.
  void emitRowValuesAmx(Value pa, Value vp, Value acc, Value blocks);
  /// Sets bi, hi, kvh, kvLenB, kvEnd of `row` = (b * Hq + h) * Sq + i;
  /// returns i.
  Value emitRowCoordinates(WorkItem &it, Value row);
  /// body(dataFull) for kv tile `t`, or `state` unchanged when a runtime
  /// conjunct (document, tree, dense) rules the tile out; dataFull is the
  /// i1 "every runtime conjunct allows the whole tile", null without any.
  SmallVector<Value>
  emitRuntimeSkip(WorkItem &it, Value t, ValueRange state,
                  function_ref<SmallVector<Value>(Value dataFull)> body);
  // Setup.
  /// Indices of element (b, h, s, d) of a Q/K/V/O buffer in the op's
  /// layout.
  SmallVector<Value> indices4(Value bIdx, Value h, Value s, Value d);
  /// The leading indices of K's or V's row for key `j` of the item's
  /// batch row and kv head (append the head-dim index): (b, kvh, j) in the
  /// op's layout or, for a paged cache, the page pool's (page, slot, kvh)
  /// with page = page_table[b, j / page_size], clamped into the pool.
  SmallVector<Value, 4> kvRowIndices(WorkItem &it, Value j);
  /// Loads element (b, h, s, d) of a Q/K/V/O buffer as f32.
  Value load4(Value buf, Value bi, Value h, Value s, Value d);
  void store4(Value val, Value buf, Value bi, Value h, Value s, Value d);

  // One work item.
  /// The AMX paths' item: one q-tile of one (b, h).
  void emitItem(Value item);
  /// The item of the other paths: `qBlocks` (index) consecutive q-tiles
  /// of one (b, h), fewer at the end of the head, the kv tiles in chunks
  /// that fit in L2 run against each q-tile in turn.
  void emitItemGroup(Value item, Value qBlocks);
  /// q-tiles per item (index): plan.qBlocks, or chosen at run time from
  /// the size of a head's K and V, the L2 cache and the threads.
  Value emitQBlocksPerItem(Value numQTiles);
  /// Bytes of one key's K row plus its V row (index).
  Value emitKvRowBytes();
  /// kv tiles per chunk of emitItemGroup (index, at least 1).
  Value emitChunkTiles();
  /// Sets bi, hi, kvh, kvLenB and kvEnd of the item's (b, h), `head` = b *
  /// Hq + h.
  void emitItemCoordinates(WorkItem &it, Value head);
  /// Allocates the item's scratch tiles; QT (or QT2) and OT for `qBlocks`
  /// q-tiles, stacked along their rows (null: one q-tile).
  void emitItemScratch(WorkItem &it, Value qBlocks);
  /// QT (or QT2) from the item's query rows.
  void emitQueryTile(WorkItem &it);
  /// OT = 0.
  void emitZeroOutput(WorkItem &it);
  /// The (m..., l...) of a q-tile before its first kv tile.
  SmallVector<Value> emitInitialState();
  /// The kv loop of the item's q-tile over its non-empty kv tiles, those
  /// in [tileLo, tileHi) when tileLo is set, from state `init`; returns the
  /// state after the last tile.
  SmallVector<Value> emitKvLoop(WorkItem &it, Value rangeLo, Value rangeHi,
                                ValueRange init, Value tileLo, Value tileHi);
  /// Given bi, kvLenB, kvEnd and the item's rows [i0, i0 + nq): sets p0,
  /// p1 and symVals, and emits what is per item rather than per kv tile
  /// (the full-key intervals fullBounds, sigmoid's beta, the document
  /// rows' id range).
  void emitItemSetup(WorkItem &it);
  /// Sorted, disjoint kv-tile ranges [lo, hi) of the non-empty tiles,
  /// stored into `rangeLo`/`rangeHi`; returns how many there are.
  Value emitTileRanges(WorkItem &it, Value rangeLo, Value rangeHi);
  /// i1: the kv tile starting at key j0 is fully allowed.
  Value emitIsFull(WorkItem &it, Value j0);
  /// Processes kv tile `t`; returns the updated (m..., l...).
  SmallVector<Value> emitKvTile(WorkItem &it, Value t, ValueRange state);
  /// emitKvTile without the runtime skip; `dataFull` (or null) is and-ed
  /// into the tile's full test.
  SmallVector<Value> emitKvTileBody(WorkItem &it, Value t, ValueRange state,
                                    Value dataFull);
  /// dot = amx, after the kv loop: the P V of `tile` (the loop's pending
  /// tile, -1: none) from the PB slot before `slot`.
  void emitPendingValues(WorkItem &it, Value tile, Value slot);
  void emitScores(WorkItem &it, Value j0, Value nkv);
  /// emitScores by f32 FMAs: ST[jj][:] = sum_d K[j0 + jj, d] QT[d][:],
  /// reading KT where the tile packs it.
  void emitScoresFma(WorkItem &it, Value j0, Value nkv);
  /// body(jb, keys) for each register block of plan.unroll keys of the
  /// tile (keys[r] = j0 + jb + r, clamped to the last key).
  void emitKeyBlocks(Value j0, Value nkv,
                     function_ref<void(Value jb, ArrayRef<Value> keys)> body);
  /// dst[jj][d] = f32(src[b, kvh, j0 + jj, d]) for jj < nkv, d < dim
  /// (src is K or V, its rows found by kvRowIndices).
  void emitPackTile(WorkItem &it, Value dst, Value src, Value j0, Value nkv,
                    Value dim, int64_t staticDim);
  /// emitPackTile of a quantized cache (DequantTile.cpp): dst[jj][d] =
  /// scale * code + zero of key (or with `values`, value) j0 + jj, channel
  /// d < dim, or its residual row for the newest tokens.
  void emitDequantTile(WorkItem &it, Value dst, bool values, Value j0,
                       Value nkv, Value dim, int64_t staticDim);
  /// emitScores for plan.bf16Dot: pairs of head-dim elements per
  /// x86vector.avx512.dot, reading QT2.
  void emitScoresBf16(WorkItem &it, Value j0, Value nkv);
  /// emitScores for dot = amx: ST^T = K Q^T by AMX tiles, then scaled.
  void emitScoresAmx(WorkItem &it, Value j0, Value nkv);
  /// An AMX product over a tile's key rows: base, row stride (null: the
  /// buffer's own) and the indices of key row jj, column d0, in base.
  using KeyTileProduct = function_ref<void(
      Value base, Value stride,
      function_ref<SmallVector<Value>(Value jj, int64_t d0)> kRows)>;
  /// Runs `product` on K's rows [j0, j0 + rowsEnd) in place when they all
  /// lie in K, else on `staging`, into which the tile's nkv rows of `dim`
  /// elements are first copied in vectors of rowType (the bf16 and int8
  /// Q K^T of a last kv tile, and every tile of f16 K, rounded to bf16).
  void emitKeyTileProducts(WorkItem &it, Value j0, Value nkv, Value rowsEnd,
                           int64_t dim, Value staging, VectorType rowType,
                           KeyTileProduct product);
  /// dot = amx_int8: allocates the WorkItem's QI, QR, QZ, CI, KS8 and QG.
  void emitAmxInt8Buffers(WorkItem &it);
  /// emitScores for dot = amx_int8: ST from the int8 key codes by AMX
  /// int8 tiles where every key of the tile is a code; a tile that
  /// reaches the residual window is dequantised into KT and takes the
  /// FMA product.
  void emitScoresAmxInt8(WorkItem &it, Value j0, Value nkv);
  /// QI, QR, QZ for key group `g` (index): the query of QT times the
  /// group's key scales, quantised per row to int8.
  void emitInt8Query(WorkItem &it, Value g);
  /// dot = amx_int8 with bf16 queries: P V by AMX bf16 tiles as with dot =
  /// amx, from the shared VT2 (emitAmxValueBuffers).
  bool amxInt8Values();
  /// P V by AMX bf16 tiles, weights in PB: dot = amx, or amxInt8Values.
  bool amxValues() { return plan.dot == CPUDot::Amx || amxInt8Values(); }
  /// emitAmxValueTranspose of an int8 quantized cache: VT2[tile] from the
  /// value codes, dequantised and rounded to bf16; returns whether the
  /// tile reaches the residual window (whose full-precision rows VT2 does
  /// not hold: the guarded product reads them from VT instead).
  Value emitAmxDequantTranspose(WorkItem &it, Value j0, Value nkv,
                                Value tile);
  /// emitValues for dot = amx: OT = alpha OT + V^T P^T by AMX tiles.
  void emitValuesAmx(WorkItem &it, Value j0, Value nkv, ArrayRef<Value> alpha);
  /// dot = amx: allocates amxVT2 and amxVT2State (AmxTileProducts.cpp).
  void emitAmxValueBuffers();
  /// amxVT2[tile] written once, by the first work item that needs it;
  /// returns whether the tile holds a NaN or inf (an i1, the same for
  /// every item: kept in the tile's state word).
  Value emitAmxSharedTranspose(WorkItem &it, Value j0, Value nkv, Value tile);
  /// amxVT2[tile] for the kv tile of `it`'s batch row and kv head
  /// starting at key j0 (nkv keys); returns whether a value it read is a
  /// NaN or inf.
  Value emitAmxValueTranspose(WorkItem &it, Value j0, Value nkv, Value tile);
  /// OT[e][c] += sum over jj < nkv with PB's weight w(jj, c) != 0 of
  /// w(jj, c) V[j0 + jj, e], by AVX-512 masked FMAs: emitValuesAmx's
  /// product for a kv tile whose values hold a NaN or inf, which the tile
  /// product would spread to rows that mask the key (0 * NaN).
  void emitAmxValuesGuarded(WorkItem &it, Value j0, Value nkv);
  /// The index into amxVT2 of the kv tile starting at key j0.
  Value amxTileIndex(WorkItem &it, Value j0);
  /// The weight loop of emitWeights for AMX: PB[p][2c + t] = bf16(w(2p +
  /// t, c)) with w = weight(jj, v) for keys below nkv and 0 past them;
  /// returns the loop, which carries `init` (one vector per plan.vecs())
  /// and, with `sums`, adds w(2p, v) + w(2p + 1, v) to acc[v], the weights
  /// as rounded to bf16 unless the op has an LSE result.
  /// With `between`, the pairs run in `chunks` chunks of ceil(block_kv / 2
  /// / chunks) pairs (fewer at the tile's end) and between(g) is emitted
  /// before chunk g: other work, interleaved with the weights' AVX-512.
  scf::ForOp emitAmxWeightPairs(WorkItem &it, Value nkv, ValueRange init,
                                function_ref<Value(Value jj, int64_t v)> weight,
                                bool sums, int64_t chunks = 0,
                                function_ref<void(Value g)> between = nullptr);
  /// dot = amx: the 32 x 32 blocks of OT that P V updates, (Dv / 32) x
  /// (block_q / 32); block g is OT[32 (g / (block_q / 32)) ..][32 (g %
  /// (block_q / 32)) ..].
  int64_t amxValueBlocks();
  /// Block `g` of OT += VT2[tile] P^T, P^T from the PB view `pb`: its 2 x 2
  /// accumulators loaded from OT, block_kv / 32 steps of 4 tile products,
  /// stored back.
  void emitAmxValueBlock(WorkItem &it, Value pb, Value tile, Value g);
  /// OT *= alpha where some lane of alpha is not 1 (no code when alpha is
  /// empty).
  void emitAmxRescale(WorkItem &it, ArrayRef<Value> alpha);
  /// The view of PB slot `slot` (0 or 1) of it.pbSlots.
  Value amxPbSlot(WorkItem &it, Value slot);
  /// The AMX kv loop's P V of the kv tile at j0, whose weights are in it.pb
  /// (slot `slot`), after the deferred P V of the previous tile ran inside
  /// emitWeights: OT *= alpha, VT2 transposed (shared); a tile whose
  /// values hold a NaN or inf gets its guarded product now, any other is
  /// deferred to the next kv tile (or the end of the loop). Returns the
  /// loop's (pending tile, slot) for the next tile: (tile, 1 - slot) or
  /// (-1, slot).
  SmallVector<Value> emitValuesAmxDeferred(WorkItem &it, Value j0, Value nkv,
                                           ArrayRef<Value> alpha, Value slot);
  void emitMaskAndMods(WorkItem &it, Value j0, Value nkv, Value isFull);
  /// For masks whose one-row classification is exact: per-row key
  /// intervals (and segment ids) of the item's rows, so that partial tiles
  /// are masked by vector compares (emitRowIntervalMask).
  void emitRowIntervals(WorkItem &it);
  /// Allocates the WorkItem's rowLo, rowHi (and rowSeg) for emitRowIntervals.
  void emitRowIntervalBuffers(WorkItem &it);
  void emitRowIntervalMask(WorkItem &it, Value j0, Value nkv);
  /// Turns ST into weights; returns (alpha..., m..., l...) with alpha
  /// empty when the accumulator is never rescaled.
  void emitWeights(WorkItem &it, Value nkv, ValueRange m, ValueRange l,
                   SmallVector<Value> &alpha, SmallVector<Value> &mOut,
                   SmallVector<Value> &lOut);
  /// OT = alpha OT + V^T P^T. Zero weights add nothing where a tile may
  /// have them (README, "Masked keys"): partial tiles (`isFull` false)
  /// and, with score modifiers (which may give -inf) or relu (which weighs
  /// negative scores 0), every tile; other full tiles run the plain
  /// product.
  void emitValues(WorkItem &it, Value j0, Value nkv, ArrayRef<Value> alpha,
                  Value isFull);
  /// The vector whose lane k is the sum of the lanes of vecs[k] (one
  /// vector a lane): a tree of shuffles and adds.
  Value emitLaneSums(ArrayRef<Value> vecs);
  /// emitValues' product of ST's weights; `skip`: zero weights add
  /// nothing.
  void emitValueProduct(WorkItem &it, Value j0, Value nkv,
                        ArrayRef<Value> alpha, bool skip);
  void emitEpilogue(WorkItem &it, ValueRange m, ValueRange l);
  /// The epilogue's O = OT^T inv for 16 lanes and a static value dim that
  /// is a multiple of 16: by 16 x 16 transposes, O's rows as vectors.
  void emitOutputRows(WorkItem &it, ArrayRef<Value> inv);
  /// QT2 from Q (dot = bf16 or amx, head dim a multiple of 32) by 16 x 16
  /// transposes of 32-bit pairs.
  void emitQueryPairs(WorkItem &it);
  /// (1 / Z, LSE) of a row (or lanes of rows) from its shift m and sum l.
  std::pair<Value, Value> finalize(WorkItem &it, Value m, Value l);

  /// Vector `v` of row `row` of a [rows x blockQ] scratch tile.
  Value loadLanes(Value tile, Value row, int64_t v);
  void storeLanes(Value val, Value tile, Value row, int64_t v);

  /// acc[r][v] = init(r, v); for k in [lb, ub): acc[r][v] += a(r, k) *
  /// bvec(k, v); then store(r, v, acc[r][v]). `rows` x plan.vecs() vector
  /// accumulators live in registers; `skip` as for the free function.
  void
  emitRankOneUpdates(int64_t rows, Value lb, Value ub,
                     function_ref<Value(int64_t r, int64_t v)> init,
                     function_ref<Value(int64_t r, Value k)> a,
                     function_ref<Value(Value k, int64_t v)> bvec,
                     function_ref<void(int64_t r, int64_t v, Value acc)> store,
                     ZeroSkip skip = ZeroSkip::None);

  /// Vector weight of scores `s` under shift `shift` (unused by sigmoid
  /// and relu); 0 where s = -inf.
  Value weight(Value s, Value shift);
  /// 2^x for vectors x <= 128 by a polynomial (degree 4 where the weights
  /// are rounded to bf16 next, else 5); 0 for x <= -127, NaN for NaN.
  Value exp2Poly(Value x, bool bf16Weights);
  /// Bytes of the scratch tiles of one work item for head dims `d`, `dv`
  /// (INT64_MAX when one is dynamic).
  int64_t scratchBytes(int64_t d, int64_t dv) const;

  AttentionOp op;
  const CPUTilePlan &plan;
  ImplicitLocOpBuilder &b;
  Arith o;
  std::unique_ptr<ScoreEmitter> emitter;

  std::unique_ptr<StreamingNormalizer> normalizer;
  Norm norm = Norm::Softmax;
  Denom denom = Denom::RowSum;
  bool bshd = false;
  /// Set when K and V are page pools read through the page table.
  PagedAttr paged;
  /// Set when K and V are quantized codes (#attn.quant), dequantised into
  /// the f32 kv tiles by emitDequantTile from the QuantBuffers.
  QuantAttr quant;
  /// The normalizer keeps a running shift m (and rescales by exp(m - m')).
  bool shifted = false;
  bool hasMods = false;
  /// The mask's conjuncts classified per tile at run time.
  RuntimeConjuncts runtime;
  /// Whether the dense_mask operand is read per tile (a dense conjunct, or
  /// an #attn.blocks table).
  bool readsDense() const { return runtime.denseLeaf || runtime.blocks; }
  /// The run-time tile classes of the document, tree and dense conjuncts;
  /// null without any.
  std::unique_ptr<RuntimeTiles> runtimeTiles;
  VectorType vecType;
  Type f32;

  // Op-level values.
  Value headDim, valueDim;
  Value scale;
  TileClasses classes;

  /// Whether the scratch tiles of a work item are too large for a thread's
  /// stack (large or dynamic head dims): they are then allocated on the
  /// heap, and buffer deallocation frees them at the end of the item.
  bool heapScratch = false;
  // Whether the tile kernel masks partial tiles by per-row key intervals
  // (WorkItem::rowLo etc.).
  bool rowExact = false;
  /// dot = amx: VT2[(b * Hkv + kvh) * T + t][e][jj] = V[b, kvh, t *
  /// block_kv + jj, e] (bf16, V^T per kv tile, the A operand of P V), T =
  /// amxTiles = ceil(Skv / block_kv); each tile's state in amxVT2State
  /// (i32 bits: 1 claimed by a work item, 2 written).
  Value amxVT2, amxVT2State, amxTiles;
};

} // namespace mlir::attn::cpu

#endif // ATTN_LIB_CONVERSION_ATTNTOCPU_CPUTILER_H
