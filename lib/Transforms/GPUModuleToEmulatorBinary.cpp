//===- GPUModuleToEmulatorBinary.cpp - Kernels as text for the emulator ---===//
//
// The attn-gpu-module-to-emulator-binary pass (Passes.td).
//
//===----------------------------------------------------------------------===//

#include "attn/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNGPUMODULETOEMULATORBINARY
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

/// `module` printed on its own inside a builtin.module: printed alone, a
/// nested op would use attribute and location aliases defined only at the
/// top level. The custom form, as readable as attn-opt's output: it is what
/// `$ATTN_EMULATOR_DUMP` shows and what the mutation suite's patterns edit.
static std::string printForEmulator(gpu::GPUModuleOp module) {
  OpBuilder b(module.getContext());
  OwningOpRef<ModuleOp> wrapper = ModuleOp::create(b, module.getLoc());
  b.setInsertionPointToStart(wrapper->getBody());
  b.clone(*module.getOperation());
  std::string text;
  llvm::raw_string_ostream os(text);
  OpPrintingFlags flags;
  flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false);
  wrapper->print(os, flags);
  return text;
}

namespace {
struct AttnGPUModuleToEmulatorBinaryPass
    : attn::impl::AttnGPUModuleToEmulatorBinaryBase<
          AttnGPUModuleToEmulatorBinaryPass> {
  void runOnOperation() override {
    for (auto module : llvm::make_early_inc_range(
             getOperation().getOps<gpu::GPUModuleOp>())) {
      ArrayAttr targets = module.getTargetsAttr();
      if (!targets || targets.empty()) {
        module.emitError("attn: gpu.module has no target to serialise for "
                         "(run nvvm-attach-target first)");
        return signalPassFailure();
      }
      StringAttr text =
          StringAttr::get(&getContext(), printForEmulator(module));
      SmallVector<Attribute> objects;
      for (Attribute target : targets)
        objects.push_back(
            gpu::ObjectAttr::get(target, gpu::CompilationTarget::Binary, text));
      OpBuilder b(module);
      gpu::BinaryOp::create(b, module.getLoc(), module.getName(),
                            module.getOffloadingHandlerAttr(), objects);
      module.erase();
    }
  }
};
} // namespace
