//===- InlineAllocaScopes.cpp - Flat stack scopes -------------------------===//
//
// The attn-inline-alloca-scopes pass (Passes.td).
//
//===----------------------------------------------------------------------===//

#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNINLINEALLOCASCOPES
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {
struct AttnInlineAllocaScopesPass
    : attn::impl::AttnInlineAllocaScopesBase<AttnInlineAllocaScopesPass> {
  void runOnOperation() override {
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
