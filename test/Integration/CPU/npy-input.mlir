// Inputs from .npy files. A first run writes its outputs with --output-dir;
// they come back as Q, K and V of a second run, whose sizes then come from
// the files (no --shape). A capture is read from a hand-made int32 .npy.
// RUN: rm -rf %t && mkdir -p %t
// RUN: attn-run %attn_src_root/examples/lse.mlir --shape B=1,Hq=2,Sq=5,Skv=5 \
// RUN:   --output-dir %t | FileCheck %s --check-prefix=WRITE
// RUN: attn-run %attn_src_root/examples/lse.mlir --check --input q=%t/o.npy \
// RUN:   --input k=%t/o.npy --input v=%t/o.npy | FileCheck %s --check-prefix=READ
// A --shape that agrees with the files is fine.
// RUN: attn-run %attn_src_root/examples/lse.mlir --check --input q=%t/o.npy \
// RUN:   --shape B=1,Sq=5,Skv=9 | FileCheck %s --check-prefix=AGREE
// RUN: printf '\x93NUMPY\x01\x00\x76\x00%%-117s\n' \
// RUN:   "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }" > %t/limit.npy
// RUN: printf '\x05\x00\x00\x00\x14\x00\x00\x00\x00\x00\x00\x00' >> %t/limit.npy
// RUN: attn-run %S/regions-control-flow.mlir --check --input capture0=%t/limit.npy \
// RUN:   --shape B=3,Hq=2,Sq=30,Skv=30 | FileCheck %s --check-prefix=CAPTURE

// WRITE: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=5,Sq=5
// READ: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=5,Sq=5 {{.*}} check=ok
// AGREE: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=9,Sq=5 {{.*}} check=ok
// CAPTURE: shape=B=3,D=32,Dv=32,Hkv=2,Hq=2,Skv=30,Sq=30 {{.*}} check=ok
