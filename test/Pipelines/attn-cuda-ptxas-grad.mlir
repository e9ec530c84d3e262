// REQUIRES: ptxas
// RUN: split-file %s %t
// RUN: attn-opt %t/causal_f16_d64.mlir --attn-cuda-pipeline="chip=sm_80" -o %t/a.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/a.mlir 0 > %t/a0.ptx
// RUN: %python %S/Inputs/extract-ptx.py %t/a.mlir 1 > %t/a1.ptx
// RUN: %ptxas -arch=sm_80 -v %t/a0.ptx -o %t/a0.cubin 2>&1 | FileCheck %s
// RUN: %ptxas -arch=sm_80 -v %t/a1.ptx -o %t/a1.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/gqa_window_bf16_d128.mlir --attn-cuda-pipeline="chip=sm_80" -o %t/b.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/b.mlir 0 > %t/b0.ptx
// RUN: %python %S/Inputs/extract-ptx.py %t/b.mlir 1 > %t/b1.ptx
// RUN: %ptxas -arch=sm_80 -v %t/b0.ptx -o %t/b0.cubin 2>&1 | FileCheck %s
// RUN: %ptxas -arch=sm_80 -v %t/b1.ptx -o %t/b1.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/gqa_window_bf16_d128.mlir --attn-cuda-pipeline="chip=sm_90a" -o %t/c.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/c.mlir 0 > %t/c0.ptx
// RUN: %python %S/Inputs/extract-ptx.py %t/c.mlir 1 > %t/c1.ptx
// RUN: %ptxas -arch=sm_90a -v %t/c0.ptx -o %t/c0.cubin 2>&1 | FileCheck %s
// RUN: %ptxas -arch=sm_90a -v %t/c1.ptx -o %t/c1.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/softcap_sigmoid_f16.mlir --attn-cuda-pipeline="chip=sm_80" -o %t/d.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/d.mlir 0 > %t/d0.ptx
// RUN: %python %S/Inputs/extract-ptx.py %t/d.mlir 1 > %t/d1.ptx
// RUN: %ptxas -arch=sm_80 -v %t/d0.ptx -o %t/d0.cubin 2>&1 | FileCheck %s
// RUN: %ptxas -arch=sm_80 -v %t/d1.ptx -o %t/d1.cubin 2>&1 | FileCheck %s
// RUN: attn-opt %t/wrt_f16_d64.mlir --attn-cuda-pipeline="chip=sm_80" -o %t/e.mlir
// RUN: %python %S/Inputs/extract-ptx.py %t/e.mlir 0 > %t/e0.ptx
// RUN: %ptxas -arch=sm_80 -v %t/e0.ptx -o %t/e0.cubin 2>&1 | FileCheck %s
// RUN: %python %S/Inputs/extract-ptx.py %t/e.mlir 1 > %t/e1.ptx
// RUN: %ptxas -arch=sm_80 -v %t/e1.ptx -o %t/e1.cubin 2>&1 | FileCheck %s
// RUN: %python %S/Inputs/extract-ptx.py %t/e.mlir 2 > %t/e2.ptx
// RUN: %ptxas -arch=sm_80 -v %t/e2.ptx -o %t/e2.cubin 2>&1 | FileCheck %s
// RUN: %python %S/Inputs/extract-ptx.py %t/e.mlir 3 > %t/e3.ptx
// RUN: %ptxas -arch=sm_80 -v %t/e3.ptx -o %t/e3.cubin 2>&1 | FileCheck %s
// RUN: %python %S/Inputs/extract-ptx.py %t/e.mlir 4 > %t/e4.ptx
// RUN: %ptxas -arch=sm_80 -v %t/e4.ptx -o %t/e4.cubin 2>&1 | FileCheck %s

// The backward's two kernels (query kernel: Delta and dQ; key kernel: dK
// and dV; one module each) assemble for sm_80 and sm_90a without spills.
// At head dims over 64 the key kernel reads K and V fragments from shared
// memory where used: kept in registers with the dK and dV accumulators
// they spilled about 250 bytes. With operand gradients (sink logits, an
// f16 bias and a captured table: the query kernel's per-element scatter,
// the sink kernel and two sum kernels, five modules) neither spills
// either (CUDA 13: 242 and 248 registers for the two tile kernels).

