// Decoding with per-row cache lengths; Sq > kv_len[b] gives fully masked rows.
// Runs examples/decode.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/decode.mlir --check \
// RUN:   --shape B=3,Hq=8,Hkv=2,Sq=1,Skv=77 --shape B=2,Hq=4,Hkv=1,Sq=4,Skv=130 --shape B=4,Hq=2,Hkv=1,Sq=4,Skv=5 \
// RUN: | FileCheck %s
// RUN: attn-run %attn_src_root/examples/decode.mlir --check --seed 1 \
// RUN:   --shape B=4,Hq=2,Hkv=1,Sq=4,Skv=5 --shape B=3,Hq=2,Sq=2,Skv=1 \
// RUN: | FileCheck %s --check-prefix=CHECK2

// CHECK: shape=B=3,D=64,Dv=64,Hkv=2,Hq=8,Skv=77,Sq=1 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=64,Dv=64,Hkv=1,Hq=4,Skv=130,Sq=4 {{.*}} check=ok
// CHECK-NEXT: shape=B=4,D=64,Dv=64,Hkv=1,Hq=2,Skv=5,Sq=4 {{.*}} check=ok
// CHECK2: shape=B=4,D=64,Dv=64,Hkv=1,Hq=2,Skv=5,Sq=4 {{.*}} check=ok
// CHECK2-NEXT: shape=B=3,D=64,Dv=64,Hkv=2,Hq=2,Skv=1,Sq=2 {{.*}} check=ok
