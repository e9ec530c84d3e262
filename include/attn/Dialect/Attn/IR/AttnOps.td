//===- AttnOps.td - attn operations ------------------------*- tablegen -*-===//
//
// attn.attention computes one attention variant on tensors in
// destination-passing style, attn.attention_grad its gradients; attn.merge
// combines partial results by their log-sum-exp. attn.yield and attn.position serve the score_mod and mask_mod
// regions.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_OPS
#define ATTN_OPS

include "attn/Dialect/Attn/IR/AttnBase.td"
include "attn/Dialect/Attn/IR/AttnAttrs.td"
include "mlir/IR/OpBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"

//===----------------------------------------------------------------------===//
// The variant: what attn.attention and attn.attention_grad share
//===----------------------------------------------------------------------===//

// Operand groups of data-dependent masks, score modifiers and regions, each
// present exactly when the variant needs it, and the captures.
defvar Attn_VariantOperands = (ins
    Optional<AnyRankedTensor>:$sink,
    Optional<AnyRankedTensor>:$kv_len,
    Optional<AnyRankedTensor>:$seg_q, Optional<AnyRankedTensor>:$seg_kv,
    Optional<AnyRankedTensor>:$tree_parent,
    Optional<AnyRankedTensor>:$dense_mask,
    Optional<AnyRankedTensor>:$bias,
    Optional<AnyRankedTensor>:$rel_bias_table,
    Optional<AnyRankedTensor>:$temperature,
    Variadic<AnyRankedTensor>:$captures);

defvar Attn_VariantAttributes = (ins
    OptionalAttr<F64Attr>:$scale,
    DefaultValuedAttr<I64Attr, "0">:$q_offset,
    OptionalAttr<Attn_LayoutAttr>:$layout,
    OptionalAttr<AnyAttr>:$normalizer,
    OptionalAttr<AnyAttr>:$mask,
    OptionalAttr<ArrayAttr>:$score_mods,
    OptionalAttr<Attn_ConfigAttr>:$config);

defvar Attn_VariantOperandsFormat = [{
    (`sink` `(` $sink^ `:` type($sink) `)`)?
    (`kv_len` `(` $kv_len^ `:` type($kv_len) `)`)?
    (`segments` `(` $seg_q^ `,` $seg_kv `:` type($seg_q) `,` type($seg_kv) `)`)?
    (`tree` `(` $tree_parent^ `:` type($tree_parent) `)`)?
    (`dense_mask` `(` $dense_mask^ `:` type($dense_mask) `)`)?
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`rel_bias_table` `(` $rel_bias_table^ `:` type($rel_bias_table) `)`)?
    (`temperature` `(` $temperature^ `:` type($temperature) `)`)?
    (`captures` `(` $captures^ `:` type($captures) `)`)?
}];

defvar Attn_VariantRegionsFormat = [{
    (`score_mod` $score_mod_region^)?
    (`mask_mod` $mask_mod_region^)?
}];

/// An op carrying a variant: Q, K, V (`leading` adds the op's own inputs
/// after them), the variant's operand groups, the op's destinations
/// `outs`, the variant attributes and the two regions.
class Attn_VariantOp<string mnemonic, dag leading, dag outs>
    : Attn_Op<mnemonic, [AttrSizedOperandSegments, Pure,
                         DeclareOpInterfaceMethods<Attn_VariantOpInterface>]> {
  let arguments = !con(
      (ins AnyRankedTensor:$query, AnyRankedTensor:$key,
           AnyRankedTensor:$value),
      leading, Attn_VariantOperands, outs, Attn_VariantAttributes);
  let regions = (region MaxSizedRegion<1>:$score_mod_region,
                        MaxSizedRegion<1>:$mask_mod_region);
  code variantClassDeclaration = [{
    /// Effective variant attributes, defaults filled in.
    ::mlir::attn::Layout getLayoutOrDefault();
    ::mlir::Attribute getNormalizerOrDefault();
    ::mlir::Attribute getMaskOrDefault();
    ::llvm::SmallVector<::mlir::Attribute> getScoreModList();
    /// Dimension positions of the sequence and head axes for the layout.
    unsigned getSeqDim();
    unsigned getHeadDim();
  }];
  let extraClassDeclaration = variantClassDeclaration;
  let extraClassDefinition = [{
    ::mlir::attn::Layout $cppClass::getLayoutOrDefault() {
      if (auto layout = getLayoutAttr())
        return layout.getValue();
      return ::mlir::attn::Layout::bhsd;
    }
    unsigned $cppClass::getSeqDim() {
      return getLayoutOrDefault() == ::mlir::attn::Layout::bhsd ? 2 : 1;
    }
    unsigned $cppClass::getHeadDim() {
      return getLayoutOrDefault() == ::mlir::attn::Layout::bhsd ? 1 : 2;
    }
    ::mlir::Attribute $cppClass::getNormalizerOrDefault() {
      if (::mlir::Attribute n = getNormalizerAttr())
        return n;
      return ::mlir::attn::SoftmaxAttr::get(getContext());
    }
    ::mlir::Attribute $cppClass::getMaskOrDefault() {
      if (::mlir::Attribute m = getMaskAttr())
        return m;
      return ::mlir::attn::FullMaskAttr::get(getContext());
    }
    ::llvm::SmallVector<::mlir::Attribute> $cppClass::getScoreModList() {
      ::llvm::SmallVector<::mlir::Attribute> mods;
      if (::mlir::ArrayAttr list = getScoreModsAttr())
        ::llvm::append_range(mods, list.getValue());
      return mods;
    }
  }];
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let hasCanonicalizer = 1;
}

