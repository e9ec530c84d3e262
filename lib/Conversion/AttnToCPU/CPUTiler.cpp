//===- CPUTiler.cpp - Setup of the fused CPU loops ------------------------===//
//
// The op-level setup shared by the tile and row kernels: facts about the
// op, its buffers and extents, the per-item scratch allocation, the
// parallel loop, and the choice between the two kernels.
//
//===----------------------------------------------------------------------===//

#include "CPUTiler.h"

#include "attn/Dialect/Attn/Utils/ScoreEmitter.h"

#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cpu;

/// True when the tile classification of a one-row tile is exact for `mask`:
/// its bound holds exactly the allowed keys of that row. The leaves that
/// say so (MaskAttrInterface::isRowExact), combined by and / or.
bool mlir::attn::cpu::isRowExact(Attribute mask) {
  if (auto conj = dyn_cast<AndMaskAttr>(mask))
    return llvm::all_of(conj.getMasks(), isRowExact);
  if (auto disj = dyn_cast<OrMaskAttr>(mask))
    return llvm::all_of(disj.getMasks(), isRowExact);
  auto leaf = dyn_cast<MaskAttrInterface>(mask);
  return leaf && leaf.isRowExact();
}

std::unique_ptr<ScoreEmitter> mlir::attn::cpu::makeScoreEmitter(
    ImplicitLocOpBuilder &b, VariantOpInterface op, Value query,
    Value kvSeqLen) {
  // Tensor-level dims for the emitter, which reads operands as tensors.
  unsigned sDim = op.getSeqDim(), hDim = op.getHeadDim();
  auto emitter = std::make_unique<ScoreEmitter>(
      op, tensor::DimOp::create(b, query, hDim),
      tensor::DimOp::create(b, query, sDim), kvSeqLen);
  emitter->hoistOperandDims(b);
  emitter->setCaptureErrorFlag(ScoreEmitter::emitCaptureErrorFlag(b, op));
  return emitter;
}

SmallVector<Value> CPUTiler::indices4(Value bIdx, Value h, Value s, Value d) {
  return layoutIndices(bshd, bIdx, h, s, d);
}

