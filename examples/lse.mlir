// Returning the log-sum-exp of each softmax row next to O, as a second
// `outs` operand of type [B, Hq, Sq] f32 (always f32, whatever the input
// type). The LSE is what a backward pass and attn.merge need:
//
//   LSE[b,h,i] = log sum_{allowed j} exp(s[b,h,i,j])
//
// A row with no allowed key has O = 0 and LSE = -inf; with the causal mask
// and Sq > Skv the first Sq - Skv rows are such rows.
//
// Run it:
//   attn-run examples/lse.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31
!qkv = tensor<?x?x?x32xf32>
!lse = tensor<?x?x?xf32>
func.func @with_lse(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv, %l: !lse)
    -> (!qkv, !lse) {
  %r:2 = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o, %l : !qkv, !lse)
      {mask = #attn.causal} -> !qkv, !lse
  return %r#0, %r#1 : !qkv, !lse
}
