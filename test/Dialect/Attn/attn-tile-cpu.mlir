// RUN: attn-opt %s -attn-tile-cpu="vector-width=16 threads=2" -split-input-file | FileCheck %s
// RUN: attn-opt %s -attn-tile-cpu="vector-width=8 threads=2" -split-input-file | FileCheck %s --check-prefix=AVX2
// RUN: not attn-opt %s -attn-tile-cpu="vector-width=5" -split-input-file 2>&1 | FileCheck %s --check-prefix=BADWIDTH

// Causal softmax with LSE, dynamic shapes and a head dim that the row
// kernel can take: the op becomes in-place writes into its outs' buffers,
// a decode/tile dispatch on Sq, and parallel loops over work items.

// CHECK-LABEL: func.func @causal_lse
//  CHECK-SAME:   (%[[Q:[^:]+]]: tensor<?x?x?x64xf32>, %[[K:[^:]+]]: tensor<?x?x?x64xf32>, %[[V:[^:]+]]: tensor<?x?x?x64xf32>, %[[O:[^:]+]]: tensor<?x?x?x64xf32>, %[[L:[^:]+]]: tensor<?x?x?xf32>)
//   CHECK-NOT:   attn.attention
//       CHECK:   %[[QB:.+]] = bufferization.to_buffer %[[Q]] read_only : tensor<?x?x?x64xf32> to memref<?x?x?x64xf32>
//       CHECK:   %[[OB:.+]] = bufferization.to_buffer %[[O]] : tensor<?x?x?x64xf32> to memref<?x?x?x64xf32>
//       CHECK:   %[[LB:.+]] = bufferization.to_buffer %[[L]] : tensor<?x?x?xf32> to memref<?x?x?xf32>
// Decoding: rows times kv splits, then a merge over rows.
//       CHECK:   scf.if
//       CHECK:     scf.parallel
//       CHECK:       memref.alloca_scope
//       CHECK:         vector.reduction <add>
//       CHECK:     scf.parallel
//       CHECK:   } else {
// The tile kernel: query rows in the lanes of four vectors.
//       CHECK:     scf.parallel
//       CHECK:       memref.alloca_scope
//       CHECK:         memref.alloca(%{{.+}}) {alignment = 64 : i64} : memref<?x64xf32>
//       CHECK:         memref.alloca() {alignment = 64 : i64} : memref<96x64xf32>
//       CHECK:         vector.fma {{.*}} : vector<16xf32>
//       CHECK:         math.exp {{.*}} : vector<16xf32>
//       CHECK:   %[[RO:.+]] = bufferization.to_tensor %[[OB]] restrict writable
//       CHECK:   %[[RL:.+]] = bufferization.to_tensor %[[LB]] restrict writable
//       CHECK:   return %[[RO]], %[[RL]]

// AVX2-LABEL: func.func @causal_lse
//       AVX2:   vector.fma {{.*}} : vector<8xf32>
//       AVX2:   memref.alloca() {alignment = 64 : i64} : memref<64x16xf32>

