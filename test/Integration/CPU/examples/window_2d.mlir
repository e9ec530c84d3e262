// Swin windows; Sq = Skv = 64 are static in the types.
// Runs examples/window_2d.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/window_2d.mlir --check \
// RUN:   --shape B=2,Hq=4 --shape B=1,Hq=3 --shape B=1,Hq=4,Hkv=2 \
// RUN: | FileCheck %s

// CHECK: shape=B=2,D=32,Dv=32,Hkv=4,Hq=4,Skv=64,Sq=64 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=3,Hq=3,Skv=64,Sq=64 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=2,Hq=4,Skv=64,Sq=64 {{.*}} check=ok
