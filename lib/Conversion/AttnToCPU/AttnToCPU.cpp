//===- TileCPU.cpp - Fused flash-attention loops for the CPU --------------===//
//
// The fused CPU lowering of attn.attention (FlashAttention-2 on the CPU).
// Work items are (q-tile, b, h); each walks the kv tiles that the symbolic
// tile classification leaves non-empty, carrying a running row shift m, row
// sum l and an f32 accumulator. Scores never leave a [block_kv x block_q]
// scratch tile.
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
// Decoding (a single query row per (b, h)) uses the row kernel instead,
// with lanes along the head dimension and the kv range split across threads.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Analysis/TileClasses.h"
#include "attn/Conversion/Passes.h"
#include "attn/Conversion/AttnToCPU/AttnToCPU.h"
#include "attn/Dialect/Attn/Utils/Arith.h"
#include "attn/Dialect/Attn/Utils/Buffers.h"
#include "attn/Dialect/Attn/Utils/Normalizer.h"
#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/Threading.h"
#include "llvm/TargetParser/Host.h"

#include <limits>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNTILECPU
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

/// Scratch tiles of one work item up to this size live on the stack. A
/// libomp worker has 4 MiB of stack by default (KMP_STACKSIZE) and a
/// Python thread 8 MiB; 1 MiB covers head dims up to about 1024 in f32.
static constexpr int64_t kStackScratchBytes = 1 << 20;

static constexpr float kNegInf = -std::numeric_limits<float>::infinity();
/// Query rows per (b, h) up to which the row (decoding) kernel runs.
static constexpr int64_t kRowKernelMaxQueries = 2;

bool mlir::attn::hostHasBf16Dot() {
  static const bool has = [] {
    llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
    return features.lookup("avx512bf16") && features.lookup("avx512f");
  }();
  return has;
}

int64_t mlir::attn::hostVectorWidth() {
  // The host does not change while the process runs: detect once.
  static const int64_t width = [] {
    llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
    if (features.lookup("avx512f"))
      return 16;
    if (features.lookup("avx2") && features.lookup("fma"))
      return 8;
    return 4;
  }();
  return width;
}

/// True when the tile classification of a one-row tile is exact for `mask`:
/// its bound holds exactly the allowed keys of that row. The leaves
/// classified exactly at key granularity, combined by and / or.
static bool isRowExact(Attribute mask) {
  if (auto conj = dyn_cast<AndMaskAttr>(mask))
    return llvm::all_of(conj.getMasks(), isRowExact);
  if (auto disj = dyn_cast<OrMaskAttr>(mask))
    return llvm::all_of(disj.getMasks(), isRowExact);
  if (auto global = dyn_cast<GlobalAttr>(mask))
    return global.getPositions().empty();
  return isa<FullMaskAttr, CausalMaskAttr, SlidingWindowAttr, ChunkedAttr,
             HaloAttr, SinksAttr, PrefixLMAttr>(mask);
}

namespace {

using Norm = StreamingNormalizer::Kind;
using Denom = StreamingNormalizer::Denom;

/// Sizes baked into the generated loops.
struct TilePlan {
  int64_t lanes;    // f32 lanes per vector
  int64_t vecs;     // vectors per query tile
  int64_t blockQ;   // = lanes * vecs
  int64_t blockKv;  // keys per kv tile
  int64_t keyRows;  // rows per register block: keys in Q K^T, head-dim
                    // rows in P V
  int64_t kvSplits; // row kernel: kv splits per row, 0 = automatic
  int64_t threads;  // threads the splits should keep busy
  bool bf16Dot;     // Q K^T of bf16 inputs by AVX512-BF16 pair dot products
};

/// Emits the fused loops of one attn.attention op.
class CPUTiler : AttentionBuffers {
public:
  CPUTiler(AttentionOp op, const TilePlan &plan, ImplicitLocOpBuilder &b)
      : op(op), plan(plan), b(b), o{b} {}

  LogicalResult run();

private:
  void emitParallel(Value count, function_ref<void(Value)> body);
  void emitTileKernel();
  /// The row kernel for decoding, with `qVecs` / `vVecs` vectors per query
  /// / value row; see emitRowItem.
  void emitRowKernel(int64_t qVecs, int64_t vVecs);
  void emitRowItem(Value item, Value splits, int64_t qVecs, int64_t vVecs,
                   Value accP, Value mP, Value lP);
  void emitRowMerge(Value row, Value splits, int64_t vVecs, Value accP,
                    Value mP, Value lP);
  /// Sets bi, hi, kvh, kvLenB, kvEnd of `row` = (b * Hq + h) * Sq + i;
  /// returns i.
  Value emitRowCoordinates(Value row);
  /// Fills kvSegMin / kvSegMax (O(B * Skv), before the work items).
  void emitDocumentTable();
  /// qSegMin / qSegMax over the item's rows [i0, i0 + nq).
  void emitDocumentRows();
  /// body(dataFull) for kv tile `t`, or `state` unchanged when a runtime
  /// conjunct (document, tree, dense) rules the tile out; dataFull is the
  /// i1 "every runtime conjunct allows the whole tile", null without any.
  SmallVector<Value>
  emitRuntimeSkip(Value t, ValueRange state,
                  function_ref<SmallVector<Value>(Value dataFull)> body);
  /// (skip, full) of kv tile `t` under the document conjunct.
  std::pair<Value, Value> emitDocumentTile(Value t);
  /// (skip, full) of the item's rows and keys [j0, j0 + nkv) under the
  /// dense conjunct: scans the mask entries covering them, stopping once
  /// both an allowed and a masked entry were seen.
  std::pair<Value, Value> emitDenseTile(Value j0, Value nkv);
  /// (any, all) of the dense mask entries [c0, c1) of entry row `r`,
  /// updating `any` / `all`: 16 bytes at a time, then one by one.
  std::pair<Value, Value> emitDenseRow(ImplicitLocOpBuilder &ib, Value r,
                                       Value c0, Value c1, Value any,
                                       Value all);
  // Setup.
  /// Indices of element (b, h, s, d) of a Q/K/V/O buffer in the op's
  /// layout.
  SmallVector<Value> indices4(Value bIdx, Value h, Value s, Value d);
  /// Loads element (b, h, s, d) of a Q/K/V/O buffer as f32.
  Value load4(Value buf, Value bi, Value h, Value s, Value d);
  void store4(Value val, Value buf, Value bi, Value h, Value s, Value d);

  // One work item.
  void emitItem(Value item);
  /// Given bi, kvLenB, kvEnd and the item's rows [i0, i0 + nq): sets p0,
  /// p1 and symVals, and emits what is per item rather than per kv tile
  /// (the full-key intervals fullBounds, sigmoid's beta, the document
  /// rows' id range).
  void emitItemSetup();
  /// Sorted, disjoint kv-tile ranges [lo, hi) of the non-empty tiles,
  /// stored into `rangeLo`/`rangeHi`; returns how many there are.
  Value emitTileRanges(Value rangeLo, Value rangeHi);
  /// i1: the kv tile starting at key j0 is fully allowed.
  Value emitIsFull(Value j0);
  /// Processes kv tile `t`; returns the updated (m..., l...).
  SmallVector<Value> emitKvTile(Value t, ValueRange state);
  /// emitKvTile without the runtime skip; `dataFull` (or null) is and-ed
  /// into the tile's full test.
  SmallVector<Value> emitKvTileBody(Value t, ValueRange state, Value dataFull);
  void emitScores(Value j0, Value nkv);
  /// body(jb, keys) for each register block of plan.keyRows keys of the
  /// tile (keys[r] = j0 + jb + r, clamped to the last key).
  void emitKeyBlocks(Value j0, Value nkv,
                     function_ref<void(Value jb, ArrayRef<Value> keys)> body);
  /// dst[jj][d] = f32(src[b, kvh, j0 + jj, d]) for jj < nkv, d < dim.
  void emitPackTile(Value dst, Value src, Value j0, Value nkv, Value dim,
                    int64_t staticDim);
  /// emitScores for plan.bf16Dot: pairs of head-dim elements per
  /// x86vector.avx512.dot, reading QT2.
  void emitScoresBf16(Value j0, Value nkv);
  void emitMaskAndMods(Value j0, Value nkv, Value isFull);
  /// For masks whose one-row classification is exact: per-row key
  /// intervals (and segment ids) of the item's rows, so that partial tiles
  /// are masked by vector compares (emitRowIntervalMask).
  void emitRowIntervals();
  void emitRowIntervalMask(Value j0, Value nkv);
  /// Turns ST into weights; returns (alpha..., m..., l...) with alpha
  /// empty when the accumulator is never rescaled.
  void emitWeights(Value nkv, ValueRange m, ValueRange l,
                   SmallVector<Value> &alpha, SmallVector<Value> &mOut,
                   SmallVector<Value> &lOut);
  void emitValues(Value j0, Value nkv, ArrayRef<Value> alpha);
  void emitEpilogue(ValueRange m, ValueRange l);
  /// (1 / Z, LSE) of a row (or lanes of rows) from its shift m and sum l.
  std::pair<Value, Value> finalize(Value m, Value l);

  /// Vector `v` of row `row` of a [rows x blockQ] scratch tile.
  Value loadLanes(Value tile, Value row, int64_t v);
  void storeLanes(Value val, Value tile, Value row, int64_t v);

