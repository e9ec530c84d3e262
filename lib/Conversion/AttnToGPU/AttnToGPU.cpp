//===- TileGPU.cpp - Tensor-core flash attention for NVIDIA GPUs ----------===//
//
// Lowers attn.attention on f16/bf16 tensors to one gpu.launch of a
// FlashAttention-2 kernel built on the nvgpu dialect:
//
//   grid (ceil(Sq / 64), B * Hq), 4 warps per CTA, 16 query rows per warp;
//   per kv tile of 64 keys: K and V staged in (dynamic) shared memory with
//   cp.async, S = Q K^T with mma.sync m16n8k16 (Q fragments loaded once
//   from global memory, K fragments with ldmatrix), scale, score modifiers
//   and masks per element of the accumulator fragments, the online
//   normalisation in registers (row statistics reduced over the 4 lanes of
//   a quad with shuffles), P re-packed from accumulator to A fragments in
//   registers, O += P V with V fragments from ldmatrix.trans.
//
// The kv tiles a CTA visits come from the same symbolic tile classification
// as the CPU path (TileClasses.h): empty tiles are outside the loop bounds,
// full tiles skip the per-element mask. Top-level document and tree
// conjuncts are classified per tile at run time: the loop then walks only
// the tiles a warp vote keeps (some key's segment id within the CTA's rows'
// range; the tree's causal prefix), finding the next kept tile before the
// current one is processed, so skipped tiles are never loaded. Dense masks
// stay per element. Per-element semantics come from
// ScoreEmitter and the normalizers from StreamingNormalizer, so a variant
// means the same on every target.
//
// Accumulator fragment of mma.sync m16n8k16 (vector<2x2xf32>): lane l holds
// rows g = l / 4 and g + 8, columns 2 (l % 4) and 2 (l % 4) + 1. The A
// fragment (vector<4x2xf16>) holds (g, k 0-7), (g + 8, k 0-7), (g, k 8-15),
// (g + 8, k 8-15) at columns 2 (l % 4) + {0, 1}: two accumulator tiles of 8
// keys side by side are exactly one A fragment of 16 keys, which is how P
// feeds the second product without leaving registers.
//
// The sm_90a variant (`wgmma`, head dims 64 or 128) keeps the CTA, the
// fragments and everything between the two products, and changes how they
// are computed: the 4 warps are one warpgroup, K and V tiles arrive by TMA
// into two stages of 128-byte-swizzled shared memory (tile t + 1 loads
// while tile t computes; thread 0 issues the copies and each stage
// completes on its own mbarrier), and both products are wgmma.mma_async
// m64nNk16 with A from registers. The accumulator of m64nN holds, for warp
// w of the group, rows 16 w + g and 16 w + g + 8 at columns 8 i + 2 c +
// {0, 1} in registers 4 i + {0, 1} and 4 i + {2, 3}: the mma.sync fragments
// above laid end to end, so the scores, the normalisation and P's re-packing
// are shared; the register A operand has the mma.sync A layout.
//
// Shared-memory operands (PTX ISA, "matrix descriptor"): a TMA box of 64
// columns (128 bytes) by 64 keys lands as 64 rows of 128 bytes, 16-byte
// chunks swizzled by the row mod 8, which is the canonical 128B-swizzle
// atom of 8 rows. K is B of Q K^T in K-major form (D contiguous): 8-row
// groups 1024 bytes apart (SBO), a k-step of 16 moves the start 32 bytes
// within the row, and D = 128 uses the second box for k-steps 4-7. V is B
// of P V in MN-major form (Dv contiguous, transposed by imm-trans-b): a
// k-step of 16 keys moves the start 2048 bytes, 8-row groups are 1024 bytes
// apart (SBO) and the second box of 64 columns is LBO = 64 * 128 bytes on.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Analysis/TileClasses.h"
#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Conversion/Passes.h"
#include "attn/Conversion/AttnToGPU/AttnToGPU.h"
#include "attn/Dialect/Attn/Utils/Arith.h"
#include "attn/Dialect/Attn/Utils/Buffers.h"
#include "attn/Dialect/Attn/Utils/Normalizer.h"
#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <limits>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNTILEGPU
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

constexpr int64_t kWarps = 4;
constexpr int64_t kRowsPerWarp = 16;
constexpr int64_t kBlockQ = kWarps * kRowsPerWarp;
constexpr int64_t kThreads = kWarps * 32;
/// Shared-memory rows are padded by 8 elements (16 bytes) so that the 8
/// row addresses of an ldmatrix fall in different banks.
constexpr int64_t kPad = 8;
/// wgmma kernel: TMA boxes are 64 columns (the 128-byte swizzle span) wide,
/// and tiles hold 64 keys in each of two stages.
constexpr int64_t kBoxCols = 64;
constexpr int64_t kStages = 2;
constexpr int64_t kSwizzleAlign = 1024;
/// A dense conjunct is classified per tile when at most this many of its
/// entries cover one tile (one load a lane): block-sparse masks.
/// Finer ones (per element) are applied per element only.
constexpr int64_t kMaxDenseTileEntries = 32;

using Norm = StreamingNormalizer::Kind;

/// The per-thread state the kv loop carries: the shift and sum of the
/// thread's two rows, then one accumulator fragment per 8 value columns.
struct RowState {
  Value m[2], l[2];
  SmallVector<Value> acc;

  SmallVector<Value> flatten() const {
    SmallVector<Value> v = {m[0], m[1], l[0], l[1]};
    v.append(acc.begin(), acc.end());
    return v;
  }
  static RowState unflatten(ValueRange v) {
    RowState s;
    s.m[0] = v[0];
    s.m[1] = v[1];
    s.l[0] = v[2];
    s.l[1] = v[3];
    s.acc.assign(v.begin() + 4, v.end());
    return s;
  }
};

class GPUTiler : AttentionBuffers {
public:
  GPUTiler(AttentionOp op, ImplicitLocOpBuilder &b, bool wantWgmma)
      : op(op), b(b), o{b}, wantWgmma(wantWgmma) {}

  LogicalResult run();

private:
  SmallVector<Value> indices4(Value bIdx, Value h, Value s, Value d);
  void emitKernel(gpu::LaunchOp launch);
  /// One kv tile; `stage` is the wgmma kernel's shared-memory stage (null
  /// for mma.sync, whose tile is copied here).
  /// Processes kv tile `t` (in `stage` for wgmma); `dataFull` (or null)
  /// is and-ed into the tile's full test.
  RowState emitKvTile(Value t, const RowState &in, Value stage, Value dataFull);
  /// The document conjunct: qSegMin / qSegMax over the CTA's rows.
  void emitDocumentRows();
  /// (kept, full) of kv tile `t` under the runtime conjuncts (document,
  /// tree, block-sparse dense): kept unless they rule out every (row, key) pair
  /// of the CTA's rows and the tile's keys, full when they allow every one.
  /// Uniform over the CTA: every warp votes on the same keys.
  std::pair<Value, Value> emitRuntimeClass(Value t);
  /// At most how many entries of `dense` cover one CTA's rows and one kv
  /// tile.
  int64_t denseEntriesPerTile(DenseMaskAttr dense) const;
  /// The first kept tile in [from, hi) (hi if none) and its full test.
  std::pair<Value, Value> emitNextKept(Value from, Value hi);
  /// Raw scores Q K^T of the tile in accumulator order (4 n + 2 r + e).
  SmallVector<Value> emitScoresSync();
  SmallVector<Value> emitScoresWgmma(Value stage);
  /// O += P V, P as one A fragment per 16 keys.
  void emitPVSync(ArrayRef<Value> p, RowState &out);
  void emitPVWgmma(ArrayRef<Value> p, RowState &out, Value stage);
  /// Issues the cp.async copies of a [blockKv x width] tile at key j0.
  void emitCopyTile(Value buf, Value shared, Value j0, int64_t width,
                    SmallVectorImpl<Value> &tokens);
  /// acc + a * b on tensor cores (m16n8k16). f16 goes through nvgpu; bf16,
  /// which nvgpu's lowering cannot type, through nvvm.mma.sync directly.
  Value mma(Value a, Value bFrag, Value acc);
  /// The 32-bit registers of the first `n` rows of an operand fragment.
  SmallVector<Value> fragmentWords(Value frag, int64_t n);

