// Logit soft-capping (Gemma 2, Grok): scores are squashed smoothly into
// (-cap, cap) with a tanh before the softmax. Causal, cap = 5 with an
// explicit scale of 1.0 so that the random test scores reach the cap.
//
//   s  = 1.0 * dot(Q[b,h,i,:], K[b,h,j,:])
//   s' = 5 * tanh(s / 5)
//
// Run it:
//   attn-run examples/softcap.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=7,Skv=129
!qkv = tensor<?x?x?x64xf32>
func.func @softcap(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.causal, scale = 1.0 : f64,
       score_mods = [#attn.softcap<cap = 5.0>]} -> !qkv
  return %r : !qkv
}
