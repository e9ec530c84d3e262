// RUN: attn-opt %s -attn-drop-returned-arguments -split-input-file -verify-diagnostics | FileCheck %s

// Returned outs are dropped from the results.
// CHECK-LABEL: func.func @outs(
// CHECK-SAME: %[[Q:.+]]: memref<4xf32>, %[[O:.+]]: memref<4xf32>) {
// CHECK: memref.copy %[[Q]], %[[O]]
// CHECK-NEXT: return{{$}}
func.func @outs(%q: memref<4xf32>, %o: memref<4xf32>) -> memref<4xf32> {
  memref.copy %q, %o : memref<4xf32> to memref<4xf32>
  return %o : memref<4xf32>
}

// -----

// A new buffer cannot be returned: the caller could not own it.
func.func @fresh(%q: memref<4xf32>) -> memref<4xf32> {
  %a = memref.alloc() : memref<4xf32>
  // expected-error @+1 {{kernel functions may only return their outs}}
  return %a : memref<4xf32>
}

// -----

// expected-error @+1 {{a kernel function must have a single block}}
func.func @blocks(%q: memref<4xf32>) -> memref<4xf32> {
  cf.br ^bb1
^bb1:
  return %q : memref<4xf32>
}
