// Runs examples/blocks.mlir (an #attn.blocks table of 0 / 1 / 2 entries
// over a sliding window) on the fused and the reference lowering, checking
// both against the float64 reference; lengths that are not multiples of
// the blocks or the tiles.
// RUN: attn-run %attn_src_root/examples/blocks.mlir --check \
// RUN:   --shape B=2,Hq=3,Sq=150,Skv=333 --shape B=1,Hq=2,Sq=64,Skv=64 \
// RUN: | FileCheck %s
// RUN: attn-run %attn_src_root/examples/blocks.mlir --check --lowering=reference \
// RUN:   --shape B=2,Hq=3,Sq=77,Skv=129 | FileCheck %s --check-prefix=REF

// CHECK: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=333,Sq=150 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=64,Sq=64 {{.*}} check=ok
// REF: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=129,Sq=77 {{.*}} check=ok