  // The sm_90a kernel.
  /// Host: a TMA tensor map of K or V (device memory), from the buffer's
  /// strided metadata; freed after the launch.
  Value emitTensorMap(Value buf);
  /// Shared address of a stage's K tile (V follows it), and its mbarrier.
  Value stageAddr(Value stage);
  Value sharedPtr(Value addr);
  Value barrierPtr(Value stage);
  /// Thread 0 starts the TMA loads of kv tile t into `stage`.
  /// Thread 0 requests kv tile `t` into `stage` (emitIssueCopies).
  void emitIssueTile(Value t, Value stage);
  /// The expected bytes on the stage's mbarrier and the TMA copies of K
  /// and V.
  void emitIssueCopies(Value t, Value stage);
  /// The stage of the n-th tile (n % 2).
  Value stageOf(Value n) { return o.remU(n, o.idx(kStages)); }
  /// Waits for the n-th tile, loaded into stage n % 2 (parity n / 2 % 2).
  void emitWaitTile(Value n);
  /// llvm.inline_asm: `rw` are read and written (tied operands 0 .. R - 1),
  /// `ins` read only (operands 2 R ...). Returns the new `rw` values, which
  /// orders every later use of them after the instruction.
  SmallVector<Value> inlineAsm(StringRef text, ValueRange rw, ValueRange ins);
  /// acc += A B for one k-step of 16 (wgmma.mma_async m64nNk16, N = 2
  /// acc.size()): A as 4 registers, B a shared-memory matrix descriptor.
  SmallVector<Value> wgmmaStep(ArrayRef<Value> a, Value descB, bool transB,
                               ArrayRef<Value> acc);
  /// The matrix descriptor of the 128B-swizzled operand at `addr`.
  Value descriptor(Value addr, int64_t leadingBytes, int64_t strideBytes);

  /// Reduces `v` over the 4 lanes of a quad.
  Value quadReduce(Value v, bool max);
  void emitEpilogue(const RowState &state);

  Value constVec(VectorType t, double v) {
    return arith::ConstantOp::create(
        b, t, DenseElementsAttr::get(t, b.getFloatAttr(t.getElementType(), v)));
  }

  AttentionOp op;
  ImplicitLocOpBuilder &b;
  Arith o;
  std::unique_ptr<ScoreEmitter> emitter;
  std::unique_ptr<StreamingNormalizer> normalizer;
  TileClasses classes;
  Type elem, f32;
  VectorType fragA, fragB, fragC, pair, pairF32;
  int64_t d = 0, dv = 0;
  /// Keys per kv tile: 64, or 32 with head dims above 64 so that the
  /// score fragments, the Q fragments and the accumulators fit in the 255
  /// registers of a thread.
  int64_t blockKv = 64;
  bool bshd = false, hasMods = false;
  /// Top-level document / tree conjuncts, classified per tile at run time.
  bool hasDocument = false, hasTree = false;
  /// A top-level dense conjunct whose entries covering one tile are few
  /// enough (block-sparse masks) to be classified per tile at run time;
  /// null when there is none (finer dense masks stay per element).
  DenseMaskAttr denseLeaf;
  /// The mask applied per element on tiles that are not full: the op's,
  /// less a dense conjunct whose blocks align with the tiles (it is then
  /// constant over a tile, and a kept tile passes it everywhere).
  Attribute elementMask;
  /// The sm_90a kernel was asked for, and is used (head dims 64 or 128).
  bool wantWgmma = false, useWgmma = false;
  /// wgmma kernel: bytes of one stage (K then V) and of one TMA box, the
  /// tensor maps (host values the kernel captures), the 1024-aligned shared
  /// base, and the Q fragments as 32-bit registers.
  int64_t stageBytes = 0, boxBytes = 0;
  Value kMap, vMap, smemBase;
  SmallVector<SmallVector<Value>> qWords;

  /// The score scale (a host value, captured by the kernel).
  Value scale;

  // Kernel values.
  Value lane, g, c, bi, hi, kvh, kvLenB, kvEnd, p0, p1, kS, vS, tid;
  /// The CTA's query rows [q0, qEnd) and, with a document conjunct, the
  /// least and greatest segment id among them.
  Value q0, qEnd, qSegMin, qSegMax;
  Value rows[2], clampedRows[2];
  /// Skv - 1: keys past it are read from here (and masked or zero-filled).
  Value lastKey;
  SmallVector<Value> qFrags;
  SymValues symVals;
  SmallVector<KeyRange> fullBounds;
};

} // namespace

SmallVector<Value> GPUTiler::indices4(Value bIdx, Value h, Value s, Value d) {
  return layoutIndices(bshd, bIdx, h, s, d);
}

