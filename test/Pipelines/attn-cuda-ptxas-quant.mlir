// REQUIRES: ptxas
// RUN: split-file %s %t
// RUN: attn-opt %t/int4_residual_d128.mlir --attn-cuda-pipeline="chip=sm_80" -o %t/a.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/a.mlir > %t/a.ptx
// RUN: %ptxas -arch=sm_80 -v %t/a.ptx -o %t/a.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/int2_paged_small_groups.mlir --attn-cuda-pipeline="chip=sm_80" -o %t/b.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/b.mlir > %t/b.ptx
// RUN: %ptxas -arch=sm_80 -v %t/b.ptx -o %t/b.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/int8_kv128.mlir --attn-cuda-pipeline="chip=sm_80" -o %t/c.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/c.mlir > %t/c.ptx
// RUN: %ptxas -arch=sm_80 -v %t/c.ptx -o %t/c.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/int4_d128.mlir --attn-cuda-pipeline="chip=sm_80" -o %t/g.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/g.mlir > %t/g.ptx
// RUN: %ptxas -arch=sm_80 -v %t/g.ptx -o %t/g.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/int4_masked_warps8_d128.mlir --attn-cuda-pipeline="chip=sm_80" -o %t/h.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/h.mlir > %t/h.ptx
// RUN: %ptxas -arch=sm_80 -v %t/h.ptx -o %t/h.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/int4_residual_d128.mlir --attn-cuda-pipeline="chip=sm_90a" -o %t/d.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/d.mlir > %t/d.ptx
// RUN: FileCheck %s --check-prefix=SYNC < %t/d.ptx
// RUN: %ptxas -arch=sm_90a -v %t/d.ptx -o %t/d.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/fp8_residual_d128.mlir --attn-cuda-pipeline="chip=sm_90a" -o %t/e.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/e.mlir > %t/e.ptx
// RUN: %ptxas -arch=sm_90a -v %t/e.ptx -o %t/e.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/int2_paged_small_groups.mlir --attn-cuda-pipeline="chip=sm_90a" -o %t/f.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/f.mlir > %t/f.ptx
// RUN: %ptxas -arch=sm_90a -v %t/f.ptx -o %t/f.cubin 2>&1 | FileCheck %s

// Quantized caches (#attn.quant) on the mma.sync kernel, whose copies
// dequantise K and V tiles in registers: the heaviest forms assemble for
// both chips without local-memory spills. None of them has run on a GPU.

// CHECK: Compiling entry function 'attention_kernel'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads

// sm_90a runs the mma.sync kernel for quantized caches: no TMA, no wgmma.
// SYNC-NOT: cp.async.bulk.tensor
// SYNC-NOT: wgmma
// SYNC: mma.sync.aligned.m16n8k16
// SYNC-NOT: wgmma

