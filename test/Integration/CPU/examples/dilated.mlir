// LongNet dilated attention; rows whose offset misses the head's lane are fully
// masked.
// Runs examples/dilated.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/dilated.mlir --check \
// RUN:   --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=8,Hkv=2,Sq=100,Skv=100 --shape B=1,Hq=3,Sq=7,Skv=129 --shape B=1,Hq=4,Sq=60,Skv=13 \
// RUN: | FileCheck %s

// CHECK: shape=B=2,D=32,Dv=32,Hkv=4,Hq=4,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=2,Hq=8,Skv=100,Sq=100 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=3,Hq=3,Skv=129,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=4,Hq=4,Skv=13,Sq=60 {{.*}} check=ok