LogicalResult GPUTiler::run() {
  auto qType = cast<RankedTensorType>(op.getQuery().getType());
  auto vType = cast<RankedTensorType>(op.getValue().getType());
  elem = qType.getElementType();
  f32 = b.getF32Type();
  if (!elem.isF16() && !elem.isBF16())
    return op.emitOpError("attn-tile-gpu: tensor cores need f16 or bf16 "
                          "inputs, got ")
           << elem;
  d = qType.getDimSize(3);
  dv = vType.getDimSize(3);
  auto headDimOk = [](int64_t x) {
    return !ShapedType::isDynamic(x) && x > 0 && x % 16 == 0 && x <= 128;
  };
  if (!headDimOk(d) || !headDimOk(dv))
    return op.emitOpError("attn-tile-gpu: head dims must be static multiples "
                          "of 16 up to 128, got D = ")
           << (ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d))
           << " and Dv = "
           << (ShapedType::isDynamic(dv) ? std::string("?")
                                         : std::to_string(dv));
  useWgmma = wantWgmma && (d == 64 || d == 128) && (dv == 64 || dv == 128);
  // wgmma keeps no ldmatrix fragments, so 64 keys also fit at head dim 128
  // unless per-element score modifiers or data-dependent masks add their
  // own live values (ptxas -v: 244 registers for causal D = 128; 32 keys
  // keep document + window + ALiBi at 218 without spills).
  hasMods = !op.getScoreModList().empty();
  bool lightScores = !hasMods && !isDataDependentMask(op.getMaskOrDefault());
  blockKv = std::max(d, dv) <= 64 || (useWgmma && lightScores) ? 64 : 32;
  boxBytes = blockKv * kBoxCols * 2;
  bshd = op.getLayoutOrDefault() == Layout::bshd;
  normalizer = std::make_unique<StreamingNormalizer>(op);
  RuntimeConjuncts runtime = splitRuntimeConjuncts(op.getMaskOrDefault());
  if (runtime.denseLeaf &&
      denseEntriesPerTile(runtime.denseLeaf) > kMaxDenseTileEntries)
    runtime =
        splitRuntimeConjuncts(op.getMaskOrDefault(), /*splitDense=*/false);
  hasDocument = runtime.document;
  hasTree = runtime.tree;
  denseLeaf = runtime.denseLeaf;
  elementMask = op.getMaskOrDefault();
  if (denseLeaf && denseLeaf.getBlockQ() % kBlockQ == 0 &&
      denseLeaf.getBlockKv() % blockKv == 0)
    elementMask = dropConjuncts(
        elementMask, [](Attribute m) { return isa<DenseMaskAttr>(m); });
  classes = classifyMask(runtime.declarative);
  fragA = VectorType::get({4, 2}, elem);
  fragB = VectorType::get({2, 2}, elem);
  fragC = VectorType::get({2, 2}, f32);
  pair = VectorType::get({2}, elem);
  pairF32 = VectorType::get({2}, f32);

  unsigned sDim = op.getSeqDim(), hDim = op.getHeadDim();
  static_cast<AttentionBuffers &>(*this) = AttentionBuffers::emit(b, op);
  emitter = std::make_unique<ScoreEmitter>(
      op, tensor::DimOp::create(b, op.getQuery(), hDim),
      tensor::DimOp::create(b, op.getQuery(), sDim),
      tensor::DimOp::create(b, op.getKey(), sDim));
  scale = emitter->emitScale(b, tensor::DimOp::create(b, op.getQuery(), 3));
  emitter->hoistOperandDims(b);

  // One CTA per (q-tile, b * Hq); an empty grid (Sq = 0 or B * Hq = 0) is
  // not launched (the runtime skips zero-sized grids).
  Value gridX = o.ceilDiv(qLen, o.idx(kBlockQ));
  Value gridY = o.mul(batch, qHeads);
  // mma.sync: one padded K and V tile. wgmma: two stages of K and V tiles,
  // 1024-byte aligned for the swizzle (the kernel rounds its base up), then
  // one 8-byte mbarrier per stage.
  int64_t elemBytes = 2;
  stageBytes = blockKv * (d + dv) * elemBytes;
  int64_t smem = useWgmma ? kSwizzleAlign + kStages * stageBytes + 8 * kStages
                          : blockKv * (d + dv + 2 * kPad) * elemBytes;
  if (useWgmma) {
    kMap = emitTensorMap(kB);
    vMap = emitTensorMap(vB);
  }
  Value smemBytes = arith::ConstantIntOp::create(b, smem, 32);
  auto launch =
      gpu::LaunchOp::create(b, gridX, gridY, o.idx(1), o.idx(kThreads),
                            o.idx(1), o.idx(1), smemBytes);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&launch.getBody().front());
    emitKernel(launch);
    gpu::TerminatorOp::create(b);
  }
  // The launch is synchronous: the maps can go.
  for (Value map : {kMap, vMap})
    if (map)
      func::CallOp::create(b, "attnCudaTensorMapFree", TypeRange{},
                           ValueRange{map});

  replaceOp(b, op);
  return success();
}

