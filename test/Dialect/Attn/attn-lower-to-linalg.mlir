// RUN: attn-opt %s -attn-lower-to-linalg -split-input-file | FileCheck %s

// Softmax with a causal mask and an LSE output, GQA (8 query heads read 2
// key/value heads), f16 inputs accumulated in f32.

// CHECK-DAG: #[[$ID2:.+]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[$ROW:.+]] = affine_map<(d0, d1) -> (d0)>
// CHECK-DAG: #[[$VEC:.+]] = affine_map<(d0) -> (d0)>
// CHECK-DAG: #[[$LHS:.+]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[$RHS_T:.+]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[$RHS:.+]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-DAG: #[[$ACC:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>

// CHECK-LABEL: func.func @softmax_causal_lse
//  CHECK-SAME:   (%[[Q:[^:]+]]: tensor<2x8x16x64xf16>, %[[K:[^:]+]]: tensor<2x2x32x64xf16>, %[[V:[^:]+]]: tensor<2x2x32x48xf16>, %[[O:[^:]+]]: tensor<2x8x16x48xf16>, %[[L:[^:]+]]: tensor<2x8x16xf32>)
//       CHECK:   %[[HQ:.+]] = tensor.dim %[[Q]], %{{.+}} : tensor<2x8x16x64xf16>
//       CHECK:   %[[HKV:.+]] = tensor.dim %[[K]], %{{.+}} : tensor<2x2x32x64xf16>
//       CHECK:   %[[GROUP:.+]] = arith.divui %[[HQ]], %[[HKV]] : index
//       CHECK:   %[[RES:.+]]:2 = scf.forall (%[[B:.+]], %[[H:.+]]) in (2, 8)
//  CHECK-SAME:       shared_outs(%[[OS:.+]] = %[[O]], %[[LS:.+]] = %[[L]]) -> (tensor<2x8x16x48xf16>, tensor<2x8x16xf32>)
//       CHECK:     %[[KVH:.+]] = arith.divui %[[H]], %[[GROUP]] : index
//       CHECK:     %[[QS:.+]] = tensor.extract_slice %[[Q]][%[[B]], %[[H]], 0, 0] [1, 1, 16, 64] [1, 1, 1, 1] : tensor<2x8x16x64xf16> to tensor<16x64xf16>
//       CHECK:     %[[KS:.+]] = tensor.extract_slice %[[K]][%[[B]], %[[KVH]], 0, 0] [1, 1, 32, 64] [1, 1, 1, 1] : tensor<2x2x32x64xf16> to tensor<32x64xf16>
//       CHECK:     %[[VS:.+]] = tensor.extract_slice %[[V]][%[[B]], %[[KVH]], 0, 0] [1, 1, 32, 48] [1, 1, 1, 1] : tensor<2x2x32x48xf16> to tensor<32x48xf16>
// S = Q K^T in f32.
//       CHECK:     %[[S0:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<16x32xf32>)
//       CHECK:     %[[S:.+]] = linalg.generic
//  CHECK-SAME:         indexing_maps = [#[[$LHS]], #[[$RHS_T]], #[[$ACC]]], iterator_types = ["parallel", "parallel", "reduction"]
//  CHECK-SAME:         ins(%[[QS]], %[[KS]] : tensor<16x64xf16>, tensor<32x64xf16>) outs(%[[S0]] : tensor<16x32xf32>)
//       CHECK:       arith.extf %{{.+}} : f16 to f32
//       CHECK:       arith.extf %{{.+}} : f16 to f32
//       CHECK:       arith.mulf
//       CHECK:       arith.addf
// S' = allowed ? scale * S : -inf, with allowed = j <= p(i).
//       CHECK:     %[[SCALE:.+]] = arith.divf %{{.+}}, %{{.+}} : f32
//       CHECK:     %[[M:.+]] = linalg.generic
//  CHECK-SAME:         indexing_maps = [#[[$ID2]]], iterator_types = ["parallel", "parallel"]
//  CHECK-SAME:         outs(%[[S]] : tensor<16x32xf32>)
//       CHECK:       %[[I:.+]] = linalg.index 0 : index
//       CHECK:       %[[J:.+]] = linalg.index 1 : index
//       CHECK:       %[[POS:.+]] = arith.addi %[[I]], %{{.+}} : index
//       CHECK:       %[[SCALED:.+]] = arith.mulf %{{.+}}, %[[SCALE]] : f32
//       CHECK:       %[[ALLOWED:.+]] = arith.cmpi sle, %[[J]], %[[POS]] : index
//       CHECK:       %[[NEG_INF:.+]] = arith.constant 0xFF800000 : f32
//       CHECK:       %[[SEL:.+]] = arith.select %[[ALLOWED]], %[[SCALED]], %[[NEG_INF]] : f32
//       CHECK:       linalg.yield %[[SEL]] : f32
// Row max, then the shift (0 for a fully masked row).
//       CHECK:     %[[MAX0:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<16xf32>)
//       CHECK:     %[[MAX:.+]] = linalg.generic
//  CHECK-SAME:         indexing_maps = [#[[$ID2]], #[[$ROW]]], iterator_types = ["parallel", "reduction"]
//  CHECK-SAME:         ins(%[[M]] : tensor<16x32xf32>) outs(%[[MAX0]] : tensor<16xf32>)
//       CHECK:       arith.maximumf
//       CHECK:     %[[SHIFT:.+]] = linalg.generic
//  CHECK-SAME:         outs(%[[MAX]] : tensor<16xf32>)
//       CHECK:       arith.cmpf oeq
//       CHECK:       arith.select
// W = exp(S' - shift), Z = row sum of W.
//       CHECK:     %[[W:.+]] = linalg.generic
//  CHECK-SAME:         indexing_maps = [#[[$ID2]], #[[$ROW]], #[[$ID2]]]
//  CHECK-SAME:         ins(%[[M]], %[[SHIFT]] : tensor<16x32xf32>, tensor<16xf32>)
//       CHECK:       arith.subf
//       CHECK:       math.exp
//       CHECK:     %[[Z:.+]] = linalg.generic
//  CHECK-SAME:         indexing_maps = [#[[$ID2]], #[[$ROW]]], iterator_types = ["parallel", "reduction"]
//  CHECK-SAME:         ins(%[[W]] : tensor<16x32xf32>)
//       CHECK:       arith.addf
// O = (W V) / Z, truncated to f16.
//       CHECK:     %[[PV:.+]] = linalg.generic
//  CHECK-SAME:         indexing_maps = [#[[$LHS]], #[[$RHS]], #[[$ACC]]], iterator_types = ["parallel", "parallel", "reduction"]
//  CHECK-SAME:         ins(%[[W]], %[[VS]] : tensor<16x32xf32>, tensor<32x48xf16>) outs(%{{.+}} : tensor<16x48xf32>)
//       CHECK:     %[[OUT:.+]] = linalg.generic
//  CHECK-SAME:         ins(%[[PV]], %[[Z]] : tensor<16x48xf32>, tensor<16xf32>) outs(%{{.+}} : tensor<16x48xf16>)
//       CHECK:       arith.divf
//       CHECK:       arith.truncf %{{.+}} : f32 to f16
// LSE = shift + log Z.
//       CHECK:     %[[LSE:.+]] = linalg.generic
//  CHECK-SAME:         indexing_maps = [#[[$VEC]], #[[$VEC]], #[[$VEC]]]
//  CHECK-SAME:         ins(%[[Z]], %[[SHIFT]] : tensor<16xf32>, tensor<16xf32>)
//       CHECK:       math.log
//       CHECK:     scf.forall.in_parallel {
//  CHECK-NEXT:       tensor.parallel_insert_slice %[[OUT]] into %[[OS]][%[[B]], %[[H]], 0, 0] [1, 1, 16, 48] [1, 1, 1, 1] : tensor<16x48xf16> into tensor<2x8x16x48xf16>
//  CHECK-NEXT:       tensor.parallel_insert_slice %[[LSE]] into %[[LS]][%[[B]], %[[H]], 0] [1, 1, 16] [1, 1, 1] : tensor<16xf32> into tensor<2x8x16xf32>
//  CHECK-NEXT:     }
//       CHECK:   return %[[RES]]#0, %[[RES]]#1
//   CHECK-NOT:   attn.
func.func @softmax_causal_lse(%q: tensor<2x8x16x64xf16>, %k: tensor<2x2x32x64xf16>, %v: tensor<2x2x32x48xf16>,
                              %o: tensor<2x8x16x48xf16>, %l: tensor<2x8x16xf32>)
    -> (tensor<2x8x16x48xf16>, tensor<2x8x16xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<2x8x16x64xf16>, tensor<2x2x32x64xf16>, tensor<2x2x32x48xf16>)
           outs(%o, %l : tensor<2x8x16x48xf16>, tensor<2x8x16xf32>)
           {mask = #attn.causal} -> tensor<2x8x16x48xf16>, tensor<2x8x16xf32>
  return %r#0, %r#1 : tensor<2x8x16x48xf16>, tensor<2x8x16xf32>
}

