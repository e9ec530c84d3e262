// RUN: attn-opt %s -attn-tile-gpu | FileCheck %s
// RUN: attn-opt %s -attn-tile-gpu -one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" -attn-gpu-elementwise | FileCheck %s --check-prefix=KERNELS

// attn-tile-gpu lowers attn.merge to its linalg form (the reference
// lowering's, shared with the CPU): the merged LSE of each row, -inf where
// every partial is -inf, then O from the partials weighted by
// exp(LSE_k - LSE), 0 in such rows. After bufferization
// attn-gpu-elementwise makes each a kernel of one thread per element,
// writing the outs in place; the second reads the first's LSE.

// CHECK-LABEL: func.func @merge
// CHECK-SAME:    (%[[O0:.*]]: tensor<?x?x?x16xf16>, %[[O1:.*]]: tensor<?x?x?x16xf16>, %[[L0:.*]]: tensor<?x?x?xf32>, %[[L1:.*]]: tensor<?x?x?xf32>, %[[O:.*]]: tensor<?x?x?x16xf16>, %[[L:.*]]: tensor<?x?x?xf32>)
// CHECK-NOT:     attn.merge
// CHECK:         %[[LSE:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[L0]], %[[L1]] : tensor<?x?x?xf32>, tensor<?x?x?xf32>) outs(%[[L]] : tensor<?x?x?xf32>)
// CHECK:           arith.maximumf
// CHECK:           math.exp
// CHECK:           math.log
// CHECK:         %[[OUT:.*]] = linalg.generic
// CHECK-SAME:      ins(%[[O0]], %[[O1]], %[[L0]], %[[L1]], %[[LSE]] : {{.*}}) outs(%[[O]] : tensor<?x?x?x16xf16>)
// CHECK:           math.exp
// CHECK:           arith.truncf
// CHECK:         return %[[OUT]], %[[LSE]]

// KERNELS-LABEL: func.func @merge
// KERNELS-SAME:    (%[[O0:.*]]: memref<?x?x?x16xf16>, %[[O1:.*]]: memref<?x?x?x16xf16>, %[[L0:.*]]: memref<?x?x?xf32>, %[[L1:.*]]: memref<?x?x?xf32>, %[[O:.*]]: memref<?x?x?x16xf16>, %[[L:.*]]: memref<?x?x?xf32>)
// KERNELS-NOT:     memref.alloc
// KERNELS:         gpu.launch
// KERNELS:           memref.load %[[L0]]
// KERNELS:           memref.load %[[L1]]
// KERNELS:           math.log
// KERNELS:           memref.store %{{.*}}, %[[L]]
// KERNELS:         gpu.launch
// KERNELS:           memref.load %[[O0]]
// KERNELS:           memref.load %[[O1]]
// KERNELS:           memref.load %[[L]]
// KERNELS:           memref.store %{{.*}}, %[[O]]
// KERNELS-NOT:     linalg.generic
!o = tensor<?x?x?x16xf16>
!l = tensor<?x?x?xf32>
func.func @merge(%o0: !o, %o1: !o, %l0: !l, %l1: !l, %o: !o, %l: !l) -> (!o, !l) {
  %r:2 = attn.merge ins(%o0, %o1 : !o, !o) lse(%l0, %l1 : !l, !l)
      outs(%o, %l : !o, !l) -> !o, !l
  return %r#0, %r#1 : !o, !l
}