  /// acc[r][v] = init(r, v); for k in [lb, ub): acc[r][v] += a(r, k) *
  /// bvec(k, v); then store(r, v, acc[r][v]). `rows` x plan.vecs vector
  /// accumulators live in registers.
  void
  emitRankOneUpdates(int64_t rows, Value lb, Value ub,
                     function_ref<Value(int64_t r, int64_t v)> init,
                     function_ref<Value(int64_t r, Value k)> a,
                     function_ref<Value(Value k, int64_t v)> bvec,
                     function_ref<void(int64_t r, int64_t v, Value acc)> store);

  /// Vector weight of scores `s` under shift `shift` (unused by sigmoid
  /// and relu); 0 where s = -inf.
  Value weight(Value s, Value shift);
  /// Bytes of the scratch tiles of one work item for head dims `d`, `dv`
  /// (INT64_MAX when one is dynamic).
  int64_t scratchBytes(int64_t d, int64_t dv) const;

  AttentionOp op;
  const TilePlan &plan;
  ImplicitLocOpBuilder &b;
  Arith o;
  std::unique_ptr<ScoreEmitter> emitter;

  std::unique_ptr<StreamingNormalizer> normalizer;
  Norm norm = Norm::Softmax;
  Denom denom = Denom::RowSum;
  bool bshd = false;
  /// The normalizer keeps a running shift m (and rescales by exp(m - m')).
  bool shifted = false;
  bool hasMods = false;
  bool hasDocument = false, hasTree = false, hasDense = false;
  DenseMaskAttr denseLeaf;
  /// The dense mask's address (index) and dims, for vector scans.
  Value denseBase;
  SmallVector<Value, 4> denseDims;
  /// Per item: the address of entry [b', h', 0, 0] for the item's batch
  /// row and head (size-1 dims broadcast), and the entry rows [r0, r1)
  /// that cover the item's query rows.
  Value denseItemBase, denseR0, denseR1;
  VectorType vecType;
  Type f32;

  // Op-level values.
  Value headDim, valueDim;
  Value scale;
  TileClasses classes;

  // Work-item values.
  Value bi, hi, kvh, i0, nq, kvLenB, kvEnd, p0, p1;
  Value qt, st, ot, scratch;
  /// Whether the scratch tiles of a work item are too large for a thread's
  /// stack (large or dynamic head dims): they are then allocated on the
  /// heap, and buffer deallocation frees them at the end of the item.
  bool heapScratch = false;
  /// plan.bf16Dot: QT2[p][2c + t] = Q[i0 + c, 2p + t] (bf16, unscaled).
  Value qt2;
  /// f16 / bf16 inputs: the kv tile's K and V rows widened to f32 once per
  /// tile (KT[jj][d], VT[jj][e]), so that the inner loops broadcast f32
  /// from memory instead of converting each element.
  Value kt, vt;
  SymValues symVals;
  /// The item's full-key intervals [lo, hi) (see emitItemClasses).
  SmallVector<KeyRange> fullBounds;
  // Document masks: per (b, kv tile) min / max segment id, and the tile's
  // query rows' min / max.
  Value kvSegMin, kvSegMax, qSegMin, qSegMax;
  // Row intervals of the tile kernel's item, when the mask allows them.
  bool rowExact = false;
  Value rowLo, rowHi, rowSeg;
};

} // namespace

//===----------------------------------------------------------------------===//
// Setup
//===----------------------------------------------------------------------===//

SmallVector<Value> CPUTiler::indices4(Value bIdx, Value h, Value s, Value d) {
  return layoutIndices(bshd, bIdx, h, s, d);
}

Value CPUTiler::load4(Value buf, Value bIdx, Value h, Value s, Value d) {
  return o.extF(memref::LoadOp::create(b, buf, indices4(bIdx, h, s, d)));
}

void CPUTiler::store4(Value val, Value buf, Value bIdx, Value h, Value s,
                      Value d) {
  auto elem = cast<MemRefType>(buf.getType()).getElementType();
  memref::StoreOp::create(b, o.truncF(val, elem), buf, indices4(bIdx, h, s, d));
}

LogicalResult CPUTiler::run() {
  f32 = b.getF32Type();
  vecType = VectorType::get({plan.lanes}, f32);
  bshd = op.getLayoutOrDefault() == Layout::bshd;
  normalizer = std::make_unique<StreamingNormalizer>(op);
  norm = normalizer->kind();
  denom = normalizer->denom();
  shifted = normalizer->shifted();
  hasMods = !op.getScoreModList().empty();
  RuntimeConjuncts runtime = splitRuntimeConjuncts(op.getMaskOrDefault());
  hasDocument = runtime.document;
  hasTree = runtime.tree;
  hasDense = bool(runtime.denseLeaf);
  denseLeaf = runtime.denseLeaf;
  classes = classifyMask(runtime.declarative);
  if (hasDense) {
    // Entries are bytes (i1 and i8 alike), read through the buffer's
    // address: a vector<16xi1> load would read bits.
    Value buf = toIdentityBuffer(b, op.getDenseMask(), /*readOnly=*/true);
    denseBase = memref::ExtractAlignedPointerAsIndexOp::create(b, buf);
    for (int64_t d = 0, e = cast<MemRefType>(buf.getType()).getRank(); d < e;
         ++d)
      denseDims.push_back(memref::DimOp::create(b, buf, d));
  }
  // Row intervals mask by the declarative part (and segment ids) only.
  rowExact = isRowExact(runtime.declarative) && !hasTree && !hasDense &&
             !classes.bound.empty() && classes.bound.size() < kMaxTileIntervals;

  unsigned sDim = op.getSeqDim(), hDim = op.getHeadDim();
  static_cast<AttentionBuffers &>(*this) = AttentionBuffers::emit(b, op);
  headDim = memref::DimOp::create(b, qB, 3);
  valueDim = memref::DimOp::create(b, vB, 3);
  // Tensor-level dims for the emitter, which reads operands as tensors.
  emitter = std::make_unique<ScoreEmitter>(
      op, tensor::DimOp::create(b, op.getQuery(), hDim),
      tensor::DimOp::create(b, op.getQuery(), sDim),
      tensor::DimOp::create(b, op.getKey(), sDim));
  emitter->hoistOperandDims(b);
  emitter->setCaptureErrorFlag(ScoreEmitter::emitCaptureErrorFlag(b, op));
  scale = emitter->emitScale(b, tensor::DimOp::create(b, op.getQuery(), 3));

  auto headDims = cast<ShapedType>(op.getValue().getType());
  int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  int64_t dv = headDims.getDimSize(3);
  heapScratch = scratchBytes(d, dv) > kStackScratchBytes;
  bool rowKernel = !ShapedType::isDynamic(d) && !ShapedType::isDynamic(dv) &&
                   d > 0 && dv > 0 && d % plan.lanes == 0 &&
                   dv % plan.lanes == 0 && d / plan.lanes <= 16 &&
                   dv / plan.lanes <= 16;
  if (hasDocument)
    emitDocumentTable();
  if (rowKernel) {
    // Decoding: few query rows per (b, h) leave the lanes of the tile
    // kernel idle, so they get the row kernel.
    auto ifOp = scf::IfOp::create(b, TypeRange{},
                                  o.le(qLen, o.idx(kRowKernelMaxQueries)),
                                  /*withElseRegion=*/true);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    emitRowKernel(d / plan.lanes, dv / plan.lanes);
    b.setInsertionPointToStart(ifOp.elseBlock());
    emitTileKernel();
  } else {
    emitTileKernel();
  }

  replaceOp(b, op);
  return success();
}

int64_t CPUTiler::scratchBytes(int64_t d, int64_t dv) const {
  if (ShapedType::isDynamic(d) || ShapedType::isDynamic(dv))
    return std::numeric_limits<int64_t>::max();
  int64_t stRows = llvm::divideCeil(plan.blockKv, plan.keyRows) * plan.keyRows;
  int64_t floats = plan.blockQ * (d + dv + stRows + 1);
  if (!cast<MemRefType>(kB.getType()).getElementType().isF32())
    floats += plan.blockKv * (d + dv);
  return 4 * floats;
}

void CPUTiler::emitParallel(Value count, function_ref<void(Value)> body) {
  scf::ParallelOp::create(
      b, ValueRange{o.idx(0)}, ValueRange{count}, ValueRange{o.idx(1)},
      [&](OpBuilder &nb, Location loc, ValueRange ivs) {
        ImplicitLocOpBuilder ib(loc, nb);
        auto scope = memref::AllocaScopeOp::create(ib, TypeRange{});
        Block *block = new Block();
        scope.getBodyRegion().push_back(block);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(block);
        body(ivs[0]);
        memref::AllocaScopeReturnOp::create(b, ValueRange{});
      });
}

void CPUTiler::emitTileKernel() {
  // Items: (b, h) times q-tiles; see emitItem for the order.
  Value numQTiles = o.ceilDiv(qLen, o.idx(plan.blockQ));
  Value numItems = o.mul(numQTiles, o.mul(batch, qHeads));
  emitParallel(numItems, [&](Value item) { emitItem(item); });
}

//===----------------------------------------------------------------------===//
// Work item
//===----------------------------------------------------------------------===//