def Attn_AttentionOp : Attn_VariantOp<"attention",
    (ins Optional<AnyRankedTensor>:$page_table,
         OptionalAttr<Attn_PagedAttr>:$paged,
         Variadic<AnyRankedTensor>:$kv_quant,
         OptionalAttr<Attn_QuantAttr>:$quant),
    (ins Variadic<AnyRankedTensor>:$outputs)> {
  let summary = "Attention with a declarative variant";
  let description = [{
    Computes `O[b,h,i,:] = sum_j P[b,h,i,j] * V[b,kvh,j,:]` where

    ```
    s  = scale * dot(Q[b,h,i,:], K[b,kvh,j,:])      (scale defaults to 1/sqrt(D))
    s' = score_mods applied in order to s
    P  = normalizer(row of s' restricted to the keys allowed by mask)
    ```

    `Q: [B, Hq, Sq, D]`, `K: [B, Hkv, Skv, D]`, `V: [B, Hkv, Skv, Dv]` and
    `O: [B, Hq, Sq, Dv]` for `layout = #attn.layout<bhsd>` (the default;
    `bshd` swaps the sequence and head dims). Query head `h` reads key/value
    head `kvh = h / (Hq / Hkv)`, which covers MHA, GQA and MQA. Inputs are
    f32, f16 or bf16 and all share one type; arithmetic is f32; `O` has the
    input type. The optional second init/result is `LSE: [B, Hq, Sq]` f32.

    Query `i` sits at position `p = i + (kv_len(b) - Sq) + q_offset`, where
    `kv_len(b)` is `Skv` unless a `kv_len` operand gives per-batch cache
    lengths (keys at `j >= kv_len(b)` are then masked).

    A paged cache (`paged = #attn.paged<page_size = P, layout = nhd>`
    with a `page_table(%t : tensor<B x max_pages x i32>)` operand and
    `kv_len`): K and V are page pools `[pages, P, Hkv, D]` (`nhd`) or
    `[pages, Hkv, P, D]` (`hnd`) and logical key `j` of batch row `b` is
    slot `j mod P` of page `t[b, floor(j / P)]`; `Skv = max_pages * P`.
    Only the entries covering the first `kv_len(b)` keys are read; an
    entry outside `[0, pages)` there is the caller's error (the lowerings
    clamp it, so it reads a wrong page but never out of bounds), as is a
    `kv_len(b)` beyond `Skv` (clamped to `Skv`).

    A quantized cache (`quant = #attn.quant<bits, group, scale, residual>`
    with a `kv_quant(%key_scale, %key_zero, %value_scale, %value_zero
    [, %key_residual, %value_residual])` operand group): K and V are
    packed integer codes, dequantised as `scale * code + zero`, or fp8
    codes with per-head scales `kv_quant(%key_scale, %value_scale[, ...])`
    (see #attn.quant for the packing and the shapes); with `paged` too,
    codes, scales and zeros are page pools. The reference lowering dequantises the whole cache first; the
    fused CPU kernels dequantise each kv tile into f32 as it is loaded; the
    GPU's mma.sync kernel dequantises each K and V tile in f32 on its way
    to shared memory and rounds it to the kernel's f16/bf16 (nearest
    even), the tiles its products read.

    Operand groups, each present exactly when the variant needs it:
    `sink` (`[Hq]` f32, for `#attn.sink_softmax`), `kv_len` (`[B]` integer),
    `segments` (`#attn.document`), `tree` (`#attn.tree`), `dense_mask`
    (`#attn.dense`), `bias` (`#attn.bias`), `rel_bias_table`
    (`#attn.rel_bias`), `temperature` (`#attn.temperature`) and `captures`
    (tensors the regions read).

    The `score_mod` region receives `(score: f32, b, h, q_idx, kv_idx:
    index)` followed by one argument per capture and yields an f32; the
    `mask_mod` region receives `(b, h, q_idx, kv_idx: index)` followed by
    the captures and yields an i1. Regions are isolated: they use only their
    arguments and values defined inside. `attn.position` gives `p` inside a
    region. Reads of captures with indices out of range read nothing and
    give 0; the CPU lowerings also record them for the caller (see
    ScoreEmitter::setCaptureErrorFlag).

    Example:

    ```mlir
    %o = attn.attention ins(%q, %k, %v : tensor<?x?x?x64xf32>,
                            tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
           outs(%init : tensor<?x?x?x64xf32>)
           {mask = #attn.causal, score_mods = [#attn.softcap<cap = 30.0>]}
           -> tensor<?x?x?x64xf32>
    ```
  }];

  let results = (outs Variadic<AnyRankedTensor>:$results);

  let assemblyFormat = !strconcat([{
    `ins` `(` $query `,` $key `,` $value `:` type($query) `,` type($key) `,` type($value) `)`
    (`page_table` `(` $page_table^ `:` type($page_table) `)`)?
    (`kv_quant` `(` $kv_quant^ `:` type($kv_quant) `)`)?
  }], Attn_VariantOperandsFormat, [{
    `outs` `(` $outputs `:` type($outputs) `)`
  }], Attn_VariantRegionsFormat, [{
    attr-dict `->` type($results)
  }]);

  let extraClassDeclaration = !strconcat(variantClassDeclaration, [{
    /// The output O, and the LSE result if requested.
    ::mlir::Value getOutput() { return getResults()[0]; }
    ::mlir::Value getLse() {
      return getResults().size() > 1 ? getResults()[1] : ::mlir::Value();
    }
    /// The kv_quant operands by role (null when absent): scales and zeros
    /// (fp8 caches have per-head scales and no zeros), then the residual.
    ::mlir::Value getKeyScale() { return getQuantOperand(0); }
    ::mlir::Value getKeyZero() {
      return quantHasZeros() ? getQuantOperand(1) : ::mlir::Value();
    }
    ::mlir::Value getValueScale() {
      return getQuantOperand(quantHasZeros() ? 2 : 1);
    }
    ::mlir::Value getValueZero() {
      return quantHasZeros() ? getQuantOperand(3) : ::mlir::Value();
    }
    ::mlir::Value getKeyResidual() {
      return getQuantOperand(quantHasZeros() ? 4 : 2);
    }
    ::mlir::Value getValueResidual() {
      return getQuantOperand(quantHasZeros() ? 5 : 3);
    }
    /// The kv_quant operands before the residual rows.
    unsigned getNumQuantParams() { return quantHasZeros() ? 4 : 2; }
    bool quantHasZeros() {
      return getQuantAttr() && !getQuantAttr().isFloat8();
    }
    ::mlir::Value getQuantOperand(unsigned i) {
      return i < getKvQuant().size() ? getKvQuant()[i] : ::mlir::Value();
    }
  }]);
}

