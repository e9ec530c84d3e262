//===- AttnToGPU.cpp - Tensor-core flash attention for NVIDIA GPUs --------===//
//
// Lowers attn.attention on f16/bf16 tensors to one gpu.launch of a
// FlashAttention-2 kernel, and defines the entry points (the function on
// one op, the pattern, the attn-tile-gpu pass). This file holds the kernel
// skeleton that both instruction sets share:
//
//   grid (ceil(Sq / blockQ), B * Hq), 16 query rows per warp; per CTA the
//   Q fragments are loaded once, then a loop over kv tiles of blockKv keys
//   computes S = Q K^T, scales it, applies score modifiers and masks per
//   element of the accumulator fragments, runs the online normalisation in
//   registers (row statistics reduced over the 4 lanes of a quad with
//   shuffles), re-packs P from accumulator to A fragments in registers and
//   accumulates O += P V; the epilogue divides by the row sums and stores.
//
// How tiles reach shared memory and how the two products run is the
// MmaKernel's business (Sm80Kernel.cpp: cp.async + mma.sync; Sm90aKernel.cpp:
// TMA + wgmma); the tile plan (TilePlan.cpp) picks one.
//
// The kv tiles a CTA visits come from the same symbolic tile classification
// as the CPU path (TileClasses.h): empty tiles are outside the loop bounds,
// full tiles skip the per-element mask; runtime conjuncts narrow that
// further (RuntimeSkipping.cpp). Per-element semantics come from
// ScoreEmitter and the normalizers from StreamingNormalizer, so a variant
// means the same on every target.
//
//===----------------------------------------------------------------------===//

#include "GPUTiler.h"

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/Utils/Lowering.h"
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

#include <limits>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNTILEGPU
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::tilegpu;

using Norm = StreamingNormalizer::Kind;

KernelContext::KernelContext(AttentionOp op, ImplicitLocOpBuilder &b,
                             const GPUTilePlan &plan, const OpFacts &facts,
                             const MaskPlan &masks)
    : MmaSync(b, facts.elem), op(op), plan(plan), facts(facts), masks(masks) {}

void DeviceErrorFlag::emitBegin(ImplicitLocOpBuilder &b, VariantOpInterface op,
                                ScoreEmitter &emitter) {
  host = ScoreEmitter::emitCaptureErrorFlag(b, op);
  if (!host)
    return;
  Type token = b.getType<gpu::AsyncTokenType>();
  Value start = gpu::WaitOp::create(b, token, ValueRange{}).getAsyncToken();
  auto alloc = gpu::AllocOp::create(
      b, cast<MemRefType>(host.getType()), token, ValueRange{start},
      /*dynamicSizes=*/ValueRange{}, /*symbolOperands=*/ValueRange{});
  device = alloc.getMemref();
  Value copied = gpu::MemcpyOp::create(
                     b, token, ValueRange{alloc.getAsyncToken()}, device, host)
                     .getAsyncToken();
  gpu::WaitOp::create(b, Type(), ValueRange{copied});
  emitter.setCaptureErrorFlag(device);
}

void DeviceErrorFlag::emitEnd(ImplicitLocOpBuilder &b) {
  if (!host)
    return;
  Type token = b.getType<gpu::AsyncTokenType>();
  Value start = gpu::WaitOp::create(b, token, ValueRange{}).getAsyncToken();
  Value copied =
      gpu::MemcpyOp::create(b, token, ValueRange{start}, host, device)
          .getAsyncToken();
  Value freed = gpu::DeallocOp::create(b, token, ValueRange{copied}, device)
                    .getAsyncToken();
  gpu::WaitOp::create(b, Type(), ValueRange{freed});
}

namespace {

/// Emits the kernel of one op: the skeleton, calling `mmaKernel` for what
/// depends on the instruction set.
class KernelBuilder {
public:
  KernelBuilder(KernelContext &k, MmaKernel &mmaKernel)
      : k(k), b(k.b), o(k.o), mmaKernel(mmaKernel) {}

