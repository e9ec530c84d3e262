// Different query/key and value head dims, D = 48 and Dv = 80 (as in
// DeepSeek's MLA, where the query/key dim includes a rotary part that the
// values lack). O has the value head dim. The default scale uses D:
// 1 / sqrt(48).
//
//   s = dot(Q[b,h,i,:48], K[b,h,j,:48]) / sqrt(48),  O[b,h,i,:80]
//
// Run it:
//   attn-run examples/head_dims.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129
!qk = tensor<?x?x?x48xf32>
!vo = tensor<?x?x?x80xf32>
func.func @d_ne_dv(%q: !qk, %k: !qk, %v: !vo, %o: !vo) -> !vo {
  %r = attn.attention ins(%q, %k, %v : !qk, !qk, !vo)
      outs(%o : !vo)
      {mask = #attn.causal} -> !vo
  return %r : !vo
}
