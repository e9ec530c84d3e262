//===- ToReference.h - Attn attributes for the reference --------*- C++ -*-===//
//
// Translates attn attributes into the plain structs of the float64 reference
// (attn/Reference/Reference.h), so that tools and tests can ask the
// reference about a variant written as IR. The reference itself stays free
// of MLIR; this is the one bridge between the two.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_REFERENCEBRIDGE_TOREFERENCE_H
#define ATTN_REFERENCEBRIDGE_TOREFERENCE_H

#include "attn/Reference/Reference.h"

#include "mlir/IR/Attributes.h"

namespace mlir::attn {

/// Translates a mask expression (declarative and data-dependent leaves,
/// and/or/not) into the reference's mask tree. `mask` must be a mask
/// attribute; anything else is a fatal error.
::attn::ref::Mask toRefMask(Attribute mask);

} // namespace mlir::attn

#endif // ATTN_REFERENCEBRIDGE_TOREFERENCE_H
