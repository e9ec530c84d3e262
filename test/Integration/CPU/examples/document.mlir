// Packed causal documents; odd batch rows end in padding whose rows are fully
// masked.
// Runs examples/document.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/document.mlir --check --num-docs 4 \
// RUN:   --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=3,Hq=2,Sq=150,Skv=150 --shape B=2,Hq=2,Sq=7,Skv=129 \
// RUN: | FileCheck %s
// RUN: attn-run %attn_src_root/examples/document.mlir --check --num-docs 1 --seed 2 \
// RUN:   --shape B=2,Hq=2,Hkv=1,Sq=31,Skv=31 \
// RUN: | FileCheck %s --check-prefix=CHECK2

// CHECK: shape=B=2,D=64,Dv=64,Hkv=4,Hq=4,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=3,D=64,Dv=64,Hkv=2,Hq=2,Skv=150,Sq=150 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=64,Dv=64,Hkv=2,Hq=2,Skv=129,Sq=7 {{.*}} check=ok
// CHECK2: shape=B=2,D=64,Dv=64,Hkv=1,Hq=2,Skv=31,Sq=31 {{.*}} check=ok
