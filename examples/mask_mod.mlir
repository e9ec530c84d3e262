// A hand-written mask (FlexAttention's mask_mod): the region receives
// (b, h, q_idx, kv_idx) and yields an i1, true where the key is allowed.
// attn.position gives the query's position p(i) = q_idx + (Skv - Sq), which
// is what causal comparisons need when Sq != Skv.
//
// Here: the strided pattern of the Sparse Transformer ("Generating Long
// Sequences with Sparse Transformers"), causal; a query sees the 8 most
// recent keys and every 8th key before them.
//
//   d = p(i) - kv_idx
//   allowed = d >= 0  and  (d < 8  or  d mod 8 == 0)
//
// Run it:
//   attn-run examples/mask_mod.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=7,Skv=129 \
//     --shape B=1,Hq=2,Sq=100,Skv=31
!qkv = tensor<?x?x?x32xf32>
func.func @strided_sparse(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      mask_mod {
      ^bb0(%b: index, %h: index, %qi: index, %kj: index):
        %p = attn.position %b, %qi : index
        %c0 = arith.constant 0 : index
        %c8 = arith.constant 8 : index
        %d = arith.subi %p, %kj : index
        %past = arith.cmpi sge, %d, %c0 : index
        %near = arith.cmpi slt, %d, %c8 : index
        %rem = arith.remsi %d, %c8 : index
        %on_stride = arith.cmpi eq, %rem, %c0 : index
        %local_or_strided = arith.ori %near, %on_stride : i1
        %ok = arith.andi %past, %local_or_strided : i1
        attn.yield %ok : i1
      }
      {mask = #attn.mask_mod} -> !qkv
  return %r : !qkv
}
