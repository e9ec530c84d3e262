// REQUIRES: ptxas
// RUN: split-file %s %t
// RUN: attn-opt %t/causal_f16_d64.mlir --attn-cuda-pipeline="chip=sm_80" -o %t/a.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/a.mlir > %t/a.ptx
// RUN: %ptxas -arch=sm_80 -v %t/a.ptx -o %t/a.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/causal_f16_d64.mlir --attn-cuda-pipeline="chip=sm_90a" -o %t/b.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/b.mlir > %t/b.ptx
// RUN: %ptxas -arch=sm_90a -v %t/b.ptx -o %t/b.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/causal_bf16_d128.mlir --attn-cuda-pipeline="chip=sm_80" -o %t/c.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/c.mlir > %t/c.ptx
// RUN: %ptxas -arch=sm_80 -v %t/c.ptx -o %t/c.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/causal_bf16_d128.mlir --attn-cuda-pipeline="chip=sm_90a" -o %t/d.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/d.mlir > %t/d.ptx
// RUN: %ptxas -arch=sm_90a -v %t/d.ptx -o %t/d.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/masked_bf16_d128.mlir --attn-cuda-pipeline="chip=sm_90a" -o %t/e.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/e.mlir > %t/e.ptx
// RUN: %ptxas -arch=sm_90a -v %t/e.ptx -o %t/e.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/masked_bf16_d128.mlir --attn-cuda-pipeline="chip=sm_80" -o %t/e80.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/e80.mlir > %t/e80.ptx
// RUN: %ptxas -arch=sm_80 -v %t/e80.ptx -o %t/e80.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/gqa_sigmoid_f16.mlir --attn-cuda-pipeline="chip=sm_80" -o %t/f.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/f.mlir > %t/f.ptx
// RUN: %ptxas -arch=sm_80 -v %t/f.ptx -o %t/f.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/gqa_sigmoid_f16.mlir --attn-cuda-pipeline="chip=sm_90a" -o %t/g.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/g.mlir > %t/g.ptx
// RUN: %ptxas -arch=sm_90a -v %t/g.ptx -o %t/g.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/causal_bf16_d128.mlir --attn-cuda-pipeline="chip=sm_90a mma=sync" -o %t/h.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/h.mlir > %t/h.ptx
// RUN: %ptxas -arch=sm_90a -v %t/h.ptx -o %t/h.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/block_sparse_bf16_d128.mlir --attn-cuda-pipeline="chip=sm_90a" -o %t/i.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/i.mlir > %t/i.ptx
// RUN: %ptxas -arch=sm_90a -v %t/i.ptx -o %t/i.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/block_sparse_bf16_d128.mlir --attn-cuda-pipeline="chip=sm_80" -o %t/i80.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/i80.mlir > %t/i80.ptx
// RUN: %ptxas -arch=sm_80 -v %t/i80.ptx -o %t/i80.cubin 2>&1 | FileCheck %s

// The generated PTX assembles for sm_80 and sm_90a, and the main
// configurations keep everything in registers: no local-memory spills.
// sm_90a builds the warpgroup kernel (wgmma + TMA) unless mma=sync.

// CHECK: Compiling entry function 'attention_kernel'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads

//--- causal_f16_d64.mlir
!t = tensor<?x?x?x64xf16>
!lse = tensor<?x?x?xf32>
func.func @attention(%q: !t, %k: !t, %v: !t, %o: !t, %l: !lse) -> (!t, !lse) {
  %r:2 = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o, %l : !t, !lse)
      {mask = #attn.causal} -> !t, !lse
  return %r#0, %r#1 : !t, !lse
}

//--- causal_bf16_d128.mlir
!t = tensor<?x?x?x128xbf16>
func.func @attention(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.causal} -> !t
  return %r : !t
}

//--- masked_bf16_d128.mlir
// Packed documents under a causal sliding window, with ALiBi.
!t = tensor<?x?x?x128xbf16>
!seg = tensor<?x?xi32>
func.func @attention(%q: !t, %k: !t, %v: !t, %sq: !seg, %sk: !seg, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) segments(%sq, %sk : !seg, !seg)
      outs(%o : !t)
      {mask = #attn.and<[#attn.document, #attn.sliding_window<left = 1024>, #attn.causal]>,
       score_mods = [#attn.alibi]} -> !t
  return %r : !t
}

//--- gqa_sigmoid_f16.mlir
// Sigmoid attention (no running shift), BSHD with cache lengths.
!t = tensor<?x?x?x64xf16>
func.func @attention(%q: !t, %k: !t, %v: !t, %len: tensor<?xi32>, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) kv_len(%len : tensor<?xi32>)
      outs(%o : !t)
      {layout = #attn.layout<bshd>, mask = #attn.causal,
       normalizer = #attn.sigmoid} -> !t
  return %r : !t
}

//--- block_sparse_bf16_d128.mlir
// A FlexAttention-style block mask (128 x 128 blocks) under causal: tiles
// classified per tile at run time.
!t = tensor<?x?x?x128xbf16>
!m = tensor<?x?x?x?xi1>
func.func @attention(%q: !t, %k: !t, %v: !t, %m: !m, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) dense_mask(%m : !m)
      outs(%o : !t)
      {mask = #attn.and<[#attn.causal, #attn.dense<block_q = 128, block_kv = 128>]>} -> !t
  return %r : !t
}