void CPUTiler::emitItem(Value item) {
  // item = (b * Hq + h) * numQTiles + (numQTiles - 1 - qtile): consecutive
  // items share K and V (cache reuse across the threads), and within a head
  // the heaviest q-tiles of causal masks come first, so the dynamic
  // schedule ends on light items.
  Value numQTiles = o.ceilDiv(qLen, o.idx(plan.blockQ));
  Value qtile = o.sub(o.sub(numQTiles, o.idx(1)), o.remU(item, numQTiles));
  Value rest = o.divU(item, numQTiles);
  bi = o.divU(rest, qHeads);
  hi = o.remU(rest, qHeads);
  kvh = o.divU(hi, group);
  i0 = o.mul(qtile, o.idx(plan.blockQ));
  nq = o.min(o.idx(plan.blockQ), o.sub(qLen, i0));
  kvLenB = emitter->emitKvLength(b, bi);
  // Keys visited: [0, kvEnd). kv_len is trusted for positions but clamped
  // here so that a bad value cannot make the kernel read out of bounds.
  kvEnd = o.max(o.min(kvLenB, kvLen), o.idx(0));
  emitItemSetup();

  // Scratch tiles; the alloca scope frees them at the end of the item.
  int64_t bq = plan.blockQ;
  int64_t stRows = llvm::divideCeil(plan.blockKv, plan.keyRows) * plan.keyRows;
  // Cache-line aligned, so that no vector access splits a line.
  IntegerAttr align = b.getI64IntegerAttr(64);
  auto tile = [&](MemRefType type, ValueRange sizes) -> Value {
    if (heapScratch)
      return memref::AllocOp::create(b, type, sizes, align);
    return memref::AllocaOp::create(b, type, sizes, align);
  };
  int64_t dyn = ShapedType::kDynamic;
  if (plan.bf16Dot) {
    int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
    qt2 = tile(MemRefType::get({d / 2, 2 * bq}, b.getBF16Type()), {});
  } else {
    qt = tile(MemRefType::get({dyn, bq}, f32), headDim);
  }
  st = tile(MemRefType::get({stRows, bq}, f32), {});
  ot = tile(MemRefType::get({dyn, bq}, f32), valueDim);
  scratch = tile(MemRefType::get({bq}, f32), {});
  kt = vt = Value();
  if (!cast<MemRefType>(kB.getType()).getElementType().isF32()) {
    if (!plan.bf16Dot)
      kt = tile(MemRefType::get({plan.blockKv, dyn}, f32), headDim);
    vt = tile(MemRefType::get({plan.blockKv, dyn}, f32), valueDim);
  }
  rowLo = rowHi = rowSeg = Value();
  if (rowExact && !hasMods)
    emitRowIntervals();

  Value zero = o.idx(0), one = o.idx(1);
  // QT[d][c] = scale * Q[i0 + min(c, nq - 1), d]; padded lanes repeat the
  // last row so that they stay finite.
  Value lastRow = o.sub(nq, one);
  scf::ForOp::create(
      b, zero, o.idx(bq), one, ValueRange{},
      [&](OpBuilder &nb, Location loc, Value c, ValueRange) {
        ImplicitLocOpBuilder ib(loc, nb);
        Arith io{ib};
        Value row = io.add(i0, io.min(c, lastRow));
        scf::ForOp::create(
            ib, zero, headDim, one, ValueRange{},
            [&](OpBuilder &nb2, Location loc2, Value d, ValueRange) {
              ImplicitLocOpBuilder jb(loc2, nb2);
              OpBuilder::InsertionGuard g(b);
              b.setInsertionPoint(jb.getInsertionBlock(),
                                  jb.getInsertionPoint());
              if (plan.bf16Dot) {
                Value x =
                    memref::LoadOp::create(b, qB, indices4(bi, hi, row, d));
                Value at = o.add(o.mul(c, o.idx(2)), o.remU(d, o.idx(2)));
                memref::StoreOp::create(b, x, qt2,
                                        ValueRange{o.divU(d, o.idx(2)), at});
              } else {
                Value x = o.fmul(load4(qB, bi, hi, row, d), scale);
                memref::StoreOp::create(b, x, qt, ValueRange{d, c});
              }
              scf::YieldOp::create(b);
            });
        scf::YieldOp::create(ib);
      });
  // OT = 0.
  Value zeroVec = o.cst(vecType, 0.0);
  scf::ForOp::create(b, zero, valueDim, one, ValueRange{},
                     [&](OpBuilder &nb, Location loc, Value e, ValueRange) {
                       ImplicitLocOpBuilder ib(loc, nb);
                       for (int64_t v = 0; v < plan.vecs; ++v)
                         vector::StoreOp::create(
                             ib, zeroVec, ot,
                             ValueRange{e, Arith{ib}.idx(v * plan.lanes)});
                       scf::YieldOp::create(ib);
                     });

  // The kv loop over the non-empty tiles.
  unsigned numRanges = std::max<unsigned>(classes.bound.size(), 1);
  auto rangeType = MemRefType::get({numRanges}, b.getIndexType());
  Value rangeLo = memref::AllocaOp::create(b, rangeType);
  Value rangeHi = memref::AllocaOp::create(b, rangeType);
  Value count = emitTileRanges(rangeLo, rangeHi);

  SmallVector<Value> init(plan.vecs, o.cst(vecType, kNegInf));
  init.append(plan.vecs, zeroVec);
  auto outer = scf::ForOp::create(
      b, zero, count, one, init,
      [&](OpBuilder &nb, Location loc, Value k, ValueRange state) {
        ImplicitLocOpBuilder ib(loc, nb);
        Value lo = memref::LoadOp::create(ib, rangeLo, ValueRange{k});
        Value hiT = memref::LoadOp::create(ib, rangeHi, ValueRange{k});
        auto inner = scf::ForOp::create(
            ib, lo, hiT, Arith{ib}.idx(1), state,
            [&](OpBuilder &nb2, Location loc2, Value t, ValueRange st2) {
              OpBuilder::InsertionGuard g(b);
              b.setLoc(loc2);
              b.setInsertionPoint(nb2.getInsertionBlock(),
                                  nb2.getInsertionPoint());
              SmallVector<Value> next = emitKvTile(t, st2);
              scf::YieldOp::create(b, next);
            });
        scf::YieldOp::create(ib, inner.getResults());
      });
  ValueRange state = outer.getResults();
  emitEpilogue(state.take_front(plan.vecs), state.drop_front(plan.vecs));
}

void CPUTiler::emitItemSetup() {
  p0 = emitter->emitPosition(b, i0, kvLenB);
  p1 = o.add(p0, nq);
  symVals = {p0, p1, kvEnd};
  fullBounds = emitFullIntervals(b, classes, symVals);
  normalizer->emitSigmoidBeta(b, kvLenB);
  if (hasDocument)
    emitDocumentRows();
  if (hasDense) {
    // Row-major address of entry [b', h', 0, 0]; size-1 batch / head dims
    // broadcast.
    int64_t rank = denseDims.size();
    Value lead = o.idx(0);
    if (rank >= 3) {
      Value hd = denseDims[rank - 3];
      lead = o.select(o.eq(hd, o.idx(1)), o.idx(0), hi);
      if (rank == 4) {
        Value bd = denseDims[0];
        Value bIdx = o.select(o.eq(bd, o.idx(1)), o.idx(0), bi);
        lead = o.add(o.mul(bIdx, hd), lead);
      }
    }
    Value matrix = o.mul(denseDims[rank - 2], denseDims[rank - 1]);
    denseItemBase = o.add(denseBase, o.mul(lead, matrix));
    Value bq = o.idx(denseLeaf.getBlockQ()), one = o.idx(1);
    denseR0 = o.divU(i0, bq);
    denseR1 = o.add(o.divU(o.sub(o.add(i0, nq), one), bq), one);
  }
}

Value CPUTiler::emitTileRanges(Value rangeLo, Value rangeHi) {
  SmallVector<KeyRange> ranges =
      mlir::attn::emitTileRanges(b, classes, symVals, kvEnd, plan.blockKv);
  for (auto [i, range] : llvm::enumerate(ranges)) {
    memref::StoreOp::create(b, range.first, rangeLo, ValueRange{o.idx(i)});
    memref::StoreOp::create(b, range.second, rangeHi, ValueRange{o.idx(i)});
  }
  return o.idx(ranges.size());
}

Value CPUTiler::emitIsFull(Value j0) {
  return emitTileIsFull(b, fullBounds, j0, plan.blockKv, kvEnd);
}

//===----------------------------------------------------------------------===//
// One kv tile
//===----------------------------------------------------------------------===//

SmallVector<Value> CPUTiler::emitKvTile(Value t, ValueRange state) {
  return emitRuntimeSkip(t, state, [&](Value dataFull) {
    return emitKvTileBody(t, state, dataFull);
  });
}

SmallVector<Value> CPUTiler::emitRuntimeSkip(
    Value t, ValueRange state,
    function_ref<SmallVector<Value>(Value dataFull)> body) {
  if (!hasDocument && !hasTree && !hasDense)
    return body(Value());
  // Tiles that a runtime conjunct rules out pass the state through; the
  // rest run `body`.
  Value j0 = o.mul(t, o.idx(plan.blockKv));
  Value nkv = o.min(o.idx(plan.blockKv), o.sub(kvEnd, j0));
  Value skip, full;
  auto combine = [&](std::pair<Value, Value> tile) {
    skip = skip ? o.lor(skip, tile.first) : tile.first;
    full = full ? o.land(full, tile.second) : tile.second;
  };
  // `state` where `skipIf` holds, else run(); returns the results.
  auto unless = [&](Value skipIf, function_ref<SmallVector<Value>()> run) {
    auto ifOp = scf::IfOp::create(b, state.getTypes(), skipIf,
                                  /*withElseRegion=*/true);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, state);
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, run());
    return SmallVector<Value>(ifOp.getResults());
  };
  if (hasDocument)
    combine(emitDocumentTile(t));
  if (hasTree)
    combine(emitter->emitTreeTile(b, kvLenB, i0, o.add(i0, nq), p0, p1, j0,
                                  o.add(j0, nkv)));
  // The dense scan runs only on tiles the O(1) tests kept.
  auto dense = [&]() -> SmallVector<Value> {
    if (!hasDense)
      return body(full);
    std::pair<Value, Value> denseTile = emitDenseTile(j0, nkv);
    Value denseFull = denseTile.second;
    return unless(denseTile.first, [&]() {
      return body(full ? o.land(full, denseFull) : denseFull);
    });
  };
  return skip ? unless(skip, dense) : dense();
}

