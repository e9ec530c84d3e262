// ALiBi ("Train Short, Test Long: Attention with Linear Biases"): a linear
// penalty on the distance between query and key, with a fixed slope per
// head, instead of position embeddings. Causal.
//
//   s'[b,h,i,j] = s - slope[h] * (p(i) - j),   slope[h] = 2^(-8 (h+1) / Hq)
//
// The default slopes follow the formula for any (dynamic) head count. Pass
// #attn.alibi<slopes = [...]> (one per head, static Hq) to match a model,
// or symmetric = true to penalise |p(i) - j| in an encoder.
//
// Run it:
//   attn-run examples/alibi.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=8,Hkv=2,Sq=7,Skv=129
!qkv = tensor<?x?x?x64xf32>
func.func @alibi(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.causal, score_mods = [#attn.alibi]} -> !qkv
  return %r : !qkv
}
