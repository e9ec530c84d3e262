// Bench kernel: non-causal softmax attention, bf16, BHSD, D = 64; B, H and
// both sequence lengths are dynamic, so one compiled kernel serves every
// shape of that head size (decode uses it with Sq = 1).
!qkv = tensor<?x?x?x64xbf16>
func.func @full_d64(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv) -> !qkv
  return %r : !qkv
}