// BADWIDTH: attn-tile-cpu: vector-width must be 0, 4, 8 or 16, not 5
func.func @causal_lse(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>, %v: tensor<?x?x?x64xf32>, %o: tensor<?x?x?x64xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      outs(%o, %l : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) {mask = #attn.causal}
      -> tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
}

// -----

// A dynamic head dim has no row kernel; the tile kernel alone serves all
// sequence lengths.

// CHECK-LABEL: func.func @dynamic_head_dim
//   CHECK-NOT:   scf.if
//       CHECK:   scf.parallel
//   CHECK-NOT:   vector.reduction
//       CHECK:   return
func.func @dynamic_head_dim(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>, %o: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>)
      outs(%o : tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %r : tensor<?x?x?x?xf32>
}

// -----

// Reads of captured arrays are bounds-checked against the array's sizes
// (dynamic ones hoisted out of the loops): out of range, nothing is read, the
// value is 0 and the module's error word is raised to the capture's number
// (atomic max).
// CHECK: memref.global "public" @__attn_capture_error : memref<i32> = dense<0>
// CHECK-LABEL: func.func @capture_guard
// CHECK-SAME: %[[C:[a-z0-9]+]]: tensor<?x8xf32>
// CHECK: %[[N:.+]] = tensor.dim %[[C]], %{{.+}} : tensor<?x8xf32>
// CHECK: %[[FLAG:.+]] = memref.get_global @__attn_capture_error
// CHECK: %[[IN0:.+]] = arith.cmpi ult, %[[H:.+]], %[[N]] : index
// CHECK: %[[IN1:.+]] = arith.cmpi ult, %[[J:.+]], %c8 : index
// CHECK: scf.if %{{.+}} -> (f32) {
// CHECK-NEXT: tensor.extract %[[C]][%[[H]], %[[J]]]
// CHECK: } else {
// CHECK: memref.atomic_rmw maxs %c1_i32, %[[FLAG]][]
// AVX2-LABEL: func.func @capture_guard
!t = tensor<?x?x?x16xf32>
func.func @capture_guard(%q: !t, %k: !t, %v: !t, %c: tensor<?x8xf32>, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      captures(%c : tensor<?x8xf32>)
      outs(%o : !t)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index,
           %x: tensor<?x8xf32>):
        %w = tensor.extract %x[%h, %j] : tensor<?x8xf32>
        %y = arith.addf %s, %w : f32
        attn.yield %y : f32
      } {score_mods = [#attn.score_mod]} -> !t
  return %r : !t
}

// -----

// #attn.config's vector_width overrides the pass option for its op.
// CHECK-LABEL: func.func @config_vector_width
// CHECK: vector.fma {{.*}} : vector<8xf32>
// CHECK-NOT: vector<16xf32>
// AVX2-LABEL: func.func @config_vector_width
!t = tensor<?x?x?x16xf32>
func.func @config_vector_width(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {mask = #attn.causal, config = #attn.config<vector_width = 8>} -> !t
  return %r : !t
}

// -----

// A paged cache: the decoding kernel finds each key's row through the page
// table (page = table[b, j / 16], clamped into the pool; slot = j mod 16)
// and reads it from the pool; the tile kernel gathers its kv tiles the
// same way.

// CHECK-LABEL: func.func @paged
//       CHECK:   %[[KB:.+]] = bufferization.to_buffer %{{.+}} read_only : tensor<?x16x?x64xf32> to memref<?x16x?x64xf32>
//       CHECK:   %[[TB:.+]] = bufferization.to_buffer %{{.+}} read_only : tensor<?x?xi32> to memref<?x?xi32>
//       CHECK:   scf.if
//       CHECK:     %[[E:.+]] = memref.load %[[TB]][%{{.+}}, %{{.+}}] : memref<?x?xi32>
//       CHECK:     %[[P:.+]] = arith.index_cast %[[E]] : i32 to index
//       CHECK:     %[[LO:.+]] = arith.maxsi %[[P]], %{{.+}} : index
//       CHECK:     %[[PG:.+]] = arith.minsi %[[LO]], %{{.+}} : index
//       CHECK:     %[[SLOT:.+]] = arith.remui %{{.+}}, %{{.+}} : index
//       CHECK:     vector.load %[[KB]][%[[PG]], %[[SLOT]], %{{.+}}, %{{.+}}] : memref<?x16x?x64xf32>, vector<16xf32>
//       CHECK:   } else {
//       CHECK:     memref.load %[[TB]]
//       CHECK:     vector.load %[[KB]]
//       CHECK:     vector.store %{{.+}}, %{{.+}}[%{{.+}}, %{{.+}}] : memref<96x?xf32>, vector<16xf32>
func.func @paged(%q: tensor<?x?x?x64xf32>, %kc: tensor<?x16x?x64xf32>, %t: tensor<?x?xi32>, %n: tensor<?xi32>) -> tensor<?x?x?x64xf32> {
  %r = attn.attention ins(%q, %kc, %kc : tensor<?x?x?x64xf32>, tensor<?x16x?x64xf32>, tensor<?x16x?x64xf32>)
      page_table(%t : tensor<?x?xi32>) kv_len(%n : tensor<?xi32>)
      outs(%q : tensor<?x?x?x64xf32>) {mask = #attn.causal, paged = #attn.paged<page_size = 16>}
      -> tensor<?x?x?x64xf32>
  return %r : tensor<?x?x?x64xf32>
}