void GPUTiler::emitKernel(gpu::LaunchOp launch) {
  tid = launch.getThreadIds().x;
  Value qTile = launch.getBlockIds().x;
  Value bh = launch.getBlockIds().y;
  bi = o.divU(bh, qHeads);
  hi = o.remU(bh, qHeads);
  kvh = o.divU(hi, group);
  Value warp = o.divU(tid, o.idx(32));
  lane = o.remU(tid, o.idx(32));
  g = o.divU(lane, o.idx(4));
  c = o.remU(lane, o.idx(4));

  kvLenB = emitter->emitKvLength(b, bi);
  kvEnd = o.min(kvLenB, kvLen);
  q0 = o.mul(qTile, o.idx(kBlockQ));
  Value tileRows = o.min(o.idx(kBlockQ), o.sub(qLen, q0));
  qEnd = o.add(q0, tileRows);
  Value lastRow = o.sub(qLen, o.idx(1));
  lastKey = o.sub(kvLen, o.idx(1));
  // The CTA's query positions are [p0, p1) (TileClasses' convention).
  p0 = emitter->emitPosition(b, q0, kvLenB);
  p1 = o.add(p0, tileRows);
  normalizer->emitSigmoidBeta(b, kvLenB);
  rows[0] = o.add(o.add(q0, o.mul(warp, o.idx(kRowsPerWarp))), g);
  rows[1] = o.add(rows[0], o.idx(8));
  // Rows past Sq compute on a copy of the last row and are never stored.
  for (int r = 0; r < 2; ++r)
    clampedRows[r] = o.min(rows[r], lastRow);

  // Shared memory: K and V tiles, rows padded against bank conflicts.
  auto wg =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto raw = gpu::DynamicSharedMemoryOp::create(
      b, MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                         MemRefLayoutAttrInterface(), wg));
  if (useWgmma) {
    // Stages at a 1024-byte boundary; thread 0 initialises the mbarriers
    // (one arrival each: its own, with the expected bytes).
    Value rawAddr = memref::ExtractAlignedPointerAsIndexOp::create(b, raw);
    smemBase = o.mul(
        o.divU(o.add(rawAddr, o.idx(kSwizzleAlign - 1)), o.idx(kSwizzleAlign)),
        o.idx(kSwizzleAlign));
    auto first = scf::IfOp::create(b, TypeRange{}, o.eq(tid, o.idx(0)),
                                   /*withElseRegion=*/false);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(first.thenBlock());
      for (int64_t st = 0; st < kStages; ++st)
        NVVM::MBarrierInitOp::create(b, barrierPtr(o.idx(st)),
                                     arith::ConstantIntOp::create(b, 1, 32),
                                     Value());
      NVVM::FenceMbarrierInitOp::create(b);
      // The tensor maps were written to global memory by the host: acquire
      // them for the tensormap proxy, or TMA may use a descriptor it cached
      // for an earlier map at the same address.
      for (Value map : {kMap, vMap})
        inlineAsm("fence.proxy.tensormap::generic.acquire.sys [$0], 128;", {},
                  ValueRange{map});
    }
    gpu::BarrierOp::create(b);
  }
  if (!useWgmma) {
    auto kType = MemRefType::get({blockKv, d + kPad}, elem,
                                 MemRefLayoutAttrInterface(), wg);
    auto vType = MemRefType::get({blockKv, dv + kPad}, elem,
                                 MemRefLayoutAttrInterface(), wg);
    kS = memref::ViewOp::create(b, kType, raw, o.idx(0), ValueRange{});
    vS = memref::ViewOp::create(b, vType, raw, o.idx(blockKv * (d + kPad) * 2),
                                ValueRange{});
  }

  // Q fragments, once per CTA: for each 16 columns of D, the A fragment
  // (g, k 0-7), (g + 8, k 0-7), (g, k 8-15), (g + 8, k 8-15).
  for (int64_t kc = 0; kc < d / 16; ++kc) {
    Value frag = ub::PoisonOp::create(b, fragA);
    for (int64_t part = 0; part < 4; ++part) {
      Value row = clampedRows[part % 2];
      Value col = o.add(o.idx(kc * 16 + (part / 2) * 8), o.mul(c, o.idx(2)));
      Value v = vector::LoadOp::create(b, pair, qB, indices4(bi, hi, row, col));
      frag = vector::InsertOp::create(b, v, frag, ArrayRef<int64_t>{part});
    }
    qFrags.push_back(frag);
    if (useWgmma)
      qWords.push_back(fragmentWords(frag, 4));
  }

  symVals = {p0, p1, kvEnd};
  fullBounds = emitFullIntervals(b, classes, symVals);
  if (hasDocument)
    emitDocumentRows();

  RowState init;
  Value negInf = o.f32(-std::numeric_limits<double>::infinity());
  for (int r = 0; r < 2; ++r) {
    init.m[r] = negInf;
    init.l[r] = o.f32(0.0);
  }
  for (int64_t nd = 0; nd < dv / 8; ++nd)
    init.acc.push_back(constVec(fragC, 0.0));

  // Loop over the non-empty tile ranges, then the tiles of each. The
  // wgmma kernel also carries n, the tiles loaded so far: tile n sits in
  // stage n % 2, and the next tile is requested before tile n is waited
  // for. With runtime conjuncts the loop visits only the tiles they keep
  // (scf.while over "next kept tile"), so a skipped tile is never loaded.
  SmallVector<KeyRange> ranges =
      emitTileRanges(b, classes, symVals, kvEnd, blockKv);
  bool runtimeSkip = hasDocument || hasTree || denseLeaf;
  SmallVector<Value> initState = init.flatten();
  if (useWgmma)
    initState.push_back(o.idx(0));
  auto outer = scf::ForOp::create(
      b, o.idx(0), o.idx(ranges.size()), o.idx(1), initState,
      [&](OpBuilder &nb, Location loc, Value r, ValueRange outerState) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        Value lo = ranges.back().first, hi = ranges.back().second;
        for (int64_t k = static_cast<int64_t>(ranges.size()) - 2; k >= 0; --k) {
          Value is = o.eq(r, o.idx(k));
          lo = o.select(is, ranges[k].first, lo);
          hi = o.select(is, ranges[k].second, hi);
        }
        // Requests `t` into the stage of the n-th load when t < hi.
        auto issueIfAny = [&](Value t, Value n) {
          auto any = scf::IfOp::create(b, TypeRange{}, o.lt(t, hi),
                                       /*withElseRegion=*/false);
          OpBuilder::InsertionGuard guard2(b);
          b.setInsertionPointToStart(any.thenBlock());
          emitIssueTile(t, stageOf(n));
        };
        // Tile t, with `next` the tile after it (requested first).
        auto step = [&](Value t, Value next, Value dataFull, ValueRange state) {
          Value stage, n;
          if (useWgmma) {
            n = state.back();
            state = state.drop_back();
            issueIfAny(next, o.add(n, o.idx(1)));
            emitWaitTile(n);
            stage = stageOf(n);
          }
          SmallVector<Value> yielded =
              emitKvTile(t, RowState::unflatten(state), stage, dataFull)
                  .flatten();
          if (useWgmma)
            yielded.push_back(o.add(n, o.idx(1)));
          return yielded;
        };
        SmallVector<Value> results;
        if (!runtimeSkip) {
          if (useWgmma)
            issueIfAny(lo, outerState.back());
          auto inner = scf::ForOp::create(
              b, lo, hi, o.idx(1), outerState,
              [&](OpBuilder &nb2, Location loc2, Value t, ValueRange state) {
                OpBuilder::InsertionGuard guard2(b);
                b.setInsertionPoint(nb2.getInsertionBlock(),
                                    nb2.getInsertionPoint());
                scf::YieldOp::create(
                    b, step(t, o.add(t, o.idx(1)), Value(), state));
              });
          results.assign(inner.getResults().begin(), inner.getResults().end());
        } else {
          auto [first, firstFull] = emitNextKept(lo, hi);
          if (useWgmma)
            issueIfAny(first, outerState.back());
          SmallVector<Value> inits = {first, firstFull};
          inits.append(outerState.begin(), outerState.end());
          auto inner = scf::WhileOp::create(
              b, ValueRange(inits).getTypes(), inits,
              [&](OpBuilder &nb2, Location loc2, ValueRange args) {
                ImplicitLocOpBuilder ib(loc2, nb2);
                Arith io{ib};
                scf::ConditionOp::create(ib, io.lt(args[0], hi), args);
              },
              [&](OpBuilder &nb2, Location loc2, ValueRange args) {
                OpBuilder::InsertionGuard guard2(b);
                b.setInsertionPoint(nb2.getInsertionBlock(),
                                    nb2.getInsertionPoint());
                auto [next, nextFull] =
                    emitNextKept(o.add(args[0], o.idx(1)), hi);
                SmallVector<Value> yielded = {next, nextFull};
                llvm::append_range(
                    yielded, step(args[0], next, args[1], args.drop_front(2)));
                scf::YieldOp::create(b, yielded);
              });
          results.assign(inner.getResults().begin() + 2,
                         inner.getResults().end());
        }
        scf::YieldOp::create(b, results);
      });
  ValueRange finalState = outer.getResults();
  if (useWgmma)
    finalState = finalState.drop_back();
  emitEpilogue(RowState::unflatten(finalState));
}

void GPUTiler::emitCopyTile(Value buf, Value shared, Value j0, int64_t width,
                            SmallVectorImpl<Value> &tokens) {
  // 16-byte chunks (8 elements), spread over the CTA's threads; rows past
  // Skv are zero-filled (no bytes read) from a clamped, valid address.
  int64_t chunksPerRow = width / 8;
  int64_t chunks = blockKv * chunksPerRow;
  for (int64_t u = 0; u * kThreads < chunks; ++u) {
    Value chunk = o.add(tid, o.idx(u * kThreads));
    std::optional<OpBuilder::InsertionGuard> guard;
    if ((u + 1) * kThreads > chunks) {
      // The last round has fewer chunks than threads. commit_group commits
      // every copy the thread issued, so this one needs no token.
      auto inTile =
          scf::IfOp::create(b, TypeRange{}, o.lt(chunk, o.idx(chunks)),
                            /*withElseRegion=*/false);
      guard.emplace(b);
      b.setInsertionPointToStart(inTile.thenBlock());
    }
    Value row = o.divU(chunk, o.idx(chunksPerRow));
    Value col = o.mul(o.remU(chunk, o.idx(chunksPerRow)), o.idx(8));
    Value key = o.add(j0, row);
    Value src = o.min(key, lastKey);
    Value count = o.select(o.lt(key, kvLen), o.idx(8), o.idx(0));
    Value token = nvgpu::DeviceAsyncCopyOp::create(
        b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), shared,
        ValueRange{row, col}, buf, indices4(bi, kvh, src, col),
        b.getIndexAttr(8), count, b.getUnitAttr());
    if (!guard)
      tokens.push_back(token);
  }
}

Value GPUTiler::mma(Value a, Value bFrag, Value acc) {
  if (elem.isF16())
    return nvgpu::MmaSyncOp::create(b, a, bFrag, acc,
                                    ArrayRef<int64_t>{16, 8, 16});
  SmallVector<Value> c4;
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t e = 0; e < 2; ++e)
      c4.push_back(vector::ExtractOp::create(b, acc, ArrayRef<int64_t>{r, e}));
  auto resultType =
      LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  Value d4 = NVVM::MmaOp::create(
      b, resultType, fragmentWords(a, 4), fragmentWords(bFrag, 2), c4,
      ArrayRef<int64_t>{16, 8, 16}, std::nullopt, std::nullopt,
      std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::bf16, NVVM::MMATypes::bf16},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  SmallVector<Value> elems;
  for (int64_t i = 0; i < 4; ++i)
    elems.push_back(LLVM::ExtractValueOp::create(b, d4, ArrayRef<int64_t>{i}));
  return vector::FromElementsOp::create(b, fragC, elems);
}

