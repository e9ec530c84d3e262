// Bench kernel: an element-wise dense mask (#attn.dense: one i1 entry per
// score), f32, BHSD, D = 64. Each kv tile's entries are scanned at run time
// (16 bytes at a time on the CPU) to classify it empty, full or partial.
// attn-run's random dense_mask has regions of all-off, all-on and random
// entries.
!qkv = tensor<?x?x?x64xf32>
!mask = tensor<?x1x?x?xi1>
func.func @dense_d64(%q: !qkv, %k: !qkv, %v: !qkv, %m: !mask, %o: !qkv)
    -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      dense_mask(%m : !mask)
      outs(%o : !qkv)
      {mask = #attn.dense} -> !qkv
  return %r : !qkv
}