SmallVector<Value> CPUTiler::emitKvTileBody(Value t, ValueRange state,
                                            Value dataFull) {
  Value j0 = o.mul(t, o.idx(plan.blockKv));
  Value nkv = o.min(o.idx(plan.blockKv), o.sub(kvEnd, j0));
  Value isFull = emitIsFull(j0);
  if (dataFull)
    isFull = o.land(isFull, dataFull);
  auto staticDim = [](Value buf) {
    return cast<MemRefType>(buf.getType()).getDimSize(3);
  };
  if (kt)
    emitPackTile(kt, kB, j0, nkv, headDim, staticDim(kB));
  if (vt)
    emitPackTile(vt, vB, j0, nkv, valueDim, staticDim(vB));
  emitScores(j0, nkv);
  emitMaskAndMods(j0, nkv, isFull);
  SmallVector<Value> alpha, m, l;
  emitWeights(nkv, state.take_front(plan.vecs), state.drop_front(plan.vecs),
              alpha, m, l);
  emitValues(j0, nkv, alpha);
  SmallVector<Value> next(m);
  next.append(l);
  return next;
}

Value CPUTiler::loadLanes(Value tile, Value row, int64_t v) {
  return vector::LoadOp::create(b, vecType, tile,
                                ValueRange{row, o.idx(v * plan.lanes)});
}

void CPUTiler::storeLanes(Value val, Value tile, Value row, int64_t v) {
  vector::StoreOp::create(b, val, tile, ValueRange{row, o.idx(v * plan.lanes)});
}

void CPUTiler::emitRankOneUpdates(
    int64_t rows, Value lb, Value ub,
    function_ref<Value(int64_t r, int64_t v)> init,
    function_ref<Value(int64_t r, Value k)> a,
    function_ref<Value(Value k, int64_t v)> bvec,
    function_ref<void(int64_t r, int64_t v, Value acc)> store) {
  SmallVector<Value> accs;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t v = 0; v < plan.vecs; ++v)
      accs.push_back(init(r, v));
  auto loop = scf::ForOp::create(
      b, lb, ub, o.idx(1), accs,
      [&](OpBuilder &nb, Location loc, Value k, ValueRange acc) {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        SmallVector<Value> bv;
        for (int64_t v = 0; v < plan.vecs; ++v)
          bv.push_back(bvec(k, v));
        SmallVector<Value> next;
        for (int64_t r = 0; r < rows; ++r) {
          Value ar = o.splat(vecType, a(r, k));
          for (int64_t v = 0; v < plan.vecs; ++v)
            next.push_back(
                vector::FMAOp::create(b, ar, bv[v], acc[r * plan.vecs + v]));
        }
        scf::YieldOp::create(b, next);
      });
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t v = 0; v < plan.vecs; ++v)
      store(r, v, loop.getResult(r * plan.vecs + v));
}

void CPUTiler::emitKeyBlocks(
    Value j0, Value nkv,
    function_ref<void(Value jb, ArrayRef<Value> keys)> body) {
  // Blocks of R keys up to ceil(nkv / R) * R; rows past nkv read the last
  // key and are never used.
  int64_t rows = plan.keyRows;
  Value last = o.add(j0, o.sub(nkv, o.idx(1)));
  Value end = o.mul(o.ceilDiv(nkv, o.idx(rows)), o.idx(rows));
  scf::ForOp::create(
      b, o.idx(0), end, o.idx(rows), ValueRange{},
      [&](OpBuilder &nb, Location loc, Value jb, ValueRange) {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        SmallVector<Value> keys;
        for (int64_t r = 0; r < rows; ++r)
          keys.push_back(o.min(o.add(o.add(j0, jb), o.idx(r)), last));
        body(jb, keys);
        scf::YieldOp::create(b);
      });
}

void CPUTiler::emitScores(Value j0, Value nkv) {
  if (plan.bf16Dot)
    return emitScoresBf16(j0, nkv);
  // ST[jj][:] = sum_d K[j0 + jj, d] * QT[d][:] for jj < ceil(nkv / R) * R;
  // rows past nkv read the last key and are never used.
  int64_t rows = plan.keyRows;
  Value zeroVec = o.cst(vecType, 0.0);
  emitKeyBlocks(j0, nkv, [&](Value jb, ArrayRef<Value> keys) {
    emitRankOneUpdates(
        rows, o.idx(0), headDim, [&](int64_t, int64_t) { return zeroVec; },
        [&](int64_t r, Value d) -> Value {
          if (kt)
            return memref::LoadOp::create(b, kt,
                                          ValueRange{o.sub(keys[r], j0), d});
          return load4(kB, bi, kvh, keys[r], d);
        },
        [&](Value d, int64_t v) -> Value { return loadLanes(qt, d, v); },
        [&](int64_t r, int64_t v, Value acc) {
          storeLanes(acc, st, o.add(jb, o.idx(r)), v);
        });
  });
}

void CPUTiler::emitPackTile(Value dst, Value src, Value j0, Value nkv,
                            Value dim, int64_t staticDim) {
  // Whole vectors when the head dim is a static multiple of the lanes,
  // else element by element.
  int64_t lanes = plan.lanes;
  bool vectors = !ShapedType::isDynamic(staticDim) && staticDim % lanes == 0;
  Type elem = cast<MemRefType>(src.getType()).getElementType();
  scf::ForOp::create(
      b, o.idx(0), nkv, o.idx(1), ValueRange{},
      [&](OpBuilder &nb, Location loc, Value jj, ValueRange) {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        Value key = o.add(j0, jj);
        scf::ForOp::create(
            b, o.idx(0), dim, o.idx(vectors ? lanes : 1), ValueRange{},
            [&](OpBuilder &nb2, Location loc2, Value d, ValueRange) {
              OpBuilder::InsertionGuard g2(b);
              b.setInsertionPoint(nb2.getInsertionBlock(),
                                  nb2.getInsertionPoint());
              if (vectors) {
                Value x =
                    vector::LoadOp::create(b, VectorType::get({lanes}, elem),
                                           src, indices4(bi, kvh, key, d));
                vector::StoreOp::create(b, arith::ExtFOp::create(b, vecType, x),
                                        dst, ValueRange{jj, d});
              } else {
                memref::StoreOp::create(b, load4(src, bi, kvh, key, d), dst,
                                        ValueRange{jj, d});
              }
              scf::YieldOp::create(b);
            });
        scf::YieldOp::create(b);
      });
}

void CPUTiler::emitScoresBf16(Value j0, Value nkv) {
  // As emitScores, with one dot instruction per pair of head-dim elements:
  // lane c of acc += K[j, 2p] Q[c, 2p] + K[j, 2p + 1] Q[c, 2p + 1], the K
  // pair broadcast as one 32-bit word. Products of bf16 are exact in f32;
  // the scale is applied to the f32 result.
  int64_t rows = plan.keyRows, vecs = plan.vecs, lanes = plan.lanes;
  Value zeroVec = o.cst(vecType, 0.0);
  Value scaleVec = o.splat(vecType, scale);
  Value pairs = memref::DimOp::create(b, qt2, 0);
  auto pairType = VectorType::get({2}, b.getBF16Type());
  auto wordType = VectorType::get({1}, b.getI32Type());
  auto wordsType = VectorType::get({lanes}, b.getI32Type());
  auto qType = VectorType::get({2 * lanes}, b.getBF16Type());
  emitKeyBlocks(j0, nkv, [&](Value jb, ArrayRef<Value> keys) {
    SmallVector<Value> init(rows * vecs, zeroVec);
    auto loop = scf::ForOp::create(
        b, o.idx(0), pairs, o.idx(1), init,
        [&](OpBuilder &nb2, Location loc2, Value p, ValueRange acc) {
          OpBuilder::InsertionGuard g2(b);
          b.setInsertionPoint(nb2.getInsertionBlock(), nb2.getInsertionPoint());
          SmallVector<Value> qv;
          for (int64_t v = 0; v < vecs; ++v)
            qv.push_back(vector::LoadOp::create(
                b, qType, qt2, ValueRange{p, o.idx(v * 2 * lanes)}));
          Value d = o.mul(p, o.idx(2));
          SmallVector<Value> next;
          for (int64_t r = 0; r < rows; ++r) {
            Value pair = vector::LoadOp::create(b, pairType, kB,
                                                indices4(bi, kvh, keys[r], d));
            Value word = vector::BitCastOp::create(b, wordType, pair);
            Value words = vector::BroadcastOp::create(b, wordsType, word);
            Value kv = vector::BitCastOp::create(b, qType, words);
            for (int64_t v = 0; v < vecs; ++v)
              next.push_back(x86vector::DotBF16Op::create(b, acc[r * vecs + v],
                                                          kv, qv[v]));
          }
          scf::YieldOp::create(b, next);
        });
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t v = 0; v < vecs; ++v)
        storeLanes(o.fmul(loop.getResult(r * vecs + v), scaleVec), st,
                   o.add(jb, o.idx(r)), v);
  });
}

