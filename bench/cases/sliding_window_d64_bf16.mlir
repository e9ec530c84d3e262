// Bench kernel: causal sliding window of 256 keys before the query (Mistral
// style), bf16, BHSD, D = 64:
//   allowed = p(i) - 256 <= j <= p(i)
!qkv = tensor<?x?x?x64xbf16>
func.func @sliding_window_d64_bf16(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.sliding_window<left = 256>} -> !qkv
  return %r : !qkv
}
