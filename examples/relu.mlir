// ReLU attention with squared weights (k = 2), normalised by the row sum:
// the softmax's exp is replaced by relu(s)^2.
//
//   P[i,j] = relu(s[i,j])^2 / sum_j' relu(s[i,j'])^2   over allowed keys
//   LSE[i] = log of that sum (-inf when every allowed score is <= 0)
//
// With norm = none or seq_len (the default, Z = Skv) the denominator is a
// constant and there is no LSE. The scale is set to 1.0 so that scores are
// large enough for the squaring to matter.
//
// Run it:
//   attn-run examples/relu.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31
!qkv = tensor<?x?x?x32xf32>
!lse = tensor<?x?x?xf32>
func.func @relu2_attention(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv, %l: !lse)
    -> (!qkv, !lse) {
  %r:2 = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o, %l : !qkv, !lse)
      {normalizer = #attn.relu<power = 2, norm = row_sum>,
       mask = #attn.causal, scale = 1.0 : f64} -> !qkv, !lse
  return %r#0, %r#1 : !qkv, !lse
}
