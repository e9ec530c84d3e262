// RUN: attn-run %attn_src_root/examples/merge.mlir --target=cuda-emulator --chip=sm_80 --check --shape B=2,H=4,S=67 --shape B=1,H=2,S=1 | FileCheck %s
// RUN: attn-run %attn_src_root/examples/merge.mlir --target=cuda-emulator --check --seed 3 --shape B=2,H=3,S=129 | FileCheck %s
// RUN: attn-run %S/../CPU/merge-bshd-f16.mlir --target=cuda-emulator --check --shape B=2,H=3,S=5 --shape B=2,H=4,S=129 | FileCheck %s

// attn.merge on the GPU targets (its two one-thread-per-element kernels
// and their host code) run by the GPU emulator: three f32 partials and two
// f16 partials in the BSHD layout, with attn-run's random -inf LSEs (rows
// where some or all partials saw no key), against the float64 merge
// within the tolerances of the outputs' types. Any emulator report would
// fail the run.

// CHECK: attn-run: shape={{.*}} check=ok
// CHECK-NOT: FAIL
