// Packed causal documents, bf16, D = 128 (bench/gpu).
!t = tensor<?x?x?x128xbf16>
!seg = tensor<?x?xi32>
func.func @attention(%q: !t, %k: !t, %v: !t, %sq: !seg, %sk: !seg, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) segments(%sq, %sk : !seg, !seg)
      outs(%o : !t) {mask = #attn.and<[#attn.document, #attn.causal]>} -> !t
  return %r : !t
}
