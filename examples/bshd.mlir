// The BSHD layout, [batch, sequence, heads, head_dim], as produced by most
// projection layers without a transpose (FlashAttention's native layout).
// Q, K, V and O all use it; the LSE output stays [B, Hq, Sq]. Here with GQA
// and a causal mask.
//
//   Q: [B, Sq, Hq, 64]  K, V: [B, Skv, Hkv, 64]  O: [B, Sq, Hq, 64]
//
// Run it:
//   attn-run examples/bshd.mlir --check \
//     --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129
!qkv = tensor<?x?x?x64xf32>
!lse = tensor<?x?x?xf32>
func.func @bshd(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv, %l: !lse)
    -> (!qkv, !lse) {
  %r:2 = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o, %l : !qkv, !lse)
      {layout = #attn.layout<bshd>, mask = #attn.causal} -> !qkv, !lse
  return %r#0, %r#1 : !qkv, !lse
}
