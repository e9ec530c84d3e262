// Decoding against a KV cache with per-sequence lengths: Sq = 1..4 new
// tokens per batch row, a cache allocated for Skv keys of which only
// kv_len[b] are valid. Positions use kv_len[b] in place of Skv:
//
//   p(i)    = i + (kv_len[b] - Sq)
//   allowed = j < kv_len[b]  and  j <= p(i)
//
// The LSE output lets a split-KV decoder (FlashDecoding) combine partial
// results with attn.merge. attn-run fills kv_len with lengths between
// Skv/2 and Skv (the first row gets the full Skv).
//
// Run it:
//   attn-run examples/decode.mlir --check \
//     --shape B=3,Hq=8,Hkv=2,Sq=1,Skv=77 --shape B=2,Hq=4,Hkv=1,Sq=4,Skv=130
!qkv = tensor<?x?x?x64xf32>
!lse = tensor<?x?x?xf32>
func.func @decode(%q: !qkv, %k: !qkv, %v: !qkv, %kv_len: tensor<?xi32>,
                  %o: !qkv, %l: !lse) -> (!qkv, !lse) {
  %r:2 = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      kv_len(%kv_len : tensor<?xi32>)
      outs(%o, %l : !qkv, !lse)
      {mask = #attn.causal} -> !qkv, !lse
  return %r#0, %r#1 : !qkv, !lse
}
