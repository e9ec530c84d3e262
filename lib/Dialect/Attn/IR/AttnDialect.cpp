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
/// The score_mod and mask_mod regions may only use values defined inside
/// them, so constants folded or deduplicated there must stay there instead
/// of being hoisted to the enclosing function.
struct AttnFoldInterface : DialectFoldInterface {
  using DialectFoldInterface::DialectFoldInterface;
  bool shouldMaterializeInto(Region *region) const final {
    return isa<AttentionOp>(region->getParentOp());
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
