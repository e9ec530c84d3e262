//===- Sm80Kernel.cpp - mma.sync, ldmatrix and cp.async -------------------===//
//
// The instruction-set part of the sm_80 kernel (also the fallback on sm_90a
// for head dims wgmma cannot take): each kv tile's K and V are copied to
// padded shared memory with cp.async, then S = Q K^T and O += P V run on
// mma.sync m16n8k16 with B fragments from ldmatrix (V transposed by
// ldmatrix.trans).
//
// Accumulator fragment of mma.sync m16n8k16 (vector<2x2xf32>): lane l holds
// rows g = l / 4 and g + 8, columns 2 (l % 4) and 2 (l % 4) + 1. The A
// fragment (vector<4x2xf16>) holds (g, k 0-7), (g + 8, k 0-7), (g, k 8-15),
// (g + 8, k 8-15) at columns 2 (l % 4) + {0, 1}: two accumulator tiles of 8
// keys side by side are exactly one A fragment of 16 keys, which is how P
// feeds the second product without leaving registers.
//
//===----------------------------------------------------------------------===//

#include "GPUTiler.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::tilegpu;

namespace {

/// Shared-memory rows are padded by 8 elements (16 bytes) so that the 8
/// row addresses of an ldmatrix fall in different banks.
constexpr int64_t kPad = 8;

class Sm80Kernel : public MmaKernel {
public:
  using MmaKernel::MmaKernel;

  int64_t sharedBytes() const override {
    return k.plan.blockKv * (k.facts.d + k.facts.dv + 2 * kPad) * 2;
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
  /// Issues the cp.async copies of a [blockKv x width] tile at key j0.
  void emitCopyTile(Value buf, Value shared, Value j0, int64_t width,
                    SmallVectorImpl<Value> &tokens);
  /// acc + a * b on tensor cores (m16n8k16). f16 goes through nvgpu; bf16,
  /// which nvgpu's lowering cannot type, through nvvm.mma.sync directly.
  Value mma(Value a, Value bFrag, Value acc);

  /// The K and V tiles in shared memory.
  Value kS, vS;
};

} // namespace

void Sm80Kernel::emitSharedSetup(Value raw) {
  ImplicitLocOpBuilder &b = k.b;
  int64_t blockKv = k.plan.blockKv;
  auto wg =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto kType = MemRefType::get({blockKv, k.facts.d + kPad}, k.facts.elem,
                               MemRefLayoutAttrInterface(), wg);
  auto vType = MemRefType::get({blockKv, k.facts.dv + kPad}, k.facts.elem,
                               MemRefLayoutAttrInterface(), wg);
  kS = memref::ViewOp::create(b, kType, raw, k.o.idx(0), ValueRange{});
  vS = memref::ViewOp::create(
      b, vType, raw, k.o.idx(blockKv * (k.facts.d + kPad) * 2), ValueRange{});
}

void Sm80Kernel::emitCopyTile(Value buf, Value shared, Value j0, int64_t width,
                              SmallVectorImpl<Value> &tokens) {
  ImplicitLocOpBuilder &b = k.b;
  Arith &o = k.o;
  const CTAValues &cta = k.cta;
  // 16-byte chunks (8 elements), spread over the CTA's threads. Rows at or
  // past the batch's kv_len are zero-filled: a source size of 0 bytes reads
  // nothing, so their address is left as it is (past the tensor for rows
  // past Skv, as Triton's masked cp.async leaves it). Clamping it to the
  // last row, as this did before, only hid a wrong byte count behind copies
  // of a real row that the mask then weighted 0; now such a count is an
  // out-of-bounds read the GPU emulator reports, and with kv_len 0 there
  // was no valid row to clamp to anyway.
  int64_t threads = k.threads();
  int64_t chunksPerRow = width / 8;
  int64_t chunks = k.plan.blockKv * chunksPerRow;
  for (int64_t u = 0; u * threads < chunks; ++u) {
    Value chunk = o.add(cta.tid, o.idx(u * threads));
    std::optional<OpBuilder::InsertionGuard> guard;
    if ((u + 1) * threads > chunks) {
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
    Value count = o.select(o.lt(key, k.bufs.kvLen), o.idx(8), o.idx(0));
    Value token = nvgpu::DeviceAsyncCopyOp::create(
        b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), shared,
        ValueRange{row, col}, buf, k.indices4(cta.bi, cta.kvh, key, col),
        b.getIndexAttr(8), count, b.getUnitAttr());
    if (!guard)
      tokens.push_back(token);
  }
}

void Sm80Kernel::emitLoadTile(Value j0) {
  ImplicitLocOpBuilder &b = k.b;
  SmallVector<Value> tokens;
  emitCopyTile(k.bufs.kB, kS, j0, k.facts.d, tokens);
  emitCopyTile(k.bufs.vB, vS, j0, k.facts.dv, tokens);
  // One commit group holds every copy this thread issued.
  Value token = nvgpu::DeviceAsyncCreateGroupOp::create(
      b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);
  nvgpu::DeviceAsyncWaitOp::create(b, token, b.getI32IntegerAttr(0));
  gpu::BarrierOp::create(b);
}

Value Sm80Kernel::mma(Value a, Value bFrag, Value acc) {
  ImplicitLocOpBuilder &b = k.b;
  if (k.facts.elem.isF16())
    return nvgpu::MmaSyncOp::create(b, a, bFrag, acc,
                                    ArrayRef<int64_t>{16, 8, 16});
  SmallVector<Value> c4;
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t e = 0; e < 2; ++e)
      c4.push_back(vector::ExtractOp::create(b, acc, ArrayRef<int64_t>{r, e}));
  Type f32 = k.f32;
  auto resultType =
      LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  Value d4 = NVVM::MmaOp::create(
      b, resultType, k.fragmentWords(a, 4), k.fragmentWords(bFrag, 2), c4,
      ArrayRef<int64_t>{16, 8, 16}, std::nullopt, std::nullopt,
      std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::bf16, NVVM::MMATypes::bf16},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  SmallVector<Value> elems;
  for (int64_t i = 0; i < 4; ++i)
    elems.push_back(LLVM::ExtractValueOp::create(b, d4, ArrayRef<int64_t>{i}));
  return vector::FromElementsOp::create(b, k.fragC, elems);
}