  /// Host side: buffers, the launch, and the op's replacement.
  void run();

private:
  /// Per-CTA setup, the kv loop, the epilogue.
  void emitKernel(gpu::LaunchOp launch);
  /// The loop over the tiles of [lo, hi) from `state` (the row state, then
  /// with stages > 1 the number of tiles loaded so far).
  SmallVector<Value> emitTileLoop(Value lo, Value hi, ValueRange state);
  /// Processes kv tile `t` (in `stage` with stages > 1); `dataFull` (or
  /// null) is and-ed into the tile's full test.
  RowState emitKvTile(Value t, const RowState &in, Value stage, Value dataFull);
  void emitEpilogue(const RowState &state);

  KernelContext &k;
  ImplicitLocOpBuilder &b;
  Arith &o;
  MmaKernel &mmaKernel;
};

} // namespace

void KernelBuilder::run() {
  AttentionOp op = k.op;
  unsigned sDim = op.getSeqDim(), hDim = op.getHeadDim();
  k.bufs = AttentionBuffers::emit(b, op);
  k.emitter = std::make_unique<ScoreEmitter>(
      op, tensor::DimOp::create(b, op.getQuery(), hDim),
      tensor::DimOp::create(b, op.getQuery(), sDim),
      tensor::DimOp::create(b, op.getKey(), sDim));
  k.scale = k.emitter->emitScale(b, tensor::DimOp::create(b, op.getQuery(), 3));
  k.emitter->hoistOperandDims(b);
  if (k.masks.runtimeSkip())
    k.runtimeClasses = std::make_unique<RuntimeTileClassifier>(
        op, k.masks.runtime, *k.emitter);

  // One CTA per (q-tile, b * Hq); an empty grid (Sq = 0 or B * Hq = 0) is
  // not launched (the runtime skips zero-sized grids).
  Value gridX = o.ceilDiv(k.bufs.qLen, o.idx(k.plan.blockQ));
  Value gridY = o.mul(k.bufs.batch, k.bufs.qHeads);
  mmaKernel.emitHostPrologue();
  DeviceErrorFlag flag;
  flag.emitBegin(b, op, *k.emitter);
  Value smemBytes =
      arith::ConstantIntOp::create(b, mmaKernel.sharedBytes(), 32);
  auto launch =
      gpu::LaunchOp::create(b, gridX, gridY, o.idx(1), o.idx(k.threads()),
                            o.idx(1), o.idx(1), smemBytes);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&launch.getBody().front());
    emitKernel(launch);
    gpu::TerminatorOp::create(b);
  }
  mmaKernel.emitHostEpilogue();
  flag.emitEnd(b);
  k.bufs.replaceOp(b, op);
}

