// StreamingLLM ("Efficient Streaming Language Models with Attention
// Sinks"): each query sees the first 4 keys (the attention sinks) and a
// causal window of the 32 most recent keys.
//
//   allowed = (j < 4  or  p(i) - 32 <= j <= p(i))  and  j <= p(i)
//
// sinks(n) alone is just j < n, not causal; the outer `and` with causal
// keeps the sinks from being seen by queries before them.
//
// Run it:
//   attn-run examples/streaming_llm.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=1,Skv=190 \
//     --shape B=1,Hq=2,Sq=129,Skv=129
!qkv = tensor<?x?x?x64xf32>
func.func @streaming_llm(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.and<[#attn.or<[#attn.sinks<count = 4>,
                                   #attn.sliding_window<left = 32>]>,
                         #attn.causal]>} -> !qkv
  return %r : !qkv
}
