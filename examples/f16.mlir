// Half-precision inputs: Q, K, V and O in f16, the arithmetic inside in
// f32 (scores, softmax statistics and the accumulator), the output rounded
// to f16 once at the end. GQA 4/2 with a causal sliding window.
//
// attn-run checks f16 against the float64 reference with a relative
// tolerance of 1e-3, four times f16's output rounding bound.
//
// Run it:
//   attn-run examples/f16.mlir --check \
//     --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129
!qkv = tensor<?x?x?x64xf16>
func.func @attention_f16(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.sliding_window<left = 48>} -> !qkv
  return %r : !qkv
}
