// D = 48 and Dv = 80.
// Runs examples/head_dims.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/head_dims.mlir --check \
// RUN:   --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 --shape B=1,Hq=2,Sq=100,Skv=31 \
// RUN: | FileCheck %s

// CHECK: shape=B=2,D=48,Dv=80,Hkv=4,Hq=4,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=48,Dv=80,Hkv=1,Hq=2,Skv=129,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=48,Dv=80,Hkv=2,Hq=2,Skv=31,Sq=100 {{.*}} check=ok
