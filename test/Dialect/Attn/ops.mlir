// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s

// Every op, operand group and attribute of the attn dialect, printed and
// parsed back, in the custom and in the generic form.

// CHECK-LABEL: func.func @static_f32
//  CHECK-SAME:   (%[[Q:.+]]: tensor<2x8x16x64xf32>, %[[K:.+]]: tensor<2x2x32x64xf32>, %[[V:.+]]: tensor<2x2x32x48xf32>, %[[O:.+]]: tensor<2x8x16x48xf32>)
//       CHECK:   %[[R:.+]] = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x48xf32>)
//  CHECK-SAME:     outs(%[[O]] : tensor<2x8x16x48xf32>) -> tensor<2x8x16x48xf32>
//       CHECK:   return %[[R]]
func.func @static_f32(%q: tensor<2x8x16x64xf32>, %k: tensor<2x2x32x64xf32>,
                      %v: tensor<2x2x32x48xf32>, %o: tensor<2x8x16x48xf32>)
    -> tensor<2x8x16x48xf32> {
  %r = attn.attention ins(%q, %k, %v : tensor<2x8x16x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x48xf32>)
         outs(%o : tensor<2x8x16x48xf32>) -> tensor<2x8x16x48xf32>
  return %r : tensor<2x8x16x48xf32>
}

// CHECK-LABEL: func.func @dynamic_with_lse
//  CHECK-SAME:   (%[[Q:.+]]: tensor<?x?x?x64xf32>, %[[K:.+]]: tensor<?x?x?x64xf32>, %[[V:.+]]: tensor<?x?x?x?xf32>, %[[O:.+]]: tensor<?x?x?x?xf32>, %[[L:.+]]: tensor<?x?x?xf32>)
//       CHECK:   %[[R:.+]]:2 = attn.attention ins(%[[Q]], %[[K]], %[[V]] : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x?xf32>)
//  CHECK-SAME:     outs(%[[O]], %[[L]] : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>)
//  CHECK-SAME:     {mask = #attn.causal} -> tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
//       CHECK:   return %[[R]]#0, %[[R]]#1
func.func @dynamic_with_lse(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>,
                            %v: tensor<?x?x?x?xf32>, %o: tensor<?x?x?x?xf32>,
                            %l: tensor<?x?x?xf32>)
    -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x?xf32>)
           outs(%o, %l : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>)
           {mask = #attn.causal} -> tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
}

// CHECK-LABEL: func.func @f16
//       CHECK:   attn.attention ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<1x4x8x32xf16>, tensor<1x4x8x32xf16>, tensor<1x4x8x32xf16>)
//  CHECK-SAME:     outs(%{{.+}}, %{{.+}} : tensor<1x4x8x32xf16>, tensor<1x4x8xf32>)
func.func @f16(%q: tensor<1x4x8x32xf16>, %o: tensor<1x4x8x32xf16>, %l: tensor<1x4x8xf32>)
    -> (tensor<1x4x8x32xf16>, tensor<1x4x8xf32>) {
  %r:2 = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf16>, tensor<1x4x8x32xf16>, tensor<1x4x8x32xf16>)
           outs(%o, %l : tensor<1x4x8x32xf16>, tensor<1x4x8xf32>) -> tensor<1x4x8x32xf16>, tensor<1x4x8xf32>
  return %r#0, %r#1 : tensor<1x4x8x32xf16>, tensor<1x4x8xf32>
}

// CHECK-LABEL: func.func @bf16_bshd
//       CHECK:   attn.attention ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<1x8x4x32xbf16>, tensor<1x16x1x32xbf16>, tensor<1x16x1x32xbf16>)
//  CHECK-SAME:     outs(%{{.+}} : tensor<1x8x4x32xbf16>)
//  CHECK-SAME:     {layout = #attn.layout<bshd>} -> tensor<1x8x4x32xbf16>
func.func @bf16_bshd(%q: tensor<1x8x4x32xbf16>, %k: tensor<1x16x1x32xbf16>, %o: tensor<1x8x4x32xbf16>)
    -> tensor<1x8x4x32xbf16> {
  %r = attn.attention ins(%q, %k, %k : tensor<1x8x4x32xbf16>, tensor<1x16x1x32xbf16>, tensor<1x16x1x32xbf16>)
         outs(%o : tensor<1x8x4x32xbf16>) {layout = #attn.layout<bshd>} -> tensor<1x8x4x32xbf16>
  return %r : tensor<1x8x4x32xbf16>
}

// The defaults, spelled out, survive a round trip (canonicalisation drops
// them, printing does not).
// CHECK-LABEL: func.func @explicit_defaults
//       CHECK:   attn.attention
//  CHECK-SAME:     config = #attn.config,
//  CHECK-SAME:     layout = #attn.layout<bhsd>,
//  CHECK-SAME:     mask = #attn.full,
//  CHECK-SAME:     normalizer = #attn.softmax,
//  CHECK-SAME:     score_mods = []
func.func @explicit_defaults(%q: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x32xf32>) -> tensor<1x4x8x32xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
         outs(%o : tensor<1x4x8x32xf32>)
         {config = #attn.config, layout = #attn.layout<bhsd>, mask = #attn.full,
          normalizer = #attn.softmax, score_mods = []} -> tensor<1x4x8x32xf32>
  return %r : tensor<1x4x8x32xf32>
}

// CHECK-LABEL: func.func @scale_offset_config
//       CHECK:   attn.attention
//  CHECK-SAME:     config = #attn.config<block_q = 64, block_kv = 128, vector_width = 16, unroll = 2, warps = 4, stages = 3, kv_splits = 8, dot = "fma", mma = "sync">
//  CHECK-SAME:     q_offset = 3 : i64
//  CHECK-SAME:     scale = 1.250000e-01 : f64
func.func @scale_offset_config(%q: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x32xf32>) -> tensor<1x4x8x32xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
         outs(%o : tensor<1x4x8x32xf32>)
         {scale = 0.125, q_offset = 3,
          config = #attn.config<block_q = 64, block_kv = 128, vector_width = 16,
                                unroll = 2, warps = 4, stages = 3, kv_splits = 8,
                                dot = "fma", mma = "sync">}
         -> tensor<1x4x8x32xf32>
  return %r : tensor<1x4x8x32xf32>
}

// CHECK-LABEL: func.func @config_partial
//       CHECK:   config = #attn.config<block_kv = 32>
func.func @config_partial(%q: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x32xf32>) -> tensor<1x4x8x32xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
         outs(%o : tensor<1x4x8x32xf32>) {config = #attn.config<block_kv = 32>} -> tensor<1x4x8x32xf32>
  return %r : tensor<1x4x8x32xf32>
}

