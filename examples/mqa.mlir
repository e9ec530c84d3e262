// Multi-query attention (MQA, "Fast Transformer Decoding: One Write-Head is
// All You Need"): every query head shares a single key/value head. The
// types fix Hkv = 1 statically; Hq stays dynamic.
//
//   s[b,h,i,j] = dot(Q[b,h,i,:], K[b,0,j,:]) / sqrt(64)
//
// Run it:
//   attn-run examples/mqa.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=3,Sq=7,Skv=129
!q = tensor<?x?x?x64xf32>
!kv = tensor<?x1x?x64xf32>
func.func @mqa(%q: !q, %k: !kv, %v: !kv, %o: !q) -> !q {
  %r = attn.attention ins(%q, %k, %v : !q, !kv, !kv)
      outs(%o : !q)
      {mask = #attn.causal} -> !q
  return %r : !q
}
