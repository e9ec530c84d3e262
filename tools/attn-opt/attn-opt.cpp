//===- attn-opt.cpp - attn optimizer driver -------------------------------===//
//
// An mlir-opt style driver: the attn dialect and passes, every upstream
// dialect, pass and LLVM IR translation, and the attn pipelines.
//
//===----------------------------------------------------------------------===//

#include "attn/InitAll.h"

#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::attn::registerAllPasses();
  mlir::DialectRegistry registry;
  mlir::attn::registerAllDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "attn optimizer driver: the attn dialect, its passes and "
                  "the --attn-cpu-pipeline\n",
      registry));
}