//--- int4_residual_d128.mlir
// int4 codes, groups of 32, f16 scales, a residual window of 128, D = 128
// (32-key tiles).
!q = tensor<?x?x?x128xbf16>
!c = tensor<?x?x?x64xi8>
!ks = tensor<?x?x?x128xf16>
!vs = tensor<?x?x?x4xf16>
!r = tensor<?x?x128x128xbf16>
func.func @attention(%q: !q, %k: !c, %v: !c, %ks: !ks, %kz: !ks, %vs: !vs,
                     %vz: !vs, %kr: !r, %vr: !r, %n: tensor<?xi32>,
                     %o: !q) -> !q {
  %res = attn.attention ins(%q, %k, %v : !q, !c, !c)
      kv_quant(%ks, %kz, %vs, %vz, %kr, %vr : !ks, !ks, !vs, !vs, !r, !r)
      kv_len(%n : tensor<?xi32>) outs(%o : !q)
      {mask = #attn.causal,
       quant = #attn.quant<bits = 4, group = 32, scale = f16, residual = 128>} -> !q
  return %res : !q
}

//--- int4_d128.mlir
// The same without a residual window (ptxas -v, CUDA 13: 253 registers,
// against 165 for a bf16 cache; 168 with the residual window).
!q = tensor<?x?x?x128xbf16>
!c = tensor<?x?x?x64xi8>
!ks = tensor<?x?x?x128xf16>
!vs = tensor<?x?x?x4xf16>
func.func @attention(%q: !q, %k: !c, %v: !c, %ks: !ks, %kz: !ks, %vs: !vs,
                     %vz: !vs, %n: tensor<?xi32>, %o: !q) -> !q {
  %res = attn.attention ins(%q, %k, %v : !q, !c, !c)
      kv_quant(%ks, %kz, %vs, %vz : !ks, !ks, !vs, !vs)
      kv_len(%n : tensor<?xi32>) outs(%o : !q)
      {mask = #attn.causal,
       quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> !q
  return %res : !q
}

//--- int4_masked_warps8_d128.mlir
// The heaviest plan of attn-cuda-ptxas-plans.mlir (8 warps, D = 128,
// packed documents under a causal window, ALiBi) plus soft-capping, on an
// int4 cache (255 registers).
!q = tensor<?x?x?x128xbf16>
!c = tensor<?x?x?x64xi8>
!ks = tensor<?x?x?x128xf16>
!vs = tensor<?x?x?x4xf16>
!seg = tensor<?x?xi32>
func.func @attention(%q: !q, %k: !c, %v: !c, %ks: !ks, %kz: !ks, %vs: !vs,
                     %vz: !vs, %n: tensor<?xi32>, %sq: !seg, %sk: !seg,
                     %o: !q) -> !q {
  %res = attn.attention ins(%q, %k, %v : !q, !c, !c)
      kv_quant(%ks, %kz, %vs, %vz : !ks, !ks, !vs, !vs)
      kv_len(%n : tensor<?xi32>) segments(%sq, %sk : !seg, !seg) outs(%o : !q)
      {mask = #attn.and<[#attn.document, #attn.sliding_window<left = 1024>, #attn.causal]>,
       score_mods = [#attn.alibi, #attn.softcap<cap = 30.0>],
       config = #attn.config<warps = 8>,
       quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> !q
  return %res : !q
}

//--- int2_paged_small_groups.mlir
// int2 codes in nhd page pools of 16 slots, groups of 4 (value groups
// smaller than the copies' 8-channel chunks: scales read lane by lane),
// f32 scales, ALiBi.
!q = tensor<?x?x?x64xf16>
!c = tensor<?x16x?x16xi8>
!ks = tensor<?x4x?x64xf32>
!vs = tensor<?x16x?x16xf32>
func.func @attention(%q: !q, %k: !c, %v: !c, %ks: !ks, %kz: !ks, %vs: !vs,
                     %vz: !vs, %t: tensor<?x?xi32>, %n: tensor<?xi32>,
                     %o: !q) -> !q {
  %res = attn.attention ins(%q, %k, %v : !q, !c, !c)
      page_table(%t : tensor<?x?xi32>)
      kv_quant(%ks, %kz, %vs, %vz : !ks, !ks, !vs, !vs)
      kv_len(%n : tensor<?xi32>) outs(%o : !q)
      {mask = #attn.causal, score_mods = [#attn.alibi],
       paged = #attn.paged<page_size = 16>,
       quant = #attn.quant<bits = 2, group = 4, scale = f32>} -> !q
  return %res : !q
}

//--- int8_kv128.mlir
// int8 codes with 128-key tiles (the most keys a tile holds).
!q = tensor<?x?x?x64xf16>
!c = tensor<?x?x?x64xi8>
!ks = tensor<?x?x?x64xf16>
!vs = tensor<?x?x?x2xf16>
func.func @attention(%q: !q, %k: !c, %v: !c, %ks: !ks, %kz: !ks, %vs: !vs,
                     %vz: !vs, %n: tensor<?xi32>, %o: !q) -> !q {
  %res = attn.attention ins(%q, %k, %v : !q, !c, !c)
      kv_quant(%ks, %kz, %vs, %vz : !ks, !ks, !vs, !vs)
      kv_len(%n : tensor<?xi32>) outs(%o : !q)
      {mask = #attn.causal, config = #attn.config<block_kv = 128>,
       quant = #attn.quant<bits = 8, group = 32, scale = f16>} -> !q
  return %res : !q
}

//--- fp8_residual_d128.mlir
// fp8 e4m3 codes with per-head scales and a residual window, D = 128.
!q = tensor<?x?x?x128xbf16>
!c = tensor<?x?x?x128xi8>
!s = tensor<?xf32>
!r = tensor<?x?x64x128xbf16>
func.func @attention(%q: !q, %k: !c, %v: !c, %ks: !s, %vs: !s, %kr: !r,
                     %vr: !r, %n: tensor<?xi32>, %o: !q) -> !q {
  %res = attn.attention ins(%q, %k, %v : !q, !c, !c)
      kv_quant(%ks, %vs, %kr, %vr : !s, !s, !r, !r)
      kv_len(%n : tensor<?xi32>) outs(%o : !q)
      {mask = #attn.causal,
       quant = #attn.quant<bits = 8, group = 1, scale = f32, residual = 64, format = e4m3>} -> !q
  return %res : !q
}