SmallVector<Value> GPUTiler::fragmentWords(Value frag, int64_t n) {
  // Each row of an operand fragment is one 32-bit register of two halves.
  SmallVector<Value> out;
  auto word = VectorType::get({1}, b.getI32Type());
  for (int64_t r = 0; r < n; ++r) {
    Value row = vector::ExtractOp::create(b, frag, ArrayRef<int64_t>{r});
    Value cast = vector::BitCastOp::create(b, word, row);
    out.push_back(vector::ExtractOp::create(b, cast, ArrayRef<int64_t>{0}));
  }
  return out;
}

Value GPUTiler::emitTensorMap(Value buf) {
  MLIRContext *ctx = b.getContext();
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  Type i32 = b.getI32Type(), i64 = b.getI64Type();
  // Declare the runtime's two entry points once per module.
  auto module = op->getParentOfType<ModuleOp>();
  auto declare = [&](StringRef name, FunctionType type) {
    if (module.lookupSymbol(name))
      return;
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    func::FuncOp::create(b, name, type).setPrivate();
  };
  SmallVector<Type> args = {ptr, i32};
  args.append(7, i64);
  args.append(4, i32);
  declare("attnCudaTensorMap", FunctionType::get(ctx, args, {ptr}));
  declare("attnCudaTensorMapFree", FunctionType::get(ctx, {ptr}, {}));

  // Dims and box innermost first: (D, S, H, B) for BHSD, (D, H, S, B) for
  // BSHD; the box is 64 columns of one head over blockKv positions.
  auto meta = memref::ExtractStridedMetadataOp::create(b, buf);
  Value aligned = memref::ExtractAlignedPointerAsIndexOp::create(b, buf);
  Value address = o.add(aligned, o.mul(meta.getOffset(), o.idx(2)));
  auto toI64 = [&](Value v) { return arith::IndexCastOp::create(b, i64, v); };
  auto cstI32 = [&](int64_t v) {
    return arith::ConstantIntOp::create(b, v, 32).getResult();
  };
  constexpr int64_t kTensorMapFloat16 = 6, kTensorMapBFloat16 = 9;
  SmallVector<Value> operands = {
      LLVM::IntToPtrOp::create(b, ptr, toI64(address),
                               LLVM::DereferenceableAttr()),
      cstI32(elem.isF16() ? kTensorMapFloat16 : kTensorMapBFloat16)};
  for (int64_t i = 3; i >= 0; --i)
    operands.push_back(toI64(meta.getSizes()[i]));
  for (int64_t i = 2; i >= 0; --i)
    operands.push_back(toI64(o.mul(meta.getStrides()[i], o.idx(2))));
  unsigned posDim = bshd ? 2 : 1; // counted innermost first
  for (unsigned i = 0; i < 4; ++i)
    operands.push_back(cstI32(i == 0 ? kBoxCols : (i == posDim ? blockKv : 1)));
  return func::CallOp::create(b, "attnCudaTensorMap", TypeRange{ptr}, operands)
      .getResult(0);
}

Value GPUTiler::sharedPtr(Value addr) {
  return LLVM::IntToPtrOp::create(
      b, LLVM::LLVMPointerType::get(b.getContext(), 3),
      arith::IndexCastOp::create(b, b.getI64Type(), addr),
      LLVM::DereferenceableAttr());
}

Value GPUTiler::stageAddr(Value stage) {
  return o.add(smemBase, o.mul(stage, o.idx(stageBytes)));
}

Value GPUTiler::barrierPtr(Value stage) {
  return sharedPtr(o.add(
      smemBase, o.add(o.idx(kStages * stageBytes), o.mul(stage, o.idx(8)))));
}

void GPUTiler::emitIssueTile(Value t, Value stage) {
  auto first = scf::IfOp::create(b, TypeRange{}, o.eq(tid, o.idx(0)),
                                 /*withElseRegion=*/false);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(first.thenBlock());
    emitIssueCopies(t, stage);
  }
  // The warp reconverges before the .aligned wgmma instructions that
  // follow (independent thread scheduling does not promise it after a
  // branch taken by one lane).
  NVVM::SyncWarpOp::create(b, arith::ConstantIntOp::create(b, -1, 32));
}

void GPUTiler::emitIssueCopies(Value t, Value stage) {
  Value bar = barrierPtr(stage);
  // Out-of-bounds rows are zero-filled and count towards the bytes.
  NVVM::MBarrierArriveExpectTxOp::create(
      b, Type(), bar, arith::ConstantIntOp::create(b, stageBytes, 32),
      NVVM::MemScopeKind::CTA, /*relaxed=*/false, Value());
  auto i32 = [&](Value v) {
    return arith::IndexCastOp::create(b, b.getI32Type(), v).getResult();
  };
  Value pos = i32(o.mul(t, o.idx(blockKv))), head = i32(kvh), batch = i32(bi);
  Value base = stageAddr(stage);
  auto copy = [&](Value map, int64_t width, int64_t offset) {
    for (int64_t i = 0; i < width / kBoxCols; ++i) {
      Value col = arith::ConstantIntOp::create(b, i * kBoxCols, 32);
      SmallVector<Value> coords =
          bshd ? SmallVector<Value>{col, head, pos, batch}
               : SmallVector<Value>{col, pos, head, batch};
      // The CTA's own shared memory, addressed in the cluster window (a
      // launch without clusters is a cluster of one).
      Value dst = LLVM::AddrSpaceCastOp::create(
          b, LLVM::LLVMPointerType::get(b.getContext(), 7),
          sharedPtr(o.add(base, o.idx(offset + i * boxBytes))));
      NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp::create(
          b, dst, map, coords, bar, ValueRange{}, Value(), Value(),
          NVVM::TMALoadMode::TILE, /*isCTAOnly=*/false,
          NVVM::CTAGroupKindAttr(), Value());
    }
  };
  copy(kMap, d, 0);
  copy(vMap, dv, blockKv * d * 2);
}

void GPUTiler::emitWaitTile(Value n) {
  Value parity = arith::IndexCastOp::create(
      b, b.getI32Type(), o.remU(o.divU(n, o.idx(kStages)), o.idx(2)));
  // The suspend-time hint of the try_wait loop, in nanoseconds.
  NVVM::MBarrierTryWaitParityOp::create(
      b, barrierPtr(stageOf(n)), parity,
      arith::ConstantIntOp::create(b, 10000000, 32));
}

