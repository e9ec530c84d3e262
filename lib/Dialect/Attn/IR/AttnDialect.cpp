//===- AttnDialect.cpp - attn dialect registration ------------------------===//
//
// Registers the attn dialect's operations and attributes.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Interfaces/FoldInterfaces.h"

using namespace mlir;
using namespace mlir::attn;

#include "attn/Dialect/Attn/IR/AttnOpsDialect.cpp.inc"

namespace {
/// Keeps constants folded or deduplicated inside score_mod and mask_mod
/// regions there, instead of hoisting them to the enclosing function, so
/// regions stay self-contained.
struct AttnFoldInterface : DialectFoldInterface {
  using DialectFoldInterface::DialectFoldInterface;
  bool shouldMaterializeInto(Region *region) const final {
    return isa<VariantOpInterface>(region->getParentOp());
  }
};
} // namespace

void AttnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "attn/Dialect/Attn/IR/AttnOps.cpp.inc"
      >();
  registerAttributes();
  addInterfaces<AttnFoldInterface>();
}
