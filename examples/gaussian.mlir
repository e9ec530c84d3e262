// Gaussian positional bias ("Gaussian Adaptive Attention"): each head
// prefers keys at a distance mu[h] behind the query, with spread sigma[h].
// One mu and sigma per head, so Hq = 4 is static in the types.
//
//   s'[b,h,i,j] = s - (p(i) - j - mu[h])^2 / (2 sigma[h]^2)
//
// Run it:
//   attn-run examples/gaussian.mlir --check \
//     --shape B=2,Hkv=2,Sq=67,Skv=67 --shape B=1,Hkv=1,Sq=7,Skv=129
!q = tensor<?x4x?x32xf32>
!kv = tensor<?x?x?x32xf32>
func.func @gaussian(%q: !q, %k: !kv, %v: !kv, %o: !q) -> !q {
  %r = attn.attention ins(%q, %k, %v : !q, !kv, !kv)
      outs(%o : !q)
      {mask = #attn.causal,
       score_mods = [#attn.gaussian<mu = [0.0, 2.0, 8.0, 32.0],
                                    sigma = [1.0, 4.0, 8.0, 16.0]>]} -> !q
  return %r : !q
}
