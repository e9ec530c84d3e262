// T5 relative position bias ("Exploring the Limits of Transfer Learning
// with a Unified Text-to-Text Transformer"): a learned scalar per head and
// per bucket of the relative distance j - p(i), added to the score. Buckets
// are exact for small distances and log-spaced up to max_distance; with
// bidirectional = true (the default) the two directions get separate
// halves of the table.
//
//   s'[b,h,i,j] = s + table[h, bucket(j - p(i))],   table: [Hq, 32] f32
//
// Not causal: this is T5's encoder self-attention.
//
// Run it:
//   attn-run examples/t5_rel_bias.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=200,Skv=200 \
//     --shape B=1,Hq=2,Sq=7,Skv=150
!qkv = tensor<?x?x?x64xf32>
!table = tensor<?x32xf32>
func.func @t5_encoder(%q: !qkv, %k: !qkv, %v: !qkv, %t: !table, %o: !qkv)
    -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      rel_bias_table(%t : !table)
      outs(%o : !qkv)
      {score_mods = [#attn.rel_bias<num_buckets = 32, max_distance = 128>]}
      -> !qkv
  return %r : !qkv
}
