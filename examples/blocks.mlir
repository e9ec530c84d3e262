// A block table over a mask (FlexAttention's block mask with full blocks):
// entry [b, h, i / 16, j / 32] of the i8 table is 0 (nothing), 1 (the
// sliding window decides) or 2 (the whole block). Kv tiles whose entries
// are all 0 are skipped, tiles all 2 run without evaluating the window.
!qkv = tensor<?x?x?x32xf32>
!table = tensor<?x1x?x?xi8>
func.func @blocks(%q: !qkv, %k: !qkv, %v: !qkv, %t: !table, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      dense_mask(%t : !table)
      outs(%o : !qkv)
      {mask = #attn.blocks<block_q = 16, block_kv = 32,
                           mask = #attn.sliding_window<left = 40, right = 8>>}
      -> !qkv
  return %r : !qkv
}
