//===- AttnInterfaces.h - attn attribute interfaces -------------*- C++ -*-===//
//
// The attribute interfaces of AttnInterfaces.td and the plain types their
// methods take: the coordinates of one score element, the symbolic tile
// classes of SymExpr.h and the kinds of row denominator. Code generators fill these in; the dialect only
// builds arithmetic on them.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNINTERFACES_H
#define ATTN_DIALECT_ATTN_IR_ATTNINTERFACES_H

#include "attn/Dialect/Attn/IR/SymExpr.h"

#include "mlir/IR/Attributes.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::attn {

/// Coordinates of one score element; all `index` values.
struct ScorePoint {
  Value b, h, i, j;
  /// Query position p = i + (kv_len(b) - Sq) + q_offset.
  Value pos;
  /// Keys visible to this batch row (kv_len[b], or Skv).
  Value kvLen;
};

/// The row denominator Z of a normalizer: 1, the row's number of keys
/// kv_len(b), or the sum of the row's weights.
enum class RowDenominator { One, SeqLen, RowSum };

/// Tile classes of a mask unknown at compile time: bound [0, kvEnd), full
/// empty.
TileClasses unknownTileClasses();

} // namespace mlir::attn

#include "attn/Dialect/Attn/IR/AttnAttrInterfaces.h.inc"

#endif // ATTN_DIALECT_ATTN_IR_ATTNINTERFACES_H