void KernelBuilder::emitKernel(gpu::LaunchOp launch) {
  CTAValues &cta = k.cta;
  const AttentionBuffers &bufs = k.bufs;
  cta.tid = launch.getThreadIds().x;
  Value qTile = launch.getBlockIds().x;
  Value bh = launch.getBlockIds().y;
  cta.bi = o.divU(bh, bufs.qHeads);
  cta.hi = o.remU(bh, bufs.qHeads);
  cta.kvh = o.divU(cta.hi, bufs.group);
  Value warp = o.divU(cta.tid, o.idx(32));
  cta.lane = o.remU(cta.tid, o.idx(32));
  cta.g = o.divU(cta.lane, o.idx(4));
  cta.c = o.remU(cta.lane, o.idx(4));

  cta.kvLenB = k.emitter->emitKvLength(b, cta.bi);
  cta.kvEnd = o.min(cta.kvLenB, bufs.kvLen);
  cta.q0 = o.mul(qTile, o.idx(k.plan.blockQ));
  Value tileRows = o.min(o.idx(k.plan.blockQ), o.sub(bufs.qLen, cta.q0));
  cta.qEnd = o.add(cta.q0, tileRows);
  Value lastRow = o.sub(bufs.qLen, o.idx(1));
  cta.lastKey = o.sub(bufs.kvLen, o.idx(1));
  // The CTA's query positions are [p0, p1) (TileClasses' convention).
  cta.p0 = k.emitter->emitPosition(b, cta.q0, cta.kvLenB);
  cta.p1 = o.add(cta.p0, tileRows);
  k.normalizer->emitSigmoidBeta(b, cta.kvLenB);
  cta.rows[0] = o.add(o.add(cta.q0, o.mul(warp, o.idx(kRowsPerWarp))), cta.g);
  cta.rows[1] = o.add(cta.rows[0], o.idx(8));
  // Rows past Sq compute on a copy of the last row and are never stored.
  for (int r = 0; r < 2; ++r)
    cta.clampedRows[r] = o.min(cta.rows[r], lastRow);

  auto wg =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto raw = gpu::DynamicSharedMemoryOp::create(
      b, MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                         MemRefLayoutAttrInterface(), wg));
  mmaKernel.emitSharedSetup(raw);

  // Q fragments, once per CTA, one A fragment per 16 columns of D.
  auto qAt = [&](Value row, Value col) {
    return k.indices4(cta.bi, cta.hi, row, col);
  };
  for (int64_t kc = 0; kc < k.facts.d / 16; ++kc) {
    Value frag = k.loadA(bufs.qB, qAt, cta.clampedRows, cta.c, kc * 16);
    cta.qFrags.push_back(frag);
    mmaKernel.addQFragment(frag);
  }

  cta.symVals = {cta.p0, cta.p1, cta.kvEnd};
  cta.fullBounds = emitFullIntervals(b, k.masks.classes, cta.symVals);
  if (k.masks.runtimeSkip())
    emitRuntimeRows(k);

  RowState init;
  Value negInf = o.f32(-std::numeric_limits<double>::infinity());
  for (int r = 0; r < 2; ++r) {
    init.m[r] = negInf;
    init.l[r] = o.f32(0.0);
  }
  for (int64_t nd = 0; nd < k.facts.dv / 8; ++nd)
    init.acc.push_back(k.constVec(k.fragC, 0.0));

  // Loop over the non-empty tile ranges, then the tiles of each. With
  // stages > 1 the loop also carries n, the tiles loaded so far: tile n
  // sits in stage n % stages.
  SmallVector<KeyRange> ranges = emitTileRanges(b, k.masks.classes, cta.symVals,
                                                cta.kvEnd, k.plan.blockKv);
  SmallVector<Value> initState = init.flatten();
  if (k.plan.stages > 1)
    initState.push_back(o.idx(0));
  auto outer = scf::ForOp::create(
      b, o.idx(0), o.idx(ranges.size()), o.idx(1), initState,
      [&](OpBuilder &nb, Location loc, Value r, ValueRange outerState) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        Value lo = ranges.back().first, hi = ranges.back().second;
        for (int64_t i = static_cast<int64_t>(ranges.size()) - 2; i >= 0; --i) {
          Value is = o.eq(r, o.idx(i));
          lo = o.select(is, ranges[i].first, lo);
          hi = o.select(is, ranges[i].second, hi);
        }
        scf::YieldOp::create(b, emitTileLoop(lo, hi, outerState));
      });
  ValueRange finalState = outer.getResults();
  if (k.plan.stages > 1)
    finalState = finalState.drop_back();
  emitEpilogue(RowState::unflatten(finalState));
}

