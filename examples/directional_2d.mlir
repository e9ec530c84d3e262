// Directional 2D attention (LookHere, "LookHere: Vision Transformers with
// Directed Attention Generalize and Extrapolate"): tokens on a 6 x 6 grid
// (row 0 at the top); each head looks in one direction and sees the keys
// in the 90-degree cone around it, edges included, plus its own token.
//
//   d = (row(j) - row(p(i)), col(j) - col(p(i))),  u = direction of head h
//   allowed = dot(d, u) >= |cross(d, u)|   or   d == (0, 0)
//
// The four directions are north (-1, 0), east (0, 1), south (1, 0) and west
// (0, -1); head h uses direction h mod 4. A query in the top row looking
// north sees only itself.
//
// Run it:
//   attn-run examples/directional_2d.mlir --check \
//     --shape B=2,Hq=4,Sq=36,Skv=36 --shape B=1,Hq=8,Hkv=2,Sq=36,Skv=36 \
//     --shape B=1,Hq=4,Sq=30,Skv=30
!qkv = tensor<?x?x?x32xf32>
func.func @lookhere(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.directional_2d<rows = 6, cols = 6,
                                   directions = [-1, 0, 0, 1, 1, 0, 0, -1]>}
      -> !qkv
  return %r : !qkv
}
