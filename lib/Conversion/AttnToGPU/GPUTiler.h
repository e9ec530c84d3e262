//===- GPUTiler.h - Shared pieces of the tensor-core kernels ----*- C++ -*-===//
//
// Private to lib/Conversion/AttnToGPU. The kernel is built in layers, one
// file each:
//
//   TilePlan.cpp        the op's facts and the tile plan, with its limits;
//   RuntimeSkipping.cpp which mask conjuncts are classified per tile at run
//                       time, and how the kernel reads their data for the
//                       shared classes (Conversion/RuntimeSkipping);
//   AttnToGPU.cpp       the kernel skeleton common to both instruction sets
//                       (launch, per-CTA setup, kv loop, online
//                       normalisation, epilogue) and the entry points;
//   MmaSync.cpp         mma.sync fragments and products (also the
//                       backward's, Sm80GradKernel.cpp);
//   Sm80Kernel.cpp      mma.sync: cp.async copies, ldmatrix fragments;
//   DequantTile.cpp     its copies of quantized K and V tiles;
//   Sm90aKernel.cpp     wgmma: TMA, mbarriers, matrix descriptors.
//
// What every layer reads is fixed before the kernel is emitted (OpFacts,
// MaskPlan, the GPUTilePlan) or once per CTA (CTAValues); the skeleton
// reaches the instruction-set-specific code only through MmaKernel.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOGPU_GPUTILER_H
#define ATTN_LIB_CONVERSION_ATTNTOGPU_GPUTILER_H

#include "MmaSync.h"

#include "attn/Conversion/AttnToGPU/AttnToGPU.h"
#include "attn/Conversion/RuntimeSkipping/RuntimeSkipping.h"
#include "attn/Dialect/Attn/Analysis/TileClasses.h"
#include "attn/Dialect/Attn/Utils/Arith.h"
#include "attn/Dialect/Attn/Utils/Buffers.h"
#include "attn/Dialect/Attn/Utils/Normalizer.h"
#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <memory>

namespace mlir::attn::tilegpu {

/// Query rows of one warp: the M of mma.sync m16n8k16 (and a quarter of
/// wgmma's m64).
constexpr int64_t kRowsPerWarp = 16;
/// A dense conjunct is classified per tile when at most this many of its
/// entries cover one tile (one load a lane): block-sparse masks.
/// Finer ones (per element) are applied per element only.
constexpr int64_t kMaxDenseTileEntries = 32;

/// What the kernel depends on in the op, checked and fixed before any IR
/// is emitted (TilePlan.cpp).
struct OpFacts {
  /// f16 or bf16.
  Type elem;
  /// Head dims of Q/K and of V (static multiples of 16 up to 128).
  int64_t d = 0, dv = 0;
  bool bshd = false;
  /// Per-element score modifiers.
  bool hasMods = false;

  /// The facts of `op` (attn.attention or attn.attention_grad), or a
  /// diagnostic on it when the kernels cannot take it (element type, head
  /// dims).
  static FailureOr<OpFacts> get(VariantOpInterface op);
};

/// How the op's mask is applied under a plan (RuntimeSkipping.cpp): which
/// top-level conjuncts are classified per kv tile at run time, what the
/// symbolic classification sees, and what remains per element.
struct MaskPlan {
  /// The top-level conjuncts classified per tile at run time: document,
  /// tree, and a dense conjunct whose entries covering one tile are few
  /// enough (block-sparse masks; finer dense masks stay per element).
  RuntimeConjuncts runtime;
  /// The mask applied per element on tiles that are not full: the op's,
  /// less a dense conjunct whose blocks align with the tiles (it is then
  /// constant over a tile, and a kept tile passes it everywhere).
  Attribute elementMask;
  /// The symbolic classification of the remaining (declarative) mask.
  TileClasses classes;

  /// The kv loop walks only the tiles the runtime conjuncts keep.
  bool runtimeSkip() const { return runtime.any(); }