SmallVector<Value> KernelBuilder::emitTileLoop(Value lo, Value hi,
                                               ValueRange outerState) {
  // With stages > 1 the loads run `ahead` tiles ahead of the products:
  // before tile t is waited for, the tile `ahead` places after it in the
  // loop is requested into the stage that tile t - 1 has just freed. With
  // runtime conjuncts the loop visits only the tiles they keep (scf.while
  // over "next kept tile", carrying the next `ahead` kept tiles and their
  // full tests), so a skipped tile is never loaded.
  bool pipelined = k.plan.stages > 1;
  int64_t ahead = pipelined ? k.plan.stages - 1 : 1;
  // Tile t, with `next` the tile `ahead` after it (requested first).
  auto step = [&](Value t, Value next, Value dataFull, ValueRange state) {
    Value stage, n;
    if (pipelined) {
      n = state.back();
      state = state.drop_back();
      mmaKernel.emitIssueIfAny(next, hi, o.add(n, o.idx(ahead)));
      mmaKernel.emitWait(n);
      stage = mmaKernel.stageOf(n);
    }
    SmallVector<Value> yielded =
        emitKvTile(t, RowState::unflatten(state), stage, dataFull).flatten();
    if (pipelined)
      yielded.push_back(o.add(n, o.idx(1)));
    return yielded;
  };
  // The i-th load after the n0 done before this range.
  auto nth = [&](int64_t i) {
    Value n0 = outerState.back();
    return i == 0 ? n0 : o.add(n0, o.idx(i));
  };
  if (!k.masks.runtimeSkip()) {
    if (pipelined)
      for (int64_t i = 0; i < ahead; ++i)
        mmaKernel.emitIssueIfAny(i == 0 ? lo : o.add(lo, o.idx(i)), hi, nth(i));
    auto inner = scf::ForOp::create(
        b, lo, hi, o.idx(1), outerState,
        [&](OpBuilder &nb, Location loc, Value t, ValueRange state) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
          scf::YieldOp::create(b,
                               step(t, o.add(t, o.idx(ahead)), Value(), state));
        });
    return SmallVector<Value>(inner.getResults());
  }
  // The first `ahead` kept tiles, each with its full test.
  SmallVector<Value> inits;
  for (int64_t i = 0; i < ahead; ++i) {
    Value from = i == 0 ? lo : o.add(inits[2 * (i - 1)], o.idx(1));
    auto [tile, full] = emitNextKept(k, from, hi);
    if (pipelined)
      mmaKernel.emitIssueIfAny(tile, hi, nth(i));
    inits.append({tile, full});
  }
  inits.append(outerState.begin(), outerState.end());
  auto inner = scf::WhileOp::create(
      b, ValueRange(inits).getTypes(), inits,
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        ImplicitLocOpBuilder ib(loc, nb);
        Arith io{ib};
        scf::ConditionOp::create(ib, io.lt(args[0], hi), args);
      },
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        auto [next, nextFull] =
            emitNextKept(k, o.add(args[2 * (ahead - 1)], o.idx(1)), hi);
        SmallVector<Value> yielded(args.begin() + 2, args.begin() + 2 * ahead);
        yielded.append({next, nextFull});
        llvm::append_range(
            yielded, step(args[0], next, args[1], args.drop_front(2 * ahead)));
        scf::YieldOp::create(b, yielded);
      });
  return SmallVector<Value>(inner.getResults().drop_front(2 * ahead));
}

