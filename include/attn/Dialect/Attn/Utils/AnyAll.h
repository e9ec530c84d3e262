//===- AnyAll.h - "some" and "all" of a predicate over a block --*- C++ -*-===//
//
// Tile and block classes ask two questions of a predicate over a block:
// does it hold somewhere (any), and everywhere (all)? Both are answered
// row by row, stopping at the first row after which the block is known to
// be mixed. Shared by the CPU's run-time dense-mask classes and
// attn.mask_blocks.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_UTILS_ANYALL_H
#define ATTN_DIALECT_ATTN_UTILS_ANYALL_H

#include "attn/Dialect/Attn/Utils/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <utility>

namespace mlir::attn {

/// (any, all) over rows [r0, r1): `row(b, r, any, all)` folds row r into
/// the running answers and returns them; rows stop once any && !all.
inline std::pair<Value, Value> emitAnyAllByRows(
    ImplicitLocOpBuilder &b, Value r0, Value r1,
    function_ref<std::pair<Value, Value>(ImplicitLocOpBuilder &, Value, Value,
                                         Value)>
        row) {
  Arith o{b};
  Type i1 = b.getI1Type(), index = b.getIndexType();
  auto loop = scf::WhileOp::create(
      b, TypeRange{index, i1, i1}, ValueRange{r0, o.i1(false), o.i1(true)},
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        ImplicitLocOpBuilder ib(loc, nb);
        Arith io{ib};
        Value mixed = io.land(args[1], io.lnot(args[2]));
        Value more = io.land(io.lt(args[0], r1), io.lnot(mixed));
        scf::ConditionOp::create(ib, more, args);
      },
      [&](OpBuilder &nb, Location loc, ValueRange args) {
        ImplicitLocOpBuilder ib(loc, nb);
        Arith io{ib};
        Value r = args[0];
        auto [any, all] = row(ib, r, args[1], args[2]);
        scf::YieldOp::create(ib, ValueRange{io.add(r, io.idx(1)), any, all});
      });
  return {loop.getResult(1), loop.getResult(2)};
}

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_UTILS_ANYALL_H
