// A hand-written score modifier (FlexAttention's score_mod): the region
// receives the scaled score and the indices (b, h, q_idx, kv_idx), plus one
// block argument per captured tensor, and yields the new f32 score. Here: a
// tanh soft-cap written out by hand, followed by an ALiBi-style distance
// penalty whose per-head slope is read from a captured table with
// tensor.extract; causal.
//
//   s' = 8 * tanh(s / 8) - |slopes[h]| * (p(i) - kv_idx),  slopes: tensor<4xf32>
//
// attn.position gives p(i) = q_idx + (Skv - Sq). The table has one entry per
// head, so Hq = 4 is static in the types. Regions are isolated: they see
// only their arguments and the values they define. attn-run's float64
// reference interprets the same region; pass --input capture0=FILE.npy to
// use real slopes instead of random ones.
//
// Run it:
//   attn-run examples/score_mod.mlir --check \
//     --shape B=2,Hkv=2,Sq=67,Skv=67 --shape B=1,Hkv=4,Sq=7,Skv=129
!q = tensor<?x4x?x64xf32>
!kv = tensor<?x?x?x64xf32>
func.func @softcap_learned_alibi(%q: !q, %k: !kv, %v: !kv,
                                 %slopes: tensor<4xf32>, %o: !q) -> !q {
  %r = attn.attention ins(%q, %k, %v : !q, !kv, !kv)
      captures(%slopes : tensor<4xf32>)
      outs(%o : !q)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %qi: index, %kj: index,
           %table: tensor<4xf32>):
        %cap = arith.constant 8.0 : f32
        %x = arith.divf %s, %cap : f32
        %t = math.tanh %x : f32
        %capped = arith.mulf %cap, %t : f32
        %p = attn.position %b, %qi : index
        %dist = arith.subi %p, %kj : index
        %dist_i64 = arith.index_cast %dist : index to i64
        %dist_f = arith.sitofp %dist_i64 : i64 to f32
        %raw = tensor.extract %table[%h] : tensor<4xf32>
        %slope = math.absf %raw : f32
        %penalty = arith.mulf %slope, %dist_f : f32
        %r = arith.subf %capped, %penalty : f32
        attn.yield %r : f32
      }
      {mask = #attn.causal, score_mods = [#attn.score_mod]} -> !q
  return %r : !q
}
