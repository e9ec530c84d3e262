// Speculative-decoding tree verification, T = 6 draft tokens.
// Runs examples/tree.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/tree.mlir --check --tree-size 6 \
// RUN:   --shape B=2,Hq=4,Sq=8,Skv=40 --shape B=1,Hq=2,Sq=6,Skv=6 --shape B=1,Hq=2,Sq=13,Skv=77 \
// RUN: | FileCheck %s
// RUN: attn-run %attn_src_root/examples/tree.mlir --check --tree-size 6 --seed 5 \
// RUN:   --shape B=2,Hq=4,Sq=8,Skv=40 \
// RUN: | FileCheck %s --check-prefix=CHECK2
// RUN: attn-run %attn_src_root/examples/tree.mlir --check --tree-size 1 \
// RUN:   --shape B=1,Hq=2,Sq=1,Skv=19 \
// RUN: | FileCheck %s --check-prefix=CHECK3

// CHECK: shape=B=2,D=64,Dv=64,Hkv=4,Hq=4,Skv=40,Sq=8 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=2,Hq=2,Skv=6,Sq=6 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=2,Hq=2,Skv=77,Sq=13 {{.*}} check=ok
// CHECK2: shape=B=2,D=64,Dv=64,Hkv=4,Hq=4,Skv=40,Sq=8 {{.*}} check=ok
// CHECK3: shape=B=1,D=64,Dv=64,Hkv=2,Hq=2,Skv=19,Sq=1 {{.*}} check=ok
