// RUN: attn-opt %S/Inputs/cascade-f16-d64.mlir --attn-cuda-pipeline="chip=sm_80" -o %t.sm80.mlir
// RUN: FileCheck %s --check-prefix=HOST < %t.sm80.mlir
// RUN: grep -c "llvm.call @mgpuMemAlloc" %t.sm80.mlir | FileCheck %s --check-prefix=COUNT
// RUN: grep -c "llvm.call @mgpuMemFree" %t.sm80.mlir | FileCheck %s --check-prefix=COUNT
// RUN: %python %S/Inputs/extract-ptx.py %t.sm80.mlir 0 | FileCheck %s --check-prefix=GATHER
// RUN: %python %S/Inputs/extract-ptx.py %t.sm80.mlir 5 | FileCheck %s --check-prefix=MERGELSE
// RUN: %python %S/Inputs/extract-ptx.py %t.sm80.mlir 6 | FileCheck %s --check-prefix=MERGEO
// RUN: attn-opt %S/Inputs/cascade-f16-d64.mlir --attn-cuda-pipeline="chip=sm_90a" | FileCheck %s --check-prefix=SM90
// RUN: attn-opt %S/Inputs/cascade-f16-d64.mlir --attn-cuda-pipeline="chip=sm_90a emulate=true" | FileCheck %s --check-prefix=SM90

// A shared-prefix cascade (attn.cascade_ir: two attn.attention ops, the
// gathers that stack the batch's queries for the prefix and unstack its
// result, and an attn.merge) as one GPU function: seven kernels, in
// program order, all on device buffers. The function's own buffers (the
// stacked queries, both partial results and the gathered ones) are
// device allocations freed before it returns; nothing is allocated in host
// memory.

// COUNT: {{^6$}}
// HOST:       llvm.func @cascade(
// HOST-NOT:     llvm.call @malloc
// HOST:         llvm.call @mgpuMemAlloc
// HOST-NOT:     llvm.call @malloc
// HOST:         gpu.launch_func @cascade_kernel::@cascade_kernel blocks in
// HOST:         gpu.launch_func @cascade_kernel_0::@cascade_kernel
// HOST:         gpu.launch_func @cascade_kernel_1::@cascade_kernel
// HOST:         gpu.launch_func @cascade_kernel_2::@cascade_kernel
// HOST:         gpu.launch_func @cascade_kernel_3::@cascade_kernel
// HOST:         gpu.launch_func @cascade_kernel_4::@cascade_kernel
// HOST:         gpu.launch_func @cascade_kernel_5::@cascade_kernel
// HOST-COUNT-6: llvm.call @mgpuMemFree
// HOST-NOT:     llvm.call @malloc
// HOST:         llvm.return

// The gather of the stacked queries: one thread per element, 16-bit loads
// and stores, no tensor cores.
// GATHER:     .entry cascade_kernel(
// GATHER:       mov.u32 {{.*}}%ctaid.x
// GATHER:       ld.global.b16
// GATHER:       st.global.b16
// GATHER-NOT:   mma

// The merge: the LSE of each row (exp and log by the PTX approximations),
// then each element of O.
// MERGELSE:   .entry cascade_kernel(
// MERGELSE:     ex2.approx
// MERGELSE:     lg2.approx
// MERGELSE:     st.global.b32
// MERGEO:     .entry cascade_kernel(
// MERGEO:       ex2.approx
// MERGEO:       st.global.b16

// On sm_90a both attention kernels are the TMA + wgmma one (their tensor
// maps encoded before each), the others as on sm_80.
// SM90:       gpu.launch_func @cascade_kernel::
// SM90:       llvm.call @attnCudaTensorMap(
// SM90:       gpu.launch_func @cascade_kernel_0::
// SM90:       gpu.launch_func @cascade_kernel_2::
// SM90:       llvm.call @attnCudaTensorMap(
// SM90:       gpu.launch_func @cascade_kernel_3::
// SM90:       gpu.launch_func @cascade_kernel_5::
// SM90:       gpu.binary @cascade_kernel_0 {{.*}}chip = "sm_90a"
// SM90-SAME:    wgmma.mma_async
