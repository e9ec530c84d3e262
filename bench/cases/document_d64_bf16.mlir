// Bench kernel: packed documents, causal within each document, bf16, BHSD,
// D = 64:
//   allowed = seg_q[b, i] == seg_kv[b, j]  and  j <= p(i)
// The harness passes equal-length document ids with --input (attn-run's
// own --num-docs draws random boundaries), and gives the peers the same.
!qkv = tensor<?x?x?x64xbf16>
!seg = tensor<?x?xi32>
func.func @document_d64_bf16(%q: !qkv, %k: !qkv, %v: !qkv,
                        %seg_q: !seg, %seg_kv: !seg, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      segments(%seg_q, %seg_kv : !seg, !seg)
      outs(%o : !qkv)
      {mask = #attn.and<[#attn.document, #attn.causal]>} -> !qkv
  return %r : !qkv
}
