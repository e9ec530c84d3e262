// Packed causal attention (document masking for variable-length training):
// several documents are packed into one row of the batch; a token attends
// causally within its own document only.
//
//   allowed = seg_q[b, i] == seg_kv[b, j]  and  j <= p(i)
//
// seg_q / seg_kv hold one document id per token (i32). attn-run fills them
// with --num-docs sorted documents per row and, on odd batch rows, a padding
// tail whose query ids (-1) differ from its key ids (-2), so padded queries
// see nothing and return O = 0.
//
// Run it:
//   attn-run examples/document.mlir --check --num-docs 4 \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=3,Hq=2,Sq=150,Skv=150
!qkv = tensor<?x?x?x64xf32>
!seg = tensor<?x?xi32>
func.func @packed_causal(%q: !qkv, %k: !qkv, %v: !qkv,
                         %seg_q: !seg, %seg_kv: !seg, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      segments(%seg_q, %seg_kv : !seg, !seg)
      outs(%o : !qkv)
      {mask = #attn.and<[#attn.document, #attn.causal]>} -> !qkv
  return %r : !qkv
}
