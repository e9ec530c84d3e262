// RUN: split-file %s %t
// RUN: attn-opt %t/f16.mlir --attn-cuda-pipeline -o %t/f16.out.mlir
// RUN: FileCheck %s --check-prefix=HOST < %t/f16.out.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/f16.out.mlir | FileCheck %s --check-prefix=F16
// Index constants are computed in the kernel (gpu-launch-sink-index-
// computations), not passed as parameters: divisions by constants such as
// tid / 32 become shifts, and one 64-bit division remains (by the run-time
// GQA group size). Without the pass there were 8.
// RUN: %python %S/Inputs/extract-ptx.py %t/f16.out.mlir | grep -c -E "(div|rem)\.[us]64" | FileCheck %s --check-prefix=DIV64
// DIV64: {{^1$}}
// RUN: attn-opt %t/bf16.mlir --attn-cuda-pipeline="chip=sm_90a mma=sync" -o %t/bf16.out.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/bf16.out.mlir | FileCheck %s --check-prefix=BF16
// RUN: attn-opt %t/bf16.mlir --attn-cuda-pipeline="chip=sm_90a" -o %t/wgmma.out.mlir
// RUN: FileCheck %s --check-prefix=WGHOST < %t/wgmma.out.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/wgmma.out.mlir | FileCheck %s --check-prefix=WGMMA
// RUN: not attn-opt %t/f16.mlir --attn-cuda-pipeline="mma=wgmma" 2>&1 | FileCheck %s --check-prefix=WGMMA80
// RUN: not attn-opt %t/f16.mlir --attn-cuda-pipeline="mma=fast" 2>&1 | FileCheck %s --check-prefix=BADMMA
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

// On sm_90a the default is the warpgroup kernel: the host makes and frees
// the TMA tensor maps around the launch; the PTX loads tiles with
// cp.async.bulk.tensor on mbarriers and multiplies with wgmma.mma_async
// (Q K^T: m64n32 with 32-key tiles, as ALiBi and the window keep registers
// busy; P V: m64n128, B transposed).

// WGHOST:     llvm.call @attnCudaTensorMap(
// WGHOST:     llvm.call @attnCudaTensorMap(
// WGHOST:     gpu.launch_func @attention_kernel::@attention_kernel
// WGHOST:     llvm.call @attnCudaTensorMapFree(
// WGHOST:     llvm.call @attnCudaTensorMapFree(
// WGHOST:     gpu.binary @attention_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx83">

// WGMMA:     .version 8.3
// WGMMA:     .target sm_90a
// WGMMA-DAG: fence.proxy.tensormap::generic.acquire.sys [{{.*}}], 128;
// WGMMA-DAG: mbarrier.init.shared.b64
// WGMMA-DAG: fence.mbarrier_init.release.cluster;
// WGMMA-DAG: mbarrier.arrive.expect_tx.shared.b64
// WGMMA-DAG: cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// WGMMA-DAG: mbarrier.try_wait.parity.shared.b64
// WGMMA-DAG: wgmma.fence.sync.aligned;
// WGMMA-DAG: wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// WGMMA-DAG: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;
// WGMMA-DAG: wgmma.commit_group.sync.aligned;
// WGMMA-DAG: wgmma.wait_group.sync.aligned 0;
// Each thread checks its share of the V stage for NaN and inf (16-byte
// shared loads), ORed by the barrier; only such a tile's P V runs on
// mma.sync, with ldmatrix from the swizzled stage (README "Masked keys").
// WGMMA-DAG: ld.shared.v4.b32
// WGMMA-DAG: bar.red.or.pred
// WGMMA-DAG: ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16
// WGMMA-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// WGMMA-NOT: ldmatrix.sync.aligned.m8n8.x4

// WGMMA80: error: attn-cuda-pipeline: mma=wgmma needs chip=sm_90a
// BADMMA: error: attn-cuda-pipeline: mma must be 'auto', 'sync' or 'wgmma', not 'fast'
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
// bf16 (nvvm.mma.sync with mma=sync) with a causal sliding window and
// ALiBi.
!b = tensor<?x?x?x128xbf16>
func.func @attention(%q: !b, %k: !b, %v: !b, %o: !b) -> !b {
  %r = attn.attention ins(%q, %k, %v : !b, !b, !b) outs(%o : !b)
      {mask = #attn.and<[#attn.sliding_window<left = 1024>, #attn.causal]>,
       score_mods = [#attn.alibi]} -> !b
  return %r : !b
}
