// An additive bias tensor (relative position tables materialised in full,
// Evoformer's pair bias, padding masks as -inf): s' = s + bias, broadcast
// numpy-style against [B, Hq, Sq, Skv]. Here the bias is [1, Hq, Sq, Skv]:
// one per head, shared by the batch. Any float type matching the inputs.
//
//   s'[b,h,i,j] = s + bias[0, h, i, j]
//
// Run it:
//   attn-run examples/bias.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=7,Skv=129
!qkv = tensor<?x?x?x32xf32>
!bias = tensor<1x?x?x?xf32>
func.func @bias(%q: !qkv, %k: !qkv, %v: !qkv, %bias: !bias, %o: !qkv)
    -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      bias(%bias : !bias)
      outs(%o : !qkv)
      {mask = #attn.causal, score_mods = [#attn.bias]} -> !qkv
  return %r : !qkv
}
