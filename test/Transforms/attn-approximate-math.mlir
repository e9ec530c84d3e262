// RUN: attn-opt %s -attn-approximate-math | FileCheck %s

// exp, log and tanh (scalar and vector) become polynomials: no math ops
// and no libm calls remain. sqrt is left alone.
// CHECK-LABEL: func.func @math
// CHECK-NOT: math.exp
// CHECK-NOT: math.log
// CHECK-NOT: math.tanh
// CHECK: math.sqrt
func.func @math(%x: f32, %v: vector<16xf32>) -> (f32, vector<16xf32>, f32, f32) {
  %e = math.exp %x : f32
  %l = math.log %v : vector<16xf32>
  %t = math.tanh %x : f32
  %s = math.sqrt %x : f32
  return %e, %l, %t, %s : f32, vector<16xf32>, f32, f32
}
