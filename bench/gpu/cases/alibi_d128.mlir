// Causal attention with ALiBi (default slopes), bf16, D = 128 (bench/gpu).
!t = tensor<?x?x?x128xbf16>
func.func @attention(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.causal, score_mods = [#attn.alibi]} -> !t
  return %r : !t
}
