// Bench kernel: StreamingLLM, 4 attention sinks plus a causal window of
// 1024 keys, f32, BHSD, D = 64:
//   allowed = (j < 4  or  p(i) - 1024 <= j)  and  j <= p(i)
!qkv = tensor<?x?x?x64xf32>
func.func @streaming_llm_d64(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.and<[#attn.or<[#attn.sinks<count = 4>,
                                   #attn.sliding_window<left = 1024>]>,
                         #attn.causal]>} -> !qkv
  return %r : !qkv
}