def Attn_AttentionGradOp : Attn_VariantOp<"attention_grad",
    (ins AnyRankedTensor:$out, AnyRankedTensor:$grad_out,
         Optional<AnyRankedTensor>:$lse),
    (ins AnyRankedTensor:$grad_query_init, AnyRankedTensor:$grad_key_init,
         AnyRankedTensor:$grad_value_init,
         Variadic<AnyRankedTensor>:$param_grad_inits,
         OptionalAttr<StrArrayAttr>:$wrt)> {
  let summary = "Gradients of attn.attention with respect to Q, K and V";
  let description = [{
    The backward pass of the `attn.attention` with the same Q, K, V,
    operand groups, attributes and regions: given the forward's output
    `O` (`out`), its row statistics `LSE` (`lse`, as the forward returns
    it; present exactly when the normalizer has one) and the gradient of a
    loss with respect to `O` (`grad_out`, `dO`, shaped and typed as `O`),
    it computes `dQ`, `dK` and `dV`, shaped and typed as Q, K and V, in
    destination-passing style. With `s = scale * Q K^T`, `s'` the modified
    score (-inf where masked), `P = w(s') / Z` the normalizer's weights and
    `dP = dO V^T`:

    ```
    row-sum Z (softmax, sink_softmax, softplus, relu row_sum; Z = exp(LSE)):
        dS' = w'(s') / Z * (dP - rowsum(dO * O))
    constant Z (sigmoid, relu none / seq_len):
        dS' = w'(s') / Z * dP
    dS = dS' * ds'/ds
    dQ = scale * dS K,   dK = scale * dS^T Q,   dV = P^T dO
    ```

    (softmax: `w'/Z = P = exp(s' - LSE)`, the sink being in the LSE only;
    sigmoid: `P (1 - P)`; softplus: `sigmoid(s') / Z`; relu:
    `k relu(s')^(k-1) / Z`.) dK and dV of a key/value head sum over the
    query heads of its group (GQA, MQA). Masked scores have `P = 0`, so a
    fully masked row (and a row whose `LSE` is `-inf`) gives exactly zero
    gradients. Arithmetic is f32; the results have the input type.

    Gradients of float operands (f32, f16 or bf16), when asked: `wrt`
    names them, one `grads` destination (shaped as the operand, f32
    whatever its type: sums and result in f32) and one result each,
    after dQ, dK, dV, in the order of `wrt`. With `dS' = dL/ds'` (dS above
    before the factors `ds'/ds` and `scale`; 0 where masked):

    ```
    "sink":     d sink[h] = -sum_{b,i} exp(sink[h] - LSE[b,h,i]) * Delta[b,h,i],
                Delta[b,h,i] = rowsum(dO * O)[b,h,i]
    "captureN": d C[x] = sum over (b,h,i,j) allowed and each read
                C[idx(b,h,i,j)] of the score_mod region with idx = x
                of dS'[b,h,i,j] * ds'/dC[idx]
    "bias", "rel_bias_table", "temperature": the same with the reads of
                the builtin modifiers: bias[b?,h?,i,j] (ds'/dx = 1, summed
                over the broadcast dims), table[h, bucket(j - p)] (1),
                tau[b,h,i] (the modifier's input score s)
    ```

    Sink: its weight `P_sink = exp(sink - LSE)` enters every `P_j` only
    through Z, `dP_j / dsink = -P_j P_sink`, so `dL/dsink = -P_sink *
    sum_j P_j dP_j = -P_sink * Delta`; a fully masked row has O = 0 and so
    contributes nothing, a row with LSE = -inf contributes 0. Captures
    (`captureN` is capture N of the op, a float tensor): `ds'/dC[idx]`, the
    derivative of the whole modifier chain with respect to the value read,
    comes from forward-mode differentiation of the region (each read a
    seed) times the slopes of the modifiers after it; the region must have
    a rule for every op the value read reaches (a verifier error names the
    first that has none); reads out of range add nothing. Each read's
    derivative is multiplied by the slopes of the modifiers after it. The
    sums run in a fixed order (per work item accumulators, added in item
    order): the gradients are bitwise reproducible, no atomics.

    Supported: every normalizer; every mask (declarative, data-dependent
    and `mask_mod`); the score modifiers whose derivative is known (alibi,
    gaussian, bias, rel_bias: 1; softcap: `1 - (s'/cap)^2`; temperature:
    `tau`; `#attn.score_mod` regions: forward-mode differentiation of the
    region). Any other modifier, or a region op without a derivative rule,
    is a verifier error, never a silently wrong gradient.

    Example:

    ```mlir
    %dq, %dk, %dv = attn.attention_grad
        ins(%q, %k, %v : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
        out(%o : tensor<?x?x?x64xf32>) grad_out(%do : tensor<?x?x?x64xf32>)
        lse(%lse : tensor<?x?x?xf32>)
        outs(%dq0, %dk0, %dv0 : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
        {mask = #attn.causal}
        -> tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>
    ```

    With the sink logits' gradient:

    ```mlir
    %dq, %dk, %dv, %dsink = attn.attention_grad
        ins(%q, %k, %v : tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>)
        out(%o : tensor<?x8x?x64xf32>) grad_out(%do : tensor<?x8x?x64xf32>)
        lse(%lse : tensor<?x8x?xf32>) sink(%sink : tensor<8xf32>)
        outs(%dq0, %dk0, %dv0 : tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>)
        grads(%ds0 : tensor<8xf32>)
        {mask = #attn.causal, normalizer = #attn.sink_softmax, wrt = ["sink"]}
        -> tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<8xf32>
    ```
  }];
  let results = (outs AnyRankedTensor:$grad_query, AnyRankedTensor:$grad_key,
                      AnyRankedTensor:$grad_value,
                      Variadic<AnyRankedTensor>:$param_grads);

  let assemblyFormat = !strconcat([{
    `ins` `(` $query `,` $key `,` $value `:` type($query) `,` type($key) `,` type($value) `)`
    `out` `(` $out `:` type($out) `)`
    `grad_out` `(` $grad_out `:` type($grad_out) `)`
    (`lse` `(` $lse^ `:` type($lse) `)`)?
  }], Attn_VariantOperandsFormat, [{
    `outs` `(` $grad_query_init `,` $grad_key_init `,` $grad_value_init `:`
        type($grad_query_init) `,` type($grad_key_init) `,` type($grad_value_init) `)`
    (`grads` `(` $param_grad_inits^ `:` type($param_grad_inits) `)`)?
  }], Attn_VariantRegionsFormat, [{
    attr-dict `->` type($grad_query) `,` type($grad_key) `,` type($grad_value)
        (`,` type($param_grads)^)?
  }]);

  let extraClassDeclaration = !strconcat(variantClassDeclaration, [{
    /// Whether the gradient of the score modifier `mod` is implemented:
    /// the verifier admits only these (a score_mod region when every op
    /// the score reaches has a derivative rule, Differentiate.h), and
    /// ScoreEmitter::emitScoreModsAndSlope emits them.
    static bool hasScoreModGradient(::mlir::Attribute mod);
    /// The operand whose gradient `wrt` entry `name` asks for ("sink",
    /// "bias", "rel_bias_table", "temperature", or "captureN" for capture
    /// N), or null.
    ::mlir::Value getGradOperand(::llvm::StringRef name);
    /// N for a `wrt` entry naming capture N.
    std::optional<unsigned> getGradCapture(::llvm::StringRef name);
  }]);
}

