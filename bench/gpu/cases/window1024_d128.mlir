// Causal sliding window of 1024 keys, bf16, D = 128 (bench/gpu).
!t = tensor<?x?x?x128xbf16>
func.func @attention(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.and<[#attn.sliding_window<left = 1024>, #attn.causal]>} -> !t
  return %r : !t
}
