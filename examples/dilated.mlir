// LongNet dilated attention ("LongNet: Scaling Transformers to 1,000,000,000
// Tokens"): the sequence is split into segments of 32 tokens; inside a
// segment, head h keeps every 4th token starting at offset h mod 4, for both
// queries and keys.
//
//   allowed = floor(p(i)/32) == floor(j/32)
//             and (j mod 32) mod 4 == h mod 4
//             and (p(i) mod 32) mod 4 == h mod 4
//
// Queries whose offset does not match the head see no key: their rows are
// fully masked and give O = 0 (LongNet fills them from the other heads or
// other dilation settings, combined with attn.merge).
//
// Run it (Hq >= 4 so that every offset is used by some head):
//   attn-run examples/dilated.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=8,Hkv=2,Sq=100,Skv=100
!qkv = tensor<?x?x?x32xf32>
func.func @dilated(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.dilated<segment = 32, rate = 4>} -> !qkv
  return %r : !qkv
}
