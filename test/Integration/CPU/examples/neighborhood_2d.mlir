// 2D neighbourhood attention on an 8 x 12 grid, full and partial grids.
// Runs examples/neighborhood_2d.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/neighborhood_2d.mlir --check \
// RUN:   --shape B=2,Hq=2,Sq=96,Skv=96 --shape B=1,Hq=3,Sq=50,Skv=50 --shape B=1,Hq=2,Sq=7,Skv=96 --shape B=1,Hq=2,Sq=60,Skv=13 \
// RUN: | FileCheck %s

// CHECK: shape=B=2,D=32,Dv=32,Hkv=2,Hq=2,Skv=96,Sq=96 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=3,Hq=3,Skv=50,Sq=50 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=96,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=13,Sq=60 {{.*}} check=ok
