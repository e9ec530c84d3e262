// RUN: attn-opt %s -split-input-file -attn-gpu-elementwise | FileCheck %s

// An elementwise generic on buffers becomes one thread per element of its
// init: a flat grid of ceil(N / 256) CTAs of 256 threads, element i of the
// init at row-major position i, inputs read through their maps (here a
// transposed [B, H, S] operand of a [B, S, H, Dv] result, as the merge's
// LSEs in the BSHD layout), linalg.index as the element's indices, and a
// tensor read from above (after bufferization: a memref.load) left as it
// is.

// CHECK-LABEL: func.func @gather
// CHECK-SAME:    (%[[A:.*]]: memref<?x?x?x16xf16>, %[[L:.*]]: memref<?x?x?xf32>, %[[T:.*]]: memref<8xf32>, %[[O:.*]]: memref<?x?x?x16xf16>)
// CHECK:         %[[D1:.*]] = memref.dim %[[O]], %c1
// CHECK:         %[[D2:.*]] = memref.dim %[[O]], %c2
// CHECK:         %[[N:.*]] = arith.muli %{{.*}}, %c16
// CHECK:         %[[CTAS:.*]] = arith.ceildivsi %[[N]], %c256
// CHECK:         gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[CTAS]], %{{.*}} = %c1{{.*}}, %{{.*}} = %c1{{.*}}) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c256
// CHECK:           %[[BASE:.*]] = arith.muli %[[BX]], %c256
// CHECK:           %[[I:.*]] = arith.addi %[[BASE]], %[[TX]]
// CHECK:           %[[IN:.*]] = arith.cmpi slt, %[[I]], %[[N]]
// CHECK:           scf.if %[[IN]] {
// CHECK:             %[[E:.*]] = arith.remui %[[I]], %c16
// CHECK:             %[[R3:.*]] = arith.divui %[[I]], %c16
// CHECK:             %[[S:.*]] = arith.remui %[[R3]], %[[D2]]
// CHECK:             %[[R2:.*]] = arith.divui %[[R3]], %[[D2]]
// CHECK:             %[[H:.*]] = arith.remui %[[R2]], %[[D1]]
// CHECK:             %[[B:.*]] = arith.divui %[[R2]], %[[D1]]
// CHECK:             memref.load %[[A]][%[[B]], %[[H]], %[[S]], %[[E]]]
// CHECK:             memref.load %[[L]][%[[B]], %[[S]], %[[H]]]
// CHECK:             memref.load %[[T]][%[[H]]]
// CHECK:             %[[Y:.*]] = arith.truncf
// CHECK:             memref.store %[[Y]], %[[O]][%[[B]], %[[H]], %[[S]], %[[E]]]
// CHECK:           }
// CHECK:           gpu.terminator
// CHECK-NOT:     linalg.generic
// CHECK:         return
func.func @gather(%a: memref<?x?x?x16xf16>, %l: memref<?x?x?xf32>, %t: memref<8xf32>, %o: memref<?x?x?x16xf16>) {
  linalg.generic {indexing_maps = [affine_map<(b, h, s, e) -> (b, h, s, e)>,
                                   affine_map<(b, h, s, e) -> (b, s, h)>,
                                   affine_map<(b, h, s, e) -> (b, h, s, e)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%a, %l : memref<?x?x?x16xf16>, memref<?x?x?xf32>) outs(%o : memref<?x?x?x16xf16>) {
  ^bb0(%x: f16, %lse: f32, %unused: f16):
    %h = linalg.index 1 : index
    %w = memref.load %t[%h] : memref<8xf32>
    %xf = arith.extf %x : f16 to f32
    %p = arith.mulf %xf, %lse : f32
    %q = arith.mulf %p, %w : f32
    %r = arith.truncf %q : f32 to f16
    linalg.yield %r : f16
  }
  return
}

// -----

// A rank-0 result is one thread; a scalar input is used as it is.

// CHECK-LABEL: func.func @scalar
// CHECK:         gpu.launch
// CHECK:           scf.if
// CHECK:             %[[S:.*]] = arith.addf %arg0, %arg0
// CHECK:             memref.store %[[S]], %arg1[] : memref<f32>
func.func @scalar(%x: f32, %o: memref<f32>) {
  linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>],
                  iterator_types = []}
      ins(%x : f32) outs(%o : memref<f32>) {
  ^bb0(%a: f32, %unused: f32):
    %s = arith.addf %a, %a : f32
    linalg.yield %s : f32
  }
  return
}