void CPUTiler::emitMaskAndMods(Value j0, Value nkv, Value isFull) {
  // Per element, on partial tiles (mask and modifiers) and, with modifiers,
  // on full tiles too: ST[jj][c] = allowed ? mods(s) : -inf.
  auto elementLoop = [&](bool mask) {
    Value zero = o.idx(0), one = o.idx(1);
    scf::ForOp::create(
        b, zero, nkv, one, ValueRange{},
        [&](OpBuilder &nb, Location loc, Value jj, ValueRange) {
          ImplicitLocOpBuilder ib(loc, nb);
          scf::ForOp::create(
              ib, zero, nq, one, ValueRange{},
              [&](OpBuilder &nb2, Location loc2, Value c, ValueRange) {
                ImplicitLocOpBuilder jb(loc2, nb2);
                Arith jo{jb};
                Value s = memref::LoadOp::create(jb, st, ValueRange{jj, c});
                ScorePoint pt = emitter->makePoint(jb, bi, hi, jo.add(i0, c),
                                                   jo.add(j0, jj), kvLenB);
                if (hasMods)
                  s = emitter->emitScoreMods(jb, s, pt);
                if (mask)
                  s = jo.select(emitter->emitAllowed(jb, pt), s,
                                jo.f32(kNegInf));
                memref::StoreOp::create(jb, s, st, ValueRange{jj, c});
                scf::YieldOp::create(jb);
              });
          scf::YieldOp::create(ib);
        });
  };
  auto ifOp = scf::IfOp::create(b, TypeRange{}, isFull,
                                /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    if (hasMods)
      elementLoop(/*mask=*/false);
    b.setInsertionPointToStart(ifOp.elseBlock());
    if (rowLo && !hasMods)
      emitRowIntervalMask(j0, nkv);
    else
      elementLoop(/*mask=*/true);
  }
}

void CPUTiler::emitRowIntervals() {
  // LO[k][c], HI[k][c]: the k-th allowed key interval of query row i0 + c
  // (the classification of the one-row tile [p, p + 1), exact for these
  // masks), clamped to [-1, Skv + 1] to fit i32 lanes; SEG[c] = seg_q.
  int64_t bq = plan.blockQ, numK = classes.bound.size();
  IntegerAttr align = b.getI64IntegerAttr(64);
  Type i32 = b.getI32Type();
  rowLo = memref::AllocaOp::create(b, MemRefType::get({numK, bq}, i32), align);
  rowHi = memref::AllocaOp::create(b, MemRefType::get({numK, bq}, i32), align);
  if (hasDocument)
    rowSeg = memref::AllocaOp::create(b, MemRefType::get({bq}, i32), align);
  Value lastRow = o.sub(nq, o.idx(1));
  scf::ForOp::create(
      b, o.idx(0), o.idx(bq), o.idx(1), ValueRange{},
      [&](OpBuilder &nb, Location loc, Value c, ValueRange) {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        Value row = o.add(i0, o.min(c, lastRow));
        Value p = emitter->emitPosition(b, row, kvLenB);
        SymValues one = {p, o.add(p, o.idx(1)), kvEnd};
        auto clampI32 = [&](Value x) -> Value {
          x = o.max(o.min(x, o.add(kvLen, o.idx(1))), o.idx(-1));
          return arith::IndexCastOp::create(b, i32, x);
        };
        for (int64_t k = 0; k < numK; ++k) {
          memref::StoreOp::create(b, clampI32(classes.bound[k].lo.emit(b, one)),
                                  rowLo, ValueRange{o.idx(k), c});
          memref::StoreOp::create(b, clampI32(classes.bound[k].hi.emit(b, one)),
                                  rowHi, ValueRange{o.idx(k), c});
        }
        if (hasDocument) {
          Value id =
              tensor::ExtractOp::create(b, op.getSegQ(), ValueRange{bi, row});
          memref::StoreOp::create(
              b,
              arith::IndexCastOp::create(
                  b, i32, arith::IndexCastOp::create(b, b.getIndexType(), id)),
              rowSeg, ValueRange{c});
        }
        scf::YieldOp::create(b);
      });
}

void CPUTiler::emitRowIntervalMask(Value j0, Value nkv) {
  // ST[jj][:] = any_k(LO[k][:] <= j < HI[k][:]) [and SEG[:] == seg_kv[j]]
  //             ? ST[jj][:] : -inf, with j = j0 + jj: a few vector compares
  // per key instead of the per-element mask code.
  Type i32 = b.getI32Type();
  auto iVec = VectorType::get({plan.lanes}, i32);
  Value negInf = o.cst(vecType, kNegInf);
  scf::ForOp::create(
      b, o.idx(0), nkv, o.idx(1), ValueRange{},
      [&](OpBuilder &nb, Location loc, Value jj, ValueRange) {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        Value j = o.add(j0, jj);
        Value jv = o.splat(iVec, arith::IndexCastOp::create(b, i32, j));
        Value seg;
        if (hasDocument)
          seg =
              o.splat(iVec, arith::IndexCastOp::create(
                                b, i32,
                                arith::IndexCastOp::create(
                                    b, b.getIndexType(),
                                    tensor::ExtractOp::create(
                                        b, op.getSegKv(), ValueRange{bi, j}))));
        for (int64_t v = 0; v < plan.vecs; ++v) {
          Value lane = o.idx(v * plan.lanes);
          Value allowed;
          for (int64_t k = 0, e = classes.bound.size(); k < e; ++k) {
            Value lo = vector::LoadOp::create(b, iVec, rowLo,
                                              ValueRange{o.idx(k), lane});
            Value hi = vector::LoadOp::create(b, iVec, rowHi,
                                              ValueRange{o.idx(k), lane});
            Value in = o.land(o.le(lo, jv), o.lt(jv, hi));
            allowed = allowed ? o.lor(allowed, in) : in;
          }
          if (seg)
            allowed = o.land(
                allowed,
                o.eq(vector::LoadOp::create(b, iVec, rowSeg, ValueRange{lane}),
                     seg));
          Value s =
              vector::LoadOp::create(b, vecType, st, ValueRange{jj, lane});
          vector::StoreOp::create(b, o.select(allowed, s, negInf), st,
                                  ValueRange{jj, lane});
        }
        scf::YieldOp::create(b);
      });
}

Value CPUTiler::weight(Value s, Value shift) {
  return normalizer->weight(b, s, shift);
}

void CPUTiler::emitWeights(Value nkv, ValueRange m, ValueRange l,
                           SmallVector<Value> &alpha, SmallVector<Value> &mOut,
                           SmallVector<Value> &lOut) {
  Value zero = o.idx(0), one = o.idx(1);
  auto loadSt = [&](OpBuilder &nb, Location loc, Value jj, int64_t v) {
    return vector::LoadOp::create(nb, loc, vecType, st,
                                  ValueRange{jj, arith::ConstantIndexOp::create(
                                                     nb, loc, v * plan.lanes)});
  };
  SmallVector<Value> shift;
  if (shifted) {
    // Running shift: m' = max(m, rowmax over the tile); softplus caps it
    // at 0. Rows with no allowed key so far keep m' = -inf and use 0.
    auto maxLoop = scf::ForOp::create(
        b, zero, nkv, one, SmallVector<Value>(m),
        [&](OpBuilder &nb, Location loc, Value jj, ValueRange acc) {
          ImplicitLocOpBuilder ib(loc, nb);
          SmallVector<Value> next;
          // maxnum without NaN/signed-zero care is one vmaxps; the
          // NaN-propagating maximumf costs several instructions per vector.
          auto fast = arith::FastMathFlagsAttr::get(
              ib.getContext(),
              arith::FastMathFlags::nnan | arith::FastMathFlags::nsz);
          for (int64_t v = 0; v < plan.vecs; ++v)
            next.push_back(arith::MaxNumFOp::create(
                ib, acc[v], loadSt(nb, loc, jj, v), fast));
          scf::YieldOp::create(ib, next);
        });
    for (int64_t v = 0; v < plan.vecs; ++v) {
      Value mNew = maxLoop.getResult(v);
      mNew = normalizer->capShift(o, mNew);
      Value safe = o.select(o.isNegInf(mNew), o.cst(vecType, 0.0), mNew);
      // alpha = exp(m - m'), 0 when m = -inf.
      alpha.push_back(o.exp(o.fsub(m[v], safe)));
      shift.push_back(safe);
      mOut.push_back(mNew);
    }
  } else {
    mOut.assign(m.begin(), m.end());
  }

  // ST = weight(ST); rowsum += sum over the tile.
  bool sums = denom == Denom::RowSum;
  SmallVector<Value> init(plan.vecs, o.cst(vecType, 0.0));
  auto sumLoop = scf::ForOp::create(
      b, zero, nkv, one, init,
      [&](OpBuilder &nb, Location loc, Value jj, ValueRange acc) {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        SmallVector<Value> next;
        for (int64_t v = 0; v < plan.vecs; ++v) {
          Value w = weight(loadSt(b, loc, jj, v), shifted ? shift[v] : Value());
          storeLanes(w, st, jj, v);
          next.push_back(sums ? o.fadd(acc[v], w) : acc[v]);
        }
        scf::YieldOp::create(b, next);
      });
  for (int64_t v = 0; v < plan.vecs; ++v) {
    Value lv = l[v];
    if (sums) {
      lv = shifted ? o.fadd(o.fmul(lv, alpha[v]), sumLoop.getResult(v))
                   : o.fadd(lv, sumLoop.getResult(v));
    }
    lOut.push_back(lv);
  }
}

