// Cross-attention (encoder-decoder): Sq decoder queries attend to all Skv
// encoder keys, Sq != Skv in general. No mask (#attn.full is the default).
//
//   O[b,h,i,:] = sum_j softmax_j(dot(Q[b,h,i,:], K[b,h,j,:]) / sqrt(32)) V[b,h,j,:]
//
// Run it:
//   attn-run examples/cross_attention.mlir --check \
//     --shape B=2,Hq=4,Sq=10,Skv=77 --shape B=1,Hq=2,Sq=129,Skv=7 \
//     --shape B=2,Hq=4,Hkv=2,Sq=1,Skv=200
!qkv = tensor<?x?x?x32xf32>
func.func @cross_attention(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv) -> !qkv
  return %r : !qkv
}
