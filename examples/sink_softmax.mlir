// Softmax with a learned per-head sink logit (off-by-one softmax, "Attention
// Is Off By One"; gpt-oss's attention sinks): the sink adds exp(sink[h]) to
// the denominator only, so a head can put weight "nowhere".
//
//   P[i,j] = exp(s[i,j]) / (exp(sink[h]) + sum_j' exp(s[i,j']))
//   LSE[i] = log(exp(sink[h]) + sum_j exp(s[i,j]))
//
// A fully masked row (here: Sq > Skv under the causal mask) gives O = 0 and
// LSE = sink[h], so merging partial results stays exact.
//
// Run it:
//   attn-run examples/sink_softmax.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31
!qkv = tensor<?x?x?x64xf32>
!lse = tensor<?x?x?xf32>
func.func @sink_softmax(%q: !qkv, %k: !qkv, %v: !qkv, %sink: tensor<?xf32>,
                        %o: !qkv, %l: !lse) -> (!qkv, !lse) {
  %r:2 = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      sink(%sink : tensor<?xf32>)
      outs(%o, %l : !qkv, !lse)
      {normalizer = #attn.sink_softmax, mask = #attn.causal} -> !qkv, !lse
  return %r#0, %r#1 : !qkv, !lse
}
