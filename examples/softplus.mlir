// Softplus attention with L1 normalisation ("Softplus Attention with
// Re-weighting"): exp is replaced by softplus, the row is still normalised
// by its sum. The LSE output holds log Z, Z the row sum.
//
//   P[i,j] = softplus(s[i,j]) / sum_j' softplus(s[i,j'])   over allowed keys
//   LSE[i] = log sum_j softplus(s[i,j])  (-inf for a fully masked row)
//
// Run it:
//   attn-run examples/softplus.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31
!qkv = tensor<?x?x?x64xf32>
!lse = tensor<?x?x?xf32>
func.func @softplus_attention(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv,
                              %l: !lse) -> (!qkv, !lse) {
  %r:2 = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o, %l : !qkv, !lse)
      {normalizer = #attn.softplus, mask = #attn.causal} -> !qkv, !lse
  return %r#0, %r#1 : !qkv, !lse
}
