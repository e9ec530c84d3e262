// bfloat16 inputs, the usual training type: Q, K, V and O in bf16, f32
// arithmetic inside, and the LSE output in f32 (it is never rounded to
// bf16). Causal with ALiBi.
//
// attn-run checks bf16 against the float64 reference with a relative
// tolerance of 8e-3, four times bf16's output rounding bound.
//
// Run it:
//   attn-run examples/bf16.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31
!qkv = tensor<?x?x?x64xbf16>
!lse = tensor<?x?x?xf32>
func.func @attention_bf16(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv, %l: !lse)
    -> (!qkv, !lse) {
  %r:2 = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o, %l : !qkv, !lse)
      {mask = #attn.causal, score_mods = [#attn.alibi]} -> !qkv, !lse
  return %r#0, %r#1 : !qkv, !lse
}
