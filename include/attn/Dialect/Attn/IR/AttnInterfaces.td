//===- AttnInterfaces.td - attn attribute interfaces -------*- tablegen -*-===//
//
// Interfaces that classify attn attributes into masks, score modifiers and
// normalizers, so that ops and passes can accept any member of a family.
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
  }];
}

def Attn_ScoreModAttrInterface : AttrInterface<"ScoreModAttrInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    A function `s' = f(s, b, h, i, j)` applied to the scaled score.
  }];
}

def Attn_NormalizerAttrInterface : AttrInterface<"NormalizerAttrInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    Maps a masked row of modified scores to attention weights.
  }];
}

#endif // ATTN_INTERFACES
