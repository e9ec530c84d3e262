// Data-dependent masks that the fused path classifies per tile at run time
// (tiles skipped where the conjunct allows nothing, unmasked where it
// allows everything): blocked dense masks (block-sparse attention), dense
// masks per score together with document ids, and draft trees at lengths
// that span many tiles. attn-run's dense masks are made of large all-false,
// all-true and random regions, so every class occurs.
// RUN: attn-run %s --func=blocked_causal --check \
// RUN:   --shape B=2,Hq=4,Hkv=2,Sq=300,Skv=300 --shape B=2,Hq=4,Hkv=2,Sq=37,Skv=250 \
// RUN:   --shape B=1,Hq=4,Hkv=2,Sq=1,Skv=130 \
// RUN: | FileCheck %s --check-prefix=BLOCKED
// RUN: attn-run %s --func=blocked_rank2_i8 --check \
// RUN:   --shape B=2,Hq=3,Sq=257,Skv=190 --shape B=1,Hq=2,Sq=5,Skv=400 \
// RUN: | FileCheck %s --check-prefix=RANK2
// RUN: attn-run %s --func=dense_document --check --num-docs 3 \
// RUN:   --shape B=2,Hq=2,Sq=400,Skv=400 --shape B=1,Hq=2,Sq=130,Skv=515 \
// RUN: | FileCheck %s --check-prefix=DOC
// RUN: attn-run %s --func=tree_window --check --tree-size 40 \
// RUN:   --shape B=2,Hq=2,Sq=300,Skv=300 --shape B=2,Hq=2,Sq=45,Skv=500 \
// RUN:   --shape B=1,Hq=2,Sq=40,Skv=500 \
// RUN: | FileCheck %s --check-prefix=TREE
// RUN: attn-run %s --func=tree_alone --check --tree-size 40 \
// RUN:   --shape B=2,Hq=2,Sq=300,Skv=300 --shape B=1,Hq=2,Sq=40,Skv=500 \
// RUN:   --shape B=1,Hq=2,Sq=100,Skv=500 \
// RUN: | FileCheck %s --check-prefix=TREE-ALONE
// RUN: attn-opt %s --attn-tile-cpu="vector-width=16 threads=2" | FileCheck %s --check-prefix=IR

// BLOCKED: Skv=300,Sq=300 {{.*}} check=ok
// BLOCKED-NEXT: Skv=250,Sq=37 {{.*}} check=ok
// BLOCKED-NEXT: Skv=130,Sq=1 {{.*}} check=ok
// RANK2: Skv=190,Sq=257 {{.*}} check=ok
// RANK2-NEXT: Skv=400,Sq=5 {{.*}} check=ok
// DOC: Skv=400,Sq=400 {{.*}} check=ok
// DOC-NEXT: Skv=515,Sq=130 {{.*}} check=ok
// TREE: Skv=300,Sq=300 {{.*}} check=ok
// TREE-NEXT: Skv=500,Sq=45 {{.*}} check=ok
// TREE-NEXT: Skv=500,Sq=40 {{.*}} check=ok
// TREE-ALONE: Skv=300,Sq=300 {{.*}} check=ok
// TREE-ALONE-NEXT: Skv=500,Sq=40 {{.*}} check=ok
// TREE-ALONE-NEXT: Skv=500,Sq=100 {{.*}} check=ok

// The dense conjunct is scanned per tile, entry rows while undecided.
// IR-LABEL: func.func @blocked_causal
//       IR:   scf.while
//       IR:     arith.andi
//       IR:   scf.condition
//       IR:   tensor.extract %{{.*}} : tensor<?x?x?x?xi1>
// IR-LABEL: func.func @tree_window

!t = tensor<?x?x?x32xf32>
!l = tensor<?x?x?xf32>
func.func @blocked_causal(%q: !t, %k: !t, %v: !t, %m: tensor<?x?x?x?xi1>,
                          %o: !t, %l: !l) -> (!t, !l) {
  %r:2 = attn.attention ins(%q, %k, %v : !t, !t, !t)
      dense_mask(%m : tensor<?x?x?x?xi1>)
      outs(%o, %l : !t, !l)
      {mask = #attn.and<[#attn.dense<block_q = 16, block_kv = 32>,
                         #attn.causal]>} -> !t, !l
  return %r#0, %r#1 : !t, !l
}

!u = tensor<?x?x?x48xf32>
func.func @blocked_rank2_i8(%q: !u, %k: !u, %v: !u, %m: tensor<?x?xi8>,
                            %o: !u) -> !u {
  %r = attn.attention ins(%q, %k, %v : !u, !u, !u)
      dense_mask(%m : tensor<?x?xi8>)
      outs(%o : !u)
      {mask = #attn.dense<block_q = 7, block_kv = 13>} -> !u
  return %r : !u
}

func.func @dense_document(%q: !t, %k: !t, %v: !t, %sq: tensor<?x?xi32>,
                          %skv: tensor<?x?xi32>, %m: tensor<?x?x?x?xi1>,
                          %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      segments(%sq, %skv : tensor<?x?xi32>, tensor<?x?xi32>)
      dense_mask(%m : tensor<?x?x?x?xi1>)
      outs(%o : !t)
      {mask = #attn.and<[#attn.dense, #attn.document, #attn.causal]>} -> !t
  return %r : !t
}

func.func @tree_window(%q: !t, %k: !t, %v: !t, %parent: tensor<?xi32>,
                       %o: !t, %l: !l) -> (!t, !l) {
  %r:2 = attn.attention ins(%q, %k, %v : !t, !t, !t)
      tree(%parent : tensor<?xi32>)
      outs(%o, %l : !t, !l)
      {mask = #attn.and<[#attn.tree, #attn.or<[#attn.sliding_window<left = 100>,
                                               #attn.sinks<count = 3>]>]>}
      -> !t, !l
  return %r#0, %r#1 : !t, !l
}

func.func @tree_alone(%q: !t, %k: !t, %v: !t, %parent: tensor<?xi32>,
                      %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      tree(%parent : tensor<?xi32>)
      outs(%o : !t)
      {mask = #attn.tree} -> !t
  return %r : !t
}
