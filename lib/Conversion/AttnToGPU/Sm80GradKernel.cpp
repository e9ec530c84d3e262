//===- Sm80GradKernel.cpp - The backward pass on mma.sync -----------------===//
//
// Lowers attn.attention_grad on f16/bf16 tensors to two gpu.launches of
// FlashAttention-2 style backward kernels on mma.sync m16n8k16 (sm_80, and
// sm_90a, which runs them unchanged), and with operand gradients the small
// kernels below. P is recomputed from the forward's LSE as on the CPU
// (FlashGradKernel.cpp), with the same per-element formulas
// (emitGradWeightAndFactor, ScoreEmitter's slopes), and nothing of size
// Sq x Skv is stored (but a broadcast bias's gradient scratch).
// Deterministic, no atomics: every output element is written by one
// thread, and its sums run in a fixed order.
//
//   1. the query kernel, grid (ceil(Sq / 64), B * Hq), 4 warps of 16 query
//      rows each (as the forward): Q and dO as A fragments in registers,
//      Delta = rowsum(dO * O) of its rows (stored for kernel 2), then per
//      kv tile of blockKv keys (K and V by cp.async into shared memory):
//        S = Q K^T, dP = dO V^T               (B fragments by ldmatrix)
//        P = w(s') / Z, dS = scale * w'(s') / Z * ds'/ds * (dP - Delta)
//        dQ += dS K                            (ldmatrix.trans)
//   2. the key kernel, grid (ceil(Skv / 64), B * Hkv), 4 warps of 16 keys
//      each: K and V as A fragments (in registers; at head dims over 64
//      from a copy in shared memory, by ldmatrix x4 where used, which
//      leaves registers for the dK and dV accumulators), then for every
//      query head of the group (GQA: the group's sum, in order) and every
//      q-tile of blockKv queries that the tile classes do not rule out for
//      its kv tile (Q and dO by cp.async):
//        S^T = K Q^T, dP^T = V dO^T, P^T and dS^T as above,
//        dV += P^T dO, dK += dS^T Q.
//
// blockKv is 32 (resolveGPUGradPlan). In both kernels, element
// (n * 2 + r) * 2 + e of a product is the thread's row r and column
// 8 n + 2 c + e (MmaSync.h), so the transposed products of kernel 2 have
// the queries in the columns. Full tiles skip the mask; partial ones
// evaluate it per element. Top-level document, tree and block-sparse
// conjuncts are classified per tile pair at run time with the forward's
// classes (RuntimeTileClassifier, GPUTileReader): pairs they rule out are
// skipped before their copies, pairs they allow entirely are full.
//
// Operand gradients (`wrt`), summed in f32 in a fixed order, no atomics:
// the sink logits by a third kernel, a warp per query head, from LSE and
// Delta; the others from each element's dS' in the query kernel, which
// adds dS' * ds'/dx of the operand reads (ScoreEmitter's forward-mode
// derivatives, as on the CPU) into device scratch: the bias into one f32
// per score element (written by the thread that owns it; straight into
// its gradient where the bias does not broadcast), the rest
// (relative-bias table, temperature, captures) into one slot per thread,
// the kernel then running on at most kMaxSlotCTAs CTAs that take every
// n-th item. A kernel per operand sums the scratch in order (the bias over
// its broadcast batch and head dims, the others over the slots).
//
//===----------------------------------------------------------------------===//

#include "GPUTiler.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>
#include <numeric>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::tilegpu;

namespace {

/// The coordinates of the tile pair a kernel is working on.
struct GradTile {
  Value bi, hi, kvLenB, kvEnd, rowBias;
  /// The pair needs no per-element mask.
  Value isFull;
};

/// The gradient of one operand in `wrt` other than the sink, read by the
/// score modifiers at each element (bias, rel_bias_table, temperature,
/// captures).
struct OperandGrad {
  /// The operand (a tensor), its sizes and element count (host values).
  Value operand;
  SmallVector<Value, 4> dims;
  Value count;
  /// The gradient's destination, f32 and shaped as the operand.
  Value out;
  /// Device scratch: the bias, [B * Hq * Sq * Skv] f32 (each element's
  /// dS' * ds'/dx, written by the thread that owns the element), else
  /// [numSlots * count] f32 (each query-kernel thread adds to its slot).
  Value scratch;
  bool perElement = false;
  /// The bias only: true (i1) when it does not broadcast (count = B * Hq
  /// * Sq * Skv), where score element and bias element are one: the
  /// threads then add into `flatOut`, `out` as one row-major dim, and the
  /// scratch is a single unused element.
  Value inPlace, flatOut;
};

/// Emits the kernels of one attn.attention_grad op.
class GradKernelBuilder {
public:
  GradKernelBuilder(AttentionGradOp op, const GPUTilePlan &plan,
                    const OpFacts &facts, ImplicitLocOpBuilder &b)
      : op(op), plan(plan), facts(facts), b(b), m(b, facts.elem), o(m.o) {}

