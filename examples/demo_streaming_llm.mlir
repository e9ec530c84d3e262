// StreamingLLM attention with Gemma-2 style soft-capping, GQA 8/2, f32.
// Each query attends to the first 4 keys (attention sinks) and to the 128
// most recent keys, never to the future:
//   mask = (sinks(4) | sliding_window(128, 0)) & causal
//   s'   = 30 * tanh(s / 30)
// Batch, heads and sequence lengths are dynamic: one compiled kernel serves
// every shape. Run it:
//   attn-run examples/demo_streaming_llm.mlir --check \
//     --shape B=1,Hq=8,Hkv=2,Sq=300,Skv=300 --shape B=2,Hq=8,Hkv=2,Sq=1,Skv=517
func.func @streaming_llm(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                         %v: tensor<?x?x?x64xf32>, %o: tensor<?x?x?x64xf32>,
                         %lse: tensor<?x?x?xf32>)
    -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention
      ins(%q, %k, %v : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>,
                       tensor<?x?x?x64xf32>)
      outs(%o, %lse : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
      {mask = #attn.and<[#attn.or<[#attn.sinks<count = 4>,
                                   #attn.sliding_window<left = 128>]>,
                         #attn.causal]>,
       score_mods = [#attn.softcap<cap = 30.0>]}
      -> tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
}