SmallVector<Value> GPUTiler::inlineAsm(StringRef text, ValueRange rw,
                                       ValueRange ins) {
  auto letter = [](Type t) {
    if (t.isF32())
      return "f";
    return t.isInteger(64) || isa<LLVM::LLVMPointerType>(t) ? "l" : "r";
  };
  std::string constraints;
  auto add = [&](const std::string &c) {
    if (!constraints.empty())
      constraints += ",";
    constraints += c;
  };
  SmallVector<Type> types;
  for (Value v : rw) {
    types.push_back(v.getType());
    add(std::string("=") + letter(v.getType()));
  }
  for (size_t i = 0; i < rw.size(); ++i)
    add(std::to_string(i));
  for (Value v : ins)
    add(letter(v.getType()));
  SmallVector<Value> operands(rw);
  operands.append(ins.begin(), ins.end());
  SmallVector<Type> resultTypes;
  if (types.size() == 1)
    resultTypes.push_back(types[0]);
  else if (!types.empty())
    resultTypes.push_back(
        LLVM::LLVMStructType::getLiteral(b.getContext(), types));
  auto asmOp = LLVM::InlineAsmOp::create(
      b, resultTypes, operands, text, constraints, /*has_side_effects=*/true,
      /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
      LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT),
      ArrayAttr());
  if (types.size() <= 1)
    return SmallVector<Value>(asmOp->getResults());
  SmallVector<Value> out;
  for (int64_t i = 0; i < static_cast<int64_t>(types.size()); ++i)
    out.push_back(
        LLVM::ExtractValueOp::create(b, asmOp.getRes(), ArrayRef<int64_t>{i}));
  return out;
}

SmallVector<Value> GPUTiler::wgmmaStep(ArrayRef<Value> a, Value descB,
                                       bool transB, ArrayRef<Value> acc) {
  int64_t r = acc.size();
  std::string type = elem.isF16() ? "f16" : "bf16";
  std::string text =
      "{\n.reg .pred p;\nsetp.ne.b32 p, $" + std::to_string(2 * r + 5) +
      ", 0;\nwgmma.mma_async.sync.aligned.m64n" + std::to_string(2 * r) +
      "k16.f32." + type + "." + type + " {";
  for (int64_t i = 0; i < r; ++i)
    text += (i ? ", $" : "$") + std::to_string(i);
  text += "}, {";
  for (int64_t i = 0; i < 4; ++i)
    text += (i ? ", $" : "$") + std::to_string(2 * r + i);
  text += "}, $" + std::to_string(2 * r + 4) + ", p, 1, 1, " +
          (transB ? "1" : "0") + ";\n}";
  SmallVector<Value> ins(a);
  ins.push_back(descB);
  ins.push_back(arith::ConstantIntOp::create(b, 1, 32)); // scale-d: accumulate
  return inlineAsm(text, acc, ins);
}

Value GPUTiler::descriptor(Value addr, int64_t leadingBytes,
                           int64_t strideBytes) {
  // Start address bits 0-13 (>> 4), leading byte offset 16-29, stride
  // byte offset 32-45 (both >> 4), 128B swizzle (1) in bits 62-63.
  Type i64 = b.getI64Type();
  uint64_t fixed = (uint64_t(leadingBytes >> 4) & 0x3fff) << 16 |
                   (uint64_t(strideBytes >> 4) & 0x3fff) << 32 | 1ull << 62;
  Value a = arith::IndexCastOp::create(b, i64, addr);
  Value start = arith::AndIOp::create(
      b, arith::ShRUIOp::create(b, a, arith::ConstantIntOp::create(b, i64, 4)),
      arith::ConstantIntOp::create(b, i64, 0x3fff));
  return arith::OrIOp::create(
      b, start,
      arith::ConstantIntOp::create(b, i64, static_cast<int64_t>(fixed)));
}

Value GPUTiler::quadReduce(Value v, bool max) {
  for (int64_t offset : {1, 2}) {
    auto shuffle = gpu::ShuffleOp::create(b, v, static_cast<int32_t>(offset),
                                          32, gpu::ShuffleMode::XOR);
    v = max ? o.fmax(v, shuffle.getShuffleResult())
            : o.fadd(v, shuffle.getShuffleResult());
  }
  return v;
}

SmallVector<Value> GPUTiler::emitScoresSync() {
  // 8 fragments of 8 keys. ldmatrix x2 of K rows: lanes 0-7 address keys
  // 0-7 at columns 0-7 of the k-slice, lanes 8-15 the same keys at columns
  // 8-15 (lanes 16-31 repeat them).
  SmallVector<Value> raw;
  Value kRow = o.remU(lane, o.idx(8));
  Value kHalf = o.mul(o.remU(o.divU(lane, o.idx(8)), o.idx(2)), o.idx(8));
  for (int64_t n = 0; n < blockKv / 8; ++n) {
    Value acc = constVec(fragC, 0.0);
    for (int64_t kc = 0; kc < d / 16; ++kc) {
      Value kb = nvgpu::LdMatrixOp::create(
          b, fragB, kS,
          ValueRange{o.add(kRow, o.idx(n * 8)), o.add(kHalf, o.idx(kc * 16))},
          /*transpose=*/false, /*numTiles=*/2);
      acc = mma(qFrags[kc], kb, acc);
    }
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t e = 0; e < 2; ++e)
        raw.push_back(
            vector::ExtractOp::create(b, acc, ArrayRef<int64_t>{r, e}));
  }
  return raw;
}

SmallVector<Value> GPUTiler::emitScoresWgmma(Value stage) {
  // One m64n{blockKv}k16 per 16 columns of D; the accumulators start at 0
  // and pass through the fence so that their definitions precede it.
  SmallVector<Value> acc(blockKv / 2, o.f32(0.0));
  acc = inlineAsm("wgmma.fence.sync.aligned;", acc, {});
  Value kBase = stageAddr(stage);
  for (int64_t kc = 0; kc < d / 16; ++kc) {
    int64_t box = kc / (kBoxCols / 16), within = kc % (kBoxCols / 16);
    Value desc = descriptor(o.add(kBase, o.idx(box * boxBytes + within * 32)),
                            /*leadingBytes=*/16, /*strideBytes=*/1024);
    acc = wgmmaStep(qWords[kc], desc, /*transB=*/false, acc);
  }
  inlineAsm("wgmma.commit_group.sync.aligned;", {}, {});
  return inlineAsm("wgmma.wait_group.sync.aligned 0;", acc, {});
}

void GPUTiler::emitPVSync(ArrayRef<Value> p, RowState &out) {
  // V fragments by ldmatrix.trans (lanes 0-15 address keys 0-15 of the
  // slice).
  Value vRow = o.remU(lane, o.idx(16));
  for (int64_t kk = 0; kk < blockKv / 16; ++kk)
    for (int64_t nd = 0; nd < dv / 8; ++nd) {
      Value vb = nvgpu::LdMatrixOp::create(
          b, fragB, vS, ValueRange{o.add(vRow, o.idx(kk * 16)), o.idx(nd * 8)},
          /*transpose=*/true, /*numTiles=*/2);
      out.acc[nd] = mma(p[kk], vb, out.acc[nd]);
    }
}

void GPUTiler::emitPVWgmma(ArrayRef<Value> p, RowState &out, Value stage) {
  // One m64n{Dv}k16 per 16 keys on the accumulators laid end to end; the
  // fence also orders the writes of P's registers before the products.
  SmallVector<Value> acc, words;
  for (Value frag : out.acc)
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t e = 0; e < 2; ++e)
        acc.push_back(
            vector::ExtractOp::create(b, frag, ArrayRef<int64_t>{r, e}));
  for (Value frag : p)
    llvm::append_range(words, fragmentWords(frag, 4));
  SmallVector<Value> fenced = acc;
  fenced.append(words);
  fenced = inlineAsm("wgmma.fence.sync.aligned;", fenced, {});
  int64_t nAcc = acc.size();
  acc.assign(fenced.begin(), fenced.begin() + nAcc);
  Value vBase = o.add(stageAddr(stage), o.idx(blockKv * d * 2));
  for (int64_t kk = 0; kk < blockKv / 16; ++kk) {
    Value desc = descriptor(o.add(vBase, o.idx(kk * 16 * kBoxCols * 2)),
                            /*leadingBytes=*/boxBytes,
                            /*strideBytes=*/1024);
    ArrayRef<Value> a = ArrayRef<Value>(fenced).slice(nAcc + 4 * kk, 4);
    acc = wgmmaStep(a, desc, /*transB=*/true, acc);
  }
  inlineAsm("wgmma.commit_group.sync.aligned;", {}, {});
  acc = inlineAsm("wgmma.wait_group.sync.aligned 0;", acc, {});
  for (int64_t nd = 0; nd < dv / 8; ++nd)
    out.acc[nd] = vector::FromElementsOp::create(
        b, fragC, ArrayRef<Value>(acc).slice(4 * nd, 4));
}

