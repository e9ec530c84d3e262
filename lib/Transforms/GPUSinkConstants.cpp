//===- GPUSinkConstants.cpp - Constant tables into GPU kernels ------------===//
//
// The attn-gpu-sink-constants pass (Passes.td).
//
//===----------------------------------------------------------------------===//

#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Utils/GPUUtils.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNGPUSINKCONSTANTS
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

/// Whether `op`, defined outside a launch and used in it, belongs inside:
/// constants, sizes, and fetches of constant globals.
static bool belongsInKernel(Operation *op, SymbolTableCollection &symbols) {
  if (isa<arith::ConstantOp, memref::DimOp>(op))
    return true;
  auto get = dyn_cast<memref::GetGlobalOp>(op);
  if (!get)
    return false;
  auto global =
      symbols.lookupNearestSymbolFrom<memref::GlobalOp>(op, get.getNameAttr());
  return global && global.getConstant();
}

namespace {
struct AttnGPUSinkConstantsPass
    : attn::impl::AttnGPUSinkConstantsBase<AttnGPUSinkConstantsPass> {
  void runOnOperation() override {
    SymbolTableCollection symbols;
    auto beneficial = [&](Operation *op) {
      return belongsInKernel(op, symbols);
    };
    WalkResult result = getOperation()->walk([&](gpu::LaunchOp launch) {
      if (failed(sinkOperationsIntoLaunchOp(launch, beneficial)))
        return WalkResult::interrupt();
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
