// Sliding-window (local causal) attention, as in Mistral and Longformer's
// local band: each query sees itself and the 32 keys before it.
//
//   allowed = p(i) - 32 <= j <= p(i) + 0,   p(i) = i + (Skv - Sq)
//   O       = softmax over the allowed keys, times V
//
// `right = 0` (the default) makes the window causal; a positive `right` adds
// look-ahead. The compiler derives symbolically which tiles of the score
// matrix lie fully inside, fully outside or across the band.
//
// Run it:
//   attn-run examples/sliding_window.mlir --check \
//     --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=7,Skv=129 \
//     --shape B=1,Hq=2,Sq=150,Skv=150
!qkv = tensor<?x?x?x64xf32>
func.func @sliding_window(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      outs(%o : !qkv)
      {mask = #attn.sliding_window<left = 32, right = 0>} -> !qkv
  return %r : !qkv
}