void CPUTiler::emitValues(Value j0, Value nkv, ArrayRef<Value> alpha) {
  // OT[e][:] = alpha * OT[e][:] + sum_jj V[j0 + jj, e] * ST[jj][:], in
  // register blocks of `valueRows` rows of e, then single rows.
  auto block = [&](int64_t rows, Value e0) {
    emitRankOneUpdates(
        rows, o.idx(0), nkv,
        [&](int64_t r, int64_t v) -> Value {
          Value acc = loadLanes(ot, o.add(e0, o.idx(r)), v);
          return alpha.empty() ? acc : o.fmul(acc, alpha[v]);
        },
        [&](int64_t r, Value jj) -> Value {
          if (vt)
            return memref::LoadOp::create(b, vt,
                                          ValueRange{jj, o.add(e0, o.idx(r))});
          return load4(vB, bi, kvh, o.add(j0, jj), o.add(e0, o.idx(r)));
        },
        [&](Value jj, int64_t v) -> Value { return loadLanes(st, jj, v); },
        [&](int64_t r, int64_t v, Value acc) {
          storeLanes(acc, ot, o.add(e0, o.idx(r)), v);
        });
  };
  auto blockLoop = [&](Value lb, Value ub, int64_t rows) {
    scf::ForOp::create(b, lb, ub, o.idx(rows), ValueRange{},
                       [&](OpBuilder &nb, Location loc, Value e0, ValueRange) {
                         OpBuilder::InsertionGuard g(b);
                         b.setInsertionPoint(nb.getInsertionBlock(),
                                             nb.getInsertionPoint());
                         block(rows, e0);
                         scf::YieldOp::create(b);
                       });
  };
  int64_t rows = plan.keyRows;
  Value blocked = o.mul(o.floorDiv(valueDim, o.idx(rows)), o.idx(rows));
  blockLoop(o.idx(0), blocked, rows);
  blockLoop(blocked, valueDim, 1);
}

std::pair<Value, Value> CPUTiler::finalize(Value mv, Value lv) {
  // Works lane-wise on vectors of rows and on scalars.
  Value sink;
  if (norm == Norm::SinkSoftmax)
    sink = o.extF(tensor::ExtractOp::create(b, op.getSink(), ValueRange{hi}));
  return normalizer->finalize(b, mv, lv, sink, kvLenB, bool(lseB));
}

void CPUTiler::emitEpilogue(ValueRange m, ValueRange l) {
  SmallVector<Value> inv, lse;
  for (int64_t v = 0; v < plan.vecs; ++v) {
    auto [i, e] = finalize(m[v], l[v]);
    inv.push_back(i);
    lse.push_back(e);
  }

  Value zero = o.idx(0), one = o.idx(1);
  auto perRow =
      [&](ArrayRef<Value> vals,
          function_ref<void(ImplicitLocOpBuilder &, Value, Value)> body) {
        for (int64_t v = 0; v < plan.vecs; ++v)
          vector::StoreOp::create(b, vals[v], scratch,
                                  ValueRange{o.idx(v * plan.lanes)});
        scf::ForOp::create(
            b, zero, nq, one, ValueRange{},
            [&](OpBuilder &nb, Location loc, Value c, ValueRange) {
              ImplicitLocOpBuilder ib(loc, nb);
              Value x = memref::LoadOp::create(ib, scratch, ValueRange{c});
              body(ib, c, x);
              scf::YieldOp::create(ib);
            });
      };
  perRow(inv, [&](ImplicitLocOpBuilder &ib, Value c, Value x) {
    Value row = Arith{ib}.add(i0, c);
    scf::ForOp::create(
        ib, zero, valueDim, one, ValueRange{},
        [&](OpBuilder &nb, Location loc, Value e, ValueRange) {
          OpBuilder::InsertionGuard g(b);
          b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
          Value acc = memref::LoadOp::create(b, ot, ValueRange{e, c});
          store4(o.fmul(acc, x), oB, bi, hi, row, e);
          scf::YieldOp::create(b);
        });
  });
  if (lseB)
    perRow(lse, [&](ImplicitLocOpBuilder &ib, Value c, Value x) {
      memref::StoreOp::create(ib, x, lseB,
                              ValueRange{bi, hi, Arith{ib}.add(i0, c)});
    });
}

//===----------------------------------------------------------------------===//
// Document masks: runtime tile classes from segment ids
//===----------------------------------------------------------------------===//

void CPUTiler::emitDocumentTable() {
  // kvSegMin[b][t] / kvSegMax[b][t] = min / max of seg_kv[b, j] over the keys
  // of kv tile t. A tile can then be skipped when its id range misses the
  // query tile's, and needs no mask when both hold one and the same id.
  Value bkv = o.idx(plan.blockKv);
  Value tiles = o.ceilDiv(kvLen, bkv);
  auto type = MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic},
                              b.getIndexType());
  kvSegMin = memref::AllocOp::create(b, type, ValueRange{batch, tiles});
  kvSegMax = memref::AllocOp::create(b, type, ValueRange{batch, tiles});
  emitParallel(o.mul(batch, tiles), [&](Value item) {
    Value bIdx = o.divU(item, tiles), t = o.remU(item, tiles);
    Value j0 = o.mul(t, bkv);
    auto [lo, hi] =
        emitIdRange(b, op.getSegKv(), bIdx, j0, o.min(o.add(j0, bkv), kvLen));
    memref::StoreOp::create(b, lo, kvSegMin, ValueRange{bIdx, t});
    memref::StoreOp::create(b, hi, kvSegMax, ValueRange{bIdx, t});
  });
}

void CPUTiler::emitDocumentRows() {
  std::tie(qSegMin, qSegMax) =
      emitIdRange(b, op.getSegQ(), bi, i0, o.add(i0, nq));
}

std::pair<Value, Value> CPUTiler::emitDocumentTile(Value t) {
  Value kMin = memref::LoadOp::create(b, kvSegMin, ValueRange{bi, t});
  Value kMax = memref::LoadOp::create(b, kvSegMax, ValueRange{bi, t});
  Value skip = o.lor(o.lt(qSegMax, kMin), o.lt(kMax, qSegMin));
  Value full = o.land(o.land(o.eq(qSegMin, qSegMax), o.eq(kMin, kMax)),
                      o.eq(qSegMin, kMin));
  return {skip, full};
}

//===----------------------------------------------------------------------===//
// Dense masks: runtime tile classes
//===----------------------------------------------------------------------===//

std::pair<Value, Value> CPUTiler::emitDenseTile(Value j0, Value nkv) {
  // Entries [r0, r1) x [c0, c1) cover the item's rows and the tile's keys;
  // any / all of them, row by row, until both answers are known.
  Value bkv = o.idx(denseLeaf.getBlockKv());
  Value one = o.idx(1);
  Value r0 = denseR0, r1 = denseR1;
  Value c0 = o.divU(j0, bkv);
  Value c1 = o.add(o.divU(o.sub(o.add(j0, nkv), one), bkv), one);
  Type i1 = b.getI1Type(), index = b.getIndexType();
  auto loop = scf::WhileOp::create(
      b, TypeRange{index, i1, i1}, ValueRange{r0, o.i1(false), o.i1(true)},
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        ImplicitLocOpBuilder ib(loc, nb);
        Arith io{ib};
        Value mixed = io.land(args[1], io.lnot(args[2]));
        Value more = io.land(io.lt(args[0], r1), io.lnot(mixed));
        scf::ConditionOp::create(ib, more, args);
      },
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        ImplicitLocOpBuilder ib(loc, nb);
        Arith io{ib};
        Value r = args[0];
        auto [any, all] = emitDenseRow(ib, r, c0, c1, args[1], args[2]);
        scf::YieldOp::create(ib, ValueRange{io.add(r, io.idx(1)), any, all});
      });
  return {o.lnot(loop.getResult(1)), loop.getResult(2)};
}

std::pair<Value, Value> CPUTiler::emitDenseRow(ImplicitLocOpBuilder &ib,
                                               Value r, Value c0, Value c1,
                                               Value any, Value all) {
  Arith io{ib};
  constexpr int64_t kBytes = 16;
  Value rowBase = io.add(denseItemBase, io.mul(r, denseDims.back()));
  Type i8 = ib.getI8Type();
  auto bytes = VectorType::get({kBytes}, i8);
  Value zeros = arith::ConstantOp::create(ib, bytes, ib.getZeroAttr(bytes));
  Value vecEnd = io.add(
      c0, io.mul(io.divU(io.sub(c1, c0), io.idx(kBytes)), io.idx(kBytes)));
  auto vecLoop = scf::ForOp::create(
      ib, c0, vecEnd, io.idx(kBytes), ValueRange{any, all},
      [&](OpBuilder &nb, Location loc, Value c, ValueRange acc) {
        ImplicitLocOpBuilder jb(loc, nb);
        Arith jo{jb};
        Value addr =
            arith::IndexCastOp::create(jb, jb.getI64Type(), jo.add(rowBase, c));
        Value ptr = LLVM::IntToPtrOp::create(
            jb, LLVM::LLVMPointerType::get(jb.getContext()), addr);
        Value v = LLVM::LoadOp::create(jb, bytes, ptr, /*alignment=*/1);
        Value on =
            arith::CmpIOp::create(jb, arith::CmpIPredicate::ne, v, zeros);
        Value anyOn =
            vector::ReductionOp::create(jb, vector::CombiningKind::OR, on);
        Value allOn =
            vector::ReductionOp::create(jb, vector::CombiningKind::AND, on);
        scf::YieldOp::create(
            jb, ValueRange{jo.lor(acc[0], anyOn), jo.land(acc[1], allOn)});
      });
  auto tail = scf::ForOp::create(
      ib, vecEnd, c1, io.idx(1), vecLoop.getResults(),
      [&](OpBuilder &nb, Location loc, Value c, ValueRange acc) {
        ImplicitLocOpBuilder jb(loc, nb);
        Arith jo{jb};
        Value e = emitter->emitDenseEntry(jb, bi, hi, r, c);
        scf::YieldOp::create(jb,
                             ValueRange{jo.lor(acc[0], e), jo.land(acc[1], e)});
      });
  return {tail.getResult(0), tail.getResult(1)};
}

