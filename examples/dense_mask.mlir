// Attention with an explicit boolean mask tensor, for patterns no
// declarative mask describes. The mask is [B, 1, Sq, Skv] i1: one mask per
// batch row, broadcast over the heads (a leading dim of size 1 broadcasts,
// numpy-style); non-zero means allowed.
//
//   allowed = mask[b, 0, i, j]
//
// attn-run fills the mask at random (60% allowed) with every 7th row all
// false, so fully masked rows (O = 0) are exercised too.
//
// Run it:
//   attn-run examples/dense_mask.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=7,Skv=129
!qkv = tensor<?x?x?x32xf32>
!mask = tensor<?x1x?x?xi1>
func.func @dense_mask(%q: !qkv, %k: !qkv, %v: !qkv, %m: !mask, %o: !qkv)
    -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      dense_mask(%m : !mask)
      outs(%o : !qkv)
      {mask = #attn.dense} -> !qkv
  return %r : !qkv
}
