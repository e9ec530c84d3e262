// 2D neighbourhood attention (Neighborhood Attention Transformer, HaloNets):
// image tokens lie row-major on an 8 x 12 grid, token t at
// (row, col) = (t / 12, t mod 12); each query sees the keys within a 3 x 5
// window centred on it, cut off at the image border (not shifted inward).
//
//   allowed = |row(j) - row(p(i))| <= 1  and  |col(j) - col(p(i))| <= 2
//
// The grid needs Skv <= 8 * 12 = 96. A shorter sequence is a partially
// filled grid (the last rows missing).
//
// Run it:
//   attn-run examples/neighborhood_2d.mlir --check \
//     --shape B=2,Hq=2,Sq=96,Skv=96 --shape B=1,Hq=3,Sq=50,Skv=50
!qkv = tensor<?x?x?x32xf32>
func.func @neighborhood_2d(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.neighborhood_2d<rows = 8, cols = 12,
                                    kernel_rows = 3, kernel_cols = 5>} -> !qkv
  return %r : !qkv
}