//===----------------------------------------------------------------------===//
// Row kernel (decoding)
//===----------------------------------------------------------------------===//

Value CPUTiler::emitRowCoordinates(Value row) {
  // row = (b * Hq + h) * Sq + i
  Value i = o.remU(row, qLen);
  Value bh = o.divU(row, qLen);
  bi = o.divU(bh, qHeads);
  hi = o.remU(bh, qHeads);
  kvh = o.divU(hi, group);
  kvLenB = emitter->emitKvLength(b, bi);
  kvEnd = o.max(o.min(kvLenB, kvLen), o.idx(0));
  return i;
}

void CPUTiler::emitRowKernel(int64_t qVecs, int64_t vVecs) {
  // Items are rows (b, h, i) times kv splits. Splits keep every thread busy
  // when rows are fewer than threads: each split covers an equal share of
  // the row's non-empty kv tiles and leaves (acc, m, l) for emitRowMerge.
  Value rows = o.mul(o.mul(batch, qHeads), qLen);
  Value splits;
  if (plan.kvSplits > 0) {
    splits = o.idx(plan.kvSplits);
  } else {
    // ceil(2 * threads / rows), and no split smaller than 4 kv tiles.
    Value want = o.ceilDiv(o.idx(2 * plan.threads), o.max(rows, o.idx(1)));
    Value cap = o.ceilDiv(kvLen, o.idx(4 * plan.blockKv));
    splits = o.max(o.min(want, cap), o.idx(1));
  }
  Value items = o.mul(rows, splits);
  IntegerAttr align = b.getI64IntegerAttr(64);
  int64_t dyn = ShapedType::kDynamic;
  Value accP = memref::AllocOp::create(b, MemRefType::get({dyn, dyn}, f32),
                                       ValueRange{items, valueDim}, align);
  Value mP = memref::AllocOp::create(b, MemRefType::get({dyn}, f32),
                                     ValueRange{items}, align);
  Value lP = memref::AllocOp::create(b, MemRefType::get({dyn}, f32),
                                     ValueRange{items}, align);
  emitParallel(items, [&](Value item) {
    emitRowItem(item, splits, qVecs, vVecs, accP, mP, lP);
  });
  emitParallel(
      rows, [&](Value row) { emitRowMerge(row, splits, vVecs, accP, mP, lP); });
}

void CPUTiler::emitRowItem(Value item, Value splits, int64_t qVecs,
                           int64_t vVecs, Value accP, Value mP, Value lP) {
  Value zero = o.idx(0), one = o.idx(1);
  Value row = o.divU(item, splits), split = o.remU(item, splits);
  Value i = emitRowCoordinates(row);
  i0 = i;
  nq = one;
  rowLo = rowHi = rowSeg = Value();
  emitItemSetup();

  // Scores of one kv tile: st is [keys x 1] for the shared mask code, and
  // its 1-D view `sr` serves the vector passes over keys.
  int64_t keys = llvm::divideCeil(plan.blockKv, plan.lanes) * plan.lanes;
  st = memref::AllocaOp::create(b, MemRefType::get({keys, 1}, f32),
                                b.getI64IntegerAttr(64));
  Value sr = memref::CollapseShapeOp::create(
      b, st, ArrayRef<ReassociationIndices>{{0, 1}});

  unsigned numRanges = std::max<unsigned>(classes.bound.size(), 1);
  auto rangeType = MemRefType::get({numRanges}, b.getIndexType());
  Value rangeLo = memref::AllocaOp::create(b, rangeType);
  Value rangeHi = memref::AllocaOp::create(b, rangeType);
  Value count = emitTileRanges(rangeLo, rangeHi);
  auto totalLoop = scf::ForOp::create(
      b, zero, count, one, ValueRange{zero},
      [&](OpBuilder &nb, Location loc, Value k, ValueRange acc) {
        ImplicitLocOpBuilder ib(loc, nb);
        Value lo = memref::LoadOp::create(ib, rangeLo, ValueRange{k});
        Value hiT = memref::LoadOp::create(ib, rangeHi, ValueRange{k});
        Arith io{ib};
        scf::YieldOp::create(ib, io.add(acc[0], io.sub(hiT, lo)));
      });
  Value total = totalLoop.getResult(0);
  // This split's tiles, by ordinal among the row's non-empty tiles.
  Value begin = o.divU(o.mul(split, total), splits);
  Value end = o.divU(o.mul(o.add(split, one), total), splits);

  // The query row, scaled, in registers.
  auto rowVec = [&](Value buf, Value bIdx, Value h, Value s, int64_t c) {
    Type elem = cast<MemRefType>(buf.getType()).getElementType();
    Value v =
        vector::LoadOp::create(b, VectorType::get({plan.lanes}, elem), buf,
                               indices4(bIdx, h, s, o.idx(c * plan.lanes)));
    return elem.isF32() ? v : Value(arith::ExtFOp::create(b, vecType, v));
  };
  SmallVector<Value> qv;
  Value scaleV = o.splat(vecType, scale);
  for (int64_t c = 0; c < qVecs; ++c)
    qv.push_back(o.fmul(rowVec(qB, bi, hi, i, c), scaleV));

  int64_t keyVecs = keys / plan.lanes;
  Value zeroVec = o.cst(vecType, 0.0);
  auto tileBody = [&](Value t, ValueRange state,
                      Value dataFull) -> SmallVector<Value> {
    Value m = state[0], l = state[1];
    ValueRange acc = state.drop_front(2);
    Value j0 = o.mul(t, o.idx(plan.blockKv));
    Value nkv = o.min(o.idx(plan.blockKv), o.sub(kvEnd, j0));
    Value isFull = emitIsFull(j0);
    if (dataFull)
      isFull = o.land(isFull, dataFull);
    // sr[jj] = sum_d q[d] K[j0 + jj, d]: lanes along d, one reduction per
    // key.
    scf::ForOp::create(
        b, zero, nkv, one, ValueRange{},
        [&](OpBuilder &nb, Location loc, Value jj, ValueRange) {
          OpBuilder::InsertionGuard g(b);
          b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
          Value j = o.add(j0, jj);
          Value dot = zeroVec;
          for (int64_t c = 0; c < qVecs; ++c)
            dot =
                vector::FMAOp::create(b, qv[c], rowVec(kB, bi, kvh, j, c), dot);
          Value sc =
              vector::ReductionOp::create(b, vector::CombiningKind::ADD, dot);
          memref::StoreOp::create(b, sc, sr, ValueRange{jj});
          scf::YieldOp::create(b);
        });
    emitMaskAndMods(j0, nkv, isFull);
    // Keys past the tile weigh nothing in the vector passes below.
    Value negInf = o.f32(kNegInf);
    scf::ForOp::create(b, nkv, o.idx(keys), one, ValueRange{},
                       [&](OpBuilder &nb, Location loc, Value jj, ValueRange) {
                         memref::StoreOp::create(nb, loc, negInf, sr,
                                                 ValueRange{jj});
                         scf::YieldOp::create(nb, loc);
                       });
    auto loadKeys = [&](int64_t v) -> Value {
      return vector::LoadOp::create(b, vecType, sr,
                                    ValueRange{o.idx(v * plan.lanes)});
    };
    Value alpha, safe;
    Value mNew = m;
    if (shifted) {
      Value mx = loadKeys(0);
      for (int64_t v = 1; v < keyVecs; ++v)
        mx = o.fmax(mx, loadKeys(v));
      mNew = o.fmax(m, vector::ReductionOp::create(
                           b, vector::CombiningKind::MAXIMUMF, mx));
      mNew = normalizer->capShift(o, mNew);
      safe = o.select(o.isNegInf(mNew), o.f32(0.0), mNew);
      alpha = o.exp(o.fsub(m, safe));
    }
    Value sum = zeroVec;
    for (int64_t v = 0; v < keyVecs; ++v) {
      Value w = weight(loadKeys(v), safe ? o.splat(vecType, safe) : Value());
      vector::StoreOp::create(b, w, sr, ValueRange{o.idx(v * plan.lanes)});
      sum = o.fadd(sum, w);
    }
    Value lNew = l;
    if (denom == Denom::RowSum) {
      Value part =
          vector::ReductionOp::create(b, vector::CombiningKind::ADD, sum);
      lNew = shifted ? o.fadd(o.fmul(l, alpha), part) : o.fadd(l, part);
    }
    // acc = alpha * acc + sum_jj w[jj] V[j0 + jj, :]
    SmallVector<Value> accInit;
    for (int64_t c = 0; c < vVecs; ++c)
      accInit.push_back(alpha ? o.fmul(acc[c], o.splat(vecType, alpha))
                              : acc[c]);
    auto pv = scf::ForOp::create(
        b, zero, nkv, one, accInit,
        [&](OpBuilder &nb, Location loc, Value jj, ValueRange a) {
          OpBuilder::InsertionGuard g(b);
          b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
          Value w =
              o.splat(vecType, memref::LoadOp::create(b, sr, ValueRange{jj}));
          SmallVector<Value> next;
          for (int64_t c = 0; c < vVecs; ++c)
            next.push_back(vector::FMAOp::create(
                b, w, rowVec(vB, bi, kvh, o.add(j0, jj), c), a[c]));
          scf::YieldOp::create(b, next);
        });
    SmallVector<Value> next = {mNew, lNew};
    llvm::append_range(next, pv.getResults());
    return next;
  };

  SmallVector<Value> init = {zero, o.f32(kNegInf), o.f32(0.0)};
  init.append(vVecs, zeroVec);
  auto outer = scf::ForOp::create(
      b, zero, count, one, init,
      [&](OpBuilder &nb, Location loc, Value k, ValueRange state) {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        Value lo = memref::LoadOp::create(b, rangeLo, ValueRange{k});
        Value hiT = memref::LoadOp::create(b, rangeHi, ValueRange{k});
        Value len = o.sub(hiT, lo), off = state[0];
        auto clampTo = [&](Value x) {
          return o.max(o.min(o.sub(x, off), len), zero);
        };
        auto inner = scf::ForOp::create(
            b, o.add(lo, clampTo(begin)), o.add(lo, clampTo(end)), one,
            state.drop_front(),
            [&](OpBuilder &nb2, Location loc2, Value t, ValueRange st2) {
              OpBuilder::InsertionGuard g2(b);
              b.setInsertionPoint(nb2.getInsertionBlock(),
                                  nb2.getInsertionPoint());
              scf::YieldOp::create(b,
                                   emitRuntimeSkip(t, st2, [&](Value dataFull) {
                                     return tileBody(t, st2, dataFull);
                                   }));
            });
        SmallVector<Value> next = {o.add(off, len)};
        llvm::append_range(next, inner.getResults());
        scf::YieldOp::create(b, next);
      });
  ValueRange state = outer.getResults().drop_front();
  memref::StoreOp::create(b, state[0], mP, ValueRange{item});
  memref::StoreOp::create(b, state[1], lP, ValueRange{item});
  for (int64_t c = 0; c < vVecs; ++c)
    vector::StoreOp::create(b, state[2 + c], accP,
                            ValueRange{item, o.idx(c * plan.lanes)});
}

