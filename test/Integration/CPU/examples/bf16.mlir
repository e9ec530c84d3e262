// bf16 inputs with f32 LSE, ALiBi, causal.
// Runs examples/bf16.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/bf16.mlir --check \
// RUN:   --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 \
// RUN: | FileCheck %s
// RUN: attn-run %attn_src_root/examples/bf16.mlir --check --seed 2 \
// RUN:   --shape B=2,Hq=4,Hkv=2,Sq=129,Skv=129 \
// RUN: | FileCheck %s --check-prefix=CHECK2

// CHECK: shape=B=2,D=64,Dv=64,Hkv=4,Hq=4,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=2,Hq=2,Skv=31,Sq=100 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=1,Hq=2,Skv=129,Sq=7 {{.*}} check=ok
// CHECK2: shape=B=2,D=64,Dv=64,Hkv=2,Hq=4,Skv=129,Sq=129 {{.*}} check=ok
