//===- CUDAToolOptions.h - The CUDA options of attn's tools -----*- C++ -*-===//
//
// attn-run and attn-aot both compile for NVIDIA GPUs and let their users
// choose the chip and the tensor-core instructions. The options are declared
// once here; each tool words their help for its own use and picks the
// default chip (a kernel to run here, or a library to ship).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TOOLS_CUDATOOLOPTIONS_H
#define ATTN_TOOLS_CUDATOOLOPTIONS_H

#include "attn/Pipelines/Pipelines.h"
#include "llvm/Support/CommandLine.h"

#include <string>

namespace mlir::attn {

/// `--chip` and `--mma`: the options of `--attn-cuda-pipeline` that a tool
/// compiling for CUDA takes on its command line.
struct CUDAToolOptions {
  CUDAToolOptions(llvm::cl::OptionCategory &category,
                  llvm::StringRef defaultChip, llvm::StringRef chipHelp,
                  llvm::StringRef mmaHelp)
      : chip("chip", llvm::cl::desc(chipHelp),
             llvm::cl::init(defaultChip.str()), llvm::cl::cat(category)),
        mma("mma", llvm::cl::desc(mmaHelp), llvm::cl::init("auto"),
            llvm::cl::cat(category)) {}

  /// Sets the pipeline options the command line chose.
  void applyTo(CUDAPipelineOptions &options) const {
    options.chip = chip.getValue();
    options.mma = mma.getValue();
  }

  llvm::cl::opt<std::string> chip;
  llvm::cl::opt<std::string> mma;
};

} // namespace mlir::attn

#endif // ATTN_TOOLS_CUDATOOLOPTIONS_H
