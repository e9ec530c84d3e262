//===- AttnAttrs.td - attn attributes ----------------------*- tablegen -*-===//
//
// Attributes that describe an attention variant: layout, normalizers, mask
// patterns and their boolean algebra, score modifiers, and tile knobs.
// Throughout, `p = i + (kv_len(b) - Sq) + q_offset` is the position of query
// `i` (bottom-right alignment) and `j` the index of a key.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_ATTRS
#define ATTN_ATTRS

include "attn/Dialect/Attn/IR/AttnBase.td"
include "attn/Dialect/Attn/IR/AttnInterfaces.td"
include "mlir/IR/EnumAttr.td"

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def Attn_Layout : I32EnumAttr<"Layout", "memory layout of Q, K, V and O", [
    I32EnumAttrCase<"bhsd", 0>, I32EnumAttrCase<"bshd", 1>]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}
def Attn_LayoutAttr : EnumAttr<Attn_Dialect, Attn_Layout, "layout"> {
  let summary = "Tensor layout: [B, H, S, D] (bhsd) or [B, S, H, D] (bshd)";
  let assemblyFormat = "`<` $value `>`";
}

def Attn_PageLayout : I32EnumAttr<"PageLayout",
    "order of a page's slot and head axes", [
    I32EnumAttrCase<"nhd", 0>, I32EnumAttrCase<"hnd", 1>]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

def Attn_PagedAttr : Attn_Attr<"Paged", "paged"> {
  let summary = "K and V are page pools read through a page table";
  let description = [{
    On `attn.attention` with a `page_table(%t : tensor<B x max_pages x
    i32>)` operand and `kv_len`: K and V are pools of pages,
    `[pages, page_size, Hkv, D]` (`layout = nhd`, the default) or
    `[pages, Hkv, page_size, D]` (`hnd`), and logical key `j` of batch row
    `b` is slot `j mod page_size` of page `t[b, floor(j / page_size)]`.
    The logical cache holds `Skv = max_pages * page_size` keys, of which
    the first `kv_len(b)` are visible; positions, masks and modifiers are
    those of the logical keys, as for a contiguous cache.

    Example: `#attn.paged<page_size = 16>`, `#attn.paged<page_size = 16,
    layout = hnd>`
  }];
  let parameters = (ins
    Attn_I64Parameter<"keys per page">:$page_size,
    DefaultValuedParameter<"::mlir::attn::PageLayout",
                           "::mlir::attn::PageLayout::nhd",
                           "slot and head order of a page">:$layout);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Dims of a page pool holding the slot and head axes.
    unsigned getSlotDim() const {
      return getLayout() == ::mlir::attn::PageLayout::nhd ? 1 : 2;
    }
    unsigned getKvHeadDim() const { return 3 - getSlotDim(); }
  }];
}

def Attn_QuantFormat : I32EnumAttr<"QuantFormat",
    "what a quantized cache's codes are", [
    I32EnumAttrCase<"uint", 0>, I32EnumAttrCase<"e4m3", 1>,
    I32EnumAttrCase<"e5m2", 2>]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