  static MaskPlan get(AttentionOp op, const GPUTilePlan &plan);
};

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

/// Values computed once per CTA in the kernel prologue.
struct CTAValues {
  /// Thread in the CTA, lane in the warp, and the lane's fragment row
  /// (g = lane / 4) and column pair (c = lane % 4).
  Value tid, lane, g, c;
  /// Batch, query head and key/value head of the CTA.
  Value bi, hi, kvh;
  /// Keys of this batch entry (kv_len), the loop's key bound min(kvLenB,
  /// Skv), and Skv - 1 (keys past it are read from here, then masked or
  /// zero-filled).
  Value kvLenB, kvEnd, lastKey;
  /// The CTA's query rows [q0, qEnd) and positions [p0, p1).
  Value q0, qEnd, p0, p1;
  /// The CTA's rows for the run-time tile classes (with a document
  /// conjunct, their least and greatest segment id).
  RuntimeTileRows tileRows;
  /// The thread's two rows, and the same clamped into [0, Sq).
  Value rows[2], clampedRows[2];
  /// Q as one A fragment per 16 columns of D.
  SmallVector<Value> qFrags;
  SymValues symVals;
  SmallVector<KeyRange> fullBounds;
};

/// Everything the layers of the kernel share while emitting one op (with
/// the fragment types and products of mma.sync).
struct KernelContext : MmaSync {
  KernelContext(AttentionOp op, ImplicitLocOpBuilder &b,
                const GPUTilePlan &plan, const OpFacts &facts,
                const MaskPlan &masks);

  AttentionOp op;
  const GPUTilePlan &plan;
  const OpFacts &facts;
  const MaskPlan &masks;
  /// Host values: buffers and extents, the score scale.
  AttentionBuffers bufs;
  Value scale;
  std::unique_ptr<ScoreEmitter> emitter;
  /// The run-time tile classes (MaskPlan::runtimeSkip), else null.
  std::unique_ptr<RuntimeTileClassifier> runtimeClasses;
  std::unique_ptr<StreamingNormalizer> normalizer;
  /// Set by the kernel prologue.
  CTAValues cta;

  int64_t threads() const { return plan.warps * 32; }
  /// Indices of (batch, head, position, dim) in the op's layout.
  SmallVector<Value> indices4(Value bIdx, Value h, Value s, Value d) {
    return layoutIndices(facts.bshd, bIdx, h, s, d);
  }
};

/// The part of the kernel that depends on the tensor-core instructions:
/// where K and V tiles live in shared memory, how they get there, and the
/// two products. Tiles are counted in load order: the n-th tile loaded
/// goes to stage n % stages.
class MmaKernel {
public:
  explicit MmaKernel(KernelContext &k) : k(k) {}
  virtual ~MmaKernel() = default;

  /// Bytes of dynamic shared memory per CTA.
  virtual int64_t sharedBytes() const = 0;
  /// Host code before the launch and after it (the launch is synchronous).
  virtual void emitHostPrologue() {}
  virtual void emitHostEpilogue() {}
  /// Kernel prologue: the shared-memory layout over `raw`.
  virtual void emitSharedSetup(Value raw) = 0;
  /// Called with each Q fragment as the prologue loads it.
  virtual void addQFragment(Value frag) {}
  /// With stages > 1: requests tile `t`, the n-th load, into its stage when
  /// t < hi.
  virtual void emitIssueIfAny(Value t, Value hi, Value n) = 0;
  /// With stages > 1: waits until the n-th load has arrived.
  virtual void emitWait(Value n) = 0;
  /// With one stage: loads the tile at key j0 (called by each kv tile
  /// before its scores).
  virtual void emitLoadTile(Value j0) = 0;
  /// Raw scores Q K^T of the tile in `stage` in accumulator order (element
  /// (n * 2 + r) * 2 + e: query row r of the thread, key 8 n + 2 c + e).
  virtual SmallVector<Value> emitScores(Value stage) = 0;
  /// O += P V, P as one A fragment per 16 keys of the tile in `stage`.
  virtual void emitPV(ArrayRef<Value> p, RowState &out, Value stage) = 0;

  /// The stage of the n-th load.
  Value stageOf(Value n) { return k.o.remU(n, k.o.idx(k.plan.stages)); }

protected:
  KernelContext &k;
};

/// Captured arrays read out of range: the kernels raise a device word,
/// copied after the launches into the host module's error word, which the
/// runtime clears before each call and reads after it
/// (CPUKernel::callChecked), as on the CPU. (The GPU-to-LLVM lowering takes
/// allocations and copies in their asynchronous form: one stream, waited
/// for before the launch.)
struct DeviceErrorFlag {
  /// Before the launches: the device word, a copy of the host's, handed to
  /// `emitter`; nothing for ops without captures.
  void emitBegin(ImplicitLocOpBuilder &b, VariantOpInterface op,
                 ScoreEmitter &emitter);
  /// After them: the device word copied back and freed.
  void emitEnd(ImplicitLocOpBuilder &b);

