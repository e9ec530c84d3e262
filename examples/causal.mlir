// Causal self-attention (decoder-only language models).
//
//   s[b,h,i,j] = dot(Q[b,h,i,:], K[b,h,j,:]) / sqrt(64)
//   allowed    = j <= p(i),  p(i) = i + (Skv - Sq)   (bottom-right alignment)
//   O          = softmax over the allowed keys, times V
//
// Batch, heads and both sequence lengths are dynamic, so one compiled kernel
// serves every shape below. With Sq > Skv the first Sq - Skv queries have
// p(i) < 0 and see no key at all: their rows are defined as O = 0.
//
// Run it:
//   attn-run examples/causal.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=7,Skv=129 \
//     --shape B=1,Hq=2,Sq=100,Skv=31
!qkv = tensor<?x?x?x64xf32>
func.func @causal(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.causal} -> !qkv
  return %r : !qkv
}