def Attn_QuantAttr : Attn_Attr<"Quant", "quant"> {
  let summary = "K and V are quantized codes, dequantised as tiles load";
  let description = [{
    On `attn.attention` with a `kv_quant(...)` operand group: K and V hold
    unsigned integer codes of `bits` (8, 4 or 2) bits and each element is
    `x = scale * code + zero` (KIVI's asymmetric scheme). Keys are grouped
    per channel along tokens (a key group is `group` consecutive tokens of
    one channel), values per token along channels (`group` consecutive
    channels of one token); each group has one scale and one zero point of
    type `scale` (f16 or f32).

    Packing (bhsd shown; bshd swaps the sequence and head axes of every
    operand): K is `[B, Hkv, Skv, D * bits / 8] i8` and V
    `[B, Hkv, Skv, Dv * bits / 8] i8`; the codes of one token run along the
    channels, `8 / bits` to a byte, the lowest bits first: channel `d` is
    bits `[(d mod (8/bits)) * bits, +bits)` of byte `d / (8/bits)`.
    `kv_quant(%ks, %kz, %vs, %vz)` are the key scales and zeros
    `[B, Hkv, Skv / group, D]` and the value scales and zeros
    `[B, Hkv, Skv, Dv / group]`.

    With `residual = R > 0` the group adds `%kr, %vr`: the full precision
    keys `[B, Hkv, R, D]` and values `[B, Hkv, R, Dv]` (in the query's
    element type) of the newest tokens (KIVI's residual). With
    `n = kv_len(b) - kv_len(b) mod R` tokens quantized, key `j < n` is
    dequantised from the codes and key `j >= n` is row `j - n` of the
    residual: tokens arrive in the residual and every `R` of them are
    quantized together (`R` a multiple of `group`), so that key groups are
    always whole.

    fp8 caches (`format = e4m3` or `e5m2`, `bits = 8`, `group = 1`): each
    code byte is an fp8 number (OCP FP8: e4m3 without infinities, e5m2)
    and `x = scale[h] * fp8(code)` with one scale per kv head for keys and
    one for values: `kv_quant(%ks, %vs)`, each `[Hkv]` (plus the residual
    rows as above). Codes that are NaN in fp8 are the caller's error; the
    kernels read them as finite numbers.

    Example: `#attn.quant<bits = 4, group = 32, scale = f16>`,
    `#attn.quant<bits = 2, group = 32, scale = f32, residual = 128>`,
    `#attn.quant<bits = 8, group = 1, scale = f32, format = e4m3>`
  }];
  let parameters = (ins
    Attn_I64Parameter<"bits per code: 8, 4 or 2">:$bits,
    Attn_I64Parameter<"tokens per key group, channels per value group">:$group,
    AttrOrTypeParameter<"::mlir::Type", "type of scales and zeros">:$scale,
    Attn_I64Parameter<"full precision newest tokens", "0">:$residual,
    DefaultValuedParameter<"::mlir::attn::QuantFormat",
                           "::mlir::attn::QuantFormat::uint",
                           "unsigned integer or fp8 codes">:$format);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Codes per byte.
    int64_t getCodesPerByte() const { return 8 / getBits(); }
    /// fp8 codes with a scale per head, no zero points.
    bool isFloat8() const {
      return getFormat() != ::mlir::attn::QuantFormat::uint;
    }
  }];
}

def Attn_ReluNorm : I32EnumAttr<"ReluNorm", "denominator of relu attention", [
    I32EnumAttrCase<"none", 0>, I32EnumAttrCase<"seq_len", 1>,
    I32EnumAttrCase<"row_sum", 2>]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

//===----------------------------------------------------------------------===//
// Normalizers
//===----------------------------------------------------------------------===//

// Every normalizer states its streaming form (NormalizerInterfaceImpl.cpp);
// `overrides` lists the optional methods it implements.
class Attn_NormalizerAttr<string name, string mnemonic,
                          list<string> overrides = []>
    : Attn_Attr<name, mnemonic, [DeclareAttrInterfaceMethods<
        Attn_NormalizerAttrInterface, overrides>]>;

def Attn_SoftmaxAttr : Attn_NormalizerAttr<"Softmax", "softmax"> {
  let summary = "Softmax over the allowed keys";
  let description = [{
    `P[i,j] = m*exp(s'-M) / sum_j m*exp(s'-M)` with `M` the row maximum;
    `LSE = log sum_j m*exp(s')`. A row with no allowed key gives `O = 0`,
    `LSE = -inf`.

    Example: `normalizer = #attn.softmax`
  }];
}

def Attn_SinkSoftmaxAttr : Attn_NormalizerAttr<"SinkSoftmax", "sink_softmax"> {
  let summary = "Softmax with a per-head sink logit in the denominator";
  let description = [{
    Softmax with an extra `exp(sink[h])` term in the denominator only; the
    op's `sink` operand holds the logits, `tensor<Hq x f32>`. LSE includes the
    sink term, so a fully masked row has `LSE = sink[h]` and `O = 0`.

    Example: `normalizer = #attn.sink_softmax`
  }];
}

def Attn_SigmoidAttr
    : Attn_NormalizerAttr<"Sigmoid", "sigmoid", ["emitRowBias"]> {
  let summary = "Sigmoid attention, no row normalisation";
  let description = [{
    `P[i,j] = m*sigmoid(s' + beta)`; `beta` defaults to `-log(kv_len(b))`.
    Has no LSE.

    Example: `#attn.sigmoid`, `#attn.sigmoid<beta = -4.0>`
  }];
  let parameters = (ins Attn_OptionalF64Parameter<"additive bias">:$beta);
  let assemblyFormat = "(`<` struct($beta)^ `>`)?";
  let genVerifyDecl = 1;
}

