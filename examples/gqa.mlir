// Grouped-query attention (GQA, "GQA: Training Generalized Multi-Query
// Transformer Models from Multi-Head Checkpoints"), causal: Hq query heads
// share Hkv key/value heads; query head h reads key/value head
// h / (Hq / Hkv). Hq must be a multiple of Hkv.
//
//   s[b,h,i,j] = dot(Q[b,h,i,:], K[b,h/(Hq/Hkv),j,:]) / sqrt(64)
//
// The head counts are dynamic: the same kernel runs 8/2, 4/4 (MHA) and 6/3.
//
// Run it:
//   attn-run examples/gqa.mlir --check \
//     --shape B=2,Hq=8,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=4,Hkv=4,Sq=7,Skv=129 \
//     --shape B=1,Hq=6,Hkv=3,Sq=1,Skv=1
!qkv = tensor<?x?x?x64xf32>
func.func @gqa(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.causal} -> !qkv
  return %r : !qkv
}
