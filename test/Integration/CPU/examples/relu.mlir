// ReLU^2 attention normalised by the row sum, with LSE.
// Runs examples/relu.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/relu.mlir --check \
// RUN:   --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 --shape B=1,Hq=2,Sq=1,Skv=1 \
// RUN: | FileCheck %s
// RUN: attn-run %attn_src_root/examples/relu.mlir --check --seed 4 \
// RUN:   --shape B=2,Hq=2,Sq=7,Skv=129 \
// RUN: | FileCheck %s --check-prefix=CHECK2

// CHECK: shape=B=2,D=32,Dv=32,Hkv=4,Hq=4,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=31,Sq=100 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=1,Sq=1 {{.*}} check=ok
// CHECK2: shape=B=2,D=32,Dv=32,Hkv=2,Hq=2,Skv=129,Sq=7 {{.*}} check=ok
