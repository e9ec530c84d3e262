//===- InitAll.h - Everything the attn tools register -----------*- C++ -*-===//
//
// One place that says which dialects, extensions, translations, passes and
// pipelines the attn tools (attn-opt, attn-run, attn-aot) and the Python
// module know, so that they agree.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_INITALL_H
#define ATTN_INITALL_H

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Pipelines/Pipelines.h"
#include "attn/Transforms/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

#include <mutex>

namespace mlir::attn {

/// Upstream's dialects and their extensions, the attn dialect, and every
/// translation to LLVM IR (gpu-module-to-binary needs them).
inline void registerAllDialects(DialectRegistry &registry) {
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::registerAllToLLVMIRTranslations(registry);
  registry.insert<AttnDialect>();
}

/// Upstream's passes, attn's dialect passes, the passes of its pipelines
/// and the named pipelines, in the global registry. Safe to call more than
/// once and from several threads.
inline void registerAllPasses() {
  static std::once_flag once;
  std::call_once(once, [] {
    mlir::registerAllPasses();
    registerAttnPasses();
    registerAttnConversionPasses();
    registerAttnLoweringPasses();
    registerPipelines();
  });
}

} // namespace mlir::attn

#endif // ATTN_INITALL_H
