// Multi-query attention, Hkv = 1 static.
// Runs examples/mqa.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/mqa.mlir --check \
// RUN:   --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=3,Sq=7,Skv=129 --shape B=1,Hq=1,Sq=1,Skv=1 \
// RUN: | FileCheck %s

// CHECK: shape=B=2,D=64,Dv=64,Hkv=1,Hq=4,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=1,Hq=3,Skv=129,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=1,Hq=1,Skv=1,Sq=1 {{.*}} check=ok