def Attn_MaskBlocksOp : Attn_VariantOp<"mask_blocks", (ins),
    (ins AnyRankedTensor:$table_init, I64Attr:$block_q, I64Attr:$block_kv)> {
  let summary = "Block classes of a mask: which tiles allow nothing, some "
                "or everything";
  let description = [{
    Classifies the mask of the attention `ins(Q, K, V)` with these variant
    operands, regions and mask would compute, block by block: entry
    `[b, h, r, c]` of the result `[B, Hq, ceil(Sq / block_q), ceil(Skv /
    block_kv)]` (i8) is 0 when no pair (query `i`, key `j`) with `i` in
    `[r block_q, (r + 1) block_q)` and `j` in `[c block_kv, (c + 1)
    block_kv)` is allowed, 2 when every such pair inside the sequences is
    allowed (positions past `Sq` or `Skv` count as allowed, so a last,
    partial block can be whole), and 1 otherwise. This is the table that
    `#attn.blocks<block_q, block_kv, mask = m>` reads (FlexAttention's
    `create_block_mask`, computed by generated code instead of the
    caller's evaluation of the mask on the whole grid).

    Q, K and V give the shapes only (their values are not read; a head dim
    of 1 serves). `kv_len` masks keys past each batch row's length, as in
    attn.attention. Only the mask matters: the op takes no normalizer,
    score modifiers or `score_mod` region. A captured array read out of
    range gives `false` and raises the module's capture error word, as in
    attn.attention.

    The lowering (attn-lower-to-linalg, in both CPU pipelines) runs one
    parallel item per (b, h, r). For a `#attn.mask_mod` mask without
    `kv_len` it first bounds the region over each block by interval
    arithmetic (`q_idx` and `kv_idx` over the block's ranges), which
    decides a block where the bounds show no pair or every pair allowed;
    other blocks are evaluated row by row until known to be partial. A
    block decided by its bounds reads no captured array (so a read out of
    range there is not reported); the GPU targets reject the op.

    ```mlir
    %t = attn.mask_blocks ins(%q, %k, %v : tensor<?x?x?x1xf32>, tensor<?x?x?x1xf32>, tensor<?x?x?x1xf32>)
        captures(%doc : tensor<?xi32>)
        outs(%t0 : tensor<?x?x?x?xi8>)
        mask_mod {
        ^bb0(%b: index, %h: index, %i: index, %j: index, %d: tensor<?xi32>):
          ...
          attn.yield %ok : i1
        } {mask = #attn.mask_mod, block_q = 128 : i64, block_kv = 128 : i64}
        -> tensor<?x?x?x?xi8>
    ```
  }];
  let results = (outs AnyRankedTensor:$table);
  let assemblyFormat = !strconcat([{
    `ins` `(` $query `,` $key `,` $value `:` type($query) `,` type($key) `,` type($value) `)`
  }], Attn_VariantOperandsFormat, [{
    `outs` `(` $table_init `:` type($table_init) `)`
  }], Attn_VariantRegionsFormat, [{
    attr-dict `->` type($table)
  }]);
}

def Attn_MergeOp : Attn_Op<"merge", [AttrSizedOperandSegments, Pure]> {
  let summary = "Combine partial attention results by their LSE";
  let description = [{
    `LSE = logsumexp_k LSE_k` and `O = sum_k exp(LSE_k - LSE) * O_k`. Rows
    where every `LSE_k` is `-inf` give `O = 0`, `LSE = -inf`. `O_k` follow
    `layout` (`[B, H, S, Dv]` or `[B, S, H, Dv]`), `LSE_k` are
    `[B, H, S]` f32. Used by split-KV decoding, shared prefixes and ring
    attention.

    Example:

    ```mlir
    %o, %l = attn.merge ins(%o0, %o1 : tensor<1x8x16x64xf32>, tensor<1x8x16x64xf32>)
               lse(%l0, %l1 : tensor<1x8x16xf32>, tensor<1x8x16xf32>)
               outs(%oi, %li : tensor<1x8x16x64xf32>, tensor<1x8x16xf32>)
               -> tensor<1x8x16x64xf32>, tensor<1x8x16xf32>
    ```
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$partials,
                       Variadic<AnyRankedTensor>:$partial_lses,
                       AnyRankedTensor:$out_init, AnyRankedTensor:$lse_init,
                       OptionalAttr<Attn_LayoutAttr>:$layout);
  let results = (outs AnyRankedTensor:$output, AnyRankedTensor:$lse);
  let assemblyFormat = [{
    `ins` `(` $partials `:` type($partials) `)`
    `lse` `(` $partial_lses `:` type($partial_lses) `)`
    `outs` `(` $out_init `,` $lse_init `:` type($out_init) `,` type($lse_init) `)`
    attr-dict `->` type($output) `,` type($lse)
  }];
  let extraClassDeclaration = [{
    /// The layout of the O tensors, bhsd unless given.
    ::mlir::attn::Layout getLayoutOrDefault() {
      return getLayoutAttr() ? getLayoutAttr().getValue()
                             : ::mlir::attn::Layout::bhsd;
    }
  }];
  let hasVerifier = 1;
}

def Attn_YieldOp : Attn_Op<"yield", [Pure, Terminator,
    ParentOneOf<["AttentionOp", "AttentionGradOp", "MaskBlocksOp"]>, ReturnLike]> {
  let summary = "Yields the value of a score_mod or mask_mod region";
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "attr-dict ($values^ `:` type($values))?";
}

def Attn_PositionOp : Attn_Op<"position", [Pure]> {
  let summary = "Query position p inside a score_mod or mask_mod region";
  let description = [{
    `p = q_idx + (kv_len(b) - Sq) + q_offset` for the enclosing
    `attn.attention` or `attn.attention_grad`.

    Example: `%p = attn.position %b, %q : index`
  }];
  let arguments = (ins Index:$batch, Index:$q_idx);
  let results = (outs Index:$result);
  let assemblyFormat = "$batch `,` $q_idx attr-dict `:` type($result)";
  let hasVerifier = 1;
}

#endif // ATTN_OPS