RowState KernelBuilder::emitKvTile(Value t, const RowState &in, Value stage,
                                   Value dataFull) {
  const CTAValues &cta = k.cta;
  StreamingNormalizer &normalizer = *k.normalizer;
  int64_t blockKv = k.plan.blockKv;
  Value j0 = o.mul(t, o.idx(blockKv));
  if (k.plan.stages == 1)
    mmaKernel.emitLoadTile(j0);

  // S = Q K^T. Scores as scalars: flat[(n * 2 + r) * 2 + e] at query row r
  // of the thread and key j0 + 8 n + 2 c + e.
  const int64_t nTiles = blockKv / 8;
  SmallVector<Value> flat = mmaKernel.emitScores(stage);
  SmallVector<Value> keys;
  for (int64_t n = 0; n < nTiles; ++n)
    for (int64_t e = 0; e < 2; ++e)
      keys.push_back(
          o.add(j0, o.add(o.mul(cta.c, o.idx(2)), o.idx(n * 8 + e))));
  for (Value &v : flat)
    v = o.fmul(v, k.scale);
  // Element coordinates for the emitter are clamped into the tensors so
  // that operands (bias, segment ids, ...) are never read out of bounds;
  // the clamped elements are masked or never stored.
  auto point = [&](int64_t n, int64_t r, int64_t e) {
    Value j = o.min(keys[n * 2 + e], cta.lastKey);
    return k.emitter->makePoint(b, cta.bi, cta.hi, cta.clampedRows[r], j,
                                cta.kvLenB);
  };
  if (k.facts.hasMods)
    for (int64_t n = 0; n < nTiles; ++n)
      for (int64_t r = 0; r < 2; ++r)
        for (int64_t e = 0; e < 2; ++e) {
          Value &v = flat[flatIndex(n, r, e)];
          v = k.emitter->emitScoreMods(b, v, point(n, r, e));
        }
  // Partial tiles: the mask and the key bound, per element.
  Value isFull = emitTileIsFull(b, cta.fullBounds, j0, blockKv, cta.kvEnd);
  if (dataFull)
    isFull = o.land(isFull, dataFull);
  SmallVector<Type> types(flat.size(), k.f32);
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
          Value allowed = o.land(
              o.lt(keys[n * 2 + e], cta.kvEnd),
              k.emitter->emitAllowed(b, point(n, r, e), k.masks.elementMask));
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
    if (normalizer.shifted()) {
      Value mx = in.m[r];
      for (int64_t n = 0; n < nTiles; ++n)
        for (int64_t e = 0; e < 2; ++e)
          mx = o.fmax(mx, flat[flatIndex(n, r, e)]);
      Value mNew = normalizer.capShift(o, k.quadReduce(mx, /*max=*/true));
      shift = o.select(o.isNegInf(mNew), o.f32(0.0), mNew);
      alpha[r] = o.exp(o.fsub(in.m[r], shift));
      out.m[r] = mNew;
    }
    Value sum = o.f32(0.0);
    for (int64_t n = 0; n < nTiles; ++n)
      for (int64_t e = 0; e < 2; ++e) {
        Value &v = flat[flatIndex(n, r, e)];
        v = normalizer.weight(b, v, shift);
        sum = o.fadd(sum, v);
      }
    // The row sum stays per thread; the quad reduces it once at the end.
    out.l[r] = normalizer.shifted() ? o.fadd(o.fmul(in.l[r], alpha[r]), sum)
                                    : o.fadd(in.l[r], sum);
  }
  if (normalizer.shifted()) {
    Value scaleRows = ub::PoisonOp::create(b, k.fragC);
    for (int64_t r = 0; r < 2; ++r)
      scaleRows = vector::InsertOp::create(
          b, vector::BroadcastOp::create(b, k.pairF32, alpha[r]), scaleRows,
          ArrayRef<int64_t>{r});
    for (Value &acc : out.acc)
      acc = o.fmul(acc, scaleRows);
  }

  // O += P V: P re-packed as A fragments of 16 keys.
  SmallVector<Value> pFrags = k.packA(flat, blockKv);
  mmaKernel.emitPV(pFrags, out, stage);
  // The next loads overwrite this tile's shared memory (one stage: the
  // next tile's; with stages > 1: the tile `stages - 1` ahead of the next).
  gpu::BarrierOp::create(b);
  return out;
}

