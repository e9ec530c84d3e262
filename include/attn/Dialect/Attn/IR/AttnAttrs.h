//===- AttnAttrs.h - attn attributes ----------------------------*- C++ -*-===//
//
// Attributes describing attention variants (normalizers, masks, score
// modifiers, layout, tile knobs), their interfaces, and helpers that walk
// mask expressions.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNATTRS_H
#define ATTN_DIALECT_ATTN_IR_ATTNATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/Support/LLVM.h"

#include <optional>

#include "attn/Dialect/Attn/IR/AttnEnums.h.inc"

namespace mlir::attn::syntax {
/// Parsers and printers for the bracketed parameter syntax of attn attrs.
FailureOr<FloatAttr> parseF64(AsmParser &parser);
FailureOr<bool> parseBool(AsmParser &parser);
FailureOr<DenseF64ArrayAttr> parseF64Array(AsmParser &parser);
FailureOr<SmallVector<int64_t>> parseI64Array(AsmParser &parser);
void printF64Array(AsmPrinter &printer, DenseF64ArrayAttr values);
void printI64Array(AsmPrinter &printer, ArrayRef<int64_t> values);
} // namespace mlir::attn::syntax

namespace mlir::attn {
/// The values of an optional f64 array parameter (empty when absent).
inline ArrayRef<double> asDoubles(DenseF64ArrayAttr attr) {
  return attr ? attr.asArrayRef() : ArrayRef<double>();
}
} // namespace mlir::attn

#include "attn/Dialect/Attn/IR/AttnInterfaces.h"

#define GET_ATTRDEF_CLASSES
#include "attn/Dialect/Attn/IR/AttnAttrs.h.inc"

namespace mlir::attn {
/// Calls `fn` on every node of the mask expression `mask`, pre-order.
void walkMask(Attribute mask, function_ref<void(Attribute)> fn);

/// Returns true if the mask expression contains a leaf of type `LeafT`.
template <typename LeafT>
bool maskContains(Attribute mask) {
  bool found = false;
  walkMask(mask, [&](Attribute a) { found |= isa<LeafT>(a); });
  return found;
}

/// Returns an equivalent, simpler mask: flattens nested and/or, drops
/// `full` from conjunctions, folds `or` with `full` to `full`, removes
/// double negation and unwraps single-operand and/or.
Attribute simplifyMask(Attribute mask);

/// Returns true if the mask reads runtime tensors or a region (document,
/// tree, dense, mask_mod) anywhere in the expression.
bool isDataDependentMask(Attribute mask);

/// Returns true if the normalizer defines a log-sum-exp output.
bool normalizerHasLSE(Attribute normalizer);

/// Short name of a normalizer, for diagnostics ("softmax", "sigmoid", ...).
StringRef getNormalizerName(Attribute normalizer);
} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_IR_ATTNATTRS_H