  void run();

private:
  void emitQueryKernel(gpu::LaunchOp launch);
  /// The query kernel's work on q-tile `qTile` of (batch, head) `bh`; with
  /// `slot` (operand gradients read per element), each thread adds their
  /// contributions to its own slot of the scratch.
  void emitQueryItem(Value qTile, Value bh, Value slot);
  /// Adds dS' * ds'/dx of the thread's allowed elements of a tile to the
  /// operand gradients' scratch: `scores` are the scaled raw scores s,
  /// `dsPrime` dS', `query` / `key` the elements' coordinates.
  void emitOperandGradTile(const GradTile &t, ArrayRef<Value> scores,
                           ArrayRef<Value> dsPrime, int64_t cols,
                           function_ref<Value(int64_t, int64_t, int64_t)> query,
                           function_ref<Value(int64_t, int64_t, int64_t)> key,
                           Value slot);
  /// The sink logits' gradient, one warp per query head (after the query
  /// kernel, which stores Delta).
  void emitSinkKernel(gpu::LaunchOp launch);
  /// Operand gradient `k` from its scratch: the slots (or, for the bias,
  /// the broadcast batch and head rows) summed in order, a thread per
  /// element.
  void emitOperandSumKernel(gpu::LaunchOp launch, size_t k);
  /// Sets up `operandGrads`, `sinkOut` and the slots (host code).
  void emitOperandGradSetup();
  void emitKeyKernel(gpu::LaunchOp launch);
  /// Per-CTA values both kernels need: thread, lane, its row g and column
  /// pair c, warp; kv extent of batch `bi`.
  void emitThreadIds(gpu::LaunchOp launch);
  void emitKvExtent(GradTile &t);
  /// The run-time tile rows of query rows [i0, i0 + nq) at positions from
  /// p0 (with classifier).
  RuntimeTileRows emitRuntimeRows(const GradTile &t, Value i0, Value nq,
                                  Value p0);
  /// (kept, full) of the run-time conjuncts for `rows` (of at most
  /// `rowsTile` rows) and keys [j0, j0 + keys) of tile `tile`, j0 < kvEnd:
  /// skipped tiles are never loaded; (true, true) without classifier.
  std::pair<Value, Value> emitRuntimeClass(const GradTile &t,
                                           const RuntimeTileRows &rows,
                                           int64_t rowsTile, Value tile,
                                           Value j0, int64_t keys);
  /// What both kernels set up per CTA for their 64 rows from `first` (of
  /// `bound`) at head `h`: the thread's two rows (and the same clamped to
  /// bound - 1), the shared tiles of the other side (D and Dv wide) and
  /// the A fragments of the rows of `bufD` and `bufDv`: in registers, or
  /// (`inShared`) copied once into shared memory and read by ldmatrix
  /// where used (fragments()).
  struct RowSide {
    SmallVector<Value, 2> rows, clamped;
    Value tileD, tileDv;
    SmallVector<Value> fragsD, fragsDv;
    /// With inShared: the CTA's rows of bufD and bufDv.
    Value rowsD, rowsDv;
  };
  RowSide emitRowSide(Value first, Value bound, Value bufD, Value bufDv,
                      Value h, bool inShared);
  /// The A fragments of `side`'s rows of bufD (or bufDv with `dv`).
  SmallVector<Value> fragments(const RowSide &side, bool dv);
  /// Bytes of dynamic shared memory of a kernel (emitRowSide).
  int64_t sharedBytes(bool inShared) const {
    int64_t bytes = MmaSync::sharedTileBytes(plan.blockKv, facts.d) +
                    MmaSync::sharedTileBytes(plan.blockKv, facts.dv);
    if (inShared)
      bytes += MmaSync::sharedTileBytes(plan.blockQ, facts.d) +
               MmaSync::sharedTileBytes(plan.blockQ, facts.dv);
    return bytes;
  }
  /// The key kernel keeps K and V in shared memory where head dims over 64
  /// would not leave registers for dK and dV (ptxas -v: 250 bytes of
  /// spills at D = 128 with them in registers).
  bool keysInShared() const { return std::max(facts.d, facts.dv) > 64; }
  /// P and dS of the products `s` (Q K^T, raw) and `dp` over `cols`
  /// columns; `query(n, r, e)` / `key(n, r, e)` give an element's
  /// coordinates, `rowStats(n, r, e)` its row's (LSE, Delta).
  std::pair<SmallVector<Value>, SmallVector<Value>> emitWeightsAndGrads(
      const GradTile &t, ArrayRef<Value> s, ArrayRef<Value> dp, int64_t cols,
      function_ref<Value(int64_t, int64_t, int64_t)> query,
      function_ref<Value(int64_t, int64_t, int64_t)> key,
      function_ref<std::pair<Value, Value>(int64_t, int64_t, int64_t)> rowStats,
      SmallVectorImpl<Value> *dsPrime = nullptr);
  /// Issues cp.async copies of the row tiles [first, first + blockKv) of
  /// `srcs` (head `h`, rows below `limit`) into `tiles`, then waits for
  /// them and synchronises the CTA.
  void emitLoadTiles(ArrayRef<Value> srcs, ArrayRef<Value> tiles,
                     ArrayRef<int64_t> widths, Value h, Value first,
                     Value limit);
  /// Stores the accumulators (8 columns each) of the thread's rows below
  /// `bound` into `buf` at head `h`.
  void emitStoreRows(Value buf, Value h, ArrayRef<Value> rows, Value bound,
                     ArrayRef<Value> acc);
  /// scf.for over [lb, ub) carrying `init`; `body` returns the yielded.
  SmallVector<Value>
  emitFor(Value lb, Value ub, ValueRange init,
          function_ref<SmallVector<Value>(Value, ValueRange)> body);
  SmallVector<Value> indices4(Value h, Value row, Value col) {
    return layoutIndices(facts.bshd, bi, h, row, col);
  }
  Value deltaIndex(Value h, Value row) {
    return o.add(o.mul(o.add(o.mul(bi, bufs.qHeads), h), bufs.qLen), row);
  }
  SmallVector<Value> zeroAccs(int64_t width) {
    return SmallVector<Value>(width / 8, m.constVec(m.fragC, 0.0));
  }

  AttentionGradOp op;
  const GPUTilePlan &plan;
  const OpFacts &facts;
  ImplicitLocOpBuilder &b;
  MmaSync m;
  Arith &o;
  std::unique_ptr<ScoreEmitter> emitter;
  /// The mask's conjuncts classified per tile at run time, their
  /// classifier (null without any), and the symbolic classes of the rest.
  RuntimeConjuncts runtime;
  std::unique_ptr<RuntimeTileClassifier> classifier;
  TileClasses classes;
  NormalizerAttrInterface normalizer;
  /// The normalizer divides by a row sum: LSE and Delta.
  bool rowSum = false;
  GradBuffers bufs;
  /// Delta = rowsum(dO * O) per query row (row-sum normalizers).
  Value deltaB;
  Value scale;
  /// Per CTA.
  Value tid, lane, g, c, warp, bi;
  /// The operand gradients of `wrt`: the sink's destination (or null), the
  /// others', and with those read per element other than the bias, the
  /// query kernel's CTAs (each takes every numQueryCTAs-th item) and
  /// slots (one per thread of them).
  Value sinkOut, sinkB;
  SmallVector<OperandGrad> operandGrads;
  Value numQueryCTAs, numSlots;
};

/// Query-kernel CTAs with operand-gradient slots at most (each of their
/// threads a slot, so every element's sum adds up to 128 x this)...
constexpr int64_t kMaxSlotCTAs = 128;
/// ...within this many f32 slot accumulators in all (256 MiB, as on the
/// CPU).
constexpr int64_t kSlotBudget = int64_t(1) << 26;

} // namespace

SmallVector<Value> GradKernelBuilder::emitFor(
    Value lb, Value ub, ValueRange init,
    function_ref<SmallVector<Value>(Value, ValueRange)> body) {
  auto loop = scf::ForOp::create(
      b, lb, ub, o.idx(1), init,
      [&](OpBuilder &nb, Location, Value iv, ValueRange state) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        scf::YieldOp::create(b, body(iv, state));
      });
  return SmallVector<Value>(loop.getResults());
}

