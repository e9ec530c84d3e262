// Longformer: local band or global tokens; with Sq > Skv, queries at p < 0 are
// not among the first 2 (global) positions.
// Runs examples/global.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/global.mlir --check \
// RUN:   --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=129,Skv=129 --shape B=1,Hq=2,Sq=7,Skv=41 --shape B=1,Hq=4,Sq=60,Skv=13 --shape B=1,Hq=4,Sq=9,Skv=3 \
// RUN: | FileCheck %s

// CHECK: shape=B=2,D=32,Dv=32,Hkv=4,Hq=4,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=129,Sq=129 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=41,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=4,Hq=4,Skv=13,Sq=60 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=4,Hq=4,Skv=3,Sq=9 {{.*}} check=ok
