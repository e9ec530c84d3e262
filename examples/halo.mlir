// Blocked local attention with a halo (HaloNets, "Scaling Local
// Self-Attention for Parameter Efficient Visual Backbones"), in 1D: queries
// are grouped in blocks of 16 and each block sees its own 16 keys plus a
// halo of 4 keys on either side.
//
//   blk     = floor(p(i) / 16)
//   allowed = blk*16 - 4 <= j <= blk*16 + 15 + 4
//
// Not causal: this is an encoder pattern.
//
// Run it:
//   attn-run examples/halo.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=129,Skv=129
!qkv = tensor<?x?x?x32xf32>
func.func @halo(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.halo<block = 16, halo = 4>} -> !qkv
  return %r : !qkv
}
