// RUN: split-file %s %t
// RUN: attn-opt %t/f16.mlir --attn-cuda-pipeline -o %t/f16.out.mlir
// RUN: FileCheck %s --check-prefix=HOST < %t/f16.out.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/f16.out.mlir | FileCheck %s --check-prefix=F16
// RUN: attn-opt %t/bf16.mlir --attn-cuda-pipeline="chip=sm_90a" -o %t/bf16.out.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/bf16.out.mlir | FileCheck %s --check-prefix=BF16
// RUN: not attn-opt %t/f16.mlir --attn-cuda-pipeline="chip=sm_70" 2>&1 | FileCheck %s --check-prefix=BADCHIP
// RUN: not attn-opt %t/f16.mlir --attn-cuda-pipeline="format=elf" 2>&1 | FileCheck %s --check-prefix=BADFORMAT

// The whole way from attn.attention to a host function and a gpu.binary
// holding PTX (format=isa needs no CUDA toolkit): the kernel's cp.async
// copies, ldmatrix loads, tensor-core mma.sync and quad shuffles survive
// into the PTX, and the host function launches it on device buffers.

// HOST:       llvm.func @attention(
// HOST:         gpu.launch_func @attention_kernel::@attention_kernel
// HOST:       llvm.func @_mlir_ciface_attention(
// HOST:       gpu.binary @attention_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_80">

// F16:     .target sm_80
// F16:     .entry attention_kernel(
// F16-DAG: cp.async.cg.shared.global [{{.*}}], [{{.*}}], 16, {{.*}};
// F16-DAG: cp.async.commit_group;
// F16-DAG: cp.async.wait_group 0;
// F16-DAG: ldmatrix.sync.aligned.m8n8.x2.shared.b16
// F16-DAG: ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16
// F16-DAG: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// F16-DAG: shfl.sync.bfly.b32
// F16-DAG: bar.sync 0;

// BF16:     .target sm_90a
// BF16-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// BF16-DAG: ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16

// BADCHIP: error: attn-cuda-pipeline: chip must be 'sm_80' or 'sm_90a', not 'sm_70'
// BADFORMAT: error: attn-cuda-pipeline: format must be 'isa', 'bin' or 'fatbin', not 'elf'

//--- f16.mlir
!qkv = tensor<?x?x?x64xf16>
!lse = tensor<?x?x?xf32>
func.func @attention(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv, %l: !lse) -> (!qkv, !lse) {
  %r:2 = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv) outs(%o, %l : !qkv, !lse)
      {mask = #attn.causal} -> !qkv, !lse
  return %r#0, %r#1 : !qkv, !lse
}

//--- bf16.mlir
// bf16 through nvvm.mma.sync, with a causal sliding window and ALiBi.
!b = tensor<?x?x?x128xbf16>
func.func @attention(%q: !b, %k: !b, %v: !b, %o: !b) -> !b {
  %r = attn.attention ins(%q, %k, %v : !b, !b, !b) outs(%o : !b)
      {mask = #attn.and<[#attn.sliding_window<left = 1024>, #attn.causal]>,
       score_mods = [#attn.alibi]} -> !b
  return %r : !b
}