void CPUTiler::emitRowMerge(Value row, Value splits, int64_t vVecs, Value accP,
                            Value mP, Value lP) {
  // m = max_s m_s; with f_s = exp(m_s - m): l = sum_s f_s l_s,
  // acc = sum_s f_s acc_s (f_s = 1 for the unshifted normalizers).
  Value zero = o.idx(0), one = o.idx(1);
  Value i = emitRowCoordinates(row);
  Value base = o.mul(row, splits);
  Value m = o.f32(kNegInf), safe;
  if (shifted) {
    auto maxLoop = scf::ForOp::create(
        b, zero, splits, one, ValueRange{m},
        [&](OpBuilder &nb, Location loc, Value sIdx, ValueRange acc) {
          ImplicitLocOpBuilder ib(loc, nb);
          Value ms = memref::LoadOp::create(
              ib, mP, ValueRange{Arith{ib}.add(base, sIdx)});
          scf::YieldOp::create(ib, Arith{ib}.fmax(acc[0], ms));
        });
    m = maxLoop.getResult(0);
    safe = o.select(o.isNegInf(m), o.f32(0.0), m);
  }
  SmallVector<Value> init = {o.f32(0.0)};
  init.append(vVecs, o.cst(vecType, 0.0));
  auto sumLoop = scf::ForOp::create(
      b, zero, splits, one, init,
      [&](OpBuilder &nb, Location loc, Value sIdx, ValueRange acc) {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        Value item = o.add(base, sIdx);
        Value f =
            shifted
                ? o.exp(o.fsub(memref::LoadOp::create(b, mP, ValueRange{item}),
                               safe))
                : o.f32(1.0);
        SmallVector<Value> next = {
            o.fadd(acc[0],
                   o.fmul(f, memref::LoadOp::create(b, lP, ValueRange{item})))};
        Value fv = o.splat(vecType, f);
        for (int64_t c = 0; c < vVecs; ++c) {
          Value part = vector::LoadOp::create(
              b, vecType, accP, ValueRange{item, o.idx(c * plan.lanes)});
          next.push_back(vector::FMAOp::create(b, fv, part, acc[1 + c]));
        }
        scf::YieldOp::create(b, next);
      });
  auto [inv, lse] = finalize(m, sumLoop.getResult(0));
  Value invV = o.splat(vecType, inv);
  Type elem = cast<MemRefType>(oB.getType()).getElementType();
  for (int64_t c = 0; c < vVecs; ++c) {
    Value out = o.fmul(sumLoop.getResult(1 + c), invV);
    if (!elem.isF32())
      out =
          arith::TruncFOp::create(b, VectorType::get({plan.lanes}, elem), out);
    vector::StoreOp::create(b, out, oB,
                            indices4(bi, hi, i, o.idx(c * plan.lanes)));
  }
  if (lseB)
    memref::StoreOp::create(b, lse, lseB, ValueRange{bi, hi, i});
}

//===----------------------------------------------------------------------===//
// Entry points and pass
//===----------------------------------------------------------------------===//

LogicalResult mlir::attn::tileAttentionForCPU(RewriterBase &rewriter,
                                              AttentionOp op,
                                              int64_t vectorWidth,
                                              int64_t threads, bool bf16Dot) {
  int64_t lanes = vectorWidth ? vectorWidth : hostVectorWidth();
  ConfigAttr config = op.getConfigAttr();
  auto knob = [&](int64_t v, int64_t dflt) { return v > 0 ? v : dflt; };
  TilePlan plan;
  plan.lanes = lanes;
  // AVX-512 defaults: 4 vectors of query rows and 6-row register blocks
  // (24 of the 32 vector registers accumulate). Against 2 vectors x 8 rows,
  // one thread at S = 1024 went from 18.4 to 14.7 ms (D = 64) and from
  // 15.8 to 13.9 ms (D = 128), measured in one sweep on a busy machine.
  // AVX2 has 16 registers: 2 x 4.
  bool wide = lanes >= 16;
  int64_t blockQ =
      knob(config ? config.getBlockQ() : 0, (wide ? 4 : 2) * lanes);
  if (blockQ % lanes != 0)
    return op.emitOpError("#attn.config block_q = ")
           << blockQ << " must be a multiple of the vector width " << lanes
           << " on the CPU";
  plan.vecs = blockQ / lanes;
  plan.blockQ = blockQ;
  plan.blockKv = knob(config ? config.getBlockKv() : 0, wide ? 96 : 64);
  // Banded masks (windows, halos, sinks): a q-tile computes about
  // W + block_q + block_kv keys per row for the W it needs, so smaller kv
  // tiles waste less. At S = 8192, D = 64, 2 threads, sliding windows of
  // 128 to 2048 keys ran 4-25% faster with 64-key tiles than with 96.
  RuntimeConjuncts runtime = splitRuntimeConjuncts(op.getMaskOrDefault());
  if (wide && !(config && config.getBlockKv())) {
    std::optional<int64_t> band =
        boundBandWidth(classifyMask(runtime.declarative));
    if (band && *band <= 4096)
      plan.blockKv = 64;
  }
  // Block-sparse masks: kv tiles that straddle two blocks are partial
  // whenever one block is on and the other off, so take a tile size that
  // divides the blocks. (128-key blocks at 13% density, S4096 D64: 96-key
  // tiles ran 1.8x the allowed fraction of the full time.)
  if (runtime.denseLeaf && runtime.denseLeaf.isBlocked() &&
      !(config && config.getBlockKv())) {
    int64_t blocks = runtime.denseLeaf.getBlockKv();
    for (int64_t tile :
         {plan.blockKv, int64_t(64), int64_t(128), int64_t(48), int64_t(32)})
      if (blocks % tile == 0) {
        plan.blockKv = tile;
        break;
      }
  }
  plan.keyRows = knob(config ? config.getUnroll() : 0, wide ? 6 : 4);
  // bf16 Q K^T by vdpbf16ps: twice the products per instruction of an f32
  // FMA, but on the Sapphire Rapids machines measured it issues at half the
  // FMA rate: the 6 x 4 register block took 400 ns against 207 ns with
  // FMAs, and B1 H8 S4096 D64 bf16 ran 144 ms against 118 ms. Hence opt-in
  // (bf16-dot), for hosts where the dot products are faster.
  int64_t headDimQ = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  plan.bf16Dot = bf16Dot && lanes == 16 &&
                 getElementTypeOrSelf(op.getQuery().getType()).isBF16() &&
                 !ShapedType::isDynamic(headDimQ) && headDimQ % 2 == 0 &&
                 hostHasBf16Dot();
  plan.kvSplits = config ? config.getKvSplits() : 0;
  static const int64_t hostCores =
      std::max<int64_t>(1, llvm::get_physical_cores());
  plan.threads = threads > 0 ? threads : hostCores;
  if (plan.keyRows * plan.vecs > 32)
    return op.emitOpError("#attn.config unroll = ")
           << plan.keyRows << " with block_q = " << blockQ
           << " needs more than 32 vector accumulators";
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  b.setInsertionPoint(op);
  return CPUTiler(op, plan, b).run();
}

namespace {
struct AttnTileCPUPass : attn::impl::AttnTileCPUBase<AttnTileCPUPass> {
  using AttnTileCPUBase::AttnTileCPUBase;
  void runOnOperation() override {
    if (!llvm::is_contained({0, 4, 8, 16}, int64_t(vectorWidth))) {
      getOperation()->emitError("attn-tile-cpu: vector-width must be 0, 4, "
                                "8 or 16, not ")
          << int64_t(vectorWidth);
      return signalPassFailure();
    }
    IRRewriter rewriter(&getContext());
    SmallVector<AttentionOp> ops;
    getOperation()->walk([&](AttentionOp op) { ops.push_back(op); });
    for (AttentionOp op : ops)
      if (failed(
              tileAttentionForCPU(rewriter, op, vectorWidth, threads, bf16Dot)))
        return signalPassFailure();
  }
};
} // namespace