  Value host, device;
};

/// The copies of a quantized cache's K and V tiles (#attn.quant) into the
/// shared tiles of the mma.sync kernel (DequantTile.cpp): each 16-byte
/// chunk of a tile (8 channels of a key, spread over the CTA as
/// emitCopyRows spreads them) is read as codes with their scales and
/// zeros, dequantised in f32, rounded to the kernel's element type and
/// stored, so the products read the tile a float cache's cp.async copy
/// would have left; the newest tokens come from the residual rows.
class DequantTile : QuantBuffers {
public:
  /// Host side, before the launch: the kv_quant buffers.
  explicit DequantTile(KernelContext &k);

  /// Fills rows [0, rows) of `shared` ([rows][width + kSmemPad]) with keys
  /// (or values, `values`) j0, j0 + 1, ... of the CTA's batch row and kv
  /// head; keys at or past cta.kvEnd are zero-filled.
  void emitRows(Value shared, bool values, Value j0, int64_t rows,
                int64_t width);

private:
  /// Channels [col, col + 8) of key `j` (below the quantized length):
  /// the codes dequantised to f32.
  Value emitChunk(bool values, Value j, Value col);
  /// The indices of key `j`'s row in a buffer laid out like the codes
  /// (through the page table for a paged cache), and `last` as the
  /// innermost index.
  SmallVector<Value> rowIndices(Value j, Value last);

  KernelContext &k;
  QuantAttr quant;
};

std::unique_ptr<MmaKernel> createSm80Kernel(KernelContext &k);
std::unique_ptr<MmaKernel> createSm90aKernel(KernelContext &k);

// RuntimeSkipping.cpp.

/// At most how many entries of the run-time dense conjunct or block table
/// cover `rows` query rows and `keys` keys.
int64_t entriesPerTile(const RuntimeConjuncts &runtime, int64_t rows,
                       int64_t keys);
/// The conjuncts of `mask` classified per tile at run time for tiles of
/// `rows` query rows and `keys` keys: document, tree, and a dense conjunct
/// or block table with at most kMaxDenseTileEntries entries a tile.
RuntimeConjuncts splitRuntimeConjunctsFor(Attribute mask, int64_t rows,
                                          int64_t keys);

/// The GPU's reads for the run-time classes: every lane reads a few keys or
/// entries of the tile and the warp votes. Every warp computes the same
/// predicates over the same data, so the answers are uniform over the CTA
/// without a barrier.
class GPUTileReader final : public RuntimeTileReader {
public:
  struct Where {
    /// The thread's lane, the rows' batch row and head, Skv - 1.
    Value lane, batch, head, lastKey;
    /// Keys of a tile (a multiple of 32), and entriesPerTile.
    int64_t keysPerTile, entriesPerTile;
  };
  GPUTileReader(VariantOpInterface op, const ScoreEmitter &emitter, Where at)
      : op(op), emitter(emitter), at(at) {}

  SmallVector<Value> emitAnyKeySegment(ImplicitLocOpBuilder &b, Value tile,
                                       Value j0, Value j1,
                                       ArrayRef<KeySegmentTest> tests) override;
  std::pair<Value, Value> emitDenseAnyAll(ImplicitLocOpBuilder &b, Value r0,
                                          Value r1, Value c0, Value c1,
                                          int64_t allLevel) override;

private:
  static Value vote(ImplicitLocOpBuilder &b, Value pred);

  VariantOpInterface op;
  const ScoreEmitter &emitter;
  Where at;
};

/// cta.tileRows, from the CTA's other values.
void emitRuntimeRows(KernelContext &k);
/// The first tile in [from, hi) that the runtime conjuncts keep (hi if
/// none) and whether they allow every element of it.
std::pair<Value, Value> emitNextKept(KernelContext &k, Value from, Value hi);

} // namespace mlir::attn::tilegpu

#endif // ATTN_LIB_CONVERSION_ATTNTOGPU_GPUTILER_H
