// RUN: attn-opt %s --attn-cpu-pipeline -split-input-file -verify-diagnostics | FileCheck %s
// RUN: attn-opt %s --attn-cpu-pipeline=c-interface=false -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=NOCI
// RUN: not attn-opt %s --attn-cpu-pipeline=lowering=bogus -split-input-file 2>&1 | FileCheck %s --check-prefix=BADOPT
// RUN: not attn-opt %s --attn-cpu-pipeline=vector-width=5 -split-input-file 2>&1 | FileCheck %s --check-prefix=BADWIDTH

// Invalid options are reported as errors, not crashes.
// BADOPT: error: attn-cpu-pipeline: lowering must be 'fused' or 'reference', not 'bogus'
// BADWIDTH: error: attn-cpu-pipeline: vector-width must be 0 (host), 4 (SSE), 8 (AVX2) or 16 (AVX-512), not 5

// A destination-passing kernel reaches the LLVM dialect: the returned outs
// are dropped, so @main returns nothing, and a C wrapper is emitted.

// CHECK-LABEL: module
//   CHECK-NOT:   attn.
//   CHECK-NOT:   linalg.
//   CHECK-NOT:   tensor.
//   CHECK-NOT:   memref.
//   CHECK-NOT:   scf.
//   CHECK-NOT:   func.func
//       CHECK:   llvm.func @main(
//  CHECK-SAME:       attributes {llvm.emit_c_interface}
//   CHECK-NOT:   attn.
//   CHECK-NOT:   linalg.
//   CHECK-NOT:   tensor.
//   CHECK-NOT:   memref.
//   CHECK-NOT:   scf.
//       CHECK:     llvm.return{{$}}
//       CHECK:   llvm.func @_mlir_ciface_main(%{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr)
//       CHECK:     llvm.call @main(
//   CHECK-NOT:   attn.
//   CHECK-NOT:   linalg.
//   CHECK-NOT:   tensor.
//   CHECK-NOT:   memref.
//   CHECK-NOT:   scf.

// NOCI-LABEL: module
//       NOCI:   llvm.func @main(
//   NOCI-NOT:   llvm.emit_c_interface
//   NOCI-NOT:   @_mlir_ciface_main
//       NOCI:   module
func.func @main(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>, %v: tensor<?x?x?x64xf32>,
                %o: tensor<?x?x?x64xf32>, %l: tensor<?x?x?xf32>)
    -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
           outs(%o, %l : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
           {mask = #attn.and<[#attn.causal, #attn.or<[#attn.sinks<count = 4>, #attn.sliding_window<left = 16>]>]>,
            score_mods = [#attn.softcap<cap = 30.0>, #attn.alibi]} -> tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
}

// -----

// Regions, captures, merge and f16 go through as well.

// CHECK-LABEL: module
//   CHECK-NOT:   attn.
//   CHECK-NOT:   linalg.
//   CHECK-NOT:   tensor.
//       CHECK:   llvm.func @main(
//       CHECK:   llvm.func @_mlir_ciface_main(
//   CHECK-NOT:   attn.
//   CHECK-NOT:   linalg.
//   CHECK-NOT:   tensor.
func.func @main(%q: tensor<1x4x8x32xf16>, %bias: tensor<4xf32>,
                %o0: tensor<1x4x8x32xf16>, %l0: tensor<1x4x8xf32>,
                %o1: tensor<1x4x8x32xf16>, %l1: tensor<1x4x8xf32>,
                %o: tensor<1x4x8x32xf16>, %l: tensor<1x4x8xf32>)
    -> (tensor<1x4x8x32xf16>, tensor<1x4x8xf32>) {
  %a:2 = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf16>, tensor<1x4x8x32xf16>, tensor<1x4x8x32xf16>)
           captures(%bias : tensor<4xf32>) outs(%o0, %l0 : tensor<1x4x8x32xf16>, tensor<1x4x8xf32>)
           score_mod {
           ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %t: tensor<4xf32>):
             %x = tensor.extract %t[%h] : tensor<4xf32>
             %y = arith.addf %s, %x : f32
             attn.yield %y : f32
           } mask_mod {
           ^bb0(%b: index, %h: index, %i: index, %j: index, %t: tensor<4xf32>):
             %p = attn.position %b, %i : index
             %ok = arith.cmpi ule, %j, %p : index
             attn.yield %ok : i1
           } {mask = #attn.mask_mod, score_mods = [#attn.score_mod]}
           -> tensor<1x4x8x32xf16>, tensor<1x4x8xf32>
  %b:2 = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf16>, tensor<1x4x8x32xf16>, tensor<1x4x8x32xf16>)
           outs(%o1, %l1 : tensor<1x4x8x32xf16>, tensor<1x4x8xf32>)
           {mask = #attn.not<#attn.causal>} -> tensor<1x4x8x32xf16>, tensor<1x4x8xf32>
  %m, %ml = attn.merge ins(%a#0, %b#0 : tensor<1x4x8x32xf16>, tensor<1x4x8x32xf16>)
              lse(%a#1, %b#1 : tensor<1x4x8xf32>, tensor<1x4x8xf32>)
              outs(%o, %l : tensor<1x4x8x32xf16>, tensor<1x4x8xf32>)
              -> tensor<1x4x8x32xf16>, tensor<1x4x8xf32>
  return %m, %ml : tensor<1x4x8x32xf16>, tensor<1x4x8xf32>
}

// -----

// Kernels follow destination-passing style: after bufferization a function
// may return only its outs, which attn-drop-returned-arguments then drops.
// Anything else is rejected with a message that says what to do.

func.func @main(%q: tensor<1x4x8x32xf32>) -> tensor<1x4x8x32xf32> {
  %init = tensor.empty() : tensor<1x4x8x32xf32>
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
         outs(%init : tensor<1x4x8x32xf32>) -> tensor<1x4x8x32xf32>
  // expected-error @+1 {{attn: kernel functions may only return their outs (destination-passing style); this result is a new value}}
  return %r : tensor<1x4x8x32xf32>
}

// -----

// A scalar result is a new value too.
func.func @main(%q: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x32xf32>) -> (tensor<1x4x8x32xf32>, f32) {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
         outs(%o : tensor<1x4x8x32xf32>) -> tensor<1x4x8x32xf32>
  %c = arith.constant 1.0 : f32
  // expected-error @+1 {{attn: kernel functions may only return their outs (destination-passing style); this result is a new value}}
  return %r, %c : tensor<1x4x8x32xf32>, f32
}

// -----

// expected-error @+1 {{attn: a kernel function must have a single block}}
func.func @main(%q: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x32xf32>, %c: i1) -> tensor<1x4x8x32xf32> {
  cf.cond_br %c, ^bb1, ^bb2
^bb1:
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
         outs(%o : tensor<1x4x8x32xf32>) -> tensor<1x4x8x32xf32>
  return %r : tensor<1x4x8x32xf32>
^bb2:
  return %o : tensor<1x4x8x32xf32>
}
