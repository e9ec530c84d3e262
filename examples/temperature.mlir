// Per-query temperature ("Selective Attention: Enhancing Transformer
// through Principled Context Control"): each query row gets its own inverse
// temperature tau[b, h, i], sharpening or flattening its distribution.
//
//   s'[b,h,i,j] = s * tau[b, h, i],   tau: [B, Hq, Sq] f32
//
// attn-run draws tau uniformly from [0.5, 1.5].
//
// Run it:
//   attn-run examples/temperature.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=7,Skv=129
!qkv = tensor<?x?x?x64xf32>
!tau = tensor<?x?x?xf32>
func.func @temperature(%q: !qkv, %k: !qkv, %v: !qkv, %tau: !tau, %o: !qkv)
    -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      temperature(%tau : !tau)
      outs(%o : !qkv)
      {mask = #attn.causal, score_mods = [#attn.temperature]} -> !qkv
  return %r : !qkv
}
