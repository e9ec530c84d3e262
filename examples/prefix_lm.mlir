// Prefix-LM attention (T5/UL2-style prefix language models): the first 16
// tokens (the prompt) are seen bidirectionally by every query, the rest is
// causal.
//
//   allowed = j < 16  or  j <= p(i)
//
// Run it:
//   attn-run examples/prefix_lm.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=7,Skv=129 \
//     --shape B=1,Hq=2,Sq=10,Skv=10
!qkv = tensor<?x?x?x32xf32>
func.func @prefix_lm(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.prefix_lm<prefix = 16>} -> !qkv
  return %r : !qkv
}