// -----

// Sigmoid needs no row max and no row sum; beta defaults to -log(Skv).
// Dynamic shapes: the forall runs over the dynamic (B, Hq).

// CHECK-LABEL: func.func @sigmoid_dynamic
//  CHECK-SAME:   (%[[Q:[^:]+]]: tensor<?x?x?x?xf32>, %[[O:[^:]+]]: tensor<?x?x?x?xf32>)
//       CHECK:   %[[BATCH:.+]] = tensor.dim %[[Q]], %[[C0:.+]] : tensor<?x?x?x?xf32>
//       CHECK:   %[[HEADS:.+]] = tensor.dim %[[Q]], %[[C1:.+]] : tensor<?x?x?x?xf32>
//       CHECK:   %[[RES:.+]] = scf.forall (%[[B:.+]], %[[H:.+]]) in (%[[BATCH]], %[[HEADS]]) shared_outs(%[[OS:.+]] = %[[O]]) -> (tensor<?x?x?x?xf32>)
//       CHECK:     %[[S:.+]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
//       CHECK:     %[[M:.+]] = linalg.generic {{.*}} outs(%[[S]] : tensor<?x?xf32>)
//       CHECK:       arith.select
//   CHECK-NOT:     arith.maximumf
//       CHECK:     %[[LOG:.+]] = math.log %{{.+}} : f32
//       CHECK:     %[[BETA:.+]] = arith.negf %[[LOG]] : f32
//   CHECK-NOT:     arith.maximumf
//       CHECK:     %[[W:.+]] = linalg.generic
//  CHECK-SAME:         ins(%[[M]] : tensor<?x?xf32>)
//       CHECK:       %[[X:.+]] = arith.addf %{{.+}}, %[[BETA]] : f32
//       CHECK:       %[[NX:.+]] = arith.negf %[[X]] : f32
//       CHECK:       %[[E:.+]] = math.exp %[[NX]] : f32
//       CHECK:       %[[D:.+]] = arith.addf %{{.+}}, %[[E]] : f32
//       CHECK:       arith.divf %{{.+}}, %[[D]] : f32
//   CHECK-NOT:     iterator_types = ["parallel", "reduction"]
//       CHECK:     %[[PV:.+]] = linalg.generic {{.*}} ins(%[[W]], %{{.+}} : tensor<?x?xf32>, tensor<?x?xf32>)
//       CHECK:     %[[OUT:.+]] = linalg.generic
//  CHECK-SAME:         ins(%[[PV]] : tensor<?x?xf32>)
//   CHECK-NOT:       arith.divf
//       CHECK:     scf.forall.in_parallel {
//  CHECK-NEXT:       tensor.parallel_insert_slice %[[OUT]] into %[[OS]][%[[B]], %[[H]], 0, 0]
//  CHECK-NEXT:     }
//       CHECK:   return %[[RES]]
func.func @sigmoid_dynamic(%q: tensor<?x?x?x?xf32>, %o: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>)
         outs(%o : tensor<?x?x?x?xf32>) {normalizer = #attn.sigmoid} -> tensor<?x?x?x?xf32>
  return %r : tensor<?x?x?x?xf32>
}

