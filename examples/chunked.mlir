// Chunked (block-local) causal attention, as in Llama 4's local layers: the
// sequence is cut into chunks of 32 tokens and a query sees only the earlier
// keys of its own chunk.
//
//   allowed = floor(p(i) / 32) == floor(j / 32)  and  j <= p(i)
//
// Chunks are by absolute position p(i) = i + (Skv - Sq), so a short query
// block at the end of a long cache (Sq=7, Skv=129) lands in the right chunk.
//
// Run it:
//   attn-run examples/chunked.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=7,Skv=129
!qkv = tensor<?x?x?x64xf32>
func.func @chunked(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.and<[#attn.chunked<size = 32>, #attn.causal]>} -> !qkv
  return %r : !qkv
}
