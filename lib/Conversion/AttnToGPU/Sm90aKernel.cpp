//===- Sm90aKernel.cpp - TMA, mbarriers and wgmma (sm_90a) ----------------===//
//
// The instruction-set part of the Hopper kernel (head dims 64 or 128). The
// CTA's 4 warps are one warpgroup; K and V tiles arrive by TMA into
// `stages` stages of 128-byte-swizzled shared memory, stages - 1 tiles
// ahead of the one computed (thread 0 issues the copies and each stage
// completes on its own mbarrier), and both products are wgmma.mma_async
// m64nNk16 with A from registers. The accumulator of m64nN holds, for warp
// w of the group, rows 16 w + g and 16 w + g + 8 at columns 8 i + 2 c +
// {0, 1} in registers 4 i + {0, 1} and 4 i + {2, 3}: the mma.sync fragments
// laid end to end, so the scores, the normalisation and P's re-packing are
// shared with the sm_80 kernel; the register A operand has the mma.sync A
// layout.
//
// Shared-memory operands (PTX ISA, "matrix descriptor"): a TMA box of 64
// columns (128 bytes) by blockKv keys lands as blockKv rows of 128 bytes,
// 16-byte chunks swizzled by the row mod 8, which is the canonical
// 128B-swizzle atom of 8 rows. K is B of Q K^T in K-major form (D
// contiguous): 8-row groups 1024 bytes apart (SBO), a k-step of 16 moves
// the start 32 bytes within the row, and D = 128 uses the second box for
// k-steps 4-7. V is B of P V in MN-major form (Dv contiguous, transposed by
// imm-trans-b): a k-step of 16 keys moves the start 2048 bytes, 8-row
// groups are 1024 bytes apart (SBO) and the second box of 64 columns is
// LBO = blockKv * 128 bytes on.
//
// A V tile that holds a NaN or inf (each thread checks a share of the
// stage while the scores' wgmma runs; a bar.red.or joins the checks) takes
// the product that keeps them from zero weights (README "Masked keys") on
// mma.sync, whose B fragments ldmatrix reads from the swizzled stage.
//
// Instructions the NVVM dialect does not model with register operands
// (wgmma with A in registers, the fences, the tensormap proxy fence) are
// inline asm.
//
//===----------------------------------------------------------------------===//

#include "GPUTiler.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::tilegpu;

namespace {

/// TMA boxes are 64 columns wide: the 128-byte swizzle span.
constexpr int64_t kBoxCols = 64;
constexpr int64_t kSwizzleAlign = 1024;

class Sm90aKernel : public MmaKernel {
public:
  explicit Sm90aKernel(KernelContext &k)
      : MmaKernel(k), stageBytes(k.plan.blockKv * (k.facts.d + k.facts.dv) * 2),
        boxBytes(k.plan.blockKv * kBoxCols * 2) {}

  /// Stages at a 1024-byte boundary for the swizzle (the kernel rounds its
  /// base up), then one 8-byte mbarrier per stage.
  int64_t sharedBytes() const override {
    return kSwizzleAlign + k.plan.stages * stageBytes + 8 * k.plan.stages;
  }
  void emitHostPrologue() override {
    kMap = emitTensorMap(k.bufs.kB);
    vMap = emitTensorMap(k.bufs.vB);
  }
  void emitHostEpilogue() override;
  void emitSharedSetup(Value raw) override;
  void addQFragment(Value frag) override {
    qWords.push_back(k.fragmentWords(frag, 4));
  }
  void emitIssueIfAny(Value t, Value hi, Value n) override;
  void emitWait(Value n) override;
  void emitLoadTile(Value j0) override {
    llvm_unreachable("the wgmma kernel has at least two stages");
  }
  SmallVector<Value> emitScores(Value stage) override;
  void emitPV(ArrayRef<Value> p, RowState &out, Value stage) override;

private:
  /// O += P V on wgmma: the accumulators `out` laid end to end.
  void emitWgmmaPV(ArrayRef<Value> p, MutableArrayRef<Value> out,
                   Value stage);
  /// Host: a TMA tensor map of K or V (device memory), from the buffer's
  /// strided metadata.
  Value emitTensorMap(Value buf);
  /// Shared address of a stage's K tile (V follows it), and its mbarrier.
  Value stageAddr(Value stage);
  Value sharedPtr(Value addr);
  Value barrierPtr(Value stage);
  /// Thread 0 requests kv tile `t` into `stage` (emitIssueCopies).
  void emitIssueTile(Value t, Value stage);
  /// The expected bytes on the stage's mbarrier and the TMA copies of K
  /// and V.
  void emitIssueCopies(Value t, Value stage);
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

