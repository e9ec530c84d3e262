// Causal masking; Sq > Skv gives fully masked leading rows (O = 0).
// Runs examples/causal.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/causal.mlir --check \
// RUN:   --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=7,Skv=129 --shape B=1,Hq=2,Sq=100,Skv=31 --shape B=1,Hq=1,Sq=1,Skv=1 \
// RUN: | FileCheck %s
// RUN: attn-run %attn_src_root/examples/causal.mlir --check --seed 1 \
// RUN:   --shape B=2,Hq=3,Sq=129,Skv=129 --shape B=2,Hq=2,Sq=13,Skv=1 \
// RUN: | FileCheck %s --check-prefix=CHECK2

// CHECK: shape=B=2,D=64,Dv=64,Hkv=4,Hq=4,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=2,Hq=2,Skv=129,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=2,Hq=2,Skv=31,Sq=100 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=1,Hq=1,Skv=1,Sq=1 {{.*}} check=ok
// CHECK2: shape=B=2,D=64,Dv=64,Hkv=3,Hq=3,Skv=129,Sq=129 {{.*}} check=ok
// CHECK2-NEXT: shape=B=2,D=64,Dv=64,Hkv=2,Hq=2,Skv=1,Sq=13 {{.*}} check=ok