void GradKernelBuilder::run() {
  normalizer = cast<NormalizerAttrInterface>(op.getNormalizerOrDefault());
  rowSum = normalizer.getRowDenominator() == RowDenominator::RowSum;
  // Tiles of 64 rows by 32 keys (query kernel) or 32 rows by 64 keys
  // (key kernel): both within 64 x 64.
  runtime = splitRuntimeConjunctsFor(op.getMaskOrDefault(), plan.blockQ,
                                     plan.blockQ);
  classes = classifyMask(runtime.declarative);
  bufs = GradBuffers::emit(b, op, rowSum);
  unsigned sDim = op.getSeqDim(), hDim = op.getHeadDim();
  emitter = std::make_unique<ScoreEmitter>(
      op, tensor::DimOp::create(b, op.getQuery(), hDim),
      tensor::DimOp::create(b, op.getQuery(), sDim),
      tensor::DimOp::create(b, op.getKey(), sDim));
  scale = emitter->emitScale(b, tensor::DimOp::create(b, op.getQuery(), 3));
  emitter->hoistOperandDims(b);
  if (runtime.any())
    classifier =
        std::make_unique<RuntimeTileClassifier>(op, runtime, *emitter);

  DeviceErrorFlag flag;
  flag.emitBegin(b, op, *emitter);
  Type token = b.getType<gpu::AsyncTokenType>();
  auto wait = [&](Value t) { gpu::WaitOp::create(b, Type(), ValueRange{t}); };
  auto start = [&] {
    return gpu::WaitOp::create(b, token, ValueRange{}).getAsyncToken();
  };
  // Delta of every query row, from kernel 1 to kernel 2 (at least one
  // element: an empty allocation is not portable).
  if (rowSum) {
    Value rows =
        o.max(o.mul(o.mul(bufs.batch, bufs.qHeads), bufs.qLen), o.idx(1));
    auto alloc = gpu::AllocOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, m.f32), token,
        ValueRange{start()}, ValueRange{rows}, ValueRange{});
    deltaB = alloc.getMemref();
    wait(alloc.getAsyncToken());
  }
  emitOperandGradSetup();
  for (OperandGrad &grad : operandGrads) {
    Value size;
    if (!grad.perElement) {
      size = o.mul(numSlots, grad.count);
    } else {
      // A broadcast bias sums each element's contributions over the
      // broadcast batch and head dims, in order (emitOperandSumKernel):
      // one per score element. One that does not broadcast has a single
      // contribution per element, added in place.
      size = o.mul(o.mul(bufs.batch, bufs.qHeads),
                   o.mul(bufs.qLen, bufs.kvLen));
      grad.inPlace = o.eq(grad.count, size);
      size = o.select(grad.inPlace, o.idx(1), size);
      ReassociationIndices all(grad.dims.size());
      std::iota(all.begin(), all.end(), 0);
      grad.flatOut = memref::CollapseShapeOp::create(
          b, grad.out, ArrayRef<ReassociationIndices>{all});
      wait(gpu::MemsetOp::create(b, token, ValueRange{start()}, grad.flatOut,
                                 o.f32(0.0))
               .getAsyncToken());
    }
    auto alloc = gpu::AllocOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, m.f32), token,
        ValueRange{start()}, ValueRange{o.max(size, o.idx(1))}, ValueRange{});
    grad.scratch = alloc.getMemref();
    wait(gpu::MemsetOp::create(b, token, ValueRange{alloc.getAsyncToken()},
                               grad.scratch, o.f32(0.0))
             .getAsyncToken());
  }
  // The kernels: tiles of blockKv rows of the other side in shared memory
  // (the tile kernels, 4 warps). Empty grids are not launched.
  auto launch = [&](Value gridX, Value gridY, int64_t threads, int64_t smem,
                    function_ref<void(gpu::LaunchOp)> kernel) {
    Value smemBytes = arith::ConstantIntOp::create(b, smem, 32);
    auto l = gpu::LaunchOp::create(b, gridX, gridY, o.idx(1), o.idx(threads),
                                   o.idx(1), o.idx(1), smemBytes);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&l.getBody().front());
    kernel(l);
    gpu::TerminatorOp::create(b);
  };
  int64_t threads = plan.warps * 32;
  Value numQTiles = o.ceilDiv(bufs.qLen, o.idx(plan.blockQ));
  auto queryKernel = [&](gpu::LaunchOp l) { emitQueryKernel(l); };
  if (numSlots)
    launch(numQueryCTAs, o.idx(1), threads, sharedBytes(/*inShared=*/false),
           queryKernel);
  else
    launch(numQTiles, o.mul(bufs.batch, bufs.qHeads), threads,
           sharedBytes(/*inShared=*/false), queryKernel);
  launch(o.ceilDiv(bufs.kvLen, o.idx(plan.blockQ)),
         o.mul(bufs.batch, bufs.kvHeads), threads, sharedBytes(keysInShared()),
         [&](gpu::LaunchOp l) { emitKeyKernel(l); });
  if (sinkOut)
    launch(bufs.qHeads, o.idx(1), 32, 0,
           [&](gpu::LaunchOp l) { emitSinkKernel(l); });
  for (size_t k = 0; k < operandGrads.size(); ++k) {
    OpBuilder::InsertionGuard guard(b);
    if (Value inPlace = operandGrads[k].inPlace) {
      auto ifOp = scf::IfOp::create(b, TypeRange{}, o.lnot(inPlace),
                                    /*withElseRegion=*/false);
      b.setInsertionPointToStart(ifOp.thenBlock());
    }
    launch(o.ceilDiv(operandGrads[k].count, o.idx(threads)), o.idx(1), threads,
           0, [&](gpu::LaunchOp l) { emitOperandSumKernel(l, k); });
  }
  SmallVector<Value> scratch = {deltaB};
  for (OperandGrad &grad : operandGrads)
    scratch.push_back(grad.scratch);
  for (Value buf : scratch)
    if (buf)
      wait(gpu::DeallocOp::create(b, token, ValueRange{start()}, buf)
               .getAsyncToken());
  flag.emitEnd(b);

  // The operand gradients' results, in the order of `wrt`.
  SmallVector<Value> extra;
  auto next = operandGrads.begin();
  if (ArrayAttr wrt = op.getWrtAttr())
    for (auto [name, init] : llvm::zip_equal(wrt.getAsValueRange<StringAttr>(),
                                             op.getParamGradInits())) {
      Value out = name == "sink" ? sinkOut : (next++)->out;
      extra.push_back(bufferization::ToTensorOp::create(
          b, init.getType(), out, /*restrict=*/true, /*writable=*/true));
    }
  bufs.replaceOp(b, op, extra);
}

