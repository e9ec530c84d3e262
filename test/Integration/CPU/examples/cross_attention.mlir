// Cross-attention, Sq != Skv in both directions.
// Runs examples/cross_attention.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/cross_attention.mlir --check \
// RUN:   --shape B=2,Hq=4,Sq=10,Skv=77 --shape B=1,Hq=2,Sq=129,Skv=7 --shape B=2,Hq=4,Hkv=2,Sq=1,Skv=200 \
// RUN: | FileCheck %s
// RUN: attn-run %attn_src_root/examples/cross_attention.mlir --check --seed 11 \
// RUN:   --shape B=1,Hq=2,Sq=67,Skv=1 \
// RUN: | FileCheck %s --check-prefix=CHECK2

// CHECK: shape=B=2,D=32,Dv=32,Hkv=4,Hq=4,Skv=77,Sq=10 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=7,Sq=129 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=2,Hq=4,Skv=200,Sq=1 {{.*}} check=ok
// CHECK2: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=1,Sq=67 {{.*}} check=ok
