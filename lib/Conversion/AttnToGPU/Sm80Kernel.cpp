//===- Sm80Kernel.cpp - mma.sync, ldmatrix and cp.async -------------------===//
//
// The instruction-set part of the sm_80 kernel (also the fallback on sm_90a
// for head dims wgmma cannot take): each kv tile's K and V are copied to
// padded shared memory with cp.async, then S = Q K^T and O += P V run on
// mma.sync m16n8k16 with B fragments from ldmatrix (V transposed by
// ldmatrix.trans). A V tile that holds a NaN or inf (checked as it
// arrives) takes the product that keeps them from zero weights (README
// "Masked keys"). A quantized cache's tiles are dequantised on their way
// to shared memory instead (DequantTile.cpp).
//
// Fragments and products: MmaSync.h.
//
//===----------------------------------------------------------------------===//

#include "GPUTiler.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::tilegpu;

namespace {

class Sm80Kernel : public MmaKernel {
public:
  using MmaKernel::MmaKernel;

  int64_t sharedBytes() const override {
    return MmaSync::sharedTileBytes(k.plan.blockKv, k.facts.d) +
           MmaSync::sharedTileBytes(k.plan.blockKv, k.facts.dv);
  }
  void emitHostPrologue() override {
    if (k.op.getQuantAttr())
      dequant = std::make_unique<DequantTile>(k);
  }
  void emitSharedSetup(Value raw) override;
  void emitIssueIfAny(Value t, Value hi, Value n) override {
    llvm_unreachable("the mma.sync kernel has one stage");
  }
  void emitWait(Value n) override {
    llvm_unreachable("the mma.sync kernel has one stage");
  }
  void emitLoadTile(Value j0) override;
  SmallVector<Value> emitScores(Value stage) override;
  void emitPV(ArrayRef<Value> p, RowState &out, Value stage) override;

private:
  /// cp.async copies of the tile at key j0, waited for.
  void emitAsyncCopies(Value j0);

  /// The K and V tiles in shared memory.
  Value kS, vS;
  /// Whether the V tile holds a NaN or inf (emitLoadTile's check).
  Value vNonFinite;
  /// The copies of a quantized cache, else null.
  std::unique_ptr<DequantTile> dequant;
};

} // namespace

void Sm80Kernel::emitSharedSetup(Value raw) {
  int64_t blockKv = k.plan.blockKv;
  kS = k.sharedTile(raw, 0, blockKv, k.facts.d);
  vS = k.sharedTile(raw, MmaSync::sharedTileBytes(blockKv, k.facts.d), blockKv,
                    k.facts.dv);
}

void Sm80Kernel::emitLoadTile(Value j0) {
  const CTAValues &cta = k.cta;
  if (dequant) {
    // Plain stores of each thread's chunks, made visible by the barrier
    // below.
    dequant->emitRows(kS, /*values=*/false, j0, k.plan.blockKv, k.facts.d);
    dequant->emitRows(vS, /*values=*/true, j0, k.plan.blockKv, k.facts.dv);
  } else {
    emitAsyncCopies(j0);
  }
  // Each thread checks the V chunks its own copies wrote; the barrier that
  // makes the tile visible to every warp also ORs the checks.
  vNonFinite = k.barrierAnyNonFinite(
      k.orNonFiniteRows(vS, k.plan.blockKv, k.facts.dv, cta.tid, k.threads()));
}

void Sm80Kernel::emitAsyncCopies(Value j0) {
  ImplicitLocOpBuilder &b = k.b;
  const CTAValues &cta = k.cta;
  auto at = [&](Value key, Value col) -> SmallVector<Value> {
    PagedAttr paged = k.op.getPagedAttr();
    if (!paged)
      return k.indices4(cta.bi, cta.kvh, key, col);
    // Logical key -> page, slot (Buffers.h: clamped into the table and
    // the pool, for the rows of a last tile past kv_len, which are masked).
    SmallVector<Value> idx =
        k.bufs.pagedRowIndices(b, paged, cta.bi, cta.kvh, key);
    idx.push_back(col);
    return idx;
  };
  SmallVector<Value> tokens;
  for (auto [buf, shared, width] : {std::tuple(k.bufs.kB, kS, k.facts.d),
                                    std::tuple(k.bufs.vB, vS, k.facts.dv)})
    k.emitCopyRows(shared, buf, at, j0, k.bufs.kvLen, k.plan.blockKv, width,
                   cta.tid, k.threads(), tokens);
  // One commit group holds every copy this thread issued.
  Value token = nvgpu::DeviceAsyncCreateGroupOp::create(
      b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);
  nvgpu::DeviceAsyncWaitOp::create(b, token, b.getI32IntegerAttr(0));
}

SmallVector<Value> Sm80Kernel::emitScores(Value stage) {
  return k.emitTimesRowsT(k.cta.qFrags, kS, k.plan.blockKv, k.cta.lane);
}

void Sm80Kernel::emitPV(ArrayRef<Value> p, RowState &out, Value stage) {
  k.emitIfNonFinite(
      vNonFinite, out.acc,
      [&](MutableArrayRef<Value> acc) {
        k.emitTimesTileSkippingZeros(p, vS, acc, k.cta.lane);
      },
      [&](MutableArrayRef<Value> acc) {
        k.emitTimesTile(p, vS, acc, k.cta.lane);
      });
}

std::unique_ptr<MmaKernel>
mlir::attn::tilegpu::createSm80Kernel(KernelContext &k) {
  return std::make_unique<Sm80Kernel>(k);
}
