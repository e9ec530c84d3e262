// RUN: attn-opt %s -attn-tile-cpu="vector-width=16 threads=2" -split-input-file | FileCheck %s
// RUN: attn-opt %s -attn-print-tile-plan="target=cpu vector-width=16" -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=PLAN

// The fused backward (FlashGradKernel.cpp) of causal softmax with GQA:
// Delta (one f32 per query row) by a first parallel loop, then, when
// B * Hkv >= 2 x threads (here 2), one parallel loop over (b, kv head)
// whose items accumulate dQ in an f32 buffer of the group's rows and walk
// their kv tiles each in its own stack scope; else a dQ loop over (b, h,
// q-tile) and a dK/dV loop over (b, kv head, kv tile). P is recomputed from
// the LSE by vector exps, the products are vector FMAs, and nothing of size
// Sq x Skv is allocated (the scratch tiles are 64 x 64).

// CHECK-LABEL: func.func @grad_causal_gqa
//   CHECK-NOT:   attn.attention_grad
//       CHECK:   %[[DELTA:.+]] = memref.alloc(%{{.+}}) : memref<?xf32>
//       CHECK:   scf.parallel
//       CHECK:     memref.store %{{.+}}, %[[DELTA]]
//       CHECK:   %[[ONE:.+]] = arith.cmpi sle, %c4
//       CHECK:   scf.if %[[ONE]] {
//       CHECK:     scf.parallel
//       CHECK:       memref.alloc(%{{.+}}) {alignment = 64 : i64} : memref<?x32xf32>
//       CHECK:       memref.alloca_scope
//       CHECK:         memref.load %[[DELTA]]
//       CHECK:         math.exp %{{.+}} : vector<16xf32>
//       CHECK:         vector.fma
//       CHECK:   } else {
//       CHECK:     scf.parallel
//       CHECK:       memref.alloca() {alignment = 64 : i64} : memref<32x64xf32>
//       CHECK:       math.exp %{{.+}} : vector<16xf32>
//       CHECK:     scf.parallel
//       CHECK:       math.exp %{{.+}} : vector<16xf32>
//   CHECK-NOT:   memref.alloc{{.*}}x100x
//       CHECK:   return
// PLAN: remark: backward for cpu: fused #attn.config<block_q = 64, block_kv = 64, vector_width = 16, unroll = 6
func.func @grad_causal_gqa(%q: tensor<1x4x100x32xf32>, %k: tensor<1x2x100x32xf32>, %v: tensor<1x2x100x32xf32>,
    %o: tensor<1x4x100x32xf32>, %do: tensor<1x4x100x32xf32>, %l: tensor<1x4x100xf32>)
    -> (tensor<1x4x100x32xf32>, tensor<1x2x100x32xf32>, tensor<1x2x100x32xf32>) {
  %r:3 = attn.attention_grad ins(%q, %k, %v : tensor<1x4x100x32xf32>, tensor<1x2x100x32xf32>, tensor<1x2x100x32xf32>)
      out(%o : tensor<1x4x100x32xf32>) grad_out(%do : tensor<1x4x100x32xf32>) lse(%l : tensor<1x4x100xf32>)
      outs(%q, %k, %v : tensor<1x4x100x32xf32>, tensor<1x2x100x32xf32>, tensor<1x2x100x32xf32>)
      {mask = #attn.causal}
      -> tensor<1x4x100x32xf32>, tensor<1x2x100x32xf32>, tensor<1x2x100x32xf32>
  return %r#0, %r#1, %r#2 : tensor<1x4x100x32xf32>, tensor<1x2x100x32xf32>, tensor<1x2x100x32xf32>
}

// -----

// Sigmoid: no LSE and no Delta buffer; P = 1 / (1 + exp(-beta - s)).

// CHECK-LABEL: func.func @grad_sigmoid
//   CHECK-NOT:   memref.alloc(%{{.+}}) : memref<?xf32>
//   CHECK-NOT:   attn.attention_grad
//       CHECK:   scf.parallel
//       CHECK:     arith.divf %{{.+}} : vector<16xf32>
// PLAN: remark: backward for cpu: fused #attn.config
func.func @grad_sigmoid(%q: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
      out(%q : tensor<1x2x8x16xf32>) grad_out(%q : tensor<1x2x8x16xf32>)
      outs(%q, %q, %q : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
      {normalizer = #attn.sigmoid}
      -> tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
  return %r#0 : tensor<1x2x8x16xf32>
}

// -----

// Softplus: P = exp(log softplus(s) - LSE) and the factor exp(log
// sigmoid(s) - LSE), the reference lowering's formulas, on vectors.

// CHECK-LABEL: func.func @grad_softplus
//   CHECK-NOT:   attn.attention_grad
//       CHECK:   math.log1p %{{.+}} : vector<16xf32>
// PLAN: remark: backward for cpu: fused #attn.config
func.func @grad_softplus(%q: tensor<1x2x8x16xf32>, %l: tensor<1x2x8xf32>) -> tensor<1x2x8x16xf32> {
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
      out(%q : tensor<1x2x8x16xf32>) grad_out(%q : tensor<1x2x8x16xf32>) lse(%l : tensor<1x2x8xf32>)
      outs(%q, %q, %q : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
      {normalizer = #attn.softplus}
      -> tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
  return %r#0 : tensor<1x2x8x16xf32>
}

// -----

// Dynamic head dims take the reference lowering, and the plan says why.

// CHECK-LABEL: func.func @grad_dynamic_head_dim
//       CHECK:   attn.attention_grad
// PLAN: remark: backward for cpu: reference lowering (the fused backward needs static head dims)
func.func @grad_dynamic_head_dim(%q: tensor<1x1x8x?xf32>, %l: tensor<1x1x8xf32>) -> tensor<1x1x8x?xf32> {
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x1x8x?xf32>, tensor<1x1x8x?xf32>, tensor<1x1x8x?xf32>)
      out(%q : tensor<1x1x8x?xf32>) grad_out(%q : tensor<1x1x8x?xf32>) lse(%l : tensor<1x1x8xf32>)
      outs(%q, %q, %q : tensor<1x1x8x?xf32>, tensor<1x1x8x?xf32>, tensor<1x1x8x?xf32>)
      -> tensor<1x1x8x?xf32>, tensor<1x1x8x?xf32>, tensor<1x1x8x?xf32>
  return %r#0 : tensor<1x1x8x?xf32>
}

// -----

// Operand gradients: the sink's by two linalg reductions on tensors (Delta,
// then the sum over (b, i) per head); a captured table's in the dQ pass of
// the two-pass schedule (no one-pass branch), whose items run in slots
// (item n in slot n mod slots, in order) that add into their own zeroed
// accumulators, summed in slot order into the gradient at the end.

// CHECK-LABEL: func.func @grad_wrt_sink_table
//       CHECK:   linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]
//       CHECK:   %[[DSINK:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "reduction"]
//   CHECK-NOT:   attn.attention_grad
//       CHECK:   %[[ACC:.+]] = memref.alloc(%{{.+}}) {alignment = 64 : i64} : memref<?xf32>
//   CHECK-NOT:   scf.if
//       CHECK:   scf.parallel (%[[SLOT:.+]]) =
//       CHECK:     scf.for %{{.+}} = %[[SLOT]] to %{{.+}} step %[[SLOTS:[^ ]+]] {
//       CHECK:       memref.store %{{.+}}, %[[ACC]]
//       CHECK:   scf.parallel
//       CHECK:   %[[FLAT:.+]] = memref.collapse_shape %[[DT:.+]] {{\[\[}}0, 1]] : memref<4x9xf32> into memref<36xf32>
//       CHECK:   scf.parallel
//       CHECK:     scf.for %{{.+}} = %{{.+}} to %[[SLOTS]]
//       CHECK:       memref.load %[[ACC]]
//       CHECK:     memref.store %{{.+}}, %[[FLAT]]
//       CHECK:   %[[DTT:.+]] = bufferization.to_tensor %[[DT]]
//       CHECK:   return %[[DSINK]], %[[DTT]]
// PLAN: remark: backward for cpu: fused #attn.config
func.func @grad_wrt_sink_table(%q: tensor<1x4x100x32xf32>, %l: tensor<1x4x100xf32>, %sink: tensor<4xf32>,
    %t: tensor<4x9xf32>, %ds: tensor<4xf32>, %dt: tensor<4x9xf32>) -> (tensor<4xf32>, tensor<4x9xf32>) {
  %r:5 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x100x32xf32>, tensor<1x4x100x32xf32>, tensor<1x4x100x32xf32>)
      out(%q : tensor<1x4x100x32xf32>) grad_out(%q : tensor<1x4x100x32xf32>) lse(%l : tensor<1x4x100xf32>)
      sink(%sink : tensor<4xf32>) captures(%t : tensor<4x9xf32>)
      outs(%q, %q, %q : tensor<1x4x100x32xf32>, tensor<1x4x100x32xf32>, tensor<1x4x100x32xf32>)
      grads(%ds, %dt : tensor<4xf32>, tensor<4x9xf32>)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %tab: tensor<4x9xf32>):
        %x = tensor.extract %tab[%h, %b] : tensor<4x9xf32>
        %y = arith.mulf %s, %x : f32
        attn.yield %y : f32
      }
      {mask = #attn.causal, normalizer = #attn.sink_softmax, score_mods = [#attn.score_mod], wrt = ["sink", "capture0"]}
      -> tensor<1x4x100x32xf32>, tensor<1x4x100x32xf32>, tensor<1x4x100x32xf32>, tensor<4xf32>, tensor<4x9xf32>
  return %r#3, %r#4 : tensor<4xf32>, tensor<4x9xf32>
}

// -----

// Packed documents under causal: the kv tiles' id ranges are computed once
// (two [B, tiles] index tables), and the document conjunct classifies the
// pairs at run time in both passes (the dQ pass, and the kv-tile side of
// both schedules): skipped pairs sit under an scf.if on the tables.

// CHECK-LABEL: func.func @grad_document_causal
//   CHECK-NOT:   attn.attention_grad
//       CHECK:   %[[SEGMIN:.+]] = memref.alloc(%{{.+}}, %{{.+}}) : memref<?x?xindex>
//       CHECK:   %[[SEGMAX:.+]] = memref.alloc(%{{.+}}, %{{.+}}) : memref<?x?xindex>
//       CHECK:   scf.parallel
//       CHECK:     memref.store %{{.+}}, %[[SEGMIN]]
//       CHECK:     memref.store %{{.+}}, %[[SEGMAX]]
//       CHECK:   scf.if
//       CHECK:     scf.parallel
//       CHECK:       memref.load %[[SEGMIN]]
//       CHECK:       memref.load %[[SEGMAX]]
//       CHECK:       scf.if
//       CHECK:         vector.fma
//       CHECK:   } else {
//       CHECK:     scf.parallel
//       CHECK:       memref.load %[[SEGMIN]]
//       CHECK:       scf.if
//       CHECK:         vector.fma
//       CHECK:     scf.parallel
//       CHECK:       memref.load %[[SEGMIN]]
//       CHECK:       scf.if
//       CHECK:         vector.fma
//       CHECK:   return
func.func @grad_document_causal(%q: tensor<?x2x100x32xf32>, %l: tensor<?x2x100xf32>,
    %sq: tensor<?x100xi32>, %sk: tensor<?x100xi32>) -> tensor<?x2x100x32xf32> {
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<?x2x100x32xf32>, tensor<?x2x100x32xf32>, tensor<?x2x100x32xf32>)
      out(%q : tensor<?x2x100x32xf32>) grad_out(%q : tensor<?x2x100x32xf32>) lse(%l : tensor<?x2x100xf32>)
      segments(%sq, %sk : tensor<?x100xi32>, tensor<?x100xi32>)
      outs(%q, %q, %q : tensor<?x2x100x32xf32>, tensor<?x2x100x32xf32>, tensor<?x2x100x32xf32>)
      {mask = #attn.and<[#attn.document, #attn.causal]>}
      -> tensor<?x2x100x32xf32>, tensor<?x2x100x32xf32>, tensor<?x2x100x32xf32>
  return %r#0 : tensor<?x2x100x32xf32>
}
