// One draft tree per batch row (parent: [B, T] i64) with per-row cache
// lengths: the draft keys are the last T valid keys of each row. attn-run
// draws kv_len[b] >= T so that every tree fits (Skv = 1 with T = 1 used to
// draw kv_len = 0, which the reference rejects).
// RUN: attn-run %s --check --tree-size 6 \
// RUN:   --shape B=2,Hq=3,Sq=67,Skv=67 --shape B=2,Hq=3,Sq=7,Skv=35 \
// RUN:   --shape B=2,Hq=3,Sq=40,Skv=11 --shape B=3,Hq=3,Sq=1,Skv=1 \
// RUN:   --shape B=4,Hq=2,Sq=8,Skv=9 \
// RUN: | FileCheck %s
// RUN: attn-run %s --check --tree-size 4 --seed 3 --shape B=3,Hq=4,Hkv=2,Sq=4,Skv=4 \
// RUN: | FileCheck %s --check-prefix=SEED3

// CHECK: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=35,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=11,Sq=40 {{.*}} check=ok
// CHECK-NEXT: shape=B=3,D=32,Dv=32,Hkv=3,Hq=3,Skv=1,Sq=1 {{.*}} check=ok
// CHECK-NEXT: shape=B=4,D=32,Dv=32,Hkv=2,Hq=2,Skv=9,Sq=8 {{.*}} check=ok
// SEED3: shape=B=3,D=32,Dv=32,Hkv=2,Hq=4,Skv=4,Sq=4 {{.*}} check=ok

!t = tensor<?x?x?x32xf32>
!l = tensor<?x?x?xf32>
func.func @tree_per_row(%q: !t, %k: !t, %v: !t, %kv_len: tensor<?xi32>,
                        %parent: tensor<?x?xi64>, %o: !t, %l: !l)
    -> (!t, !l) {
  %r:2 = attn.attention ins(%q, %k, %v : !t, !t, !t)
      kv_len(%kv_len : tensor<?xi32>)
      tree(%parent : tensor<?x?xi64>)
      outs(%o, %l : !t, !l)
      {mask = #attn.tree} -> !t, !l
  return %r#0, %r#1 : !t, !l
}
