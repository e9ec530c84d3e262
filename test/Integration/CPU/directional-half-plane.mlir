// Directional 2D masks with integer (not unit) direction vectors on a 5 x 7
// grid, in the half-plane form; three directions cycle over the heads.
// Also partial grids (Skv < 35) and cross-attention (Sq != Skv, queries
// positioned off the grid's start).
// RUN: attn-run %s --check \
// RUN:   --shape B=2,Hq=3,Sq=35,Skv=35 --shape B=1,Hq=6,Hkv=2,Sq=7,Skv=30 \
// RUN:   --shape B=1,Hq=3,Sq=30,Skv=11 --shape B=1,Hq=1,Sq=1,Skv=1 \
// RUN: | FileCheck %s

// CHECK: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=35,Sq=35 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=2,Hq=6,Skv=30,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=3,Hq=3,Skv=11,Sq=30 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=1,Hq=1,Skv=1,Sq=1 {{.*}} check=ok

!t = tensor<?x?x?x32xf32>
func.func @half_plane(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      outs(%o : !t)
      {mask = #attn.directional_2d<rows = 5, cols = 7,
                                   directions = [1, 1, -2, 1, 0, -1],
                                   half_plane = true>} -> !t
  return %r : !t
}
