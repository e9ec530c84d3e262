// Explicit [B, 1, Sq, Skv] i1 mask with fully masked rows.
// Runs examples/dense_mask.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/dense_mask.mlir --check \
// RUN:   --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=7,Skv=129 --shape B=2,Hq=2,Sq=1,Skv=1 \
// RUN: | FileCheck %s
// RUN: attn-run %attn_src_root/examples/dense_mask.mlir --check --seed 3 \
// RUN:   --shape B=2,Hq=4,Hkv=2,Sq=30,Skv=70 \
// RUN: | FileCheck %s --check-prefix=CHECK2

// CHECK: shape=B=2,D=32,Dv=32,Hkv=4,Hq=4,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=129,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=2,Hq=2,Skv=1,Sq=1 {{.*}} check=ok
// CHECK2: shape=B=2,D=32,Dv=32,Hkv=2,Hq=4,Skv=70,Sq=30 {{.*}} check=ok
