//===- InlineAllocaScopes.cpp - Flat stack scopes -------------------------===//
//
// The attn-inline-alloca-scopes pass (Passes.td).
//
//===----------------------------------------------------------------------===//

#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNINLINEALLOCASCOPES
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {
/// Brackets each iteration of `loop` between stacksave and stackrestore when
/// its body allocates on the stack and yields no memref (which could be
/// one of those allocations): otherwise every iteration's allocas stay
/// until the function returns, and a long loop overflows the stack.
void scopeIterations(Operation *loop, Block &body, MLIRContext *ctx) {
  bool allocates = llvm::any_of(body.without_terminator(), [](Operation &op) {
    return isa<memref::AllocaOp>(op);
  });
  bool yieldsMemref =
      llvm::any_of(body.getTerminator()->getOperandTypes(),
                   [](Type t) { return isa<BaseMemRefType>(t); });
  if (!allocates || yieldsMemref)
    return;
  OpBuilder b(&body, body.begin());
  Value sp = LLVM::StackSaveOp::create(b, loop->getLoc(),
                                       LLVM::LLVMPointerType::get(ctx));
  b.setInsertionPoint(body.getTerminator());
  LLVM::StackRestoreOp::create(b, loop->getLoc(), sp);
}

struct AttnInlineAllocaScopesPass
    : attn::impl::AttnInlineAllocaScopesBase<AttnInlineAllocaScopesPass> {
  void runOnOperation() override {
    getOperation()->walk([&](Operation *op) {
      if (auto loop = dyn_cast<scf::ForOp>(op))
        scopeIterations(op, *loop.getBody(), &getContext());
      else if (auto loop = dyn_cast<scf::ParallelOp>(op))
        scopeIterations(op, *loop.getBody(), &getContext());
    });
    SmallVector<memref::AllocaScopeOp> scopes;
    getOperation()->walk(
        [&](memref::AllocaScopeOp scope) { scopes.push_back(scope); });
    for (memref::AllocaScopeOp scope : scopes) {
      if (scope.getNumResults() != 0 || !scope.getBodyRegion().hasOneBlock()) {
        scope.emitError("attn: cannot inline an alloca scope with results "
                        "or several blocks");
        return signalPassFailure();
      }
      OpBuilder b(scope);
      Value sp = LLVM::StackSaveOp::create(
          b, scope.getLoc(), LLVM::LLVMPointerType::get(&getContext()));
      Block &body = scope.getBodyRegion().front();
      body.getTerminator()->erase();
      scope->getBlock()->getOperations().splice(scope->getIterator(),
                                                body.getOperations());
      LLVM::StackRestoreOp::create(b, scope.getLoc(), sp);
      scope.erase();
    }
  }
};
} // namespace
