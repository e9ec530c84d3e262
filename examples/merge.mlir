// attn.merge: combine partial attention results computed over disjoint key
// ranges (split-KV decoding / FlashDecoding, shared-prefix attention as in
// Hydragen, ring attention) using their log-sum-exps:
//
//   LSE = log(exp(LSE_0) + exp(LSE_1) + exp(LSE_2))
//   O   = sum_k exp(LSE_k - LSE) * O_k
//
// A row where every LSE_k is -inf (no allowed key anywhere) gives O = 0 and
// LSE = -inf. attn-run feeds random partials with some -inf LSEs; the sizes
// are B, H, S and Dv.
//
// Run it:
//   attn-run examples/merge.mlir --check \
//     --shape B=2,H=4,S=67 --shape B=1,H=2,S=1
!o = tensor<?x?x?x64xf32>
!lse = tensor<?x?x?xf32>
func.func @merge3(%o0: !o, %o1: !o, %o2: !o, %l0: !lse, %l1: !lse, %l2: !lse,
                  %o: !o, %l: !lse) -> (!o, !lse) {
  %r:2 = attn.merge ins(%o0, %o1, %o2 : !o, !o, !o)
      lse(%l0, %l1, %l2 : !lse, !lse, !lse)
      outs(%o, %l : !o, !lse) -> !o, !lse
  return %r#0, %r#1 : !o, !lse
}
