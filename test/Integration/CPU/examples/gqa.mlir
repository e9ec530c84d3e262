// Grouped-query attention, 8/2, 4/4, 6/3 and 4/1 heads.
// Runs examples/gqa.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/gqa.mlir --check \
// RUN:   --shape B=2,Hq=8,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=4,Hkv=4,Sq=7,Skv=129 --shape B=1,Hq=6,Hkv=3,Sq=1,Skv=1 --shape B=2,Hq=4,Hkv=1,Sq=33,Skv=65 \
// RUN: | FileCheck %s

// CHECK: shape=B=2,D=64,Dv=64,Hkv=2,Hq=8,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=4,Hq=4,Skv=129,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=3,Hq=6,Skv=1,Sq=1 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=64,Dv=64,Hkv=1,Hq=4,Skv=65,Sq=33 {{.*}} check=ok
