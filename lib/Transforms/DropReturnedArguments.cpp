//===- DropReturnedArguments.cpp - Outs passed, not returned --------------===//
//
// The attn-drop-returned-arguments pass (Passes.td).
//
//===----------------------------------------------------------------------===//

#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNDROPRETURNEDARGUMENTS
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {
struct AttnDropReturnedArgumentsPass
    : attn::impl::AttnDropReturnedArgumentsBase<
          AttnDropReturnedArgumentsPass> {
  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>()) {
      if (fn.isExternal() || fn.getNumResults() == 0)
        continue;
      if (!fn.getBody().hasOneBlock()) {
        fn.emitError("attn: a kernel function must have a single block");
        return signalPassFailure();
      }
      auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
      for (Value v : ret.getOperands()) {
        auto arg = dyn_cast<BlockArgument>(v);
        if (!arg || arg.getOwner() != &fn.getBody().front()) {
          ret.emitError("attn: kernel functions may only return their outs "
                        "(destination-passing style); this result is a new "
                        "value");
          return signalPassFailure();
        }
      }
      ret->setOperands({});
      fn.setType(FunctionType::get(&getContext(), fn.getArgumentTypes(), {}));
    }
  }
};
} // namespace
