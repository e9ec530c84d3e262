// Longformer attention: a symmetric local band of 8 keys on each side, plus
// global tokens (the first 2 positions, e.g. [CLS], and position 40) that
// attend to everything and are attended to by everyone.
//
//   local   = p(i) - 8 <= j <= p(i) + 8
//   global  = x < 2 or x == 40, for x = p(i) or x = j
//   allowed = local or global(p(i)) or global(j)
//
// Run it:
//   attn-run examples/global.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=129,Skv=129
!qkv = tensor<?x?x?x32xf32>
func.func @longformer(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.or<[#attn.sliding_window<left = 8, right = 8>,
                        #attn.global<first = 2, positions = [40]>]>} -> !qkv
  return %r : !qkv
}