RowState GPUTiler::emitKvTile(Value t, const RowState &in, Value stage,
                              Value dataFull) {
  Value j0 = o.mul(t, o.idx(blockKv));
  if (!useWgmma) {
    SmallVector<Value> tokens;
    emitCopyTile(kB, kS, j0, d, tokens);
    emitCopyTile(vB, vS, j0, dv, tokens);
    // One commit group holds every copy this thread issued.
    Value token = nvgpu::DeviceAsyncCreateGroupOp::create(
        b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);
    nvgpu::DeviceAsyncWaitOp::create(b, token, b.getI32IntegerAttr(0));
    gpu::BarrierOp::create(b);
  }

  // S = Q K^T. Scores as scalars: flat[(n * 2 + r) * 2 + e] at query row r
  // of the thread and key j0 + 8 n + 2 c + e.
  const int64_t nTiles = blockKv / 8;
  SmallVector<Value> flat =
      useWgmma ? emitScoresWgmma(stage) : emitScoresSync();
  SmallVector<Value> keys;
  for (int64_t n = 0; n < nTiles; ++n)
    for (int64_t e = 0; e < 2; ++e)
      keys.push_back(o.add(j0, o.add(o.mul(c, o.idx(2)), o.idx(n * 8 + e))));
  auto flatIndex = [&](int64_t n, int64_t r, int64_t e) {
    return (n * 2 + r) * 2 + e;
  };
  for (Value &v : flat)
    v = o.fmul(v, scale);
  // Element coordinates for the emitter are clamped into the tensors so
  // that operands (bias, segment ids, ...) are never read out of bounds;
  // the clamped elements are masked or never stored.
  auto point = [&](int64_t n, int64_t r, int64_t e) {
    Value j = o.min(keys[n * 2 + e], lastKey);
    return emitter->makePoint(b, bi, hi, clampedRows[r], j, kvLenB);
  };
  if (hasMods)
    for (int64_t n = 0; n < nTiles; ++n)
      for (int64_t r = 0; r < 2; ++r)
        for (int64_t e = 0; e < 2; ++e) {
          Value &v = flat[flatIndex(n, r, e)];
          v = emitter->emitScoreMods(b, v, point(n, r, e));
        }
  // Partial tiles: the mask and the key bound, per element.
  Value isFull = emitTileIsFull(b, fullBounds, j0, blockKv, kvEnd);
  if (dataFull)
    isFull = o.land(isFull, dataFull);
  SmallVector<Type> types(flat.size(), f32);
  auto ifOp = scf::IfOp::create(b, types, isFull, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, flat);
    b.setInsertionPointToStart(ifOp.elseBlock());
    SmallVector<Value> masked;
    Value negInf = o.f32(-std::numeric_limits<double>::infinity());
    for (int64_t n = 0; n < nTiles; ++n)
      for (int64_t r = 0; r < 2; ++r)
        for (int64_t e = 0; e < 2; ++e) {
          Value allowed =
              o.land(o.lt(keys[n * 2 + e], kvEnd),
                     emitter->emitAllowed(b, point(n, r, e), elementMask));
          masked.push_back(o.select(allowed, flat[flatIndex(n, r, e)], negInf));
        }
    scf::YieldOp::create(b, masked);
  }
  for (size_t i = 0; i < flat.size(); ++i)
    flat[i] = ifOp.getResult(i);

  // Online normalisation of the thread's two rows.
  RowState out = in;
  Value alpha[2];
  for (int64_t r = 0; r < 2; ++r) {
    Value shift;
    if (normalizer->shifted()) {
      Value mx = in.m[r];
      for (int64_t n = 0; n < nTiles; ++n)
        for (int64_t e = 0; e < 2; ++e)
          mx = o.fmax(mx, flat[flatIndex(n, r, e)]);
      Value mNew = normalizer->capShift(o, quadReduce(mx, /*max=*/true));
      shift = o.select(o.isNegInf(mNew), o.f32(0.0), mNew);
      alpha[r] = o.exp(o.fsub(in.m[r], shift));
      out.m[r] = mNew;
    }
    Value sum = o.f32(0.0);
    for (int64_t n = 0; n < nTiles; ++n)
      for (int64_t e = 0; e < 2; ++e) {
        Value &v = flat[flatIndex(n, r, e)];
        v = normalizer->weight(b, v, shift);
        sum = o.fadd(sum, v);
      }
    // The row sum stays per thread; the quad reduces it once at the end.
    out.l[r] = normalizer->shifted() ? o.fadd(o.fmul(in.l[r], alpha[r]), sum)
                                     : o.fadd(in.l[r], sum);
  }
  if (normalizer->shifted()) {
    Value scaleRows = ub::PoisonOp::create(b, fragC);
    for (int64_t r = 0; r < 2; ++r)
      scaleRows = vector::InsertOp::create(
          b, vector::BroadcastOp::create(b, pairF32, alpha[r]), scaleRows,
          ArrayRef<int64_t>{r});
    for (Value &acc : out.acc)
      acc = o.fmul(acc, scaleRows);
  }

  // O += P V: P re-packed as A fragments of 16 keys.
  SmallVector<Value> pFrags;
  for (int64_t kk = 0; kk < blockKv / 16; ++kk) {
    Value a = ub::PoisonOp::create(b, fragA);
    for (int64_t part = 0; part < 4; ++part) {
      int64_t n = 2 * kk + part / 2, r = part % 2;
      Value p = vector::FromElementsOp::create(
          b, pairF32,
          ValueRange{flat[flatIndex(n, r, 0)], flat[flatIndex(n, r, 1)]});
      a = vector::InsertOp::create(b, arith::TruncFOp::create(b, pair, p), a,
                                   ArrayRef<int64_t>{part});
    }
    pFrags.push_back(a);
  }
  if (useWgmma)
    emitPVWgmma(pFrags, out, stage);
  else
    emitPVSync(pFrags, out);
  // The next tile's loads overwrite this stage (mma.sync: K and V).
  gpu::BarrierOp::create(b);
  return out;
}

void GPUTiler::emitDocumentRows() {
  // Every thread scans the CTA's (at most 64) row ids: once per CTA, and
  // the loads of one row are broadcasts.
  std::tie(qSegMin, qSegMax) = emitIdRange(b, op.getSegQ(), bi, q0, qEnd);
}

int64_t GPUTiler::denseEntriesPerTile(DenseMaskAttr dense) const {
  // kBlockQ rows starting anywhere span at most (kBlockQ - 1) / bq + 1
  // entry rows; likewise for the keys of a tile.
  return ((kBlockQ - 1) / dense.getBlockQ() + 1) *
         ((blockKv - 1) / dense.getBlockKv() + 1);
}

