// REQUIRES: ptxas
// RUN: attn-opt %S/Inputs/cascade-f16-d64.mlir --attn-cuda-pipeline="chip=sm_80" -o %t.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t.mlir 0 > %t.gather.ptx
// RUN: %ptxas -arch=sm_80 -v %t.gather.ptx -o %t.gather.cubin 2>&1 | FileCheck %s
// RUN: %python %S/Inputs/extract-ptx.py %t.mlir 5 > %t.lse.ptx
// RUN: %ptxas -arch=sm_80 -v %t.lse.ptx -o %t.lse.cubin 2>&1 | FileCheck %s
// RUN: %python %S/Inputs/extract-ptx.py %t.mlir 6 > %t.o.ptx
// RUN: %ptxas -arch=sm_80 -v %t.o.ptx -o %t.o.cubin 2>&1 | FileCheck %s

// ptxas assembles the one-thread-per-element kernels of a cascade (a
// gather, the merge's LSE and O) without spills.

// CHECK: 0 bytes spill stores, 0 bytes spill loads
