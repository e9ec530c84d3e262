// Bench kernel: causal softmax attention, bf16, BHSD, D = 128:
//   allowed = j <= p(i),  p(i) = i + (Skv - Sq)
!qkv = tensor<?x?x?x128xbf16>
func.func @causal_d128(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.causal} -> !qkv
  return %r : !qkv
}
