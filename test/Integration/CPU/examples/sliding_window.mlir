// Causal sliding window of 32 keys.
// Runs examples/sliding_window.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/sliding_window.mlir --check \
// RUN:   --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=7,Skv=129 --shape B=1,Hq=2,Sq=150,Skv=150 --shape B=1,Hq=2,Sq=90,Skv=20 \
// RUN: | FileCheck %s

// CHECK: shape=B=2,D=64,Dv=64,Hkv=4,Hq=4,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=2,Hq=2,Skv=129,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=2,Hq=2,Skv=150,Sq=150 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=2,Hq=2,Skv=20,Sq=90 {{.*}} check=ok
