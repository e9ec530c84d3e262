//===- GPUDeviceAllocs.cpp - Host code's buffers on the device ------------===//
//
// The attn-gpu-device-allocs pass (Passes.td).
//
//===----------------------------------------------------------------------===//

#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNGPUDEVICEALLOCS
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

/// Whether `buffer`, or a view of it, is an operand of `terminator`.
static bool leavesBy(Value buffer, Operation *terminator) {
  for (Operation *user : buffer.getUsers()) {
    if (user == terminator)
      return true;
    if (isa<ViewLikeOpInterface, CastOpInterface>(user))
      for (Value view : user->getResults())
        if (leavesBy(view, terminator))
          return true;
  }
  return false;
}

namespace {
struct AttnGPUDeviceAllocsPass
    : attn::impl::AttnGPUDeviceAllocsBase<AttnGPUDeviceAllocsPass> {
  void runOnOperation() override {
    SmallVector<memref::AllocOp> allocs;
    SmallVector<memref::CopyOp> copies;
    getOperation().walk([&](Operation *op) {
      if (!isa<memref::AllocOp, memref::CopyOp>(op) ||
          op->getParentOfType<gpu::GPUModuleOp>() ||
          op->getParentOfType<gpu::LaunchOp>())
        return;
      if (auto alloc = dyn_cast<memref::AllocOp>(op))
        allocs.push_back(alloc);
      else
        copies.push_back(cast<memref::CopyOp>(op));
    });
    Type token = gpu::AsyncTokenType::get(&getContext());
    // `op` as an async GPU op after a fresh token, waited for.
    auto synchronously = [&](OpBuilder &b, Location loc, auto create) {
      Value start =
          gpu::WaitOp::create(b, loc, token, ValueRange{}).getAsyncToken();
      auto op = create(start);
      gpu::WaitOp::create(b, loc, Type(), ValueRange{op.getAsyncToken()});
      return op;
    };
    for (memref::AllocOp alloc : allocs) {
      Operation *end = alloc->getBlock()->getTerminator();
      if (leavesBy(alloc, end)) {
        alloc.emitError("attn-gpu-device-allocs: a buffer allocated for GPU "
                        "kernels leaves its block; it would not be freed");
        return signalPassFailure();
      }
      // Freed at the end of the block instead.
      for (Operation *user : llvm::make_early_inc_range(alloc->getUsers()))
        if (isa<memref::DeallocOp>(user))
          user->erase();
      Location loc = alloc.getLoc();
      OpBuilder b(alloc);
      auto device = synchronously(b, loc, [&](Value start) {
        return gpu::AllocOp::create(b, loc, alloc.getType(), token,
                                    ValueRange{start}, alloc.getDynamicSizes(),
                                    alloc.getSymbolOperands());
      });
      alloc.replaceAllUsesWith(device.getMemref());
      alloc.erase();
      b.setInsertionPoint(end);
      synchronously(b, loc, [&](Value start) {
        return gpu::DeallocOp::create(b, loc, token, ValueRange{start},
                                      device.getMemref());
      });
    }
    for (memref::CopyOp copy : copies) {
      auto contiguous = [](Value v) {
        auto type = dyn_cast<MemRefType>(v.getType());
        return type && type.getLayout().isIdentity();
      };
      if (!contiguous(copy.getSource()) || !contiguous(copy.getTarget())) {
        copy.emitError("attn-gpu-device-allocs: a strided copy between "
                       "device buffers is not supported");
        return signalPassFailure();
      }
      OpBuilder b(copy);
      synchronously(b, copy.getLoc(), [&](Value start) {
        return gpu::MemcpyOp::create(b, copy.getLoc(), token, ValueRange{start},
                                     copy.getTarget(), copy.getSource());
      });
      copy.erase();
    }
  }
};
} // namespace
