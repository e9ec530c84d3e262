// T5 relative position buckets, distances beyond max_distance.
// Runs examples/t5_rel_bias.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/t5_rel_bias.mlir --check \
// RUN:   --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=200,Skv=200 --shape B=1,Hq=2,Sq=7,Skv=150 \
// RUN: | FileCheck %s

// CHECK: shape=B=2,D=64,Dv=64,Hkv=4,Hq=4,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=2,Hq=2,Skv=200,Sq=200 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=2,Hq=2,Skv=150,Sq=7 {{.*}} check=ok
