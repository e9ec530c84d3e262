// LookHere directional cones, one direction per head.
// Runs examples/directional_2d.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/directional_2d.mlir --check \
// RUN:   --shape B=2,Hq=4,Sq=36,Skv=36 --shape B=1,Hq=8,Hkv=2,Sq=36,Skv=36 --shape B=1,Hq=4,Sq=30,Skv=30 --shape B=1,Hq=4,Sq=7,Skv=36 --shape B=1,Hq=4,Sq=50,Skv=13 \
// RUN: | FileCheck %s

// CHECK: shape=B=2,D=32,Dv=32,Hkv=4,Hq=4,Skv=36,Sq=36 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=2,Hq=8,Skv=36,Sq=36 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=4,Hq=4,Skv=30,Sq=30 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=4,Hq=4,Skv=36,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=4,Hq=4,Skv=13,Sq=50 {{.*}} check=ok
