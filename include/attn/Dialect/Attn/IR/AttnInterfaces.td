//===- AttnInterfaces.td - attn attribute interfaces -------*- tablegen -*-===//
//
// Interfaces that classify attn attributes into masks, score modifiers and
// normalizers, so that ops and passes can accept any member of a family,
// and through which each declarative member states its own semantics: a
// new mask leaf or score modifier implements these methods (in
// *InterfaceImpl.cpp) instead of adding cases to every code generator.
//
// The methods take only what the dialect itself provides (a builder and
// the coordinates of one score as `index` values, AttnInterfaces.h), so the
// dialect library does not depend on the code generators.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_INTERFACES
#define ATTN_INTERFACES

include "mlir/IR/OpBase.td"

def Attn_MaskAttrInterface : AttrInterface<"MaskAttrInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    A boolean function `m(b, h, i, j)` deciding whether query `i` may attend
    to key `j`. Leaves are mask patterns; `and`, `or` and `not` combine them.

    Declarative leaves (functions of the head, the query position and the
    key alone) implement the methods; the defaults describe the other masks:
    the combinators, which ScoreEmitter and classifyMask handle, and the
    data-dependent leaves, which read the op's operands.
  }];
  let methods = [
    InterfaceMethod<[{
        The i1 "key `pt.j` is allowed for the query at `pt.pos`", or null
        for masks that are not declarative leaves.
      }], "::mlir::Value", "emitAllowed",
      (ins "::mlir::ImplicitLocOpBuilder &":$b,
           "const ::mlir::attn::ScorePoint &":$pt),
      /*methodBody=*/"", /*defaultImplementation=*/"return {};">,
    InterfaceMethod<[{
        The tile classes of the leaf for the symbolic tile of query
        positions [p0, p1) (SymExpr.h), sound for every head. The default,
        for masks not known at compile time: any key may be allowed, none
        is known to be.
      }], "::mlir::attn::TileClasses", "classifyTile", (ins),
      /*methodBody=*/"",
      /*defaultImplementation=*/"return ::mlir::attn::unknownTileClasses();">,
    InterfaceMethod<[{
        Whether classifyTile is exact for a one-row tile: its bound holds
        exactly the allowed keys of that row, so a row kernel may iterate
        over the bound without masking.
      }], "bool", "isRowExact", (ins),
      /*methodBody=*/"", /*defaultImplementation=*/"return false;">,
  ];
}

def Attn_ScoreModAttrInterface : AttrInterface<"ScoreModAttrInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    A function `s' = f(s, b, h, i, j)` applied to the scaled score.
    Declarative modifiers (functions of the score, the head, the query
    position and the key alone) implement `emitScoreMod`; modifiers that
    read the op's operands or regions keep the default and are emitted by
    ScoreEmitter.
  }];
  let methods = [
    InterfaceMethod<[{
        The modified f32 score of `s` at `pt`, or null for modifiers that
        read the op's operands. `qHeads` is the number of query heads Hq.
      }], "::mlir::Value", "emitScoreMod",
      (ins "::mlir::ImplicitLocOpBuilder &":$b, "::mlir::Value":$s,
           "const ::mlir::attn::ScorePoint &":$pt, "::mlir::Value":$qHeads),
      /*methodBody=*/"", /*defaultImplementation=*/"return {};">,
  ];
}

def Attn_NormalizerAttrInterface : AttrInterface<"NormalizerAttrInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    Maps a masked row of modified scores to attention weights,
    `P[i,j] = w(s'[i,j] - m_i) / Z_i` in the streaming form every lowering
    uses: an unnormalised weight `w` per key, taken relative to a row shift
    `m` (the running maximum, FlashAttention-2 style) when `isShifted`, and
    a row denominator `Z`. The fused code generators (StreamingNormalizer)
    and the reference lowering both build their weights from these methods.
  }];
  let methods = [
    InterfaceMethod<"The row denominator Z.",
      "::mlir::attn::RowDenominator", "getRowDenominator", (ins)>,
    InterfaceMethod<[{
        Whether weights are taken relative to a row shift m (and rescaled by
        exp(m - m') when it grows).
      }], "bool", "isShifted", (ins)>,
    InterfaceMethod<[{
        The shift actually used for a row maximum `m` (f32 scalar or
        vector); by default `m` itself.
      }], "::mlir::Value", "emitShiftCap",
      (ins "::mlir::ImplicitLocOpBuilder &":$b, "::mlir::Value":$m),
      /*methodBody=*/"", /*defaultImplementation=*/"return m;">,
    InterfaceMethod<[{
        An f32 scalar added to every score of a batch row with `kvLenB`
        keys before its weight is taken, or null for none.
      }], "::mlir::Value", "emitRowBias",
      (ins "::mlir::ImplicitLocOpBuilder &":$b, "::mlir::Value":$kvLenB),
      /*methodBody=*/"", /*defaultImplementation=*/"return {};">,
    InterfaceMethod<[{
        The unnormalised weight of the modified score `s` (f32 scalar or
        vector), relative to `shift` when isShifted (else null), with
        `rowBias` from emitRowBias; exactly 0 where s = -inf.
      }], "::mlir::Value", "emitWeight",
      (ins "::mlir::ImplicitLocOpBuilder &":$b, "::mlir::Value":$s,
           "::mlir::Value":$shift, "::mlir::Value":$rowBias)>,
  ];
}

#endif // ATTN_INTERFACES
