// Tree attention for speculative decoding (Medusa, SpecInfer, TriForce): the
// last T queries and the last T keys are draft tokens forming a tree given
// by parent[t] (-1 for a root, parents listed before children). A draft
// token sees the whole committed prefix plus its ancestors and itself, never
// its siblings. Earlier queries (when Sq > T) are plain causal.
//
//   draft query t, key j:  j < Skv - T   or   j - (Skv - T) in ancestors-or-self(t)
//
// Here the verifier step scores Sq = 8 new tokens (2 accepted + a 6-token
// draft tree) against a cache of Skv = 40 keys. attn-run draws a random
// forest for parent (--tree-size sets T).
//
// Run it:
//   attn-run examples/tree.mlir --check --tree-size 6 \
//     --shape B=2,Hq=4,Sq=8,Skv=40 --shape B=1,Hq=2,Sq=6,Skv=6 \
//     --shape B=1,Hq=2,Sq=13,Skv=77
!qkv = tensor<?x?x?x64xf32>
func.func @tree_verify(%q: !qkv, %k: !qkv, %v: !qkv, %parent: tensor<?xi32>,
                       %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv)
      tree(%parent : tensor<?xi32>)
      outs(%o : !qkv)
      {mask = #attn.tree} -> !qkv
  return %r : !qkv
}
