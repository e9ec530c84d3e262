// attn.merge of three partials with some -inf LSEs.
// Runs examples/merge.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/merge.mlir --check \
// RUN:   --shape B=2,H=4,S=67 --shape B=1,H=2,S=1 --shape B=1,H=3,S=129 \
// RUN: | FileCheck %s
// RUN: attn-run %attn_src_root/examples/merge.mlir --check --seed 3 \
// RUN:   --shape B=2,H=2,S=7 \
// RUN: | FileCheck %s --check-prefix=CHECK2

// CHECK: shape=B=2,Dv=64,H=4,S=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,Dv=64,H=2,S=1 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,Dv=64,H=3,S=129 {{.*}} check=ok
// CHECK2: shape=B=2,Dv=64,H=2,S=7 {{.*}} check=ok