SmallVector<Value> Sm80Kernel::emitScores(Value stage) {
  ImplicitLocOpBuilder &b = k.b;
  Arith &o = k.o;
  // One fragment per 8 keys. ldmatrix x2 of K rows: lanes 0-7 address keys
  // 0-7 at columns 0-7 of the k-slice, lanes 8-15 the same keys at columns
  // 8-15 (lanes 16-31 repeat them).
  SmallVector<Value> raw;
  Value lane = k.cta.lane;
  Value kRow = o.remU(lane, o.idx(8));
  Value kHalf = o.mul(o.remU(o.divU(lane, o.idx(8)), o.idx(2)), o.idx(8));
  for (int64_t n = 0; n < k.plan.blockKv / 8; ++n) {
    Value acc = k.constVec(k.fragC, 0.0);
    for (int64_t kc = 0; kc < k.facts.d / 16; ++kc) {
      Value kb = nvgpu::LdMatrixOp::create(
          b, k.fragB, kS,
          ValueRange{o.add(kRow, o.idx(n * 8)), o.add(kHalf, o.idx(kc * 16))},
          /*transpose=*/false, /*numTiles=*/2);
      acc = mma(k.cta.qFrags[kc], kb, acc);
    }
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t e = 0; e < 2; ++e)
        raw.push_back(
            vector::ExtractOp::create(b, acc, ArrayRef<int64_t>{r, e}));
  }
  return raw;
}

void Sm80Kernel::emitPV(ArrayRef<Value> p, RowState &out, Value stage) {
  Arith &o = k.o;
  // V fragments by ldmatrix.trans (lanes 0-15 address keys 0-15 of the
  // slice).
  Value vRow = o.remU(k.cta.lane, o.idx(16));
  for (int64_t kk = 0; kk < k.plan.blockKv / 16; ++kk)
    for (int64_t nd = 0; nd < k.facts.dv / 8; ++nd) {
      Value vb = nvgpu::LdMatrixOp::create(
          k.b, k.fragB, vS,
          ValueRange{o.add(vRow, o.idx(kk * 16)), o.idx(nd * 8)},
          /*transpose=*/true, /*numTiles=*/2);
      out.acc[nd] = mma(p[kk], vb, out.acc[nd]);
    }
}

std::unique_ptr<MmaKernel>
mlir::attn::tilegpu::createSm80Kernel(KernelContext &k) {
  return std::make_unique<Sm80Kernel>(k);
}