void GradKernelBuilder::emitOperandGradSetup() {
  ArrayAttr wrt = op.getWrtAttr();
  if (!wrt)
    return;
  Value slotTotal = o.idx(0);
  for (auto [name, init] : llvm::zip_equal(wrt.getAsValueRange<StringAttr>(),
                                           op.getParamGradInits())) {
    Value out = toIdentityBuffer(b, init, /*readOnly=*/false);
    if (name == "sink") {
      sinkOut = out;
      sinkB = toIdentityBuffer(b, op.getSink(), /*readOnly=*/true);
      continue;
    }
    OperandGrad grad;
    grad.operand = op.getGradOperand(name);
    grad.out = out;
    grad.count = o.idx(1);
    for (int64_t d = 0, e = cast<ShapedType>(grad.operand.getType()).getRank();
         d < e; ++d) {
      grad.dims.push_back(tensor::DimOp::create(b, grad.operand, d));
      grad.count = o.mul(grad.count, grad.dims.back());
    }
    // The bias's elements map to score elements (over the broadcast
    // batch and head dims): each score's contribution is written once, by
    // its thread, and summed over those dims in order afterwards.
    grad.perElement = grad.operand == op.getBias();
    if (!grad.perElement)
      slotTotal = o.add(slotTotal, grad.count);
    operandGrads.push_back(grad);
  }
  if (llvm::all_of(operandGrads,
                   [](const OperandGrad &g) { return g.perElement; }))
    return;
  // As many query CTAs as keep the slots (one per thread) within
  // kSlotBudget floats, at least one, at most kMaxSlotCTAs and the items.
  // The count depends on the shapes only, so the sums' order does too.
  int64_t threads = plan.warps * 32;
  Value items = o.mul(o.ceilDiv(bufs.qLen, o.idx(plan.blockQ)),
                      o.mul(bufs.batch, bufs.qHeads));
  Value byBudget = o.divU(o.idx(kSlotBudget),
                          o.max(o.mul(slotTotal, o.idx(threads)), o.idx(1)));
  numQueryCTAs =
      o.max(o.idx(1), o.min(o.min(o.idx(kMaxSlotCTAs), items), byBudget));
  numSlots = o.mul(numQueryCTAs, o.idx(threads));
}

void GradKernelBuilder::emitThreadIds(gpu::LaunchOp launch) {
  tid = launch.getThreadIds().x;
  warp = o.divU(tid, o.idx(32));
  lane = o.remU(tid, o.idx(32));
  g = o.divU(lane, o.idx(4));
  c = o.remU(lane, o.idx(4));
}

void GradKernelBuilder::emitKvExtent(GradTile &t) {
  t.kvLenB = emitter->emitKvLength(b, t.bi);
  t.kvEnd = o.max(o.min(t.kvLenB, bufs.kvLen), o.idx(0));
  t.rowBias = normalizer.emitRowBias(b, t.kvLenB);
}

GradKernelBuilder::RowSide
GradKernelBuilder::emitRowSide(Value first, Value bound, Value bufD,
                               Value bufDv, Value h, bool inShared) {
  RowSide side;
  Value last = o.sub(bound, o.idx(1));
  Value row = o.add(o.add(first, o.mul(warp, o.idx(kRowsPerWarp))), g);
  side.rows = {row, o.add(row, o.idx(8))};
  for (Value r : side.rows)
    side.clamped.push_back(o.min(r, last));

  auto raw = gpu::DynamicSharedMemoryOp::create(
      b, MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                         MemRefLayoutAttrInterface(),
                         gpu::AddressSpaceAttr::get(
                             b.getContext(), gpu::AddressSpace::Workgroup)));
  side.tileD = m.sharedTile(raw, 0, plan.blockKv, facts.d);
  side.tileDv =
      m.sharedTile(raw, MmaSync::sharedTileBytes(plan.blockKv, facts.d),
                   plan.blockKv, facts.dv);

  if (inShared) {
    // The CTA's rows, once (rows past `bound` zero-filled, never stored).
    int64_t offset = sharedBytes(/*inShared=*/false);
    side.rowsD = m.sharedTile(raw, offset, plan.blockQ, facts.d);
    side.rowsDv = m.sharedTile(
        raw, offset + MmaSync::sharedTileBytes(plan.blockQ, facts.d),
        plan.blockQ, facts.dv);
    auto at = [&](Value r, Value col) { return indices4(h, r, col); };
    SmallVector<Value> tokens;
    m.emitCopyRows(side.rowsD, bufD, at, first, bound, plan.blockQ, facts.d,
                   tid, plan.warps * 32, tokens);
    m.emitCopyRows(side.rowsDv, bufDv, at, first, bound, plan.blockQ,
                   facts.dv, tid, plan.warps * 32, tokens);
    Value token = nvgpu::DeviceAsyncCreateGroupOp::create(
        b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);
    nvgpu::DeviceAsyncWaitOp::create(b, token, b.getI32IntegerAttr(0));
    gpu::BarrierOp::create(b);
    return side;
  }
  auto at = [&](Value r, Value col) { return indices4(h, r, col); };
  for (int64_t kc = 0; kc < facts.d / 16; ++kc)
    side.fragsD.push_back(m.loadA(bufD, at, side.clamped, c, kc * 16));
  for (int64_t kc = 0; kc < facts.dv / 16; ++kc)
    side.fragsDv.push_back(m.loadA(bufDv, at, side.clamped, c, kc * 16));
  return side;
}

SmallVector<Value> GradKernelBuilder::fragments(const RowSide &side,
                                                bool dv) {
  Value rows = dv ? side.rowsDv : side.rowsD;
  if (!rows)
    return dv ? side.fragsDv : side.fragsD;
  SmallVector<Value> frags;
  Value row0 = o.mul(warp, o.idx(kRowsPerWarp));
  for (int64_t kc = 0; kc < (dv ? facts.dv : facts.d) / 16; ++kc)
    frags.push_back(m.loadASharedRows(rows, row0, kc * 16, lane));
  return frags;
}

RuntimeTileRows GradKernelBuilder::emitRuntimeRows(const GradTile &t,
                                                   Value i0, Value nq,
                                                   Value p0) {
  RuntimeTileRows rows{t.bi,          t.hi,     i0,      o.add(i0, nq), p0,
                       o.add(p0, nq), t.kvLenB, Value(), Value()};
  if (classifier)
    classifier->emitRows(b, rows);
  return rows;
}

std::pair<Value, Value> GradKernelBuilder::emitRuntimeClass(
    const GradTile &t, const RuntimeTileRows &rows, int64_t rowsTile,
    Value tile, Value j0, int64_t keys) {
  if (!classifier)
    return {o.i1(true), o.i1(true)};
  Value j1 = o.min(o.add(j0, o.idx(keys)), t.kvEnd);
  GPUTileReader reader(op, *emitter,
                       {lane, t.bi, t.hi, o.sub(bufs.kvLen, o.idx(1)), keys,
                        entriesPerTile(runtime, rowsTile, keys)});
  return classifier->emitTileClass(b, reader, rows, tile, j0, j1);
}