  /// Bytes of one stage (K then V) and of one TMA box.
  int64_t stageBytes, boxBytes;
  /// A stage's V tile as a memref for ldmatrix and loads: 64-column boxes
  /// one after the other, [dv / 64 * blockKv][64] (rows of 128 bytes whose
  /// 16-byte chunks are swizzled), and the indices of emitTimesTile's
  /// B-fragment rows in it.
  Value vTile(Value stage);
  SmallVector<Value> swizzledRow(Value row, int64_t col);

  /// The tensor maps (host values the kernel captures), the dynamic shared
  /// memory and its address, the 1024-aligned shared base, and the Q
  /// fragments as 32-bit registers.
  Value kMap, vMap, raw, rawAddr, smemBase;
  /// Whether the V tile of the stage in use holds a NaN or inf (checked
  /// while the scores' wgmma runs).
  Value vNonFinite;
  SmallVector<SmallVector<Value>> qWords;
};

} // namespace

Value Sm90aKernel::emitTensorMap(Value buf) {
  ImplicitLocOpBuilder &b = k.b;
  Arith &o = k.o;
  MLIRContext *ctx = b.getContext();
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  Type i32 = b.getI32Type(), i64 = b.getI64Type();
  // Declare the runtime's two entry points once per module.
  auto module = k.op->getParentOfType<ModuleOp>();
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
      cstI32(k.facts.elem.isF16() ? kTensorMapFloat16 : kTensorMapBFloat16)};
  for (int64_t i = 3; i >= 0; --i)
    operands.push_back(toI64(meta.getSizes()[i]));
  for (int64_t i = 2; i >= 0; --i)
    operands.push_back(toI64(o.mul(meta.getStrides()[i], o.idx(2))));
  unsigned posDim = k.facts.bshd ? 2 : 1; // counted innermost first
  for (unsigned i = 0; i < 4; ++i)
    operands.push_back(
        cstI32(i == 0 ? kBoxCols : (i == posDim ? k.plan.blockKv : 1)));
  return func::CallOp::create(b, "attnCudaTensorMap", TypeRange{ptr}, operands)
      .getResult(0);
}

void Sm90aKernel::emitHostEpilogue() {
  for (Value map : {kMap, vMap})
    func::CallOp::create(k.b, "attnCudaTensorMapFree", TypeRange{},
                         ValueRange{map});
}