std::pair<Value, Value> GPUTiler::emitRuntimeClass(Value t) {
  Value j0 = o.mul(t, o.idx(blockKv));
  Value kept = o.i1(true), full = o.i1(true);
  // Every warp computes the same predicates over the same entries, so the
  // votes agree over the CTA without a barrier.
  auto vote = [&](Value pred) {
    return NVVM::VoteSyncOp::create(b, b.getI1Type(),
                                    arith::ConstantIntOp::create(b, -1, 32),
                                    pred, NVVM::VoteSyncKind::any);
  };
  if (hasDocument) {
    // Lane l looks at keys j0 + l + 32 k. A key may match some row when its
    // id lies in [qSegMin, qSegMax]; the tile is full when every key below
    // kvEnd has the rows' single id. Keys at or past kvEnd count for
    // neither (the bound test handles them).
    Value maybe = o.i1(false), mismatch = o.i1(false);
    for (int64_t k = 0; k < blockKv / 32; ++k) {
      Value j = o.add(j0, o.add(lane, o.idx(32 * k)));
      Value in = o.lt(j, kvEnd);
      Value id = o.toIndex(tensor::ExtractOp::create(
          b, op.getSegKv(), ValueRange{bi, o.min(j, lastKey)}));
      maybe = o.lor(maybe,
                    o.land(in, o.land(o.le(qSegMin, id), o.le(id, qSegMax))));
      mismatch = o.lor(mismatch, o.land(in, o.lnot(o.eq(id, qSegMin))));
    }
    kept = vote(maybe);
    full = o.land(o.eq(qSegMin, qSegMax), o.lnot(vote(mismatch)));
  }
  if (denseLeaf) {
    // Entries [r0, r1) x [c0, c1) cover the CTA's rows and the tile's keys
    // below kvEnd; lane l reads entries l + 32 k of them, row-major. The
    // tile is kept when one is on, and full when none is off.
    Value one = o.idx(1);
    Value bq = o.idx(denseLeaf.getBlockQ());
    Value bkv = o.idx(denseLeaf.getBlockKv());
    Value j1 = o.max(o.min(o.add(j0, o.idx(blockKv)), kvEnd), o.add(j0, one));
    Value r0 = o.divU(q0, bq);
    Value r1 = o.add(o.divU(o.sub(qEnd, one), bq), one);
    Value c0 = o.divU(j0, bkv);
    Value cols = o.sub(o.add(o.divU(o.sub(j1, one), bkv), one), c0);
    Value count = o.mul(o.sub(r1, r0), cols);
    Value on = o.i1(false), off = o.i1(false);
    int64_t perLane = (denseEntriesPerTile(denseLeaf) + 31) / 32;
    for (int64_t k = 0; k < perLane; ++k) {
      Value e = o.add(lane, o.idx(32 * k));
      Value valid = o.lt(e, count);
      e = o.select(valid, e, o.idx(0));
      Value entry = emitter->emitDenseEntry(
          b, bi, hi, o.add(r0, o.divU(e, cols)), o.add(c0, o.remU(e, cols)));
      on = o.lor(on, o.land(valid, entry));
      off = o.lor(off, o.land(valid, o.lnot(entry)));
    }
    kept = o.land(kept, vote(on));
    full = o.land(full, o.lnot(vote(off)));
  }
  if (hasTree) {
    Value j1 = o.min(o.add(j0, o.idx(blockKv)), kvEnd);
    auto [skip, treeFull] =
        emitter->emitTreeTile(b, kvLenB, q0, qEnd, p0, p1, j0, j1);
    kept = o.land(kept, o.lnot(skip));
    full = o.land(full, treeFull);
  }
  return {kept, full};
}

std::pair<Value, Value> GPUTiler::emitNextKept(Value from, Value hi) {
  // The search stops at hi; tiles from hi on are not classified (with no
  // keys at all there would be no segment id to read).
  auto loop = scf::WhileOp::create(
      b, TypeRange{from.getType(), b.getI1Type()},
      ValueRange{from, o.i1(false)},
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        Value inRange = o.lt(args[0], hi);
        auto classify = scf::IfOp::create(
            b, TypeRange{b.getI1Type(), b.getI1Type()}, inRange,
            /*withElseRegion=*/true);
        {
          OpBuilder::InsertionGuard guard2(b);
          b.setInsertionPointToStart(classify.thenBlock());
          auto [kept, full] = emitRuntimeClass(args[0]);
          scf::YieldOp::create(b, ValueRange{kept, full});
          b.setInsertionPointToStart(classify.elseBlock());
          scf::YieldOp::create(b, ValueRange{o.i1(true), o.i1(false)});
        }
        Value more = o.land(inRange, o.lnot(classify.getResult(0)));
        scf::ConditionOp::create(b, more,
                                 ValueRange{args[0], classify.getResult(1)});
      },
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        ImplicitLocOpBuilder ib(loc, nb);
        Arith io{ib};
        scf::YieldOp::create(ib,
                             ValueRange{io.add(args[0], io.idx(1)), args[1]});
      });
  return {loop.getResult(0), loop.getResult(1)};
}

void GPUTiler::emitEpilogue(const RowState &state) {
  Value sink;
  if (normalizer->kind() == Norm::SinkSoftmax)
    sink = o.extF(tensor::ExtractOp::create(b, op.getSink(), ValueRange{hi}));
  for (int64_t r = 0; r < 2; ++r) {
    Value l = quadReduce(state.l[r], /*max=*/false);
    auto [inv, lse] =
        normalizer->finalize(b, state.m[r], l, sink, kvLenB, bool(lseB));
    Value invPair = vector::BroadcastOp::create(b, pairF32, inv);
    auto inRange = scf::IfOp::create(b, TypeRange{}, o.lt(rows[r], qLen),
                                     /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inRange.thenBlock());
    for (int64_t nd = 0; nd < dv / 8; ++nd) {
      Value vals =
          vector::ExtractOp::create(b, state.acc[nd], ArrayRef<int64_t>{r});
      Value outPair = arith::TruncFOp::create(b, pair, o.fmul(vals, invPair));
      Value col = o.add(o.mul(c, o.idx(2)), o.idx(nd * 8));
      vector::StoreOp::create(b, outPair, oB, indices4(bi, hi, rows[r], col));
    }
    if (lseB) {
      auto first = scf::IfOp::create(b, TypeRange{}, o.eq(c, o.idx(0)),
                                     /*withElseRegion=*/false);
      b.setInsertionPointToStart(first.thenBlock());
      memref::StoreOp::create(b, lse, lseB, ValueRange{bi, hi, rows[r]});
    }
  }
}

LogicalResult mlir::attn::tileAttentionForGPU(RewriterBase &rewriter,
                                              AttentionOp op, bool wgmma) {
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  b.setInsertionPoint(op);
  GPUTiler tiler(op, b, wgmma);
  return tiler.run();
}

namespace {
struct AttnTileGPUPass : attn::impl::AttnTileGPUBase<AttnTileGPUPass> {
  using AttnTileGPUBase::AttnTileGPUBase;
  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    SmallVector<AttentionOp> ops;
    getOperation()->walk([&](AttentionOp op) { ops.push_back(op); });
    for (AttentionOp op : ops)
      if (failed(tileAttentionForGPU(rewriter, op, wgmma)))
        return signalPassFailure();
    WalkResult merges = getOperation()->walk([](MergeOp merge) {
      merge.emitOpError("is not supported by the GPU path yet");
      return WalkResult::interrupt();
    });
    if (merges.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