void GradKernelBuilder::emitLoadTiles(ArrayRef<Value> srcs,
                                      ArrayRef<Value> tiles,
                                      ArrayRef<int64_t> widths, Value h,
                                      Value first, Value limit) {
  auto at = [&](Value row, Value col) { return indices4(h, row, col); };
  SmallVector<Value> tokens;
  for (size_t i = 0; i < srcs.size(); ++i)
    m.emitCopyRows(tiles[i], srcs[i], at, first, limit, plan.blockKv, widths[i],
                   tid, plan.warps * 32, tokens);
  Value token = nvgpu::DeviceAsyncCreateGroupOp::create(
      b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);
  nvgpu::DeviceAsyncWaitOp::create(b, token, b.getI32IntegerAttr(0));
  gpu::BarrierOp::create(b);
}

void GradKernelBuilder::emitStoreRows(Value buf, Value h, ArrayRef<Value> rows,
                                      Value bound, ArrayRef<Value> acc) {
  for (int64_t r = 0; r < 2; ++r) {
    auto inRange = scf::IfOp::create(b, TypeRange{}, o.lt(rows[r], bound),
                                     /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inRange.thenBlock());
    for (size_t n = 0; n < acc.size(); ++n) {
      Value vals = vector::ExtractOp::create(b, acc[n], ArrayRef<int64_t>{r});
      Value col = o.add(o.mul(c, o.idx(2)), o.idx(static_cast<int64_t>(n) * 8));
      vector::StoreOp::create(b, arith::TruncFOp::create(b, m.pair, vals), buf,
                              indices4(h, rows[r], col));
    }
  }
}

std::pair<SmallVector<Value>, SmallVector<Value>>
GradKernelBuilder::emitWeightsAndGrads(
    const GradTile &t, ArrayRef<Value> s, ArrayRef<Value> dp, int64_t cols,
    function_ref<Value(int64_t, int64_t, int64_t)> query,
    function_ref<Value(int64_t, int64_t, int64_t)> key,
    function_ref<std::pair<Value, Value>(int64_t, int64_t, int64_t)> rowStats,
    SmallVectorImpl<Value> *dsPrime) {
  bool hasMods = facts.hasMods;
  Value negInf = o.f32(-std::numeric_limits<double>::infinity());
  Value lastRow = o.sub(bufs.qLen, o.idx(1)),
        lastKey = o.sub(bufs.kvLen, o.idx(1));
  // Coordinates for the emitter are clamped into the tensors so that
  // operands are never read out of bounds; clamped elements are masked.
  auto point = [&](int64_t n, int64_t r, int64_t e) {
    return emitter->makePoint(b, t.bi, t.hi, o.min(query(n, r, e), lastRow),
                              o.min(key(n, r, e), lastKey), t.kvLenB);
  };
  SmallVector<Value> mod, slopes;
  for (int64_t n = 0; n < cols / 8; ++n)
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t e = 0; e < 2; ++e) {
        Value v = o.fmul(s[flatIndex(n, r, e)], scale);
        if (hasMods) {
          auto [modified, slope] =
              emitter->emitScoreModsAndSlope(b, v, point(n, r, e));
          v = modified;
          slopes.push_back(slope);
        }
        mod.push_back(v);
      }
  // Partial tiles: the mask and the key bound per element.
  SmallVector<Type> types(mod.size(), m.f32);
  auto ifOp = scf::IfOp::create(b, types, t.isFull, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, mod);
    b.setInsertionPointToStart(ifOp.elseBlock());
    SmallVector<Value> masked;
    for (int64_t n = 0; n < cols / 8; ++n)
      for (int64_t r = 0; r < 2; ++r)
        for (int64_t e = 0; e < 2; ++e) {
          Value allowed = o.land(o.lt(key(n, r, e), t.kvEnd),
                                 emitter->emitAllowed(b, point(n, r, e)));
          masked.push_back(o.select(allowed, mod[flatIndex(n, r, e)], negInf));
        }
    scf::YieldOp::create(b, masked);
  }
  SmallVector<Value> probs, grads;
  Value scaleV = scale;
  for (int64_t n = 0; n < cols / 8; ++n)
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t e = 0; e < 2; ++e) {
        int64_t i = flatIndex(n, r, e);
        // Query rows past Sq (zero-filled tiles, copies of the last row)
        // take no part.
        Value v = o.select(o.lt(query(n, r, e), bufs.qLen), ifOp.getResult(i),
                           negInf);
        auto [lse, delta] = rowStats(n, r, e);
        auto [prob, factor] =
            emitGradWeightAndFactor(b, normalizer, v, lse, t.rowBias, t.kvLenB);
        // dS = scale * w'(s') / Z * ds'/ds * (dP - Delta), and 0 where the
        // factor is 0 (a masked key), whatever a NaN or inf in its V made
        // of dP (README, "Masked keys").
        Value ds = o.fmul(o.fmul(factor, o.fsub(dp[i], delta)), scaleV);
        if (hasMods)
          ds = o.fmul(ds, slopes[i]);
        ds = o.select(o.nonZero(factor), ds, o.f32(0.0));
        // dS' = w'(s') / Z * (dP - Delta), the gradient of the modified
        // score, 0 where the factor is 0 as dS.
        if (dsPrime)
          dsPrime->push_back(o.select(o.nonZero(factor),
                                      o.fmul(factor, o.fsub(dp[i], delta)),
                                      o.f32(0.0)));
        probs.push_back(prob);
        grads.push_back(ds);
      }
  return {probs, grads};
}

void GradKernelBuilder::emitQueryKernel(gpu::LaunchOp launch) {
  emitThreadIds(launch);
  if (!numSlots)
    return emitQueryItem(launch.getBlockIds().x, launch.getBlockIds().y,
                         Value());
  // With slots: CTA x takes items x, x + numQueryCTAs, ... in order (the
  // q-tiles of a head together), and each thread adds to slot x * 128 +
  // tid.
  Value numQTiles = o.ceilDiv(bufs.qLen, o.idx(plan.blockQ));
  Value items = o.mul(numQTiles, o.mul(bufs.batch, bufs.qHeads));
  Value cta = launch.getBlockIds().x;
  Value slot = o.add(o.mul(cta, o.idx(plan.warps * 32)), tid);
  scf::ForOp::create(
      b, cta, items, numQueryCTAs, ValueRange{},
      [&](OpBuilder &nb, Location, Value item, ValueRange) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        emitQueryItem(o.remU(item, numQTiles), o.divU(item, numQTiles), slot);
        scf::YieldOp::create(b);
      });
}