// CHECK: Compiling entry function 'attention_grad_kernel'
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Used {{[0-9]+}} registers

//--- causal_f16_d64.mlir
!t = tensor<?x?x?x64xf16>
!lse = tensor<?x?x?xf32>
func.func @attention_grad(%q: !t, %k: !t, %v: !t, %o: !t, %do: !t, %l: !lse,
                          %dq: !t, %dk: !t, %dv: !t) -> (!t, !t, !t) {
  %r:3 = attn.attention_grad ins(%q, %k, %v : !t, !t, !t) out(%o : !t)
      grad_out(%do : !t) lse(%l : !lse) outs(%dq, %dk, %dv : !t, !t, !t)
      {mask = #attn.causal} -> !t, !t, !t
  return %r#0, %r#1, %r#2 : !t, !t, !t
}

//--- gqa_window_bf16_d128.mlir
!t = tensor<?x?x?x128xbf16>
!lse = tensor<?x?x?xf32>
func.func @attention_grad(%q: !t, %k: !t, %v: !t, %o: !t, %do: !t, %l: !lse,
                          %dq: !t, %dk: !t, %dv: !t) -> (!t, !t, !t) {
  %r:3 = attn.attention_grad ins(%q, %k, %v : !t, !t, !t) out(%o : !t)
      grad_out(%do : !t) lse(%l : !lse) outs(%dq, %dk, %dv : !t, !t, !t)
      {mask = #attn.sliding_window<left = 256>} -> !t, !t, !t
  return %r#0, %r#1, %r#2 : !t, !t, !t
}

//--- softcap_sigmoid_f16.mlir
// Sigmoid (no LSE, no Delta), BSHD, kv_len, a soft cap's slope.
!t = tensor<?x?x?x64xf16>
func.func @attention_grad(%q: !t, %k: !t, %v: !t, %len: tensor<?xi32>, %o: !t,
                          %do: !t, %dq: !t, %dk: !t, %dv: !t) -> (!t, !t, !t) {
  %r:3 = attn.attention_grad ins(%q, %k, %v : !t, !t, !t)
      out(%o : !t) grad_out(%do : !t) kv_len(%len : tensor<?xi32>)
      outs(%dq, %dk, %dv : !t, !t, !t)
      {layout = #attn.layout<bshd>, mask = #attn.causal,
       normalizer = #attn.sigmoid, score_mods = [#attn.softcap<cap = 30.0>]}
      -> !t, !t, !t
  return %r#0, %r#1, %r#2 : !t, !t, !t
}

//--- wrt_f16_d64.mlir
!t = tensor<?x?x?x64xf16>
!lse = tensor<?x?x?xf32>
!bias = tensor<?x?x?x?xf16>
!biasg = tensor<?x?x?x?xf32>
func.func @attention_grad(%q: !t, %k: !t, %v: !t, %o: !t, %do: !t, %l: !lse,
                    %sink: tensor<?xf32>, %bias: !bias, %tab: tensor<?x8xf32>,
                    %dsink: tensor<?xf32>, %dbias: !biasg, %dtab: tensor<?x8xf32>)
    -> (!t, tensor<?xf32>, !biasg, tensor<?x8xf32>) {
  %r:6 = attn.attention_grad ins(%q, %k, %v : !t, !t, !t) out(%o : !t)
      grad_out(%do : !t) lse(%l : !lse) sink(%sink : tensor<?xf32>)
      bias(%bias : !bias) captures(%tab : tensor<?x8xf32>)
      outs(%q, %k, %v : !t, !t, !t)
      grads(%dsink, %dbias, %dtab : tensor<?xf32>, !biasg, tensor<?x8xf32>)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %tb: tensor<?x8xf32>):
        %c8 = arith.constant 8 : index
        %x = arith.remui %j, %c8 : index
        %w = tensor.extract %tb[%h, %x] : tensor<?x8xf32>
        %y = arith.addf %s, %w : f32
        attn.yield %y : f32
      }
      {mask = #attn.causal, normalizer = #attn.sink_softmax,
       score_mods = [#attn.score_mod, #attn.bias],
       wrt = ["sink", "bias", "capture0"]}
      -> !t, !t, !t, tensor<?xf32>, !biasg, tensor<?x8xf32>
  return %r#0, %r#3, %r#4, %r#5 : !t, tensor<?xf32>, !biasg, tensor<?x8xf32>
}
