// Swin-style window attention ("Swin Transformer"): an 8 x 8 grid of image
// tokens (row-major) is cut into non-overlapping 4 x 4 windows; a query sees
// exactly the keys of its own window.
//
//   allowed = row(p(i)) / 4 == row(j) / 4  and  col(p(i)) / 4 == col(j) / 4
//
// The sequence length is fixed by the image: Sq = Skv = 64 in the types.
// (Swin's shifted windows are the same mask on a cyclically shifted image.)
//
// Run it:
//   attn-run examples/window_2d.mlir --check \
//     --shape B=2,Hq=4 --shape B=1,Hq=3
!qkv = tensor<?x?x64x32xf32>
func.func @swin_window(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.window_2d<rows = 8, cols = 8,
                              window_rows = 4, window_cols = 4>} -> !qkv
  return %r : !qkv
}
