// Bench kernel: causal softmax attention, f32, BHSD, D = 64:
//   allowed = j <= p(i),  p(i) = i + (Skv - Sq)
!qkv = tensor<?x?x?x64xf32>
func.func @causal_d64(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.causal} -> !qkv
  return %r : !qkv
}