void Sm90aKernel::emitSharedSetup(Value raw) {
  ImplicitLocOpBuilder &b = k.b;
  Arith &o = k.o;
  // Stages at a 1024-byte boundary; thread 0 initialises the mbarriers
  // (one arrival each: its own, with the expected bytes).
  this->raw = raw;
  rawAddr = memref::ExtractAlignedPointerAsIndexOp::create(b, raw);
  smemBase = o.mul(
      o.divU(o.add(rawAddr, o.idx(kSwizzleAlign - 1)), o.idx(kSwizzleAlign)),
      o.idx(kSwizzleAlign));
  auto first = scf::IfOp::create(b, TypeRange{}, o.eq(k.cta.tid, o.idx(0)),
                                 /*withElseRegion=*/false);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(first.thenBlock());
    for (int64_t st = 0; st < k.plan.stages; ++st)
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

Value Sm90aKernel::sharedPtr(Value addr) {
  ImplicitLocOpBuilder &b = k.b;
  return LLVM::IntToPtrOp::create(
      b, LLVM::LLVMPointerType::get(b.getContext(), 3),
      arith::IndexCastOp::create(b, b.getI64Type(), addr),
      LLVM::DereferenceableAttr());
}

Value Sm90aKernel::stageAddr(Value stage) {
  return k.o.add(smemBase, k.o.mul(stage, k.o.idx(stageBytes)));
}

Value Sm90aKernel::barrierPtr(Value stage) {
  Arith &o = k.o;
  return sharedPtr(o.add(smemBase, o.add(o.idx(k.plan.stages * stageBytes),
                                         o.mul(stage, o.idx(8)))));
}

void Sm90aKernel::emitIssueIfAny(Value t, Value hi, Value n) {
  ImplicitLocOpBuilder &b = k.b;
  auto any = scf::IfOp::create(b, TypeRange{}, k.o.lt(t, hi),
                               /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(any.thenBlock());
  emitIssueTile(t, stageOf(n));
}

void Sm90aKernel::emitIssueTile(Value t, Value stage) {
  ImplicitLocOpBuilder &b = k.b;
  auto first = scf::IfOp::create(b, TypeRange{}, k.o.eq(k.cta.tid, k.o.idx(0)),
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

void Sm90aKernel::emitIssueCopies(Value t, Value stage) {
  ImplicitLocOpBuilder &b = k.b;
  Arith &o = k.o;
  Value bar = barrierPtr(stage);
  // Out-of-bounds rows are zero-filled and count towards the bytes.
  NVVM::MBarrierArriveExpectTxOp::create(
      b, Type(), bar, arith::ConstantIntOp::create(b, stageBytes, 32),
      NVVM::MemScopeKind::CTA, /*relaxed=*/false, Value());
  auto i32 = [&](Value v) {
    return arith::IndexCastOp::create(b, b.getI32Type(), v).getResult();
  };
  Value pos = i32(o.mul(t, o.idx(k.plan.blockKv))), head = i32(k.cta.kvh),
        batch = i32(k.cta.bi);
  Value base = stageAddr(stage);
  auto copy = [&](Value map, int64_t width, int64_t offset) {
    for (int64_t i = 0; i < width / kBoxCols; ++i) {
      Value col = arith::ConstantIntOp::create(b, i * kBoxCols, 32);
      SmallVector<Value> coords =
          k.facts.bshd ? SmallVector<Value>{col, head, pos, batch}
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
  copy(kMap, k.facts.d, 0);
  copy(vMap, k.facts.dv, k.plan.blockKv * k.facts.d * 2);
}

void Sm90aKernel::emitWait(Value n) {
  ImplicitLocOpBuilder &b = k.b;
  Arith &o = k.o;
  // The n-th load is the (n / stages)-th use of its stage's mbarrier,
  // whose phases alternate in parity.
  Value parity = arith::IndexCastOp::create(
      b, b.getI32Type(),
      o.remU(o.divU(n, o.idx(k.plan.stages)), o.idx(2)));
  // The suspend-time hint of the try_wait loop, in nanoseconds.
  NVVM::MBarrierTryWaitParityOp::create(
      b, barrierPtr(stageOf(n)), parity,
      arith::ConstantIntOp::create(b, 10000000, 32));
}

SmallVector<Value> Sm90aKernel::inlineAsm(StringRef text, ValueRange rw,
                                          ValueRange ins) {
  ImplicitLocOpBuilder &b = k.b;
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

SmallVector<Value> Sm90aKernel::wgmmaStep(ArrayRef<Value> a, Value descB,
                                          bool transB, ArrayRef<Value> acc) {
  int64_t r = acc.size();
  std::string type = k.facts.elem.isF16() ? "f16" : "bf16";
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
  ins.push_back(
      arith::ConstantIntOp::create(k.b, 1, 32)); // scale-d: accumulate
  return inlineAsm(text, acc, ins);
}

Value Sm90aKernel::descriptor(Value addr, int64_t leadingBytes,
                              int64_t strideBytes) {
  ImplicitLocOpBuilder &b = k.b;
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

SmallVector<Value> Sm90aKernel::emitScores(Value stage) {
  Arith &o = k.o;
  // One m64n{blockKv}k16 per 16 columns of D; the accumulators start at 0
  // and pass through the fence so that their definitions precede it.
  SmallVector<Value> acc(k.plan.blockKv / 2, o.f32(0.0));
  acc = inlineAsm("wgmma.fence.sync.aligned;", acc, {});
  Value kBase = stageAddr(stage);
  for (int64_t kc = 0; kc < k.facts.d / 16; ++kc) {
    int64_t box = kc / (kBoxCols / 16), within = kc % (kBoxCols / 16);
    Value desc = descriptor(o.add(kBase, o.idx(box * boxBytes + within * 32)),
                            /*leadingBytes=*/16, /*strideBytes=*/1024);
    acc = wgmmaStep(qWords[kc], desc, /*transB=*/false, acc);
  }
  inlineAsm("wgmma.commit_group.sync.aligned;", {}, {});
  // While the product runs: the finiteness check of the stage's V tile,
  // each thread a share of it, ORed by a CTA barrier.
  vNonFinite = k.barrierAnyNonFinite(
      k.orNonFiniteRows(vTile(stage), k.facts.dv / kBoxCols * k.plan.blockKv,
                        kBoxCols, k.cta.tid, k.threads()));
  return inlineAsm("wgmma.wait_group.sync.aligned 0;", acc, {});
}

Value Sm90aKernel::vTile(Value stage) {
  ImplicitLocOpBuilder &b = k.b;
  Arith &o = k.o;
  auto wg =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto type = MemRefType::get({k.facts.dv / kBoxCols * k.plan.blockKv, kBoxCols},
                              k.facts.elem, MemRefLayoutAttrInterface(), wg);
  Value offset = o.add(o.sub(stageAddr(stage), rawAddr),
                       o.idx(k.plan.blockKv * k.facts.d * 2));
  return memref::ViewOp::create(b, type, raw, offset, ValueRange{});
}

SmallVector<Value> Sm90aKernel::swizzledRow(Value row, int64_t col) {
  // Key `row` of box col / 64 holds chunk ch = (col % 64) / 8 at chunk
  // ch ^ (row % 8) of its 128 bytes (the rows are 1024-byte aligned in
  // groups of 8).
  Arith &o = k.o;
  int64_t box = col / kBoxCols, chunk = col % kBoxCols / 8;
  Value swizzled = arith::XOrIOp::create(k.b, o.remU(row, o.idx(8)),
                                         o.idx(chunk));
  return {o.add(row, o.idx(box * k.plan.blockKv)),
          o.mul(swizzled, o.idx(8))};
}

void Sm90aKernel::emitPV(ArrayRef<Value> p, RowState &out, Value stage) {
  // A V tile with a NaN or inf: mma.sync per warp (the accumulators and P
  // have its fragment layout), B fragments by ldmatrix from the swizzled
  // stage.
  k.emitIfNonFinite(
      vNonFinite, out.acc,
      [&](MutableArrayRef<Value> acc) {
        Value tile = vTile(stage);
        k.emitTimesTileSkippingZeros(p, tile, acc, k.cta.lane,
                                     [&](Value row, int64_t col) {
                                       return swizzledRow(row, col);
                                     });
      },
      [&](MutableArrayRef<Value> acc) { emitWgmmaPV(p, acc, stage); });
}

void Sm90aKernel::emitWgmmaPV(ArrayRef<Value> p, MutableArrayRef<Value> out,
                              Value stage) {
  ImplicitLocOpBuilder &b = k.b;
  Arith &o = k.o;
  // One m64n{Dv}k16 per 16 keys on the accumulators laid end to end; the
  // fence also orders the writes of P's registers before the products.
  SmallVector<Value> acc, words;
  for (Value frag : out)
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t e = 0; e < 2; ++e)
        acc.push_back(
            vector::ExtractOp::create(b, frag, ArrayRef<int64_t>{r, e}));
  for (Value frag : p)
    llvm::append_range(words, k.fragmentWords(frag, 4));
  SmallVector<Value> fenced = acc;
  fenced.append(words);
  fenced = inlineAsm("wgmma.fence.sync.aligned;", fenced, {});
  int64_t nAcc = acc.size();
  acc.assign(fenced.begin(), fenced.begin() + nAcc);
  Value vBase = o.add(stageAddr(stage), o.idx(k.plan.blockKv * k.facts.d * 2));
  for (int64_t kk = 0; kk < k.plan.blockKv / 16; ++kk) {
    Value desc = descriptor(o.add(vBase, o.idx(kk * 16 * kBoxCols * 2)),
                            /*leadingBytes=*/boxBytes,
                            /*strideBytes=*/1024);
    ArrayRef<Value> a = ArrayRef<Value>(fenced).slice(nAcc + 4 * kk, 4);
    acc = wgmmaStep(a, desc, /*transB=*/true, acc);
  }
  inlineAsm("wgmma.commit_group.sync.aligned;", {}, {});
  acc = inlineAsm("wgmma.wait_group.sync.aligned 0;", acc, {});
  for (int64_t nd = 0; nd < k.facts.dv / 8; ++nd)
    out[nd] = vector::FromElementsOp::create(
        b, k.fragC, ArrayRef<Value>(acc).slice(4 * nd, 4));
}

std::unique_ptr<MmaKernel> mlir::attn::tilegpu::createSm90aKernel(
    KernelContext &k) {
  return std::make_unique<Sm90aKernel>(k);
}