void KernelBuilder::emitEpilogue(const RowState &state) {
  const CTAValues &cta = k.cta;
  const AttentionBuffers &bufs = k.bufs;
  Value sink;
  if (k.normalizer->kind() == Norm::SinkSoftmax)
    sink = o.extF(
        tensor::ExtractOp::create(b, k.op.getSink(), ValueRange{cta.hi}));
  for (int64_t r = 0; r < 2; ++r) {
    Value l = k.quadReduce(state.l[r], /*max=*/false);
    auto [inv, lse] = k.normalizer->finalize(b, state.m[r], l, sink, cta.kvLenB,
                                             bool(bufs.lseB));
    Value invPair = vector::BroadcastOp::create(b, k.pairF32, inv);
    auto inRange =
        scf::IfOp::create(b, TypeRange{}, o.lt(cta.rows[r], bufs.qLen),
                          /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inRange.thenBlock());
    for (int64_t nd = 0; nd < k.facts.dv / 8; ++nd) {
      Value vals =
          vector::ExtractOp::create(b, state.acc[nd], ArrayRef<int64_t>{r});
      Value outPair = arith::TruncFOp::create(b, k.pair, o.fmul(vals, invPair));
      Value col = o.add(o.mul(cta.c, o.idx(2)), o.idx(nd * 8));
      vector::StoreOp::create(b, outPair, bufs.oB,
                              k.indices4(cta.bi, cta.hi, cta.rows[r], col));
    }
    if (bufs.lseB) {
      auto first = scf::IfOp::create(b, TypeRange{}, o.eq(cta.c, o.idx(0)),
                                     /*withElseRegion=*/false);
      b.setInsertionPointToStart(first.thenBlock());
      memref::StoreOp::create(b, lse, bufs.lseB,
                              ValueRange{cta.bi, cta.hi, cta.rows[r]});
    }
  }
}

LogicalResult mlir::attn::tileAttentionForGPU(RewriterBase &rewriter,
                                              AttentionOp op,
                                              const GPUTilePlan &plan) {
  FailureOr<OpFacts> facts = OpFacts::get(op);
  if (failed(facts))
    return failure();
  MaskPlan masks = MaskPlan::get(op, plan);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  b.setInsertionPoint(op);
  KernelContext k(op, b, plan, *facts, masks);
  k.normalizer = std::make_unique<StreamingNormalizer>(op);
  std::unique_ptr<MmaKernel> mmaKernel =
      plan.wgmma ? createSm90aKernel(k) : createSm80Kernel(k);
  KernelBuilder(k, *mmaKernel).run();
  return success();
}

void mlir::attn::populateAttnToGPUPatterns(RewritePatternSet &patterns,
                                           const GPUTarget &target) {
  // attn.attention -> gpu.launch, for ops whose plan resolves.
  patterns.add<ResolvePlanAndLower<GPUTarget, GPUTilePlan, resolveGPUTilePlan,
                                   tileAttentionForGPU>>(patterns.getContext(),
                                                         target);
  // attn.attention_grad -> the backward's two gpu.launches.
  patterns.add<
      ResolvePlanAndLowerOp<AttentionGradOp, GPUTarget, GPUTilePlan,
                            resolveGPUGradPlan, tileAttentionGradForGPU>>(
      patterns.getContext(), target);
  // attn.merge -> linalg, for attn-gpu-elementwise after bufferization.
  populateMergeToGPUPatterns(patterns);
}

namespace {

struct AttnTileGPUPass : attn::impl::AttnTileGPUBase<AttnTileGPUPass> {
  using AttnTileGPUBase::AttnTileGPUBase;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateAttnToGPUPatterns(patterns, GPUTarget{chip, mma});
    if (failed(applyPatternsOnce(
            getOperation(), std::move(patterns), [](Operation *op) {
              return isa<AttentionOp, AttentionGradOp, MergeOp>(op);
            })))
      return signalPassFailure();
    WalkResult unsupported = getOperation()->walk([](MaskBlocksOp op) {
      op->emitOpError("has no GPU lowering: classify blocks on the CPU "
                      "(attn-cpu-pipeline) and pass the table to the GPU "
                      "kernel");
      return WalkResult::interrupt();
    });
    if (unsupported.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
