// Sigmoid attention ("Theory, Analysis, and Best Practices for Sigmoid
// Self-Attention", FlashSigmoid): each weight is an independent sigmoid, no
// row normalisation, so there is no LSE output.
//
//   P[i,j] = sigmoid(s[i,j] + beta) for allowed j, else 0
//   beta   = -log(Skv) by default (here causal)
//
// Write #attn.sigmoid<beta = -4.0> for a fixed bias instead.
//
// Run it:
//   attn-run examples/sigmoid.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31
!qkv = tensor<?x?x?x64xf32>
func.func @sigmoid_attention(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {normalizer = #attn.sigmoid, mask = #attn.causal} -> !qkv
  return %r : !qkv
}
