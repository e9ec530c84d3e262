//===- ElementwiseKernel.cpp - One thread per element on the GPU ----------===//
//
// The GPU form of the host code around the attention kernels: attn.merge
// and elementwise linalg.generic ops (the gathers with which a
// shared-prefix cascade, attn.cascade_ir, stacks the batch's queries for
// the prefix and unstacks its result). On the GPU they must run as
// kernels, since the function's buffers are device memory.
//
// attn-tile-gpu lowers attn.merge to its linalg form (lowerMergeToLinalg,
// the CPU path's), so that the merge's rules, fully masked rows included
// (every LSE_k = -inf gives O = 0 and LSE = -inf, never NaN), are one
// piece of code on every target. After bufferization, attn-gpu-elementwise
// turns each elementwise linalg.generic on buffers into a gpu.launch with
// one thread per element of the result: a flat grid of 256-thread CTAs,
// thread i computing element i in row-major order, so that neighbouring
// threads touch neighbouring elements. These ops move O(elements) bytes
// with a few flops an element (the merge: one exp per partial): they are
// bandwidth-bound and need nothing more. Running after bufferization
// leaves the dataflow between the kernels (which buffer each op reads and
// writes, in place or not) to One-Shot Bufferize's analysis, as on the
// CPU.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToGPU/AttnToGPU.h"

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/Transforms/Transforms.h"
#include "attn/Dialect/Attn/Utils/Arith.h"
#include "attn/Dialect/Attn/Utils/Lowering.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNGPUELEMENTWISE
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

/// Threads per CTA of the elementwise kernels.
static constexpr int64_t kThreadsPerCTA = 256;

/// Why `op` has no one-thread-per-element form, or "" when it has one.
static std::string whyNotElementwise(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics())
    return "operands must be buffers (run it after bufferization)";
  if (op.getNumDpsInits() != 1)
    return "must have one result, has " + std::to_string(op.getNumDpsInits());
  if (op.getNumParallelLoops() != op.getNumLoops())
    return "must have parallel iterators only (one thread per element of "
           "the result)";
  if (!op.getMatchingIndexingMap(op.getDpsInitOperand(0)).isIdentity())
    return "result indexing map must be the identity";
  for (OpOperand *in : op.getDpsInputOperands())
    for (AffineExpr e : op.getMatchingIndexingMap(in).getResults())
      if (!isa<AffineDimExpr, AffineConstantExpr>(e))
        return "input indexing maps must have dims and constants as results";
  return "";
}

LogicalResult mlir::attn::lowerElementwiseToGPU(RewriterBase &rewriter,
                                                linalg::GenericOp op) {
  if (std::string why = whyNotElementwise(op); !why.empty())
    return op.emitOpError("has no GPU lowering: ") << why;
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  b.setInsertionPoint(op);
  Arith o{b};
  Value outB = op.getDpsInits()[0];
  auto outType = cast<MemRefType>(outB.getType());
  int64_t rank = outType.getRank();
  SmallVector<Value> dims;
  Value total = o.idx(1);
  for (int64_t d = 0; d < rank; ++d) {
    dims.push_back(outType.isDynamicDim(d)
                       ? Value(memref::DimOp::create(b, outB, d))
                       : o.idx(outType.getDimSize(d)));
    total = o.mul(total, dims.back());
  }

  // An empty result launches an empty grid, which the runtimes skip.
  Value one = o.idx(1);
  auto launch =
      gpu::LaunchOp::create(b, o.ceilDiv(total, o.idx(kThreadsPerCTA)), one,
                            one, o.idx(kThreadsPerCTA), one, one);
  b.setInsertionPointToStart(&launch.getBody().front());
  Value i = o.add(o.mul(launch.getBlockIds().x, o.idx(kThreadsPerCTA)),
                  launch.getThreadIds().x);
  auto inRange = scf::IfOp::create(b, TypeRange{}, o.lt(i, total),
                                   /*withElseRegion=*/false);
  gpu::TerminatorOp::create(b);
  b.setInsertionPointToStart(inRange.thenBlock());

  // Element i of the result in row-major order:
  // idx[d] = (i / prod_{e > d} dims[e]) mod dims[d].
  SmallVector<Value> idx(rank);
  Value rest = i;
  for (int64_t d = rank - 1; d > 0; --d) {
    idx[d] = o.remU(rest, dims[d]);
    rest = o.divU(rest, dims[d]);
  }
  if (rank > 0)
    idx[0] = rest;
  Block &body = op.getRegion().front();
  IRMapping map;
  for (OpOperand &operand : op->getOpOperands()) {
    BlockArgument arg = body.getArgument(operand.getOperandNumber());
    if (arg.use_empty())
      continue;
    if (!isa<MemRefType>(operand.get().getType())) {
      map.map(arg, operand.get());
      continue;
    }
    SmallVector<Value> at;
    for (AffineExpr e : op.getMatchingIndexingMap(&operand).getResults())
      at.push_back(isa<AffineDimExpr>(e)
                       ? idx[cast<AffineDimExpr>(e).getPosition()]
                       : o.idx(cast<AffineConstantExpr>(e).getValue()));
    map.map(arg, memref::LoadOp::create(b, operand.get(), at));
  }
  for (Operation &inner : body.without_terminator())
    b.clone(inner, map);
  memref::StoreOp::create(
      b, map.lookupOrDefault(body.getTerminator()->getOperand(0)), outB, idx);
  // The element's indices, wherever the body reads them.
  SmallVector<linalg::IndexOp> indices;
  inRange.thenBlock()->walk(
      [&](linalg::IndexOp index) { indices.push_back(index); });
  for (linalg::IndexOp index : indices)
    rewriter.replaceOp(index, idx[index.getDim()]);
  rewriter.eraseOp(op);
  return success();
}

namespace {
struct MergeToGPU : OpRewritePattern<MergeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MergeOp op,
                                PatternRewriter &rewriter) const override {
    return success(succeeded(lowerMergeToLinalg(rewriter, op)));
  }
};

struct ElementwiseToGPU : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    return lowerElementwiseToGPU(rewriter, op);
  }
};

struct AttnGPUElementwisePass
    : attn::impl::AttnGPUElementwiseBase<AttnGPUElementwisePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateElementwiseToGPUPatterns(patterns);
    WalkResult other = getOperation()->walk([](linalg::LinalgOp op) {
      if (isa<linalg::GenericOp>(op))
        return WalkResult::advance();
      op->emitOpError("has no GPU lowering: attn-gpu-elementwise runs "
                      "elementwise linalg.generic ops only");
      return WalkResult::interrupt();
    });
    if (other.wasInterrupted() ||
        failed(applyPatternsOnce(
            getOperation(), std::move(patterns),
            [](Operation *op) { return isa<linalg::GenericOp>(op); })))
      signalPassFailure();
  }
};
} // namespace

void mlir::attn::populateMergeToGPUPatterns(RewritePatternSet &patterns) {
  patterns.add<MergeToGPU>(patterns.getContext());
}

void mlir::attn::populateElementwiseToGPUPatterns(RewritePatternSet &patterns) {
  patterns.add<ElementwiseToGPU>(patterns.getContext());
}
