// REQUIRES: ptxas
// RUN: split-file %s %t
// RUN: attn-opt %t/warps8_kv128.mlir --attn-cuda-pipeline="chip=sm_80" -o %t/a.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/a.mlir > %t/a.ptx
// RUN: FileCheck %s --check-prefix=WARPS8 < %t/a.ptx
// RUN: %ptxas -arch=sm_80 -v %t/a.ptx -o %t/a.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/warps1.mlir --attn-cuda-pipeline="chip=sm_80" -o %t/b.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/b.mlir > %t/b.ptx
// RUN: %ptxas -arch=sm_80 -v %t/b.ptx -o %t/b.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/masked_warps8_d128.mlir --attn-cuda-pipeline="chip=sm_80" -o %t/c.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/c.mlir > %t/c.ptx
// RUN: %ptxas -arch=sm_80 -v %t/c.ptx -o %t/c.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/stages4_kv96.mlir --attn-cuda-pipeline="chip=sm_90a" -o %t/d.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/d.mlir > %t/d.ptx
// RUN: FileCheck %s --check-prefix=STAGES4 < %t/d.ptx
// RUN: %ptxas -arch=sm_90a -v %t/d.ptx -o %t/d.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/stages7_d128.mlir --attn-cuda-pipeline="chip=sm_90a" -o %t/e.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/e.mlir > %t/e.ptx
// RUN: %ptxas -arch=sm_90a -v %t/e.ptx -o %t/e.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/masked_stages4_kv32.mlir --attn-cuda-pipeline="chip=sm_90a" -o %t/f.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/f.mlir > %t/f.ptx
// RUN: %ptxas -arch=sm_90a -v %t/f.ptx -o %t/f.cubin 2>&1 | FileCheck %s

// Non-default tile plans (#attn.config) assemble for their chips without
// local-memory spills. None of them has run on a GPU.

// CHECK: Compiling entry function 'attention_kernel'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads

// 8 warps: 256 threads a CTA; 128-key tiles: 16 score fragments of 8 keys.
// WARPS8: .maxntid 256, 1, 1
// WARPS8-COUNT-64: mma.sync.aligned.m16n8k16

// Four stages: four mbarriers; 96-key tiles: m64n96 for Q K^T.
// STAGES4-COUNT-4: mbarrier.init
// STAGES4: wgmma.mma_async.sync.aligned.m64n96k16

//--- warps8_kv128.mlir
!t = tensor<?x?x?x64xf16>
func.func @attention(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.causal, config = #attn.config<warps = 8, block_kv = 128>} -> !t
  return %r : !t
}

//--- warps1.mlir
!t = tensor<?x?x?x64xbf16>
func.func @attention(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.causal, config = #attn.config<block_q = 16>} -> !t
  return %r : !t
}

//--- masked_warps8_d128.mlir
// Packed documents under a causal sliding window, with ALiBi.
!t = tensor<?x?x?x128xbf16>
!seg = tensor<?x?xi32>
func.func @attention(%q: !t, %k: !t, %v: !t, %sq: !seg, %sk: !seg, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) segments(%sq, %sk : !seg, !seg)
      outs(%o : !t)
      {mask = #attn.and<[#attn.document, #attn.sliding_window<left = 1024>, #attn.causal]>,
       score_mods = [#attn.alibi], config = #attn.config<warps = 8>} -> !t
  return %r : !t
}

//--- stages4_kv96.mlir
!t = tensor<?x?x?x64xf16>
func.func @attention(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.causal, config = #attn.config<block_kv = 96, stages = 4>} -> !t
  return %r : !t
}

//--- stages7_d128.mlir
// Seven stages of 64 keys at D = 128: 1024 + 7 * 32768 + 56 bytes, within
// the 227 KiB of sm_90a.
!t = tensor<?x?x?x128xbf16>
func.func @attention(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.causal, config = #attn.config<stages = 7>} -> !t
  return %r : !t
}

//--- masked_stages4_kv32.mlir
// Run-time tile skipping with three kept tiles requested ahead.
!t = tensor<?x?x?x64xbf16>
!seg = tensor<?x?xi32>
func.func @attention(%q: !t, %k: !t, %v: !t, %sq: !seg, %sk: !seg, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) segments(%sq, %sk : !seg, !seg)
      outs(%o : !t)
      {mask = #attn.and<[#attn.document, #attn.causal]>,
       score_mods = [#attn.alibi], config = #attn.config<block_kv = 32, stages = 4>} -> !t
  return %r : !t
}
