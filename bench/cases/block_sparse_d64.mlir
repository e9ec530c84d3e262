// Bench kernel: a block-sparse mask (one i1 entry per 128 x 128 block of
// scores), f32, BHSD, D = 64. Tiles are classified at run time from the
// block entries (empty, full or partial). attn-run's random dense_mask has
// regions of all-off, all-on and random blocks.
!qkv = tensor<?x?x?x64xf32>
!mask = tensor<?x1x?x?xi1>
func.func @block_sparse_d64(%q: !qkv, %k: !qkv, %v: !qkv, %m: !mask,
                            %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      dense_mask(%m : !mask)
      outs(%o : !qkv)
      {mask = #attn.dense<block_q = 128, block_kv = 128>} -> !qkv
  return %r : !qkv
}
