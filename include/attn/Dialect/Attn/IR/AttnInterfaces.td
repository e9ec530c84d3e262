//===- AttnInterfaces.td - attn interfaces -----------------*- tablegen -*-===//
//
// Interfaces that classify attn attributes into masks, score modifiers and
// normalizers, so that ops and passes can accept any member of a family,
// and through which each declarative member states its own semantics: a
// new mask leaf or score modifier implements these methods (in
// *InterfaceImpl.cpp) instead of adding cases to every code generator.
// One op interface, VariantOpInterface, gives the variant of the ops that
// carry one (attn.attention, attn.attention_grad) to the code that reads
// it (ScoreEmitter, the verifiers) without caring which op it is.
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

//===----------------------------------------------------------------------===//
// Ops that carry a variant
//===----------------------------------------------------------------------===//

// A method of VariantOpInterface that forwards to the op's own accessor.
class Attn_VariantAccessor<string type, string name>
    : InterfaceMethod<"", type, name, (ins), "return $_op." # name # "();">;

def Attn_VariantOpInterface : OpInterface<"VariantOpInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    An op that computes with one attention variant: Q, K, V, the operand
    groups of its data-dependent masks and score modifiers, the captures
    its regions read, the variant attributes (scale, q_offset, layout,
    normalizer, mask, score_mods) and the score_mod / mask_mod regions.
    attn.attention and attn.attention_grad both carry one, with the same
    meaning; ScoreEmitter emits the scores of either through this
    interface.
  }];
  let methods = [
    Attn_VariantAccessor<"::mlir::Value", "getQuery">,
    Attn_VariantAccessor<"::mlir::Value", "getKey">,
    Attn_VariantAccessor<"::mlir::Value", "getValue">,
    Attn_VariantAccessor<"::mlir::Value", "getSink">,
    Attn_VariantAccessor<"::mlir::Value", "getKvLen">,
    Attn_VariantAccessor<"::mlir::Value", "getSegQ">,
    Attn_VariantAccessor<"::mlir::Value", "getSegKv">,
    Attn_VariantAccessor<"::mlir::Value", "getTreeParent">,
    Attn_VariantAccessor<"::mlir::Value", "getDenseMask">,
    Attn_VariantAccessor<"::mlir::Value", "getBias">,
    Attn_VariantAccessor<"::mlir::Value", "getRelBiasTable">,
    Attn_VariantAccessor<"::mlir::Value", "getTemperature">,
    Attn_VariantAccessor<"::mlir::Operation::operand_range", "getCaptures">,
    Attn_VariantAccessor<"::mlir::FloatAttr", "getScaleAttr">,
    Attn_VariantAccessor<"uint64_t", "getQOffset">,
    Attn_VariantAccessor<"::mlir::attn::Layout", "getLayoutOrDefault">,
    Attn_VariantAccessor<"::mlir::Attribute", "getNormalizerOrDefault">,
    Attn_VariantAccessor<"::mlir::Attribute", "getMaskOrDefault">,
    Attn_VariantAccessor<"::llvm::SmallVector<::mlir::Attribute>",
                         "getScoreModList">,
    Attn_VariantAccessor<"::mlir::Region &", "getScoreModRegion">,
    Attn_VariantAccessor<"::mlir::Region &", "getMaskModRegion">,
    Attn_VariantAccessor<"unsigned", "getSeqDim">,
    Attn_VariantAccessor<"unsigned", "getHeadDim">,
  ];
}

#endif // ATTN_INTERFACES