// -----

// bshd slices along dim 2 for the head; the document mask reads the
// segment ids inside the masking generic; the sink logit enters the shift
// and the denominator.

// CHECK-LABEL: func.func @bshd_document_sink
//  CHECK-SAME:   (%[[Q:[^:]+]]: tensor<1x8x4x16xbf16>, %[[K:[^:]+]]: tensor<1x12x4x16xbf16>, %[[O:[^:]+]]: tensor<1x8x4x16xbf16>, %[[SQ:[^:]+]]: tensor<1x8xi32>, %[[SKV:[^:]+]]: tensor<1x12xi32>, %[[SINK:[^:]+]]: tensor<4xf32>)
//       CHECK:   scf.forall (%[[B:.+]], %[[H:.+]]) in (1, 4) shared_outs(%[[OS:.+]] = %[[O]])
//       CHECK:     %[[KVH:.+]] = arith.divui %[[H]], %{{.+}} : index
//       CHECK:     tensor.extract_slice %[[Q]][%[[B]], 0, %[[H]], 0] [1, 8, 1, 16] [1, 1, 1, 1] : tensor<1x8x4x16xbf16> to tensor<8x16xbf16>
//       CHECK:     tensor.extract_slice %[[K]][%[[B]], 0, %[[KVH]], 0] [1, 12, 1, 16] [1, 1, 1, 1] : tensor<1x12x4x16xbf16> to tensor<12x16xbf16>
//       CHECK:     %[[S:.+]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
//       CHECK:     %[[M:.+]] = linalg.generic {{.*}} outs(%[[S]] : tensor<8x12xf32>)
//       CHECK:       %[[I:.+]] = linalg.index 0 : index
//       CHECK:       %[[J:.+]] = linalg.index 1 : index
//       CHECK:       %[[IDQ:.+]] = tensor.extract %[[SQ]][%[[B]], %[[I]]] : tensor<1x8xi32>
//       CHECK:       %[[IDKV:.+]] = tensor.extract %[[SKV]][%[[B]], %[[J]]] : tensor<1x12xi32>
//       CHECK:       %[[SAME:.+]] = arith.cmpi eq
//       CHECK:       arith.select %[[SAME]], %{{.+}}, %{{.+}} : f32
//       CHECK:     %[[LOGIT:.+]] = tensor.extract %[[SINK]][%[[H]]] : tensor<4xf32>
//       CHECK:     %[[MAX:.+]] = linalg.generic {{.*}} ins(%[[M]] : tensor<8x12xf32>)
//       CHECK:     %[[SHIFT:.+]] = linalg.generic {{.*}} outs(%[[MAX]] : tensor<8xf32>)
//       CHECK:       arith.maximumf %{{.+}}, %[[LOGIT]] : f32
//       CHECK:     %[[W:.+]] = linalg.generic {{.*}} ins(%[[M]], %[[SHIFT]] : tensor<8x12xf32>, tensor<8xf32>)
//       CHECK:     %[[Z:.+]] = linalg.generic {{.*}} ins(%[[W]] : tensor<8x12xf32>)
//       CHECK:     %[[ZS:.+]] = linalg.generic {{.*}} ins(%[[SHIFT]] : tensor<8xf32>) outs(%[[Z]] : tensor<8xf32>)
//       CHECK:       arith.subf %[[LOGIT]], %{{.+}} : f32
//       CHECK:       math.exp
//       CHECK:     %[[OUT:.+]] = linalg.generic {{.*}} ins(%{{.+}}, %[[ZS]] : tensor<8x16xf32>, tensor<8xf32>) outs(%{{.+}} : tensor<8x16xbf16>)
//       CHECK:       arith.truncf %{{.+}} : f32 to bf16
//       CHECK:     scf.forall.in_parallel {
//  CHECK-NEXT:       tensor.parallel_insert_slice %[[OUT]] into %[[OS]][%[[B]], 0, %[[H]], 0] [1, 8, 1, 16] [1, 1, 1, 1] : tensor<8x16xbf16> into tensor<1x8x4x16xbf16>
//  CHECK-NEXT:     }
func.func @bshd_document_sink(%q: tensor<1x8x4x16xbf16>, %k: tensor<1x12x4x16xbf16>, %o: tensor<1x8x4x16xbf16>,
                              %sq: tensor<1x8xi32>, %skv: tensor<1x12xi32>, %s: tensor<4xf32>) -> tensor<1x8x4x16xbf16> {
  %r = attn.attention ins(%q, %k, %k : tensor<1x8x4x16xbf16>, tensor<1x12x4x16xbf16>, tensor<1x12x4x16xbf16>)
         sink(%s : tensor<4xf32>) segments(%sq, %skv : tensor<1x8xi32>, tensor<1x12xi32>)
         outs(%o : tensor<1x8x4x16xbf16>)
         {layout = #attn.layout<bshd>, normalizer = #attn.sink_softmax, mask = #attn.document}
         -> tensor<1x8x4x16xbf16>
  return %r : tensor<1x8x4x16xbf16>
}

// -----

// Score modifiers are applied to the scaled score before the mask select.

// CHECK-LABEL: func.func @softcap_then_mask
//       CHECK:     %[[S:.+]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
//       CHECK:     linalg.generic {{.*}} outs(%[[S]] : tensor<8x8xf32>)
//       CHECK:       %[[SCALED:.+]] = arith.mulf
//       CHECK:       %[[DIV:.+]] = arith.divf %[[SCALED]], %{{.+}} : f32
//       CHECK:       %[[TANH:.+]] = math.tanh %[[DIV]] : f32
//       CHECK:       %[[CAPPED:.+]] = arith.mulf %{{.+}}, %[[TANH]] : f32
//       CHECK:       arith.select %{{.+}}, %[[CAPPED]], %{{.+}} : f32
func.func @softcap_then_mask(%q: tensor<1x2x8x16xf32>, %o: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
         outs(%o : tensor<1x2x8x16xf32>)
         {mask = #attn.causal, score_mods = [#attn.softcap<cap = 30.0>]} -> tensor<1x2x8x16xf32>
  return %r : tensor<1x2x8x16xf32>
}

// -----

// merge: LSE = m + log sum_k exp(LSE_k - m); O = sum_k exp(LSE_k - LSE) O_k.

// CHECK-DAG: #[[$ID3:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[$ID4:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[$LSE_OF_O:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>

// CHECK-LABEL: func.func @merge
//  CHECK-SAME:   (%[[O0:[^:]+]]: tensor<1x8x16x64xf16>, %[[O1:[^:]+]]: tensor<1x8x16x64xf16>, %[[L0:[^:]+]]: tensor<1x8x16xf32>, %[[L1:[^:]+]]: tensor<1x8x16xf32>, %[[OI:[^:]+]]: tensor<1x8x16x64xf16>, %[[LI:[^:]+]]: tensor<1x8x16xf32>)
//       CHECK:   %[[LSE:.+]] = linalg.generic
//  CHECK-SAME:       indexing_maps = [#[[$ID3]], #[[$ID3]], #[[$ID3]]], iterator_types = ["parallel", "parallel", "parallel"]
//  CHECK-SAME:       ins(%[[L0]], %[[L1]] : tensor<1x8x16xf32>, tensor<1x8x16xf32>) outs(%[[LI]] : tensor<1x8x16xf32>)
//       CHECK:     arith.maximumf
//       CHECK:     math.exp
//       CHECK:     math.exp
//       CHECK:     math.log
//       CHECK:   %[[OUT:.+]] = linalg.generic
//  CHECK-SAME:       indexing_maps = [#[[$ID4]], #[[$ID4]], #[[$LSE_OF_O]], #[[$LSE_OF_O]], #[[$LSE_OF_O]], #[[$ID4]]]
//  CHECK-SAME:       ins(%[[O0]], %[[O1]], %[[L0]], %[[L1]], %[[LSE]] : {{.*}}) outs(%[[OI]] : tensor<1x8x16x64xf16>)
//       CHECK:     arith.extf %{{.+}} : f16 to f32
//       CHECK:     arith.extf %{{.+}} : f16 to f32
//       CHECK:     arith.truncf %{{.+}} : f32 to f16
//       CHECK:   return %[[OUT]], %[[LSE]]
func.func @merge(%o0: tensor<1x8x16x64xf16>, %o1: tensor<1x8x16x64xf16>,
                 %l0: tensor<1x8x16xf32>, %l1: tensor<1x8x16xf32>,
                 %oi: tensor<1x8x16x64xf16>, %li: tensor<1x8x16xf32>)
    -> (tensor<1x8x16x64xf16>, tensor<1x8x16xf32>) {
  %o, %l = attn.merge ins(%o0, %o1 : tensor<1x8x16x64xf16>, tensor<1x8x16x64xf16>)
             lse(%l0, %l1 : tensor<1x8x16xf32>, tensor<1x8x16xf32>)
             outs(%oi, %li : tensor<1x8x16x64xf16>, tensor<1x8x16xf32>)
             -> tensor<1x8x16x64xf16>, tensor<1x8x16xf32>
  return %o, %l : tensor<1x8x16x64xf16>, tensor<1x8x16xf32>
}

// -----

// With bshd, O_k is [B, S, H, Dv] and LSE_k is [B, H, S].

// CHECK-DAG: #[[$LSE_OF_O_BSHD:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d1)>

// CHECK-LABEL: func.func @merge_bshd
//       CHECK:   %[[LSE:.+]] = linalg.generic
//       CHECK:   linalg.generic
//  CHECK-SAME:       indexing_maps = [#{{.+}}, #[[$LSE_OF_O_BSHD]], #[[$LSE_OF_O_BSHD]], #{{.+}}]
//  CHECK-SAME:       ins(%{{.+}}, %{{.+}}, %[[LSE]] : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>)
func.func @merge_bshd(%o0: tensor<?x?x?x?xf32>, %l0: tensor<?x?x?xf32>,
                      %oi: tensor<?x?x?x?xf32>, %li: tensor<?x?x?xf32>)
    -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) {
  %o, %l = attn.merge ins(%o0 : tensor<?x?x?x?xf32>) lse(%l0 : tensor<?x?x?xf32>)
             outs(%oi, %li : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>)
             {layout = #attn.layout<bshd>} -> tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
  return %o, %l : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
}

// -----

// attn.attention_grad, softmax with a causal mask and a soft-cap, GQA (4
// query heads read 2 key/value heads): one parallel iteration per (b, kv
// head), the group's query heads in a sequential loop that accumulates dK
// and dV in f32; P rebuilt as exp(s' - LSE), zero where masked or where the
// LSE is -inf; dS' = P (dP - rowsum(dO * O)) times the soft-cap's
// derivative 1 - (s'/cap)^2 and the scale.

// CHECK-LABEL: func.func @grad_softmax_softcap_gqa
//  CHECK-SAME:   (%[[Q:[^:]+]]: tensor<2x4x16x32xf16>, %[[K:[^:]+]]: tensor<2x2x24x32xf16>, %[[V:[^:]+]]: tensor<2x2x24x48xf16>, %[[O:[^:]+]]: tensor<2x4x16x48xf16>, %[[DO:[^:]+]]: tensor<2x4x16x48xf16>, %[[L:[^:]+]]: tensor<2x4x16xf32>, %[[DQ0:[^:]+]]: tensor<2x4x16x32xf16>, %[[DK0:[^:]+]]: tensor<2x2x24x32xf16>, %[[DV0:[^:]+]]: tensor<2x2x24x48xf16>)
//       CHECK:   %[[GROUP:.+]] = arith.divui
//       CHECK:   %[[SCALE:.+]] = arith.divf
//       CHECK:   %[[RES:.+]]:3 = scf.forall (%[[B:.+]], %[[KVH:.+]]) in (2, 2)
//  CHECK-SAME:       shared_outs(%[[DQS:.+]] = %[[DQ0]], %[[DKS:.+]] = %[[DK0]], %[[DVS:.+]] = %[[DV0]])
//       CHECK:     %[[KS:.+]] = tensor.extract_slice %[[K]][%[[B]], %[[KVH]], 0, 0] [1, 1, 24, 32]
//       CHECK:     %[[DKZ:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<24x32xf32>)
//       CHECK:     %[[DVZ:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<24x48xf32>)
//       CHECK:     %[[LOOP:.+]]:3 = scf.for %[[G:.+]] = %{{.+}} to %[[GROUP]] step %{{.+}} iter_args(%[[DQG:.+]] = %{{.+}}, %[[DKA:.+]] = %[[DKZ]], %[[DVA:.+]] = %[[DVZ]])
//       CHECK:       %[[FIRST:.+]] = arith.muli %[[KVH]], %[[GROUP]]
//       CHECK:       %[[H:.+]] = arith.addi %[[FIRST]], %[[G]]
//       CHECK:       %[[QS:.+]] = tensor.extract_slice %[[Q]][%[[B]], %[[H]], 0, 0]
//       CHECK:       %[[OS:.+]] = tensor.extract_slice %[[O]][%[[B]], %[[H]], 0, 0]
//       CHECK:       %[[DOS:.+]] = tensor.extract_slice %[[DO]][%[[B]], %[[H]], 0, 0]
// S = Q K^T and dP = dO V^T.
//       CHECK:       %[[S:.+]] = linalg.generic {{.*}} ins(%[[QS]], %[[KS]] :
//       CHECK:       %[[DP:.+]] = linalg.generic {{.*}} ins(%[[DOS]], %{{.+}} :
//       CHECK:       %[[LROW:.+]] = tensor.extract_slice %[[L]][%[[B]], %[[H]], 0] [1, 1, 16]
// P and the modifiers' derivative, one generic with two results.
//       CHECK:       %[[PS:.+]]:2 = linalg.generic {{.*}} ins(%[[S]], %[[LROW]] : tensor<16x24xf32>, tensor<16xf32>)
//       CHECK:         math.tanh
//       CHECK:         arith.subf
//       CHECK:         arith.cmpi sle
//       CHECK:         %[[D:.+]] = arith.subf %{{.+}}, %[[LSEI:.+]] : f32
//       CHECK:         %[[E:.+]] = math.exp %[[D]] : f32
//       CHECK:         %[[P:.+]] = arith.select %{{.+}}, %[[E]], %{{.+}} : f32
//       CHECK:         linalg.yield %[[P]], %{{.+}} : f32, f32
// rowsum(dO * O), then dS = scale * G * (dP - rowsum), G = P * ds'/ds.
//       CHECK:       %[[ROW:.+]] = linalg.generic {{.*}} ins(%[[DOS]], %[[OS]] :
//       CHECK:       %[[DS:.+]] = linalg.generic {{.*}} ins(%[[PS]]#1, %[[DP]], %[[ROW]] :
//       CHECK:       ^bb0(%[[G_:.+]]: f32, %[[DP_:.+]]: f32, %[[ROW_:.+]]: f32, %{{.+}}: f32):
//       CHECK:         %[[DIFF:.+]] = arith.subf %[[DP_]], %[[ROW_]] : f32
//       CHECK:         %[[GD:.+]] = arith.mulf %[[G_]], %[[DIFF]] : f32
//       CHECK:         arith.mulf %[[GD]], %[[SCALE]] : f32
// dQ of this head into the group's dQ; dK and dV accumulated.
//       CHECK:       %[[DQH:.+]] = linalg.generic {{.*}} ins(%[[DS]], %[[KS]] :
//       CHECK:       arith.truncf %{{.+}} : f32 to f16
//       CHECK:       %[[DQN:.+]] = tensor.insert_slice %{{.+}} into %[[DQG]][0, %[[G]], 0, 0] [1, 1, 16, 32]
//       CHECK:       %[[DKN:.+]] = linalg.generic {{.*}} ins(%[[DS]], %[[QS]] : {{.*}} outs(%[[DKA]] : tensor<24x32xf32>)
//       CHECK:       %[[DVN:.+]] = linalg.generic {{.*}} ins(%[[PS]]#0, %[[DOS]] : {{.*}} outs(%[[DVA]] : tensor<24x48xf32>)
//       CHECK:       scf.yield %[[DQN]], %[[DKN]], %[[DVN]]
//       CHECK:     %[[FIRST2:.+]] = arith.muli %[[KVH]], %[[GROUP]]
//       CHECK:     scf.forall.in_parallel
//       CHECK:       tensor.parallel_insert_slice %[[LOOP]]#0 into %[[DQS]][%[[B]], %[[FIRST2]], 0, 0] [1, %[[GROUP]], 16, 32]
//       CHECK:       tensor.parallel_insert_slice %{{.+}} into %[[DKS]][%[[B]], %[[KVH]], 0, 0] [1, 1, 24, 32]
//       CHECK:       tensor.parallel_insert_slice %{{.+}} into %[[DVS]][%[[B]], %[[KVH]], 0, 0] [1, 1, 24, 48]
//       CHECK:   return %[[RES]]#0, %[[RES]]#1, %[[RES]]#2
func.func @grad_softmax_softcap_gqa(
    %q: tensor<2x4x16x32xf16>, %k: tensor<2x2x24x32xf16>, %v: tensor<2x2x24x48xf16>,
    %o: tensor<2x4x16x48xf16>, %do: tensor<2x4x16x48xf16>, %l: tensor<2x4x16xf32>,
    %dq: tensor<2x4x16x32xf16>, %dk: tensor<2x2x24x32xf16>, %dv: tensor<2x2x24x48xf16>)
    -> (tensor<2x4x16x32xf16>, tensor<2x2x24x32xf16>, tensor<2x2x24x48xf16>) {
  %r:3 = attn.attention_grad ins(%q, %k, %v : tensor<2x4x16x32xf16>, tensor<2x2x24x32xf16>, tensor<2x2x24x48xf16>)
      out(%o : tensor<2x4x16x48xf16>) grad_out(%do : tensor<2x4x16x48xf16>) lse(%l : tensor<2x4x16xf32>)
      outs(%dq, %dk, %dv : tensor<2x4x16x32xf16>, tensor<2x2x24x32xf16>, tensor<2x2x24x48xf16>)
      {mask = #attn.causal, score_mods = [#attn.softcap<cap = 5.0>]}
      -> tensor<2x4x16x32xf16>, tensor<2x2x24x32xf16>, tensor<2x2x24x48xf16>
  return %r#0, %r#1, %r#2 : tensor<2x4x16x32xf16>, tensor<2x2x24x32xf16>, tensor<2x2x24x48xf16>
}

// -----

// Sigmoid: P from the weights themselves (beta = -log Skv by default), no
// LSE and no row sum: dS' = P (1 - P) dP.

// CHECK-LABEL: func.func @grad_sigmoid
//       CHECK:   scf.for
//       CHECK:     %[[PS:.+]]:2 = linalg.generic {{.*}} ins(%{{.+}} : tensor<8x8xf32>)
//       CHECK:       math.exp
//       CHECK:       %[[SIG:.+]] = arith.divf
//       CHECK:       %[[P:.+]] = arith.select %{{.+}}, %{{.+}}, %[[SIG]] : f32
//       CHECK:       %[[ONE_MINUS:.+]] = arith.subf %{{.+}}, %[[P]] : f32
//       CHECK:       %[[PP:.+]] = arith.mulf %[[P]], %[[ONE_MINUS]] : f32
//       CHECK:       %[[G:.+]] = arith.mulf %[[PP]], %{{.+}} : f32
//       CHECK:       linalg.yield %[[P]], %[[G]] : f32, f32
//       CHECK:     %[[DS:.+]] = linalg.generic {{.*}} ins(%[[PS]]#1, %{{[^ ]+}} : tensor<8x8xf32>, tensor<8x8xf32>) outs(
func.func @grad_sigmoid(%q: tensor<1x2x8x16xf32>, %l: tensor<1x2x8xf32>) -> tensor<1x2x8x16xf32> {
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
      out(%q : tensor<1x2x8x16xf32>) grad_out(%q : tensor<1x2x8x16xf32>)
      outs(%q, %q, %q : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
      {normalizer = #attn.sigmoid}
      -> tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
  return %r#0 : tensor<1x2x8x16xf32>
}

// -----

// A score_mod region differentiated by the compiler: s' = exp(s) * c[h] +
// s * s, so ds'/ds = exp(s) * c[h] + 2 s (forward mode, in the order of the
// region: exp's derivative is its result, the product's is d(exp) * c[h],
// the square's s ds + s ds), multiplied into the slope of the modifiers.

// CHECK-LABEL: func.func @grad_score_mod_region
//       CHECK:     %[[PS:.+]]:2 = linalg.generic
//       CHECK:       %[[S:.+]] = arith.mulf %in, %{{.+}} : f32
// The slope's 1, then the seed ds/ds = 1.
//       CHECK:       arith.constant 1.000000e+00 : f32
//       CHECK:       %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
//       CHECK:       %[[E:.+]] = math.exp %[[S]] : f32
//       CHECK:       %[[DE:.+]] = arith.mulf %[[ONE]], %[[E]] : f32
//       CHECK:       %[[C:.+]] = scf.if
//       CHECK:       %[[EC:.+]] = arith.mulf %[[E]], %[[C]] : f32
//       CHECK:       %[[DEC:.+]] = arith.mulf %[[DE]], %[[C]] : f32
//       CHECK:       %[[SS:.+]] = arith.mulf %[[S]], %[[S]] : f32
//       CHECK:       %[[DSS1:.+]] = arith.mulf %[[ONE]], %[[S]] : f32
//       CHECK:       %[[DSS2:.+]] = arith.mulf %[[ONE]], %[[S]] : f32
//       CHECK:       %[[DSS:.+]] = arith.addf %[[DSS1]], %[[DSS2]] : f32
//       CHECK:       %[[R:.+]] = arith.addf %[[EC]], %[[SS]] : f32
//       CHECK:       %[[DR:.+]] = arith.addf %[[DEC]], %[[DSS]] : f32
//       CHECK:       arith.mulf %{{.+}}, %[[DR]] : f32
func.func @grad_score_mod_region(%q: tensor<1x2x8x16xf32>, %l: tensor<1x2x8xf32>, %c: tensor<2xf32>) -> tensor<1x2x8x16xf32> {
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
      out(%q : tensor<1x2x8x16xf32>) grad_out(%q : tensor<1x2x8x16xf32>) lse(%l : tensor<1x2x8xf32>)
      captures(%c : tensor<2xf32>)
      outs(%q, %q, %q : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %cc: tensor<2xf32>):
        %e = math.exp %s : f32
        %ch = tensor.extract %cc[%h] : tensor<2xf32>
        %ec = arith.mulf %e, %ch : f32
        %ss = arith.mulf %s, %s : f32
        %y = arith.addf %ec, %ss : f32
        attn.yield %y : f32
      }
      {score_mods = [#attn.score_mod]}
      -> tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
  return %r#0 : tensor<1x2x8x16xf32>
}

// -----

// A paged cache: K and V are gathered through the page table (entries
// clamped into the pool) into contiguous caches of max_pages * page_size
// keys, which the op then reads as usual.

// CHECK-LABEL: func.func @paged
//  CHECK-SAME:   (%[[Q:[^:]+]]: tensor<2x4x1x32xf32>, %[[KC:[^:]+]]: tensor<9x8x2x32xf32>, %{{[^:]+}}: tensor<9x8x2x32xf32>, %[[T:[^:]+]]: tensor<2x3xi32>
//       CHECK:   %[[KG:.+]] = linalg.generic {{.*}} outs(%{{.+}} : tensor<2x2x?x32xf32>)
//       CHECK:     %[[E:.+]] = tensor.extract %[[T]][%{{.+}}, %{{.+}}] : tensor<2x3xi32>
//       CHECK:     %[[P:.+]] = arith.index_cast %[[E]] : i32 to index
//       CHECK:     %[[LO:.+]] = arith.maxsi %[[P]], %{{.+}} : index
//       CHECK:     %[[PG:.+]] = arith.minsi %[[LO]], %{{.+}} : index
//       CHECK:     tensor.extract %[[KC]][%[[PG]], %{{.+}}, %{{.+}}, %{{.+}}] : tensor<9x8x2x32xf32>
//   CHECK-NOT:   attn.attention
func.func @paged(%q: tensor<2x4x1x32xf32>, %kc: tensor<9x8x2x32xf32>, %vc: tensor<9x8x2x32xf32>, %t: tensor<2x3xi32>, %n: tensor<2xi32>) -> tensor<2x4x1x32xf32> {
  %r = attn.attention ins(%q, %kc, %vc : tensor<2x4x1x32xf32>, tensor<9x8x2x32xf32>, tensor<9x8x2x32xf32>)
      page_table(%t : tensor<2x3xi32>) kv_len(%n : tensor<2xi32>)
      outs(%q : tensor<2x4x1x32xf32>) {mask = #attn.causal, paged = #attn.paged<page_size = 8>}
      -> tensor<2x4x1x32xf32>
  return %r : tensor<2x4x1x32xf32>
}

// -----

// attn.attention_grad with operand gradients: the sink's by two reductions
// before the loop; each (b, kv head) item adds dS' * ds'/dx of every read
// of the captured table into its own [4, 9] accumulator (row b * Hkv + kvh
// of a [B * Hkv, 4, 9] shared output), summed over the items in order
// after the loop.

// CHECK-LABEL: func.func @grad_wrt_sink_table
//       CHECK:   %[[DSINK:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "reduction"]
//       CHECK:   %[[ITEMS:.+]]:4 = scf.forall ({{.*}}) in (1, 4) shared_outs({{.*}}, %[[PER:.+]] = %{{.+}}) -> ({{.*}}, tensor<?x4x9xf32>)
//       CHECK:     tensor.insert %{{.+}} into %{{.+}} : tensor<4x9xf32>
//       CHECK:     scf.forall.in_parallel
//       CHECK:       tensor.parallel_insert_slice %{{.+}} into %[[PER]][%{{.+}}, 0, 0] [1, 4, 9] [1, 1, 1] : tensor<4x9xf32> into tensor<?x4x9xf32>
//       CHECK:   %[[DT:.+]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[ITEMS]]#3 : tensor<?x4x9xf32>)
//       CHECK:   return %[[DSINK]], %[[DT]]
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

// attn.mask_blocks: one parallel item per (batch, head, query block); per
// kv block a scan of the rows that stops once the block is partial, and
// the class (0 none, 1 some, 2 all) stored in the table.
// CHECK-LABEL: func.func @mask_blocks
//       CHECK:   %[[T:.+]] = bufferization.to_buffer %{{.+}} : tensor<?x?x?x?xi8> to memref<?x?x?x?xi8>
//       CHECK:   scf.parallel
//       CHECK:     scf.for %[[C:.+]] =
//       CHECK:       %[[SCAN:.+]]:3 = scf.while
//       CHECK:         arith.cmpi slt
//       CHECK:         scf.condition
//       CHECK:       } do {
//       CHECK:         scf.for {{.+}} iter_args
//       CHECK:           arith.cmpi sle
//       CHECK:           arith.ori
//       CHECK:           arith.andi
//       CHECK:       %[[C2:.+]] = arith.constant 2 : i8
//       CHECK:       %[[C1:.+]] = arith.constant 1 : i8
//       CHECK:       %[[W:.+]] = arith.select %[[SCAN]]#2, %[[C2]], %[[C1]] : i8
//       CHECK:       %[[C0:.+]] = arith.constant 0 : i8
//       CHECK:       %[[E:.+]] = arith.select %[[SCAN]]#1, %[[W]], %[[C0]] : i8
//       CHECK:       memref.store %[[E]], %[[T]][{{.+}}, {{.+}}, {{.+}}, %[[C]]]
//       CHECK:   bufferization.to_tensor %[[T]] restrict writable
func.func @mask_blocks(%q: tensor<?x?x?x1xf32>, %t0: tensor<?x?x?x?xi8>) -> tensor<?x?x?x?xi8> {
  %t = attn.mask_blocks ins(%q, %q, %q : tensor<?x?x?x1xf32>, tensor<?x?x?x1xf32>, tensor<?x?x?x1xf32>)
      outs(%t0 : tensor<?x?x?x?xi8>) {mask = #attn.causal, block_q = 32 : i64, block_kv = 16 : i64}
      -> tensor<?x?x?x?xi8>
  return %t : tensor<?x?x?x?xi8>
}