SmallVector<Value, 4> CPUTiler::kvRowIndices(WorkItem &it, Value j) {
  if (!paged) {
    SmallVector<Value> idx = indices4(it.bi, it.kvh, j, o.idx(0));
    return {idx[0], idx[1], idx[2]};
  }
  SmallVector<Value> idx = pagedRowIndices(b, paged, it.bi, it.kvh, j);
  return {idx[0], idx[1], idx[2]};
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
  vecType = VectorType::get({plan.vectorWidth}, f32);
  bshd = op.getLayoutOrDefault() == Layout::bshd;
  paged = op.getPagedAttr();
  quant = op.getQuantAttr();
  normalizer = std::make_unique<StreamingNormalizer>(op);
  norm = normalizer->kind();
  denom = normalizer->denom();
  shifted = normalizer->shifted();
  hasMods = !op.getScoreModList().empty();
  runtime = splitRuntimeConjuncts(op.getMaskOrDefault());
  classes = classifyMask(runtime.declarative);
  // Row intervals mask by the declarative part (and segment ids) only.
  rowExact = isRowExact(runtime.declarative) && !runtime.tree &&
             !readsDense() && !classes.bound.empty() &&
             classes.bound.size() < kMaxTileIntervals;

  static_cast<AttentionBuffers &>(*this) = AttentionBuffers::emit(b, op);
  headDim = memref::DimOp::create(b, qB, 3);
  valueDim = memref::DimOp::create(b, vB, 3);
  int64_t codesPerByte = quant ? quant.getCodesPerByte() : 1;
  if (quant)
    valueDim = o.mul(valueDim, o.idx(codesPerByte));
  static_cast<QuantBuffers &>(*this) = QuantBuffers::emit(b, op);
  emitter = makeScoreEmitter(b, op, op.getQuery(), emitKvSeqLen(b, op));
  auto headDims = cast<ShapedType>(op.getValue().getType());
  int64_t d = cast<ShapedType>(op.getQuery().getType()).getDimSize(3);
  // A static head dim makes the default scale a constant, which the AMX
  // path folds into the weights (WorkItem::scoreScale).
  scale = emitter->emitScale(
      b, ShapedType::isDynamic(d)
             ? Value(tensor::DimOp::create(b, op.getQuery(), 3))
             : o.idx(d));
  int64_t dv = headDims.getDimSize(3);
  if (!ShapedType::isDynamic(dv))
    dv *= codesPerByte;
  heapScratch = scratchBytes(d, dv) > kStackScratchBytes;
  bool rowKernel = !ShapedType::isDynamic(d) && !ShapedType::isDynamic(dv) &&
                   d > 0 && dv > 0 && d % plan.vectorWidth == 0 &&
                   dv % plan.vectorWidth == 0 && d / plan.vectorWidth <= 16 &&
                   dv / plan.vectorWidth <= 16;
  if (runtime.any())
    runtimeTiles = std::make_unique<RuntimeTiles>(
        b, op, runtime, *emitter, plan.blockKv, batch, kvLen);
  if (rowKernel) {
    // Decoding: few query rows per (b, h) leave the lanes of the tile
    // kernel idle, so they get the row kernel.
    auto ifOp = scf::IfOp::create(b, TypeRange{},
                                  o.le(qLen, o.idx(kRowKernelMaxQueries)),
                                  /*withElseRegion=*/true);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    emitRowKernel(d / plan.vectorWidth, dv / plan.vectorWidth);
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
  int64_t stRows = llvm::divideCeil(plan.blockKv, plan.unroll) * plan.unroll;
  // QT (or QT2 at most as large), ST, OT, a row of lanes; K and V tiles
  // as f32 or, with AMX, KS and two PBs in bf16 (VT2 is one shared
  // buffer). The items of the FMA paths stack QT and OT of up to
  // q_blocks q-tiles (emitItemGroup).
  if (plan.dot == CPUDot::Amx)
    return 4 * plan.blockQ * (d + dv + stRows + 1) +
           2 * plan.blockKv * (d + 2 * plan.blockQ);
  int64_t qBlocks = plan.dot == CPUDot::AmxInt8 ? 1
                    : plan.qBlocks > 0            ? plan.qBlocks
                                                  : kAutoQBlocks;
  int64_t floats = plan.blockQ * (qBlocks * (d + dv) + stRows + 1);
  if (!cast<MemRefType>(kB.getType()).getElementType().isF32())
    floats += plan.blockKv * (d + dv);
  return 4 * floats;
}

scf::ForOp mlir::attn::cpu::emitForLoop(
    ImplicitLocOpBuilder &b, Value lb, Value ub, Value step, ValueRange init,
    function_ref<void(Value iv, ValueRange iter)> body) {
  return scf::ForOp::create(
      b, lb, ub, step, init,
      [&](OpBuilder &nb, Location, Value iv, ValueRange iter) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        body(iv, iter);
      });
}

void mlir::attn::cpu::emitParallelItems(ImplicitLocOpBuilder &b, Value count,
                                        function_ref<void(Value)> body) {
  Value zero = arith::ConstantIndexOp::create(b, 0);
  Value one = arith::ConstantIndexOp::create(b, 1);
  scf::ParallelOp::create(
      b, ValueRange{zero}, ValueRange{count}, ValueRange{one},
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

scf::ForOp
CPUTiler::emitFor(Value lb, Value ub, Value step, ValueRange init,
                  function_ref<void(Value iv, ValueRange iter)> body) {
  return emitForLoop(b, lb, ub, step, init, body);
}

void CPUTiler::emitParallel(Value count, function_ref<void(Value)> body) {
  emitParallelItems(b, count, body);
}