void GradKernelBuilder::emitQueryItem(Value qTile, Value bh, Value slot) {
  GradTile t;
  bi = t.bi = o.divU(bh, bufs.qHeads);
  t.hi = o.remU(bh, bufs.qHeads);
  Value kvh = o.divU(t.hi, bufs.group);
  emitKvExtent(t);
  Value q0 = o.mul(qTile, o.idx(plan.blockQ));
  RowSide side =
      emitRowSide(q0, bufs.qLen, bufs.qB, bufs.doB, t.hi, /*inShared=*/false);
  ArrayRef<Value> rows = side.rows, clamped = side.clamped;
  Value kS = side.tileD, vS = side.tileDv;
  ArrayRef<Value> qFrags = side.fragsD, doFrags = side.fragsDv;
  auto qAt = [&](Value row, Value col) { return indices4(t.hi, row, col); };

  // The thread's rows: LSE, and Delta = rowsum(dO * O) over the quad's
  // columns, stored once per row for the key kernel.
  Value lse[2], delta[2];
  for (int64_t r = 0; r < 2; ++r) {
    delta[r] = o.f32(0.0);
    if (!rowSum)
      continue;
    lse[r] =
        memref::LoadOp::create(b, bufs.lseB, ValueRange{bi, t.hi, clamped[r]});
    Value sum = o.f32(0.0);
    for (int64_t nd = 0; nd < facts.dv / 8; ++nd) {
      Value col = o.add(o.mul(c, o.idx(2)), o.idx(nd * 8));
      auto load = [&](Value buf) -> Value {
        Value v = vector::LoadOp::create(b, m.pair, buf, qAt(clamped[r], col));
        return arith::ExtFOp::create(b, m.pairF32, v);
      };
      Value prod = o.fmul(load(bufs.doB), load(bufs.oB));
      for (int64_t e = 0; e < 2; ++e)
        sum = o.fadd(sum,
                     vector::ExtractOp::create(b, prod, ArrayRef<int64_t>{e}));
    }
    delta[r] = m.quadReduce(sum, /*max=*/false);
  }
  // The stores diverge the warp: after both rows' shuffles.
  for (int64_t r = 0; r < 2 && rowSum; ++r) {
    auto store = scf::IfOp::create(
        b, TypeRange{}, o.land(o.lt(rows[r], bufs.qLen), o.eq(c, o.idx(0))),
        /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(store.thenBlock());
    memref::StoreOp::create(b, delta[r], deltaB, deltaIndex(t.hi, rows[r]));
  }

  Value tileRows = o.min(o.idx(plan.blockQ), o.sub(bufs.qLen, q0));
  Value p0 = emitter->emitPosition(b, q0, t.kvLenB);
  SymValues sym = {p0, o.add(p0, tileRows), t.kvEnd};
  SmallVector<KeyRange> fullBounds = emitFullIntervals(b, classes, sym);
  SmallVector<KeyRange> ranges =
      emitTileRanges(b, classes, sym, t.kvEnd, plan.blockKv);
  RuntimeTileRows tileRowsRt = emitRuntimeRows(t, q0, tileRows, p0);
  SmallVector<Value> dq = zeroAccs(facts.d);
  auto kvTile = [&](Value tile, ValueRange acc) -> SmallVector<Value> {
    Value j0 = o.mul(tile, o.idx(plan.blockKv));
    auto [kept, runtimeFull] = emitRuntimeClass(t, tileRowsRt, plan.blockQ,
                                                tile, j0, plan.blockKv);
    auto keptIf = scf::IfOp::create(b, ValueRange(acc).getTypes(), kept,
                                    /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(keptIf.elseBlock());
    scf::YieldOp::create(b, acc);
    b.setInsertionPointToStart(keptIf.thenBlock());
    // Keys past Skv are zero-filled (and masked).
    emitLoadTiles({bufs.kB, bufs.vB}, {kS, vS}, {facts.d, facts.dv}, kvh, j0,
                  bufs.kvLen);
    t.isFull = o.land(
        runtimeFull, emitTileIsFull(b, fullBounds, j0, plan.blockKv, t.kvEnd));
    SmallVector<Value> s = m.emitTimesRowsT(qFrags, kS, plan.blockKv, lane);
    SmallVector<Value> dp = m.emitTimesRowsT(doFrags, vS, plan.blockKv, lane);
    auto query = [&](int64_t, int64_t r, int64_t) { return rows[r]; };
    auto key = [&](int64_t n, int64_t, int64_t e) {
      return o.add(j0, o.add(o.mul(c, o.idx(2)), o.idx(n * 8 + e)));
    };
    SmallVector<Value> dsPrime;
    auto [p, ds] = emitWeightsAndGrads(
        t, s, dp, plan.blockKv, query, key,
        [&](int64_t, int64_t r, int64_t) {
          return std::pair(lse[r], delta[r]);
        },
        operandGrads.empty() ? nullptr : &dsPrime);
    if (!operandGrads.empty())
      emitOperandGradTile(t, s, dsPrime, plan.blockKv, query, key, slot);
    // dQ += dS K.
    SmallVector<Value> out(acc);
    m.emitTimesTile(m.packA(ds, plan.blockKv), kS, out, lane);
    // The next tile's copies overwrite this one.
    gpu::BarrierOp::create(b);
    scf::YieldOp::create(b, out);
    return SmallVector<Value>(keptIf.getResults());
  };
  for (auto [lo, hi] : ranges)
    dq = emitFor(lo, hi, dq, kvTile);
  emitStoreRows(bufs.dqB, t.hi, rows, bufs.qLen, dq);
}

void GradKernelBuilder::emitOperandGradTile(
    const GradTile &t, ArrayRef<Value> scores, ArrayRef<Value> dsPrime,
    int64_t cols, function_ref<Value(int64_t, int64_t, int64_t)> query,
    function_ref<Value(int64_t, int64_t, int64_t)> key, Value slot) {
  auto ifThen = [&](Value cond, function_ref<void()> then) {
    auto ifOp =
        scf::IfOp::create(b, TypeRange{}, cond, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    then();
  };
  SmallVector<Value> operands;
  for (OperandGrad &grad : operandGrads)
    operands.push_back(grad.operand);
  for (int64_t n = 0; n < cols / 8; ++n)
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t e = 0; e < 2; ++e) {
        int64_t i = flatIndex(n, r, e);
        Value row = query(n, r, e), col = key(n, r, e);
        // Elements of the problem only (rows past Sq and keys past the
        // key bound are padding).
        ifThen(o.land(o.lt(row, bufs.qLen), o.lt(col, t.kvEnd)), [&] {
          ScorePoint pt = emitter->makePoint(b, t.bi, t.hi, row, col, t.kvLenB);
          SmallVector<ScoreEmitter::OperandRead> reads;
          emitter->emitScoreModsAndSlope(b, o.fmul(scores[i], scale), pt,
                                         operands, reads);
          Value allowed = emitter->emitAllowed(b, pt);
          for (ScoreEmitter::OperandRead &read : reads) {
            OperandGrad &grad =
                operandGrads[llvm::find(operands, read.operand) -
                             operands.begin()];
            // The bias: the score element's own entry; else the
            // row-major index of the read in the thread's slot, for reads
            // in range (others add nothing).
            Value ok = allowed, at;
            if (grad.perElement) {
              at =
                  o.add(o.mul(o.add(o.mul(o.add(o.mul(t.bi, bufs.qHeads), t.hi),
                                          bufs.qLen),
                                    row),
                              bufs.kvLen),
                        col);
            } else {
              Value flat = o.idx(0);
              for (auto [index, size] :
                   llvm::zip_equal(read.indices, grad.dims)) {
                ok = o.land(ok, o.cmp(arith::CmpIPredicate::ult, index, size));
                flat = o.add(o.mul(flat, size), index);
              }
              at = o.add(o.mul(slot, grad.count), flat);
            }
            auto add = [&](Value buf) {
              Value old = memref::LoadOp::create(b, buf, at);
              memref::StoreOp::create(
                  b, o.fadd(old, o.fmul(dsPrime[i], read.tangent)), buf, at);
            };
            ifThen(ok, [&] {
              if (!grad.inPlace)
                return add(grad.scratch);
              auto ifOp = scf::IfOp::create(b, TypeRange{}, grad.inPlace,
                                            /*withElseRegion=*/true);
              OpBuilder::InsertionGuard guard(b);
              b.setInsertionPointToStart(ifOp.thenBlock());
              add(grad.flatOut);
              b.setInsertionPointToStart(ifOp.elseBlock());
              add(grad.scratch);
            });
          }
        });
      }
  // The warp reconverges before the .aligned mma.sync and ldmatrix that
  // follow (independent thread scheduling does not promise it after the
  // branches above).
  NVVM::SyncWarpOp::create(b, arith::ConstantIntOp::create(b, -1, 32));
}

void GradKernelBuilder::emitSinkKernel(gpu::LaunchOp launch) {
  // d sink[h] = -sum_{b,i} exp(sink[h] - LSE[b,h,i]) * Delta[b,h,i]
  // (ParamGrads.h): lane l sums rows l, l + 32, ... of the (b, i) order,
  // then the warp adds the lanes' sums by a butterfly (a fixed order).
  Value h = launch.getBlockIds().x;
  Value laneId = launch.getThreadIds().x;
  Value sink = memref::LoadOp::create(b, sinkB, h);
  Value rows = o.mul(bufs.batch, bufs.qLen);
  auto loop = scf::ForOp::create(
      b, laneId, rows, o.idx(32), ValueRange{o.f32(0.0)},
      [&](OpBuilder &nb, Location, Value row, ValueRange acc) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        Value bIdx = o.divU(row, bufs.qLen), i = o.remU(row, bufs.qLen);
        Value lse =
            memref::LoadOp::create(b, bufs.lseB, ValueRange{bIdx, h, i});
        Value delta = memref::LoadOp::create(
            b, deltaB,
            o.add(o.mul(o.add(o.mul(bIdx, bufs.qHeads), h), bufs.qLen), i));
        // P_sink = exp(sink - LSE), 0 for a row with LSE = -inf.
        Value pSink =
            o.select(o.isNegInf(lse), o.f32(0.0), o.exp(o.fsub(sink, lse)));
        scf::YieldOp::create(b, o.fsub(acc[0], o.fmul(pSink, delta)));
      });
  Value sum = loop.getResult(0);
  for (int64_t offset : {16, 8, 4, 2, 1})
    sum =
        o.fadd(sum, gpu::ShuffleOp::create(b, sum, static_cast<int32_t>(offset),
                                           32, gpu::ShuffleMode::XOR)
                        .getShuffleResult());
  auto store = scf::IfOp::create(b, TypeRange{}, o.eq(laneId, o.idx(0)),
                                 /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(store.thenBlock());
  memref::StoreOp::create(b, sum, sinkOut, h);
}

void GradKernelBuilder::emitOperandSumKernel(gpu::LaunchOp launch, size_t k) {
  OperandGrad &grad = operandGrads[k];
  Value x = o.add(o.mul(launch.getBlockIds().x, o.idx(plan.warps * 32)),
                  launch.getThreadIds().x);
  auto inRange = scf::IfOp::create(b, TypeRange{}, o.lt(x, grad.count),
                                   /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(inRange.thenBlock());
  // x's indices in the operand, row-major.
  SmallVector<Value, 4> idx(grad.dims.size());
  Value rest = x;
  for (size_t d = grad.dims.size(); d-- > 0;) {
    idx[d] = o.remU(rest, grad.dims[d]);
    rest = o.divU(rest, grad.dims[d]);
  }
  // sum over [lo, hi) of term(iv), in order.
  auto sumOver = [&](Value lo, Value hi, Value init,
                     function_ref<Value(Value, Value)> add) {
    return scf::ForOp::create(
               b, lo, hi, o.idx(1), ValueRange{init},
               [&](OpBuilder &nb, Location, Value iv, ValueRange acc) {
                 OpBuilder::InsertionGuard guard(b);
                 b.setInsertionPoint(nb.getInsertionBlock(),
                                     nb.getInsertionPoint());
                 scf::YieldOp::create(b, add(iv, acc[0]));
               })
        .getResult(0);
  };
  Value sum;
  if (!grad.perElement) {
    sum = sumOver(o.idx(0), numSlots, o.f32(0.0), [&](Value slot, Value acc) {
      return o.fadd(acc,
                    memref::LoadOp::create(b, grad.scratch,
                                           o.add(o.mul(slot, grad.count), x)));
    });
  } else {
    // The bias [.., Sq, Skv], its leading dims right-aligned to [B, Hq]:
    // a dim of size 1 (or absent) sums the score rows over it.
    int64_t rank = grad.dims.size();
    auto range = [&](int64_t d, Value full) -> std::pair<Value, Value> {
      if (d < 0)
        return {o.idx(0), full};
      Value bcast = o.eq(grad.dims[d], o.idx(1));
      return {o.select(bcast, o.idx(0), idx[d]),
              o.select(bcast, full, o.add(idx[d], o.idx(1)))};
    };
    std::pair<Value, Value> batches = range(rank - 4, bufs.batch);
    std::pair<Value, Value> heads = range(rank - 3, bufs.qHeads);
    Value i = idx[rank - 2], j = idx[rank - 1];
    sum = sumOver(
        batches.first, batches.second, o.f32(0.0), [&](Value bb, Value accB) {
          return sumOver(
              heads.first, heads.second, accB, [&](Value hh, Value acc) {
                Value at =
                    o.add(o.mul(o.add(o.mul(o.add(o.mul(bb, bufs.qHeads), hh),
                                            bufs.qLen),
                                      i),
                                bufs.kvLen),
                          j);
                return o.fadd(acc, memref::LoadOp::create(b, grad.scratch, at));
              });
        });
  }
  memref::StoreOp::create(b, sum, grad.out, idx);
}

void GradKernelBuilder::emitKeyKernel(gpu::LaunchOp launch) {
  emitThreadIds(launch);
  GradTile t;
  Value bh = launch.getBlockIds().y;
  bi = t.bi = o.divU(bh, bufs.kvHeads);
  Value kvh = o.remU(bh, bufs.kvHeads);
  emitKvExtent(t);
  Value kvTile = launch.getBlockIds().x;
  Value j0 = o.mul(kvTile, o.idx(plan.blockQ));
  RowSide side =
      emitRowSide(j0, bufs.kvLen, bufs.kB, bufs.vB, kvh, keysInShared());
  ArrayRef<Value> keys = side.rows;
  Value qS = side.tileD, doS = side.tileDv;

  Value numQTiles = o.ceilDiv(bufs.qLen, o.idx(plan.blockKv));
  Value lastRow = o.sub(bufs.qLen, o.idx(1));
  SmallVector<Value> init = zeroAccs(facts.d);
  llvm::append_range(init, zeroAccs(facts.dv));
  size_t nK = facts.d / 8;
  auto headBody = [&](Value gi, ValueRange headAcc) {
    t.hi = o.add(o.mul(kvh, bufs.group), gi);
    return emitFor(o.idx(0), numQTiles, headAcc, [&](Value qt, ValueRange acc) {
      // The pair (q-tile qt, this kv tile): skipped when the q-tile's tile
      // classes leave this kv tile out.
      Value i0 = o.mul(qt, o.idx(plan.blockKv));
      Value nq = o.min(o.idx(plan.blockKv), o.sub(bufs.qLen, i0));
      Value p0 = emitter->emitPosition(b, i0, t.kvLenB);
      SymValues sym = {p0, o.add(p0, nq), t.kvEnd};
      Value touched = o.i1(false);
      for (auto [lo, hi] :
           emitTileRanges(b, classes, sym, t.kvEnd, plan.blockQ))
        touched = o.lor(touched, o.land(o.le(lo, kvTile), o.lt(kvTile, hi)));
      Value symFull = emitTileIsFull(b, emitFullIntervals(b, classes, sym),
                                     j0, plan.blockQ, t.kvEnd);
      // Under the run-time conjuncts: classified only for touched pairs
      // (j0 < kvEnd), and skipped when they rule the pair out.
      Value kept = touched, runtimeFull = o.i1(true);
      if (classifier) {
        auto classify =
            scf::IfOp::create(b, TypeRange{b.getI1Type(), b.getI1Type()},
                              touched, /*withElseRegion=*/true);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(classify.thenBlock());
        RuntimeTileRows rows = emitRuntimeRows(t, i0, nq, p0);
        auto [k, f] =
            emitRuntimeClass(t, rows, plan.blockKv, kvTile, j0, plan.blockQ);
        scf::YieldOp::create(b, ValueRange{k, f});
        b.setInsertionPointToStart(classify.elseBlock());
        scf::YieldOp::create(b, ValueRange{o.i1(false), o.i1(false)});
        kept = classify.getResult(0);
        runtimeFull = classify.getResult(1);
      }
      t.isFull = o.land(symFull, runtimeFull);
      auto ifOp = scf::IfOp::create(b, ValueRange(acc).getTypes(), kept,
                                    /*withElseRegion=*/true);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifOp.elseBlock());
      scf::YieldOp::create(b, acc);
      b.setInsertionPointToStart(ifOp.thenBlock());
      // Query rows past Sq are zero-filled (and take no part).
      emitLoadTiles({bufs.qB, bufs.doB}, {qS, doS}, {facts.d, facts.dv}, t.hi,
                    i0, bufs.qLen);
      SmallVector<Value> s =
          m.emitTimesRowsT(fragments(side, false), qS, plan.blockKv, lane);
      SmallVector<Value> dp =
          m.emitTimesRowsT(fragments(side, true), doS, plan.blockKv, lane);
      auto query = [&](int64_t n, int64_t, int64_t e) {
        return o.add(i0, o.add(o.mul(c, o.idx(2)), o.idx(n * 8 + e)));
      };
      // LSE and Delta of the thread's query columns.
      SmallVector<std::pair<Value, Value>> stats;
      for (int64_t n = 0; n < plan.blockKv / 8; ++n)
        for (int64_t e = 0; e < 2; ++e) {
          if (!rowSum) {
            stats.push_back({Value(), o.f32(0.0)});
            continue;
          }
          Value row = o.min(query(n, 0, e), lastRow);
          stats.push_back(
              {memref::LoadOp::create(b, bufs.lseB, ValueRange{bi, t.hi, row}),
               memref::LoadOp::create(b, deltaB, deltaIndex(t.hi, row))});
        }
      auto [p, ds] = emitWeightsAndGrads(
          t, s, dp, plan.blockKv, query,
          [&](int64_t, int64_t r, int64_t) { return keys[r]; },
          [&](int64_t n, int64_t, int64_t e) { return stats[n * 2 + e]; });
      // dK += dS^T Q, dV += P^T dO.
      SmallVector<Value> out(acc);
      m.emitTimesTile(m.packA(ds, plan.blockKv), qS,
                      MutableArrayRef<Value>(out).take_front(nK), lane);
      m.emitTimesTile(m.packA(p, plan.blockKv), doS,
                      MutableArrayRef<Value>(out).drop_front(nK), lane);
      gpu::BarrierOp::create(b);
      scf::YieldOp::create(b, out);
      return SmallVector<Value>(ifOp.getResults());
    });
  };
  SmallVector<Value> acc = emitFor(o.idx(0), bufs.group, init, headBody);
  // Keys past kv_len[b] were masked everywhere: their dK and dV are 0.
  emitStoreRows(bufs.dkB, kvh, keys, bufs.kvLen,
                ArrayRef<Value>(acc).take_front(nK));
  emitStoreRows(bufs.dvB, kvh, keys, bufs.kvLen,
                ArrayRef<Value>(acc).drop_front(nK));
}

LogicalResult mlir::attn::tileAttentionGradForGPU(RewriterBase &rewriter,
                                                  AttentionGradOp op,
                                                  const GPUTilePlan &plan) {
  FailureOr<OpFacts> facts = OpFacts::get(op);
  if (failed(facts))
    return failure();
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  b.setInsertionPoint(op);
  GradKernelBuilder(op, plan, *facts, b).run();
  return success();
}