// CHECK-LABEL: func.func @config_amx
//       CHECK:   config = #attn.config<block_q = 32, block_kv = 64, dot = "amx">
func.func @config_amx(%q: tensor<1x4x8x32xbf16>, %o: tensor<1x4x8x32xbf16>) -> tensor<1x4x8x32xbf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xbf16>, tensor<1x4x8x32xbf16>, tensor<1x4x8x32xbf16>)
         outs(%o : tensor<1x4x8x32xbf16>) {config = #attn.config<block_q = 32, block_kv = 64, dot = "amx">} -> tensor<1x4x8x32xbf16>
  return %r : tensor<1x4x8x32xbf16>
}

//===----------------------------------------------------------------------===//
// Normalizers
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @sink_softmax
//  CHECK-SAME:   %[[S:[^:]+]]: tensor<4xf32>
//       CHECK:   attn.attention
//  CHECK-SAME:     sink(%[[S]] : tensor<4xf32>)
//  CHECK-SAME:     {normalizer = #attn.sink_softmax}
func.func @sink_softmax(%q: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x32xf32>, %l: tensor<1x4x8xf32>, %sink: tensor<4xf32>)
    -> (tensor<1x4x8x32xf32>, tensor<1x4x8xf32>) {
  %r:2 = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
           sink(%sink : tensor<4xf32>) outs(%o, %l : tensor<1x4x8x32xf32>, tensor<1x4x8xf32>)
           {normalizer = #attn.sink_softmax} -> tensor<1x4x8x32xf32>, tensor<1x4x8xf32>
  return %r#0, %r#1 : tensor<1x4x8x32xf32>, tensor<1x4x8xf32>
}

// CHECK-LABEL: func.func @sigmoid
//       CHECK:   {normalizer = #attn.sigmoid}
//       CHECK:   {normalizer = #attn.sigmoid<beta = -4.000000e+00>}
func.func @sigmoid(%q: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x32xf32>) -> (tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>) {
  %r0 = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
          outs(%o : tensor<1x4x8x32xf32>) {normalizer = #attn.sigmoid} -> tensor<1x4x8x32xf32>
  %r1 = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
          outs(%o : tensor<1x4x8x32xf32>) {normalizer = #attn.sigmoid<beta = -4.0>} -> tensor<1x4x8x32xf32>
  return %r0, %r1 : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>
}

// CHECK-LABEL: func.func @softplus
//       CHECK:   {normalizer = #attn.softplus}
func.func @softplus(%q: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x32xf32>, %l: tensor<1x4x8xf32>)
    -> (tensor<1x4x8x32xf32>, tensor<1x4x8xf32>) {
  %r:2 = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
           outs(%o, %l : tensor<1x4x8x32xf32>, tensor<1x4x8xf32>)
           {normalizer = #attn.softplus} -> tensor<1x4x8x32xf32>, tensor<1x4x8xf32>
  return %r#0, %r#1 : tensor<1x4x8x32xf32>, tensor<1x4x8xf32>
}

// CHECK-LABEL: func.func @relu
//       CHECK:   {normalizer = #attn.relu}
//       CHECK:   {normalizer = #attn.relu<norm = none>}
//       CHECK:   {normalizer = #attn.relu<power = 2>}
//       CHECK:   {normalizer = #attn.relu<power = 2, norm = row_sum>}
func.func @relu(%q: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x32xf32>, %l: tensor<1x4x8xf32>)
    -> (tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8xf32>) {
  %r0 = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
          outs(%o : tensor<1x4x8x32xf32>) {normalizer = #attn.relu} -> tensor<1x4x8x32xf32>
  %r1 = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
          outs(%o : tensor<1x4x8x32xf32>) {normalizer = #attn.relu<norm = none>} -> tensor<1x4x8x32xf32>
  %r2 = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
          outs(%o : tensor<1x4x8x32xf32>) {normalizer = #attn.relu<power = 2, norm = seq_len>} -> tensor<1x4x8x32xf32>
  %r3:2 = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
            outs(%o, %l : tensor<1x4x8x32xf32>, tensor<1x4x8xf32>)
            {normalizer = #attn.relu<power = 2, norm = row_sum>} -> tensor<1x4x8x32xf32>, tensor<1x4x8xf32>
  return %r0, %r1, %r2, %r3#1 : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8xf32>
}

//===----------------------------------------------------------------------===//
// Declarative masks
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @declarative_masks
//  CHECK-SAME:   #attn.full
//  CHECK-SAME:   #attn.causal
//  CHECK-SAME:   #attn.sliding_window<left = 256>
//  CHECK-SAME:   #attn.sliding_window<left = 16, right = 2>
//  CHECK-SAME:   #attn.chunked<size = 128>
//  CHECK-SAME:   #attn.halo<block = 64, halo = 16>
//  CHECK-SAME:   #attn.dilated<segment = 256, rate = 4>
//  CHECK-SAME:   #attn.global<first = 2>
//  CHECK-SAME:   #attn.global<positions = [0, 17]>
//  CHECK-SAME:   #attn.global<first = 1, positions = [9]>
//  CHECK-SAME:   #attn.sinks<count = 4>
//  CHECK-SAME:   #attn.prefix_lm<prefix = 64>
//  CHECK-SAME:   #attn.a_shape<sinks = 4, window = 1024>
//  CHECK-SAME:   #attn.a_shape<sinks = 0, window = 0>
//  CHECK-SAME:   #attn.dilated_window<window = 256, dilation = 4>
//  CHECK-SAME:   #attn.neighborhood_2d<rows = 16, cols = 16, kernel_rows = 5, kernel_cols = 3>
//  CHECK-SAME:   #attn.window_2d<rows = 8, cols = 8, window_rows = 4, window_cols = 2>
//  CHECK-SAME:   #attn.directional_2d<rows = 8, cols = 8, directions = [-1, 0, 0, 1]>
//  CHECK-SAME:   #attn.directional_2d<rows = 4, cols = 2, directions = [1, 1], half_plane = true>
//  CHECK-SAME:   #attn.document
//  CHECK-SAME:   #attn.tree
//  CHECK-SAME:   #attn.dense
//  CHECK-SAME:   #attn.mask_mod
func.func @declarative_masks() attributes {masks = [
    #attn.full, #attn.causal,
    #attn.sliding_window<left = 256>, #attn.sliding_window<left = 16, right = 2>,
    #attn.chunked<size = 128>, #attn.halo<block = 64, halo = 16>,
    #attn.dilated<segment = 256, rate = 4>,
    #attn.global<first = 2>, #attn.global<positions = [0, 17]>,
    #attn.global<first = 1, positions = [9]>,
    #attn.sinks<count = 4>, #attn.prefix_lm<prefix = 64>,
    #attn.a_shape<sinks = 4, window = 1024>, #attn.a_shape<sinks = 0, window = 0>,
    #attn.dilated_window<window = 256, dilation = 4>,
    #attn.neighborhood_2d<rows = 16, cols = 16, kernel_rows = 5, kernel_cols = 3>,
    #attn.window_2d<rows = 8, cols = 8, window_rows = 4, window_cols = 2>,
    #attn.directional_2d<rows = 8, cols = 8, directions = [-1, 0, 0, 1]>,
    #attn.directional_2d<rows = 4, cols = 2, directions = [1, 1], half_plane = true>,
    #attn.document, #attn.tree, #attn.dense, #attn.mask_mod]} {
  return
}

// A `false` flag at its default is not printed.
// CHECK-LABEL: func.func @default_flags
//  CHECK-SAME:   #attn.directional_2d<rows = 2, cols = 2, directions = [0, 1]>
//  CHECK-SAME:   #attn.rel_bias<num_buckets = 8, max_distance = 16>
//  CHECK-SAME:   #attn.alibi
func.func @default_flags() attributes {x = [
    #attn.directional_2d<rows = 2, cols = 2, directions = [0, 1], half_plane = false>,
    #attn.rel_bias<num_buckets = 8, max_distance = 16, bidirectional = true>,
    #attn.alibi<symmetric = false>]} {
  return
}

// CHECK-LABEL: func.func @mask_algebra
//       CHECK:   mask = #attn.and<[#attn.or<[#attn.sinks<count = 4>, #attn.sliding_window<left = 16>]>, #attn.not<#attn.chunked<size = 8>>, #attn.or<[#attn.not<#attn.and<[#attn.causal, #attn.full]>>, #attn.prefix_lm<prefix = 3>]>, #attn.causal]>
func.func @mask_algebra(%q: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x32xf32>) -> tensor<1x4x8x32xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
         outs(%o : tensor<1x4x8x32xf32>)
         {mask = #attn.and<[#attn.or<[#attn.sinks<count = 4>, #attn.sliding_window<left = 16>]>,
                            #attn.not<#attn.chunked<size = 8>>,
                            #attn.or<[#attn.not<#attn.and<[#attn.causal, #attn.full]>>,
                                      #attn.prefix_lm<prefix = 3>]>,
                            #attn.causal]>} -> tensor<1x4x8x32xf32>
  return %r : tensor<1x4x8x32xf32>
}

// CHECK-LABEL: func.func @document_kv_len
//  CHECK-SAME:   %[[SQ:[^:]+]]: tensor<2x8xi32>, %[[SKV:[^:]+]]: tensor<2x16xi64>, %[[LEN:[^:]+]]: tensor<2xi32>
//       CHECK:   attn.attention
//  CHECK-SAME:     kv_len(%[[LEN]] : tensor<2xi32>)
//  CHECK-SAME:     segments(%[[SQ]], %[[SKV]] : tensor<2x8xi32>, tensor<2x16xi64>)
//  CHECK-SAME:     {mask = #attn.and<[#attn.document, #attn.causal]>}
func.func @document_kv_len(%q: tensor<2x4x8x32xf32>, %k: tensor<2x4x16x32xf32>, %o: tensor<2x4x8x32xf32>,
                           %sq: tensor<2x8xi32>, %skv: tensor<2x16xi64>, %len: tensor<2xi32>) -> tensor<2x4x8x32xf32> {
  %r = attn.attention ins(%q, %k, %k : tensor<2x4x8x32xf32>, tensor<2x4x16x32xf32>, tensor<2x4x16x32xf32>)
         kv_len(%len : tensor<2xi32>) segments(%sq, %skv : tensor<2x8xi32>, tensor<2x16xi64>)
         outs(%o : tensor<2x4x8x32xf32>)
         {mask = #attn.and<[#attn.document, #attn.causal]>} -> tensor<2x4x8x32xf32>
  return %r : tensor<2x4x8x32xf32>
}

// CHECK-LABEL: func.func @tree
//  CHECK-SAME:   %[[P1:[^:]+]]: tensor<5xi32>, %[[P2:[^:]+]]: tensor<2x?xi64>
//       CHECK:   attn.attention
//  CHECK-SAME:     tree(%[[P1]] : tensor<5xi32>)
//  CHECK-SAME:     {mask = #attn.tree}
//       CHECK:   attn.attention
//  CHECK-SAME:     tree(%[[P2]] : tensor<2x?xi64>)
//  CHECK-SAME:     {mask = #attn.tree}
func.func @tree(%q: tensor<2x4x8x32xf32>, %o: tensor<2x4x8x32xf32>, %p1: tensor<5xi32>, %p2: tensor<2x?xi64>)
    -> (tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>) {
  %r0 = attn.attention ins(%q, %q, %q : tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>)
          tree(%p1 : tensor<5xi32>) outs(%o : tensor<2x4x8x32xf32>) {mask = #attn.tree} -> tensor<2x4x8x32xf32>
  %r1 = attn.attention ins(%q, %q, %q : tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>)
          tree(%p2 : tensor<2x?xi64>) outs(%o : tensor<2x4x8x32xf32>) {mask = #attn.tree} -> tensor<2x4x8x32xf32>
  return %r0, %r1 : tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>
}

// CHECK-LABEL: func.func @dense
//  CHECK-SAME:   %[[M4:[^:]+]]: tensor<2x1x8x8xi1>, %[[M3:[^:]+]]: tensor<4x8x8xi8>, %[[M2:[^:]+]]: tensor<8x8xi1>
//       CHECK:   dense_mask(%[[M4]] : tensor<2x1x8x8xi1>)
//       CHECK:   dense_mask(%[[M3]] : tensor<4x8x8xi8>)
//       CHECK:   dense_mask(%[[M2]] : tensor<8x8xi1>)
//  CHECK-SAME:     {mask = #attn.or<[#attn.dense, #attn.causal]>}
func.func @dense(%q: tensor<2x4x8x32xf32>, %o: tensor<2x4x8x32xf32>,
                 %m4: tensor<2x1x8x8xi1>, %m3: tensor<4x8x8xi8>, %m2: tensor<8x8xi1>)
    -> (tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>) {
  %r0 = attn.attention ins(%q, %q, %q : tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>)
          dense_mask(%m4 : tensor<2x1x8x8xi1>) outs(%o : tensor<2x4x8x32xf32>) {mask = #attn.dense} -> tensor<2x4x8x32xf32>
  %r1 = attn.attention ins(%q, %q, %q : tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>)
          dense_mask(%m3 : tensor<4x8x8xi8>) outs(%o : tensor<2x4x8x32xf32>) {mask = #attn.dense} -> tensor<2x4x8x32xf32>
  %r2 = attn.attention ins(%q, %q, %q : tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>)
          dense_mask(%m2 : tensor<8x8xi1>) outs(%o : tensor<2x4x8x32xf32>)
          {mask = #attn.or<[#attn.dense, #attn.causal]>} -> tensor<2x4x8x32xf32>
  return %r0, %r1, %r2 : tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>
}

//===----------------------------------------------------------------------===//
// Score modifiers
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @attribute_score_mods
//       CHECK:   score_mods = [#attn.alibi, #attn.alibi<symmetric = true>,
//  CHECK-SAME:     #attn.alibi<slopes = [5.000000e-01, 2.500000e-01, 1.250000e-01, 6.250000e-02]>,
//  CHECK-SAME:     #attn.alibi<slopes = [1.000000e+00, 1.000000e+00, 1.000000e+00, 1.000000e+00], symmetric = true>,
//  CHECK-SAME:     #attn.softcap<cap = 3.000000e+01>,
//  CHECK-SAME:     #attn.gaussian<mu = [0.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00], sigma = [4.000000e+00, 8.000000e+00, 4.000000e+00, 8.000000e+00]>]
func.func @attribute_score_mods(%q: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x32xf32>) -> tensor<1x4x8x32xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
         outs(%o : tensor<1x4x8x32xf32>)
         {score_mods = [#attn.alibi, #attn.alibi<symmetric = true>,
                        #attn.alibi<slopes = [0.5, 0.25, 0.125, 0.0625]>,
                        #attn.alibi<slopes = [1.0, 1.0, 1.0, 1.0], symmetric = true>,
                        #attn.softcap<cap = 30.0>,
                        #attn.gaussian<mu = [0.0, 1.0, 2.0, 3.0], sigma = [4.0, 8.0, 4.0, 8.0]>]}
         -> tensor<1x4x8x32xf32>
  return %r : tensor<1x4x8x32xf32>
}

// CHECK-LABEL: func.func @operand_score_mods
//  CHECK-SAME:   %[[B:[^:]+]]: tensor<1x4x8x8xf16>, %[[T:[^:]+]]: tensor<4x32xf32>, %[[TAU:[^:]+]]: tensor<1x4x8xf32>
//       CHECK:   attn.attention
//  CHECK-SAME:     bias(%[[B]] : tensor<1x4x8x8xf16>)
//  CHECK-SAME:     rel_bias_table(%[[T]] : tensor<4x32xf32>)
//  CHECK-SAME:     temperature(%[[TAU]] : tensor<1x4x8xf32>)
//  CHECK-SAME:     {score_mods = [#attn.temperature, #attn.bias, #attn.rel_bias<num_buckets = 32, max_distance = 128>]}
func.func @operand_score_mods(%q: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x32xf32>, %b: tensor<1x4x8x8xf16>,
                              %t: tensor<4x32xf32>, %tau: tensor<1x4x8xf32>) -> tensor<1x4x8x32xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
         bias(%b : tensor<1x4x8x8xf16>) rel_bias_table(%t : tensor<4x32xf32>)
         temperature(%tau : tensor<1x4x8xf32>) outs(%o : tensor<1x4x8x32xf32>)
         {score_mods = [#attn.temperature, #attn.bias,
                        #attn.rel_bias<num_buckets = 32, max_distance = 128>]} -> tensor<1x4x8x32xf32>
  return %r : tensor<1x4x8x32xf32>
}

// CHECK-LABEL: func.func @bias_broadcast
//       CHECK:   bias(%{{.+}} : tensor<8x8xf32>)
//  CHECK-SAME:     {score_mods = [#attn.rel_bias<num_buckets = 8, max_distance = 16, bidirectional = false>, #attn.bias]}
//       CHECK:   bias(%{{.+}} : tensor<1x8x?xbf16>)
func.func @bias_broadcast(%q: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x32xf32>, %b2: tensor<8x8xf32>,
                          %b3: tensor<1x8x?xbf16>, %t: tensor<4x8xf32>) -> (tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>) {
  %r0 = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
          bias(%b2 : tensor<8x8xf32>) rel_bias_table(%t : tensor<4x8xf32>) outs(%o : tensor<1x4x8x32xf32>)
          {score_mods = [#attn.rel_bias<num_buckets = 8, max_distance = 16, bidirectional = false>, #attn.bias]}
          -> tensor<1x4x8x32xf32>
  %r1 = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
          bias(%b3 : tensor<1x8x?xbf16>) outs(%o : tensor<1x4x8x32xf32>)
          {score_mods = [#attn.bias]} -> tensor<1x4x8x32xf32>
  return %r0, %r1 : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>
}

//===----------------------------------------------------------------------===//
// Regions
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @regions
//  CHECK-SAME:   %[[C0:[^:]+]]: tensor<4xf32>, %[[C1:[^:]+]]: tensor<8x8xi1>
//       CHECK:   attn.attention
//  CHECK-SAME:     captures(%[[C0]], %[[C1]] : tensor<4xf32>, tensor<8x8xi1>)
//  CHECK-SAME:     score_mod {
//  CHECK-NEXT:   ^bb0(%[[S:.+]]: f32, %{{.+}}: index, %[[H:.+]]: index, %{{.+}}: index, %{{.+}}: index, %[[T:.+]]: tensor<4xf32>, %{{.+}}: tensor<8x8xi1>):
//  CHECK-NEXT:     %[[X:.+]] = tensor.extract %[[T]][%[[H]]] : tensor<4xf32>
//  CHECK-NEXT:     %[[Y:.+]] = arith.addf %[[S]], %[[X]] : f32
//  CHECK-NEXT:     attn.yield %[[Y]] : f32
//  CHECK-NEXT:   } mask_mod {
//  CHECK-NEXT:   ^bb0(%[[B:.+]]: index, %{{.+}}: index, %[[I:.+]]: index, %[[J:.+]]: index, %{{.+}}: tensor<4xf32>, %[[M:.+]]: tensor<8x8xi1>):
//  CHECK-NEXT:     %[[P:.+]] = attn.position %[[B]], %[[I]] : index
//  CHECK-NEXT:     %[[LE:.+]] = arith.cmpi ule, %[[J]], %[[P]] : index
//  CHECK-NEXT:     %[[D:.+]] = tensor.extract %[[M]][%[[I]], %[[J]]] : tensor<8x8xi1>
//  CHECK-NEXT:     %[[OK:.+]] = arith.andi %[[LE]], %[[D]] : i1
//  CHECK-NEXT:     attn.yield %[[OK]] : i1
//  CHECK-NEXT:   } {mask = #attn.and<[#attn.mask_mod, #attn.sinks<count = 2>]>, score_mods = [#attn.softcap<cap = 5.000000e+01>, #attn.score_mod]}
func.func @regions(%q: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x32xf32>, %c0: tensor<4xf32>, %c1: tensor<8x8xi1>)
    -> tensor<1x4x8x32xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
         captures(%c0, %c1 : tensor<4xf32>, tensor<8x8xi1>) outs(%o : tensor<1x4x8x32xf32>)
         score_mod {
         ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %t: tensor<4xf32>, %m: tensor<8x8xi1>):
           %x = tensor.extract %t[%h] : tensor<4xf32>
           %y = arith.addf %s, %x : f32
           attn.yield %y : f32
         } mask_mod {
         ^bb0(%b: index, %h: index, %i: index, %j: index, %t: tensor<4xf32>, %m: tensor<8x8xi1>):
           %p = attn.position %b, %i : index
           %le = arith.cmpi ule, %j, %p : index
           %d = tensor.extract %m[%i, %j] : tensor<8x8xi1>
           %ok = arith.andi %le, %d : i1
           attn.yield %ok : i1
         } {mask = #attn.and<[#attn.mask_mod, #attn.sinks<count = 2>]>,
            score_mods = [#attn.softcap<cap = 50.0>, #attn.score_mod]} -> tensor<1x4x8x32xf32>
  return %r : tensor<1x4x8x32xf32>
}

// CHECK-LABEL: func.func @score_mod_only
//       CHECK:   attn.attention
//   CHECK-NOT:     captures
//  CHECK-SAME:     score_mod {
//       CHECK:     attn.yield %{{.+}} : f32
//  CHECK-NEXT:   } {score_mods = [#attn.score_mod]}
func.func @score_mod_only(%q: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> tensor<?x?x?x32xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
         outs(%o : tensor<?x?x?x32xf32>) score_mod {
         ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
           %two = arith.constant 2.0 : f32
           %y = arith.mulf %s, %two : f32
           attn.yield %y : f32
         } {score_mods = [#attn.score_mod]} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

// Constants may be defined outside a region (canonicalization hoists them).
// CHECK-LABEL: func.func @region_outer_constant
//       CHECK:   %[[TWO:.+]] = arith.constant 2.000000e+00 : f32
//       CHECK:   attn.attention
//       CHECK:     arith.mulf %{{.+}}, %[[TWO]] : f32
func.func @region_outer_constant(%q: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x32xf32>) -> tensor<1x4x8x32xf32> {
  %two = arith.constant 2.0 : f32
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>)
         outs(%o : tensor<1x4x8x32xf32>) score_mod {
         ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
           %y = arith.mulf %s, %two : f32
           attn.yield %y : f32
         } {score_mods = [#attn.score_mod]} -> tensor<1x4x8x32xf32>
  return %r : tensor<1x4x8x32xf32>
}

//===----------------------------------------------------------------------===//
// attn.attention_grad
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @grad_softmax_gqa
//  CHECK-SAME:   (%[[Q:[^:]+]]: tensor<2x8x16x64xf16>, %[[K:[^:]+]]: tensor<2x2x32x64xf16>, %[[V:[^:]+]]: tensor<2x2x32x48xf16>, %[[O:[^:]+]]: tensor<2x8x16x48xf16>, %[[DO:[^:]+]]: tensor<2x8x16x48xf16>, %[[L:[^:]+]]: tensor<2x8x16xf32>, %[[DQ:[^:]+]]: tensor<2x8x16x64xf16>, %[[DK:[^:]+]]: tensor<2x2x32x64xf16>, %[[DV:[^:]+]]: tensor<2x2x32x48xf16>)
//       CHECK:   %[[DQR:[^,]+]], %[[DKR:[^,]+]], %[[DVR:[^ ]+]] = attn.attention_grad ins(%[[Q]], %[[K]], %[[V]] : tensor<2x8x16x64xf16>, tensor<2x2x32x64xf16>, tensor<2x2x32x48xf16>)
//  CHECK-SAME:     out(%[[O]] : tensor<2x8x16x48xf16>) grad_out(%[[DO]] : tensor<2x8x16x48xf16>) lse(%[[L]] : tensor<2x8x16xf32>)
//  CHECK-SAME:     outs(%[[DQ]], %[[DK]], %[[DV]] : tensor<2x8x16x64xf16>, tensor<2x2x32x64xf16>, tensor<2x2x32x48xf16>)
//  CHECK-SAME:     {mask = #attn.causal, scale = 1.250000e-01 : f64, score_mods = [#attn.softcap<cap = 3.000000e+01>, #attn.alibi]}
//  CHECK-SAME:     -> tensor<2x8x16x64xf16>, tensor<2x2x32x64xf16>, tensor<2x2x32x48xf16>
//       CHECK:   return %[[DQR]], %[[DKR]], %[[DVR]]
func.func @grad_softmax_gqa(%q: tensor<2x8x16x64xf16>, %k: tensor<2x2x32x64xf16>,
                            %v: tensor<2x2x32x48xf16>, %o: tensor<2x8x16x48xf16>,
                            %do: tensor<2x8x16x48xf16>, %l: tensor<2x8x16xf32>,
                            %dq: tensor<2x8x16x64xf16>, %dk: tensor<2x2x32x64xf16>,
                            %dv: tensor<2x2x32x48xf16>)
    -> (tensor<2x8x16x64xf16>, tensor<2x2x32x64xf16>, tensor<2x2x32x48xf16>) {
  %r:3 = attn.attention_grad ins(%q, %k, %v : tensor<2x8x16x64xf16>, tensor<2x2x32x64xf16>, tensor<2x2x32x48xf16>)
           out(%o : tensor<2x8x16x48xf16>) grad_out(%do : tensor<2x8x16x48xf16>)
           lse(%l : tensor<2x8x16xf32>)
           outs(%dq, %dk, %dv : tensor<2x8x16x64xf16>, tensor<2x2x32x64xf16>, tensor<2x2x32x48xf16>)
           {mask = #attn.causal, scale = 0.125 : f64,
            score_mods = [#attn.softcap<cap = 30.0>, #attn.alibi]}
           -> tensor<2x8x16x64xf16>, tensor<2x2x32x64xf16>, tensor<2x2x32x48xf16>
  return %r#0, %r#1, %r#2 : tensor<2x8x16x64xf16>, tensor<2x2x32x64xf16>, tensor<2x2x32x48xf16>
}

// Gradients of the sink logits and of a captured table, after dQ, dK, dV.
// CHECK-LABEL: func.func @grad_wrt_sink_and_capture
//       CHECK:   %{{.+}}, %{{.+}}, %{{.+}}, %[[PG:.+]]:2 = attn.attention_grad
//  CHECK-SAME:     sink(%[[S:[^ ]+]] : tensor<4xf32>)
//  CHECK-SAME:     captures(%[[T:[^ ]+]] : tensor<4x9xf32>)
//  CHECK-SAME:     grads(%[[DS:[^,]+]], %[[DT:[^ ]+]] : tensor<4xf32>, tensor<4x9xf32>)
//  CHECK-SAME:     score_mod {
//       CHECK:     } {normalizer = #attn.sink_softmax, score_mods = [#attn.score_mod], wrt = ["sink", "capture0"]}
//  CHECK-SAME:     -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<4xf32>, tensor<4x9xf32>
//       CHECK:   return %[[PG]]#0, %[[PG]]#1
func.func @grad_wrt_sink_and_capture(
    %q: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>, %sink: tensor<4xf32>,
    %t: tensor<4x9xf32>, %ds: tensor<4xf32>, %dt: tensor<4x9xf32>)
    -> (tensor<4xf32>, tensor<4x9xf32>) {
  %r:5 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%q : tensor<1x4x8x16xf32>) grad_out(%q : tensor<1x4x8x16xf32>)
           lse(%l : tensor<1x4x8xf32>) sink(%sink : tensor<4xf32>)
           captures(%t : tensor<4x9xf32>)
           outs(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           grads(%ds, %dt : tensor<4xf32>, tensor<4x9xf32>)
           score_mod {
           ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %tab: tensor<4x9xf32>):
             %x = tensor.extract %tab[%h, %j] : tensor<4x9xf32>
             %y = arith.mulf %s, %x : f32
             attn.yield %y : f32
           }
           {normalizer = #attn.sink_softmax, score_mods = [#attn.score_mod],
            wrt = ["sink", "capture0"]}
           -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<4xf32>, tensor<4x9xf32>
  return %r#3, %r#4 : tensor<4xf32>, tensor<4x9xf32>
}

// Sigmoid has no LSE; every operand group, the regions and the captures
// are the forward's.
// CHECK-LABEL: func.func @grad_sigmoid_operands_regions
//       CHECK:   attn.attention_grad ins(%{{[^,]+}}, %{{[^,]+}}, %{{[^ ]+}} : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
//  CHECK-SAME:     out(%{{[^ ]+}} : tensor<?x?x?x32xf32>) grad_out(%{{[^ ]+}} : tensor<?x?x?x32xf32>) kv_len(%{{[^ ]+}} : tensor<?xi32>)
//  CHECK-SAME:     segments(%{{[^,]+}}, %{{[^ ]+}} : tensor<?x?xi32>, tensor<?x?xi32>)
//  CHECK-SAME:     dense_mask(%{{[^ ]+}} : tensor<?x?x?x?xi1>)
//  CHECK-SAME:     bias(%{{[^ ]+}} : tensor<?x?x?x?xf32>)
//  CHECK-SAME:     temperature(%{{[^ ]+}} : tensor<?x?x?xf32>)
//  CHECK-SAME:     captures(%{{[^ ]+}} : tensor<?xi32>)
//  CHECK-SAME:     outs(%{{[^,]+}}, %{{[^,]+}}, %{{[^ ]+}} : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
//  CHECK-SAME:     mask_mod {
//       CHECK:       attn.position
//       CHECK:       attn.yield %{{.+}} : i1
//       CHECK:     } {layout = #attn.layout<bshd>, mask = #attn.and<[#attn.document, #attn.dense, #attn.mask_mod]>, normalizer = #attn.sigmoid<beta = -2.000000e+00>, q_offset = 3 : i64, score_mods = [#attn.temperature, #attn.bias]}
func.func @grad_sigmoid_operands_regions(
    %q: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>, %len: tensor<?xi32>,
    %sq: tensor<?x?xi32>, %skv: tensor<?x?xi32>, %m: tensor<?x?x?x?xi1>,
    %bias: tensor<?x?x?x?xf32>, %tau: tensor<?x?x?xf32>, %pre: tensor<?xi32>)
    -> (tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>) {
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
           out(%o : tensor<?x?x?x32xf32>) grad_out(%o : tensor<?x?x?x32xf32>)
           kv_len(%len : tensor<?xi32>)
           segments(%sq, %skv : tensor<?x?xi32>, tensor<?x?xi32>)
           dense_mask(%m : tensor<?x?x?x?xi1>)
           bias(%bias : tensor<?x?x?x?xf32>)
           temperature(%tau : tensor<?x?x?xf32>)
           captures(%pre : tensor<?xi32>)
           outs(%q, %q, %q : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
           mask_mod {
           ^bb0(%b: index, %h: index, %i: index, %j: index, %p: tensor<?xi32>):
             %pos = attn.position %b, %i : index
             %ok = arith.cmpi sle, %j, %pos : index
             attn.yield %ok : i1
           } {layout = #attn.layout<bshd>,
              mask = #attn.and<[#attn.document, #attn.dense, #attn.mask_mod]>,
              normalizer = #attn.sigmoid<beta = -2.0>, q_offset = 3 : i64,
              score_mods = [#attn.temperature, #attn.bias]}
           -> tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>
  return %r#0, %r#1, %r#2 : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>
}

// CHECK-LABEL: func.func @grad_sink_softmax
//       CHECK:   attn.attention_grad
//  CHECK-SAME:     lse(%{{[^ ]+}} : tensor<1x4x8xf32>) sink(%{{[^ ]+}} : tensor<4xf32>)
//  CHECK-SAME:     normalizer = #attn.sink_softmax
func.func @grad_sink_softmax(%q: tensor<1x4x8x16xbf16>, %l: tensor<1x4x8xf32>,
                             %s: tensor<4xf32>) -> tensor<1x4x8x16xbf16> {
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xbf16>, tensor<1x4x8x16xbf16>, tensor<1x4x8x16xbf16>)
           out(%q : tensor<1x4x8x16xbf16>) grad_out(%q : tensor<1x4x8x16xbf16>)
           lse(%l : tensor<1x4x8xf32>) sink(%s : tensor<4xf32>)
           outs(%q, %q, %q : tensor<1x4x8x16xbf16>, tensor<1x4x8x16xbf16>, tensor<1x4x8x16xbf16>)
           {normalizer = #attn.sink_softmax}
           -> tensor<1x4x8x16xbf16>, tensor<1x4x8x16xbf16>, tensor<1x4x8x16xbf16>
  return %r#0 : tensor<1x4x8x16xbf16>
}

//===----------------------------------------------------------------------===//
// attn.merge
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @merge
//  CHECK-SAME:   (%[[O0:[^:]+]]: tensor<1x8x16x64xf32>, %[[O1:[^:]+]]: tensor<1x8x16x64xf32>, %[[L0:[^:]+]]: tensor<1x8x16xf32>, %[[L1:[^:]+]]: tensor<1x8x16xf32>, %[[OI:[^:]+]]: tensor<1x8x16x64xf32>, %[[LI:[^:]+]]: tensor<1x8x16xf32>)
//       CHECK:   %[[RO:[^,]+]], %[[RL:[^ ]+]] = attn.merge ins(%[[O0]], %[[O1]] : tensor<1x8x16x64xf32>, tensor<1x8x16x64xf32>)
//  CHECK-SAME:     lse(%[[L0]], %[[L1]] : tensor<1x8x16xf32>, tensor<1x8x16xf32>)
//  CHECK-SAME:     outs(%[[OI]], %[[LI]] : tensor<1x8x16x64xf32>, tensor<1x8x16xf32>)
//  CHECK-SAME:     -> tensor<1x8x16x64xf32>, tensor<1x8x16xf32>
//       CHECK:   return %[[RO]], %[[RL]]
func.func @merge(%o0: tensor<1x8x16x64xf32>, %o1: tensor<1x8x16x64xf32>,
                 %l0: tensor<1x8x16xf32>, %l1: tensor<1x8x16xf32>,
                 %oi: tensor<1x8x16x64xf32>, %li: tensor<1x8x16xf32>)
    -> (tensor<1x8x16x64xf32>, tensor<1x8x16xf32>) {
  %o, %l = attn.merge ins(%o0, %o1 : tensor<1x8x16x64xf32>, tensor<1x8x16x64xf32>)
             lse(%l0, %l1 : tensor<1x8x16xf32>, tensor<1x8x16xf32>)
             outs(%oi, %li : tensor<1x8x16x64xf32>, tensor<1x8x16xf32>)
             -> tensor<1x8x16x64xf32>, tensor<1x8x16xf32>
  return %o, %l : tensor<1x8x16x64xf32>, tensor<1x8x16xf32>
}

// CHECK-LABEL: func.func @merge_bshd_dynamic
//       CHECK:   attn.merge ins(%{{.+}} : tensor<?x?x?x?xf16>)
//  CHECK-SAME:     lse(%{{.+}} : tensor<?x?x?xf32>)
//  CHECK-SAME:     outs(%{{.+}}, %{{.+}} : tensor<?x?x?x?xf16>, tensor<?x?x?xf32>)
//  CHECK-SAME:     {layout = #attn.layout<bshd>} -> tensor<?x?x?x?xf16>, tensor<?x?x?xf32>
func.func @merge_bshd_dynamic(%o0: tensor<?x?x?x?xf16>, %l0: tensor<?x?x?xf32>,
                              %oi: tensor<?x?x?x?xf16>, %li: tensor<?x?x?xf32>)
    -> (tensor<?x?x?x?xf16>, tensor<?x?x?xf32>) {
  %o, %l = attn.merge ins(%o0 : tensor<?x?x?x?xf16>) lse(%l0 : tensor<?x?x?xf32>)
             outs(%oi, %li : tensor<?x?x?x?xf16>, tensor<?x?x?xf32>)
             {layout = #attn.layout<bshd>} -> tensor<?x?x?x?xf16>, tensor<?x?x?xf32>
  return %o, %l : tensor<?x?x?x?xf16>, tensor<?x?x?xf32>
}

// CHECK-LABEL: func.func @blocks_table
// CHECK: mask = #attn.blocks<block_q = 64, block_kv = 128, mask = #attn.and<[#attn.causal, #attn.sliding_window<left = 100>]>>
func.func @blocks_table(%q: tensor<?x?x?x64xf32>, %t: tensor<?x?x?x?xi8>) -> tensor<?x?x?x64xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
         dense_mask(%t : tensor<?x?x?x?xi8>) outs(%q : tensor<?x?x?x64xf32>)
         {mask = #attn.blocks<block_q = 64, block_kv = 128, mask = #attn.and<[#attn.causal, #attn.sliding_window<left = 100>]>>}
         -> tensor<?x?x?x64xf32>
  return %r : tensor<?x?x?x64xf32>
}

// CHECK-LABEL: func.func @natten
// CHECK: mask = #attn.natten<rows = 16, cols = 16, kernel_rows = 7, kernel_cols = 5, dilation_rows = 2>
func.func @natten(%q: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
         outs(%q : tensor<?x?x?x64xf32>)
         {mask = #attn.natten<rows = 16, cols = 16, kernel_rows = 7, kernel_cols = 5, dilation_rows = 2>}
         -> tensor<?x?x?x64xf32>
  return %r : tensor<?x?x?x64xf32>
}

// CHECK-LABEL: func.func @paged
//       CHECK:   attn.attention ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<?x?x1x128xbf16>, tensor<?x16x8x128xbf16>, tensor<?x16x8x128xbf16>)
//  CHECK-SAME:     page_table(%{{.+}} : tensor<?x?xi32>) kv_len(%{{.+}} : tensor<?xi32>)
//  CHECK-SAME:     {mask = #attn.causal, paged = #attn.paged<page_size = 16>}
func.func @paged(%q: tensor<?x?x1x128xbf16>, %kc: tensor<?x16x8x128xbf16>,
                 %vc: tensor<?x16x8x128xbf16>, %t: tensor<?x?xi32>,
                 %n: tensor<?xi32>) -> tensor<?x?x1x128xbf16> {
  %r = attn.attention ins(%q, %kc, %vc : tensor<?x?x1x128xbf16>, tensor<?x16x8x128xbf16>, tensor<?x16x8x128xbf16>)
         page_table(%t : tensor<?x?xi32>) kv_len(%n : tensor<?xi32>)
         outs(%q : tensor<?x?x1x128xbf16>)
         {mask = #attn.causal, paged = #attn.paged<page_size = 16>} -> tensor<?x?x1x128xbf16>
  return %r : tensor<?x?x1x128xbf16>
}

// CHECK-LABEL: func.func @paged_hnd_bshd
//       CHECK:   paged = #attn.paged<page_size = 32, layout = hnd>
func.func @paged_hnd_bshd(%q: tensor<?x?x?x64xf32>, %kc: tensor<?x?x32x64xf32>,
                          %t: tensor<?x?xi32>, %n: tensor<?xi32>) -> tensor<?x?x?x64xf32> {
  %r = attn.attention ins(%q, %kc, %kc : tensor<?x?x?x64xf32>, tensor<?x?x32x64xf32>, tensor<?x?x32x64xf32>)
         page_table(%t : tensor<?x?xi32>) kv_len(%n : tensor<?xi32>)
         outs(%q : tensor<?x?x?x64xf32>)
         {layout = #attn.layout<bshd>, paged = #attn.paged<page_size = 32, layout = hnd>}
         -> tensor<?x?x?x64xf32>
  return %r : tensor<?x?x?x64xf32>
}

// CHECK-LABEL: func.func @quant_int4
//       CHECK:   attn.attention ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<?x?x1x128xf32>, tensor<?x?x?x64xi8>, tensor<?x?x?x64xi8>)
//  CHECK-SAME:     kv_quant(%{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} : tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x4xf16>, tensor<?x?x?x4xf16>) kv_len(%{{.+}} : tensor<?xi32>)
//  CHECK-SAME:     {quant = #attn.quant<bits = 4, group = 32, scale = f16>}
func.func @quant_int4(%q: tensor<?x?x1x128xf32>, %k: tensor<?x?x?x64xi8>,
                      %ks: tensor<?x?x?x128xf16>, %vs: tensor<?x?x?x4xf16>,
                      %n: tensor<?xi32>) -> tensor<?x?x1x128xf32> {
  %r = attn.attention ins(%q, %k, %k : tensor<?x?x1x128xf32>, tensor<?x?x?x64xi8>, tensor<?x?x?x64xi8>)
         kv_quant(%ks, %ks, %vs, %vs : tensor<?x?x?x128xf16>, tensor<?x?x?x128xf16>, tensor<?x?x?x4xf16>, tensor<?x?x?x4xf16>)
         kv_len(%n : tensor<?xi32>) outs(%q : tensor<?x?x1x128xf32>)
         {quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> tensor<?x?x1x128xf32>
  return %r : tensor<?x?x1x128xf32>
}

// CHECK-LABEL: func.func @quant_int2_residual_bshd
//       CHECK:   quant = #attn.quant<bits = 2, group = 16, scale = f32, residual = 64>
func.func @quant_int2_residual_bshd(%q: tensor<2x1x8x64xbf16>, %k: tensor<2x128x2x16xi8>,
                                    %ks: tensor<2x8x2x64xf32>, %vs: tensor<2x128x2x4xf32>,
                                    %r: tensor<2x64x2x64xbf16>) -> tensor<2x1x8x64xbf16> {
  %o = attn.attention ins(%q, %k, %k : tensor<2x1x8x64xbf16>, tensor<2x128x2x16xi8>, tensor<2x128x2x16xi8>)
         kv_quant(%ks, %ks, %vs, %vs, %r, %r : tensor<2x8x2x64xf32>, tensor<2x8x2x64xf32>, tensor<2x128x2x4xf32>, tensor<2x128x2x4xf32>, tensor<2x64x2x64xbf16>, tensor<2x64x2x64xbf16>)
         outs(%q : tensor<2x1x8x64xbf16>)
         {layout = #attn.layout<bshd>, quant = #attn.quant<bits = 2, group = 16, scale = f32, residual = 64>}
         -> tensor<2x1x8x64xbf16>
  return %o : tensor<2x1x8x64xbf16>
}

// CHECK-LABEL: func.func @quant_paged_hnd
//       CHECK:   page_table(%{{.+}} : tensor<?x?xi32>) kv_quant(
//  CHECK-SAME:     {paged = #attn.paged<page_size = 32, layout = hnd>, quant = #attn.quant<bits = 4, group = 16, scale = f16, residual = 32>}
func.func @quant_paged_hnd(%q: tensor<?x?x1x64xf32>, %k: tensor<?x?x32x32xi8>,
                           %ks: tensor<?x?x2x64xf16>, %vs: tensor<?x?x32x4xf16>,
                           %r: tensor<?x?x32x64xf32>, %t: tensor<?x?xi32>,
                           %n: tensor<?xi32>) -> tensor<?x?x1x64xf32> {
  %o = attn.attention ins(%q, %k, %k : tensor<?x?x1x64xf32>, tensor<?x?x32x32xi8>, tensor<?x?x32x32xi8>)
         page_table(%t : tensor<?x?xi32>)
         kv_quant(%ks, %ks, %vs, %vs, %r, %r : tensor<?x?x2x64xf16>, tensor<?x?x2x64xf16>, tensor<?x?x32x4xf16>, tensor<?x?x32x4xf16>, tensor<?x?x32x64xf32>, tensor<?x?x32x64xf32>)
         kv_len(%n : tensor<?xi32>) outs(%q : tensor<?x?x1x64xf32>)
         {paged = #attn.paged<page_size = 32, layout = hnd>, quant = #attn.quant<bits = 4, group = 16, scale = f16, residual = 32>}
         -> tensor<?x?x1x64xf32>
  return %o : tensor<?x?x1x64xf32>
}

// CHECK-LABEL: func.func @quant_fp8
//       CHECK:   kv_quant(%{{.+}}, %{{.+}} : tensor<?xf32>, tensor<?xf32>)
//  CHECK-SAME:     {quant = #attn.quant<bits = 8, group = 1, scale = f32, format = e4m3>}
func.func @quant_fp8(%q: tensor<?x?x1x128xbf16>, %k: tensor<?x?x?x128xi8>,
                     %s: tensor<?xf32>, %n: tensor<?xi32>) -> tensor<?x?x1x128xbf16> {
  %r = attn.attention ins(%q, %k, %k : tensor<?x?x1x128xbf16>, tensor<?x?x?x128xi8>, tensor<?x?x?x128xi8>)
         kv_quant(%s, %s : tensor<?xf32>, tensor<?xf32>) kv_len(%n : tensor<?xi32>)
         outs(%q : tensor<?x?x1x128xbf16>)
         {quant = #attn.quant<bits = 8, group = 1, scale = f32, format = e4m3>} -> tensor<?x?x1x128xbf16>
  return %r : tensor<?x?x1x128xbf16>
}

// attn.mask_blocks: a mask_mod region over a captured array, with kv_len.
// CHECK-LABEL: func.func @mask_blocks
//       CHECK:   attn.mask_blocks ins(%{{.+}}, %{{.+}}, %{{.+}} : tensor<?x?x?x1xf32>, tensor<?x?x?x1xf32>, tensor<?x?x?x1xf32>) kv_len(%{{.+}} : tensor<?xi32>) captures(%{{.+}} : tensor<?xi32>) outs(%{{.+}} : tensor<?x?x?x?xi8>) mask_mod {
//       CHECK:   } {block_kv = 64 : i64, block_q = 128 : i64, mask = #attn.and<[#attn.causal, #attn.mask_mod]>} -> tensor<?x?x?x?xi8>
func.func @mask_blocks(%q: tensor<?x?x?x1xf32>, %len: tensor<?xi32>, %doc: tensor<?xi32>, %t0: tensor<?x?x?x?xi8>) -> tensor<?x?x?x?xi8> {
  %t = attn.mask_blocks ins(%q, %q, %q : tensor<?x?x?x1xf32>, tensor<?x?x?x1xf32>, tensor<?x?x?x1xf32>)
      kv_len(%len : tensor<?xi32>) captures(%doc : tensor<?xi32>)
      outs(%t0 : tensor<?x?x?x?xi8>)
      mask_mod {
      ^bb0(%b: index, %h: index, %i: index, %j: index, %d: tensor<?xi32>):
        %x = tensor.extract %d[%i] : tensor<?xi32>
        %y = tensor.extract %d[%j] : tensor<?xi32>
        %ok = arith.cmpi eq, %x, %y : i32
        attn.yield %ok : i1
      } {mask = #attn.and<[#attn.causal, #attn.mask_mod]>, block_q = 128 : i64, block_kv = 64 : i64}
      -> tensor<?x?x?x?xi8>
  return %t : tensor<?x?x?x?xi8>
}