def Attn_SoftplusAttr
    : Attn_NormalizerAttr<"Softplus", "softplus", ["emitShiftCap"]> {
  let summary = "Softplus weights normalised by their row sum (softplus-l1)";
  let description = [{
    `P[i,j] = m*softplus(s') / sum_j m*softplus(s')`; `LSE = log Z`.

    Example: `normalizer = #attn.softplus`
  }];
}

def Attn_ReluAttr : Attn_NormalizerAttr<"Relu", "relu"> {
  let summary = "ReLU attention";
  let description = [{
    `P[i,j] = m*relu(s')^power / Z` with `power` in {1, 2} and `Z` one of
    `none` (1), `seq_len` (`kv_len(b)`, the default) or `row_sum`. Only
    `row_sum` defines an LSE (`log Z`).

    Example: `#attn.relu`, `#attn.relu<power = 2, norm = row_sum>`
  }];
  let parameters = (ins
    Attn_I64Parameter<"exponent k", "1">:$power,
    DefaultValuedParameter<"::mlir::attn::ReluNorm",
                           "::mlir::attn::ReluNorm::seq_len",
                           "denominator">:$norm);
  let assemblyFormat = "(`<` struct($power, $norm)^ `>`)?";
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// Declarative masks
//===----------------------------------------------------------------------===//

class Attn_MaskAttr<string name, string mnemonic, list<Trait> traits = []>
    : Attn_Attr<name, mnemonic, !listconcat([
        Attn_MaskAttrInterface], traits)>;

// A declarative leaf: a function of the head, the query position and the
// key alone, which states its element predicate, tile classes and
// row-exactness itself (MaskInterfaceImpl.cpp).
class Attn_MaskLeafAttr<string name, string mnemonic>
    : Attn_Attr<name, mnemonic, [DeclareAttrInterfaceMethods<
        Attn_MaskAttrInterface,
        ["emitAllowed", "classifyTile", "isRowExact"]>]>;

def Attn_FullMaskAttr : Attn_MaskLeafAttr<"FullMask", "full"> {
  let summary = "Every key is allowed";
  let description = "Example: `mask = #attn.full`";
}

def Attn_CausalMaskAttr : Attn_MaskLeafAttr<"CausalMask", "causal"> {
  let summary = "Causal mask, `j <= p`";
  let description = "Example: `mask = #attn.causal`";
}

def Attn_SlidingWindowAttr
    : Attn_MaskLeafAttr<"SlidingWindow", "sliding_window"> {
  let summary = "Sliding window, `p - left <= j <= p + right`";
  let description = [{
    Example: `#attn.sliding_window<left = 256, right = 0>` (causal window).
  }];
  let parameters = (ins Attn_I64Parameter<"keys before">:$left,
                        Attn_I64Parameter<"keys after", "0">:$right);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_ChunkedAttr : Attn_MaskLeafAttr<"Chunked", "chunked"> {
  let summary = "Block-local attention, `floor(p / size) == floor(j / size)`";
  let description = "Example: `#attn.chunked<size = 128>`";
  let parameters = (ins Attn_I64Parameter<"chunk length">:$size);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_HaloAttr : Attn_MaskLeafAttr<"Halo", "halo"> {
  let summary = "Blocked local attention with a halo";
  let description = [{
    With `blk = floor(p / block)`, key `j` is allowed when
    `blk*block - halo <= j <= blk*block + block - 1 + halo` (HaloNets).

    Example: `#attn.halo<block = 64, halo = 16>`
  }];
  let parameters = (ins Attn_I64Parameter<"block length">:$block,
                        Attn_I64Parameter<"halo width">:$halo);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_DilatedAttr : Attn_MaskLeafAttr<"Dilated", "dilated"> {
  let summary = "LongNet dilated attention";
  let description = [{
    `p` and `j` lie in the same segment of length `segment`, and
    `(j mod segment) mod rate == h mod rate` and
    `(p mod segment) mod rate == h mod rate` (mod is floor modulo).

    Example: `#attn.dilated<segment = 256, rate = 4>`
  }];
  let parameters = (ins Attn_I64Parameter<"segment length">:$segment,
                        Attn_I64Parameter<"dilation rate">:$rate);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_GlobalAttr : Attn_MaskLeafAttr<"Global", "global"> {
  let summary = "Global tokens: `p` or `j` is global";
  let description = [{
    A position x is global when 0 <= x < `first`, or x is listed in `positions`
    (Longformer). Usually or-ed with a local pattern.

    Example: `#attn.global<first = 2>`, `#attn.global<positions = [0, 17]>`
  }];
  let parameters = (ins Attn_I64Parameter<"leading global positions", "0">:$first,
                        Attn_I64ArrayParameter<"global positions">:$positions);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_SinksAttr : Attn_MaskLeafAttr<"Sinks", "sinks"> {
  let summary = "Attention sinks, `j < count` (not causal by itself)";
  let description = [{
    StreamingLLM is
    `#attn.and<[#attn.or<[#attn.sinks<count = 4>, #attn.sliding_window<left = 1024>]>, #attn.causal]>`.
  }];
  let parameters = (ins Attn_I64Parameter<"number of sink keys">:$count);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_AShapeAttr : Attn_MaskLeafAttr<"AShape", "a_shape"> {
  let summary = "A-shape (Lambda) mask: sinks plus a local window, causal";
  let description = [{
    The mask of StreamingLLM and LM-Infinite (the "A-shape" / "Lambda" of
    LongCA-bench and SCBench) as one leaf: allowed when
    `j <= p and (j < sinks or p - window <= j)`, so every query sees the
    first `sinks` keys and its last `window + 1` positions, never a later
    key. It equals
    `#attn.and<[#attn.or<[#attn.sinks<count = sinks>, #attn.sliding_window<left = window>]>, #attn.causal]>`.

    Example: `#attn.a_shape<sinks = 4, window = 1024>`
  }];
  let parameters = (ins Attn_I64Parameter<"number of sink keys">:$sinks,
                        Attn_I64Parameter<"keys before the query">:$window);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_DilatedWindowAttr
    : Attn_MaskLeafAttr<"DilatedWindow", "dilated_window"> {
  let summary = "Dilated sliding window, `|p - j| <= window` on a stride";
  let description = [{
    Allowed when `|p - j| <= window and (p - j) mod dilation == 0`: a
    symmetric window that keeps every `dilation`-th key, the dilated
    sliding window of FlexAttention's attention-gym. It is not
    `#attn.dilated`, which is LongNet's dilation within fixed segments.
    With `dilation = 1` it equals
    `#attn.sliding_window<left = window, right = window>`.

    Example: `#attn.dilated_window<window = 256, dilation = 4>`
  }];
  let parameters = (ins Attn_I64Parameter<"keys on each side">:$window,
                        Attn_I64Parameter<"stride between kept keys">:$dilation);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_PrefixLMAttr : Attn_MaskLeafAttr<"PrefixLM", "prefix_lm"> {
  let summary = "Prefix-LM, `j < prefix or j <= p`";
  let description = "Example: `#attn.prefix_lm<prefix = 64>`";
  let parameters = (ins Attn_I64Parameter<"prefix length">:$prefix);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_Neighborhood2DAttr
    : Attn_MaskLeafAttr<"Neighborhood2D", "neighborhood_2d"> {
  let summary = "2D neighbourhood on a row-major grid";
  let description = [{
    Tokens lie on a `rows x cols` grid, token `t` at `(t / cols, t mod cols)`;
    the query token is `p`, the key token `j`. Allowed when
    `|dr| <= kernel_rows / 2` and `|dc| <= kernel_cols / 2` (windows cut off
    at the border). Requires `Skv <= rows * cols`.

    Example: `#attn.neighborhood_2d<rows = 16, cols = 16, kernel_rows = 5, kernel_cols = 5>`
  }];
  let parameters = (ins Attn_I64Parameter<"grid rows">:$rows,
                        Attn_I64Parameter<"grid columns">:$cols,
                        Attn_I64Parameter<"kernel rows">:$kernel_rows,
                        Attn_I64Parameter<"kernel columns">:$kernel_cols);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_NattenAttr : Attn_MaskLeafAttr<"Natten", "natten"> {
  let summary = "NATTEN's 2D neighbourhood: windows shifted inward at the "
                "border, with dilation";
  let description = [{
    Tokens lie on a `rows x cols` grid, token `t` at `(t / cols, t mod cols)`;
    the query token is `p`, the key token `j`. Per dimension, with `n` the
    grid size, `k` the kernel size and `d` the dilation, a query at `q`
    sees the keys at `x` with `x mod d == q mod d` whose index `x / d` in
    that dilated sub-grid (of `m = ceil((n - q mod d) / d)` tokens) lies
    within `k / 2` of the centre `clamp(q / d, k / 2, m - 1 - k / 2)`: the
    window is shifted inward at the border instead of cut off, so every
    query sees `k` keys per dimension when `m >= k` (NATTEN; attention-gym's
    natten mask_mod for `d = 1`). `#attn.neighborhood_2d` cuts the window
    off instead. Requires `Skv <= rows * cols`.

    Example: `#attn.natten<rows = 16, cols = 16, kernel_rows = 7, kernel_cols = 7, dilation_rows = 2>`
  }];
  let parameters = (ins Attn_I64Parameter<"grid rows">:$rows,
                        Attn_I64Parameter<"grid columns">:$cols,
                        Attn_I64Parameter<"kernel rows">:$kernel_rows,
                        Attn_I64Parameter<"kernel columns">:$kernel_cols,
                        Attn_I64Parameter<"row dilation", "1">:$dilation_rows,
                        Attn_I64Parameter<"column dilation", "1">:$dilation_cols);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_Window2DAttr : Attn_MaskLeafAttr<"Window2D", "window_2d"> {
  let summary = "Non-overlapping 2D windows (Swin)";
  let description = [{
    Tokens on a `rows x cols` grid; allowed when query and key fall in the
    same `window_rows x window_cols` window.

    Example: `#attn.window_2d<rows = 8, cols = 8, window_rows = 4, window_cols = 4>`
  }];
  let parameters = (ins Attn_I64Parameter<"grid rows">:$rows,
                        Attn_I64Parameter<"grid columns">:$cols,
                        Attn_I64Parameter<"window rows">:$window_rows,
                        Attn_I64Parameter<"window columns">:$window_cols);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_Directional2DAttr
    : Attn_MaskLeafAttr<"Directional2D", "directional_2d"> {
  let summary = "Directional 2D mask with one direction per head (LookHere)";
  let description = [{
    Tokens on a `rows x cols` grid (row 0 at the top). `directions` lists
    integer vectors `(u_r, u_c)` flattened; head `h` uses vector
    `h mod n` (`n` vectors). With `d = (key_row - query_row,
    key_col - query_col)`, a key is allowed when `dot(d, u) >= |cross(d, u)|`
    (90-degree cone, edges included) or, with `half_plane = true`, when
    `dot(d, u) >= 0`. The query's own token is always allowed. North is
    `(-1, 0)`, east `(0, 1)`.

    Example: `#attn.directional_2d<rows = 8, cols = 8, directions = [-1, 0, 0, 1]>`
  }];
  let parameters = (ins Attn_I64Parameter<"grid rows">:$rows,
                        Attn_I64Parameter<"grid columns">:$cols,
                        Attn_I64ArrayParameter<"(row, col) per head">:$directions,
                        Attn_BoolParameter<"half-plane instead of cone">:$half_plane);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_AndMaskAttr : Attn_MaskAttr<"AndMask", "and"> {
  let summary = "Conjunction of masks";
  let description = "Example: `#attn.and<[#attn.causal, #attn.sliding_window<left = 128>]>`";
  let parameters = (ins ArrayRefParameter<"::mlir::Attribute", "operands">:$masks);
  let assemblyFormat = "`<` `[` $masks `]` `>`";
  let genVerifyDecl = 1;
}

def Attn_OrMaskAttr : Attn_MaskAttr<"OrMask", "or"> {
  let summary = "Disjunction of masks";
  let description = "Example: `#attn.or<[#attn.sinks<count = 4>, #attn.sliding_window<left = 64>]>`";
  let parameters = (ins ArrayRefParameter<"::mlir::Attribute", "operands">:$masks);
  let assemblyFormat = "`<` `[` $masks `]` `>`";
  let genVerifyDecl = 1;
}

def Attn_NotMaskAttr : Attn_MaskAttr<"NotMask", "not"> {
  let summary = "Negation of a mask";
  let description = "Example: `#attn.not<#attn.causal>`";
  let parameters = (ins "::mlir::Attribute":$mask);
  let assemblyFormat = "`<` $mask `>`";
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// Data-dependent masks: leaves that read operands of attn.attention
//===----------------------------------------------------------------------===//

def Attn_DocumentMaskAttr : Attn_MaskAttr<"DocumentMask", "document"> {
  let summary = "Document mask, `seg_q[b, i] == seg_kv[b, j]`";
  let description = [{
    Reads the op's `segments(%seg_q, %seg_kv)` operands, integer tensors
    `[B, Sq]` and `[B, Skv]`. And it with `#attn.causal` for packed causal
    training.
  }];
}

def Attn_TreeMaskAttr : Attn_MaskAttr<"TreeMask", "tree"> {
  let summary = "Speculative-decoding tree mask";
  let description = [{
    Reads the op's `tree(%parent)` operand, integer `[T]` or `[B, T]`, with
    `-1` marking a root. The last `T` queries and keys are the draft tokens;
    a draft query sees every non-draft key plus its ancestors-or-self;
    earlier queries are causal.
  }];
}

def Attn_DenseMaskAttr : Attn_MaskAttr<"DenseMask", "dense"> {
  let summary = "Explicit boolean mask tensor, per element or per block";
  let description = [{
    Reads the op's `dense_mask(%m)` operand, `i1` or `i8`; non-zero means
    allowed. Without parameters the operand has one entry per score,
    `[B|1, Hq|1, Sq, Skv]` (rank 2 and 3 broadcast numpy-style).

    With blocks (`#attn.dense<block_q = 64, block_kv = 128>`) it is a
    block-sparse mask: entry `[b, h, i / block_q, j / block_kv]` of a
    `[B|1, Hq|1, ceil(Sq / block_q), ceil(Skv / block_kv)]` operand allows
    the whole block of scores (a per-(b, h, q block) list of kv blocks,
    written as a bitmap). Every dense leaf of one mask reads the same
    operand, so they must agree on the blocks.
  }];
  let parameters = (ins Attn_I64Parameter<"query rows per block", "1">:$block_q,
                        Attn_I64Parameter<"keys per block", "1">:$block_kv);
  let assemblyFormat = "(`<` struct($block_q, $block_kv)^ `>`)?";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Whether entries cover blocks rather than single scores.
    bool isBlocked() const { return getBlockQ() != 1 || getBlockKv() != 1; }
  }];
}

def Attn_BlocksMaskAttr : Attn_MaskAttr<"BlocksMask", "blocks"> {
  let summary = "A block table over a mask: blocks skipped, whole, or decided "
                "by the mask";
  let description = [{
    Reads the op's `dense_mask(%t)` operand as a table of entries
    `[B|1, Hq|1, ceil(Sq / block_q), ceil(Skv / block_kv)]`, `i8` (or `i1`),
    size-1 dims broadcast. The score (i, j) of block
    `(i / block_q, j / block_kv)` is allowed when the block's entry is 2 or
    more, decided by `mask` when it is 1, and masked when it is 0.

    This is FlexAttention's block mask with its full blocks (`attn.flex`
    builds one from a mask_mod): the fused kernels skip kv tiles whose
    entries are all 0 without reading them, and run tiles whose entries are
    all 2 or more without evaluating `mask`. It is the whole mask of an op
    (not nested in and/or/not), and `mask` holds no `#attn.dense` (the table
    is the dense_mask operand).

    Example: `#attn.blocks<block_q = 128, block_kv = 128, mask = #attn.mask_mod>`
  }];
  let parameters = (ins Attn_I64Parameter<"query rows per block">:$block_q,
                        Attn_I64Parameter<"keys per block">:$block_kv,
                        "::mlir::Attribute":$mask);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_MaskModAttr : Attn_MaskAttr<"MaskMod", "mask_mod"> {
  let summary = "The op's mask_mod region, as a mask leaf";
  let description = [{
    Evaluates the `mask_mod` region with `(b, h, q_idx, kv_idx)` followed by
    the captured tensors; the region yields `i1`.
  }];
}

//===----------------------------------------------------------------------===//
// Score modifiers
//===----------------------------------------------------------------------===//

class Attn_ScoreModAttr<string name, string mnemonic>
    : Attn_Attr<name, mnemonic, [
        Attn_ScoreModAttrInterface]>;

// A declarative modifier: a function of the score, the head, the query
// position and the key alone, which emits itself
// (ScoreModInterfaceImpl.cpp).
class Attn_DeclarativeScoreModAttr<string name, string mnemonic>
    : Attn_Attr<name, mnemonic, [DeclareAttrInterfaceMethods<
        Attn_ScoreModAttrInterface, ["emitScoreMod"]>]>;

def Attn_AlibiAttr : Attn_DeclarativeScoreModAttr<"Alibi", "alibi"> {
  let summary = "ALiBi linear position bias";
  let description = [{
    `s' = s - slope[h] * (p - j)`, or `* |p - j|` with `symmetric = true`.
    Default slopes `2^(-8 (h+1) / Hq)`; explicit `slopes` need one value per
    query head.

    Example: `#attn.alibi`, `#attn.alibi<slopes = [0.5, 0.25]>`
  }];
  let parameters = (ins Attn_F64ArrayParameter<"per-head slopes">:$slopes,
                        Attn_BoolParameter<"use |p - j|">:$symmetric);
  let assemblyFormat = "(`<` struct(params)^ `>`)?";
  let genVerifyDecl = 1;
}

def Attn_SoftcapAttr : Attn_DeclarativeScoreModAttr<"Softcap", "softcap"> {
  let summary = "Logit soft-capping, `s' = cap * tanh(s / cap)`";
  let description = "Example: `#attn.softcap<cap = 30.0>`";
  let parameters = (ins Attn_F64Parameter<"cap">:$cap);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_RelBiasAttr : Attn_ScoreModAttr<"RelBias", "rel_bias"> {
  let summary = "T5 bucketed relative position bias";
  let description = [{
    `s' = s + table[h, bucket(j - p)]` with T5's bucketing (computed in
    float64). Reads the op's `rel_bias_table(%t)` operand,
    `[Hq, num_buckets]`.

    Example: `#attn.rel_bias<num_buckets = 32, max_distance = 128>`
  }];
  let parameters = (ins
    Attn_I64Parameter<"number of buckets">:$num_buckets,
    Attn_I64Parameter<"largest distinguished distance">:$max_distance,
    Attn_BoolParameter<"separate buckets for both directions", "true">:$bidirectional);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_BiasAttr : Attn_ScoreModAttr<"Bias", "bias"> {
  let summary = "Additive bias tensor, `s' = s + bias[b?, h?, i, j]`";
  let description = [{
    Reads the op's `bias(%t)` operand of rank 2, 3 or 4, broadcast
    numpy-style against `[B, Hq, Sq, Skv]`.
  }];
}

def Attn_TemperatureAttr : Attn_ScoreModAttr<"Temperature", "temperature"> {
  let summary = "Per-query temperature, `s' = s * tau[b, h, i]`";
  let description = "Reads the op's `temperature(%tau)` operand, `[B, Hq, Sq]`.";
}

def Attn_GaussianAttr
    : Attn_DeclarativeScoreModAttr<"Gaussian", "gaussian"> {
  let summary = "Gaussian positional bias";
  let description = [{
    `s' = s - (p - j - mu[h])^2 / (2 sigma[h]^2)`, one `mu` and `sigma` per
    query head.

    Example: `#attn.gaussian<mu = [0.0, 1.0], sigma = [4.0, 8.0]>`
  }];
  let parameters = (ins Attn_F64ArrayParameter<"means">:$mu,
                        Attn_F64ArrayParameter<"deviations">:$sigma);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Attn_ScoreModRegionAttr : Attn_ScoreModAttr<"ScoreModRegion", "score_mod"> {
  let summary = "The op's score_mod region, as a modifier";
  let description = [{
    Evaluates the `score_mod` region with `(score, b, h, q_idx, kv_idx)`
    followed by the captured tensors; the region yields the new score (f32).
  }];
}

//===----------------------------------------------------------------------===//
// Tile knobs
//===----------------------------------------------------------------------===//

def Attn_ConfigAttr : Attn_Attr<"Config", "config"> {
  let summary = "Tile plan: tile sizes and code-generation knobs";
  let description = [{
    The one carrier of the fused code generators' knobs: attn-opt's
    options, Python's `config=` and the tuner all set it, and each code
    generator resolves it into its tile plan (AttnToCPU.h, AttnToGPU.h),
    filling every field left at its default (0 or "") from the target and
    the op. `attn-opt --attn-print-tile-plan` shows the resolved plans. The
    reference lowering ignores it.

    | field | read by | meaning |
    |---|---|---|
    | `block_q` | CPU, GPU | query rows per tile (CPU: a multiple of the vector width; GPU: 16 per warp) |
    | `block_kv` | CPU, GPU | keys per kv tile |
    | `vector_width` | CPU | f32 lanes: 4 (SSE), 8 (AVX2), 16 (AVX-512) |
    | `unroll` | CPU | rows per register block (keys in Q K^T, head-dim rows in P V) |
    | `kv_splits` | CPU | decoding: kv splits per query row |
    | `q_blocks` | CPU | q-tiles per work item, which run each chunk of kv tiles in turn while its K and V are in L2 (not with `dot = "amx"` or `"amx_int8"`) |
    | `dot` | CPU | product instructions: `"fma"` (f32 FMAs), `"bf16"` (Q K^T by AVX512-BF16 pair dot products, bf16 inputs), `"amx"` (Q K^T and P V by AMX bf16 tiles, bf16 inputs, or f16 inputs rounded to bf16 (opt-in, below); needs vector_width 16 or unset, block_q and block_kv multiples of 32; decoding from bf16 caches, contiguous or paged, computes both products on AMX tiles, the weights rounded to bf16) or `"amx_int8"` (opt-in, changes numerics: Q K^T of an int8 quantized cache by AMX int8 tiles, below) |
    | `warps` | GPU | warps per CTA |
    | `stages` | GPU | K/V shared-memory stages |
    | `mma` | GPU | tensor-core instructions: `"sync"` (mma.sync) or `"wgmma"` (sm_90a) |

    `dot = "amx"` on f16 inputs changes what is computed too, and is never
    an f16 default (bf16's default is `"amx"` where it applies; f16's only
    under attn-tile-cpu's `f16-amx` option): Q, K and V are rounded to bf16,
    nearest even (`bf16(x)`, x widened exactly to f32 and rounded once),
    where the kernel packs its tiles, so every element keeps 8 significant
    bits instead of 11 (relative error at most 2^-9; no f16 value is out of
    bf16's range, which is f32's, and none becomes a bf16 denormal); the
    products then run as for bf16 inputs (f32 accumulators, the weights
    rounded to bf16) and O is written in f16. The backward takes the same
    opt-in (bf16 copies of Q, K, V and dO).

    `dot = "amx_int8"` changes what is computed as well, and
    is never a default (nor swept by the tuner): for an int8 `#attn.quant`
    cache (KIVI keys `K[t, c] = s[g, c] code[t, c] + z[g, c]`, g = t /
    group) the tile kernel computes, per query row i and key group g,
    `u = scale * Q[i, :] * s[g, :]` (f32), `r = max|u| / 127`, `iq =
    round_half_even(u * (127 / max|u|))` (int8), and the score `r * sum_c
    iq[c] (code[t, c] - 128) + scale * sum_c Q[i, c] (z[g, c] + 128 s[g,
    c])`, with `sum_c iq[c] code[t, c]` exact in int32 by AMX (TDPBUSD:
    unsigned codes times the signed query); the query's rounding moves a
    score by at most `r / 2 * sum_c |code[t, c] - 128|` (README "int8 Q
    K^T on AMX" gives the measured errors). With bf16 queries P V runs on
    AMX bf16 tiles as with `dot = "amx"` (V rounded to bf16, the weights
    too), with f32 queries on f32 FMAs. Keys in the residual window and
    decoding (the row kernel, Sq <= 2) are computed as without it.
    Needs
    8-bit integer codes without a page table, key groups of a multiple of
    32 tokens, a static head dim that is a multiple of 64, vector_width 16,
    block_q and block_kv multiples of 32 and a host with AMX-INT8; the
    reference lowering computes the exact attention.

    The verifier checks the target-independent rule of each field; the
    rules that depend on the target and the op (register and shared-memory
    budgets, head dims) are checked when the plan is resolved, with a
    diagnostic on the op.

    Example: `#attn.config<block_q = 64, block_kv = 128, dot = "fma">`
  }];
  let parameters = (ins
    Attn_I64Parameter<"query rows per tile", "0">:$block_q,
    Attn_I64Parameter<"keys per tile", "0">:$block_kv,
    Attn_I64Parameter<"f32 lanes per vector (CPU)", "0">:$vector_width,
    Attn_I64Parameter<"rows per register block (CPU)", "0">:$unroll,
    Attn_I64Parameter<"warps per CTA (GPU)", "0">:$warps,
    Attn_I64Parameter<"K/V pipeline stages (GPU)", "0">:$stages,
    Attn_I64Parameter<"KV splits for decoding (CPU)", "0">:$kv_splits,
    Attn_I64Parameter<"q-tiles per work item (CPU)", "0">:$q_blocks,
    StringRefParameter<"product instructions (CPU): fma, bf16, amx or amx_int8",
                       [{""}]>:$dot,
    StringRefParameter<"tensor-core instructions (GPU): sync or wgmma",
                       [{""}]>:$mma);
  let assemblyFormat = "(`<` struct(params)^ `>`)?";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The rule of `vector_width`: 0 (the target's), 4, 8 or 16.
    static bool isValidVectorWidth(int64_t width);
  }];
}

#endif // ATTN_ATTRS
