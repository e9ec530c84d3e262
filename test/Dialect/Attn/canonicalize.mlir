// RUN: attn-opt %s -canonicalize -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @and_with_full
//       CHECK:   attn.attention
//  CHECK-SAME:     {mask = #attn.causal}
func.func @and_with_full(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.and<[#attn.full, #attn.causal, #attn.full]>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// x | full == full, the default, so the mask goes.
// CHECK-LABEL: func.func @or_with_full
//       CHECK:   attn.attention
//   CHECK-NOT:     mask
//  CHECK-SAME:     -> tensor<1x4x8x16xf32>
func.func @or_with_full(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.or<[#attn.causal, #attn.full]>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// CHECK-LABEL: func.func @explicit_full
//       CHECK:   attn.attention
//   CHECK-NOT:     mask
//  CHECK-SAME:     -> tensor<1x4x8x16xf32>
func.func @explicit_full(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.full} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// A conjunction of nothing but `full` is `full`.
// CHECK-LABEL: func.func @and_of_full
//       CHECK:   attn.attention
//   CHECK-NOT:     mask
//  CHECK-SAME:     -> tensor<1x4x8x16xf32>
func.func @and_of_full(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.and<[#attn.full, #attn.full]>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// CHECK-LABEL: func.func @nested_and
//       CHECK:   {mask = #attn.and<[#attn.causal, #attn.sinks<count = 4>, #attn.sliding_window<left = 8>, #attn.chunked<size = 16>]>}
func.func @nested_and(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>)
         {mask = #attn.and<[#attn.causal,
                            #attn.and<[#attn.sinks<count = 4>,
                                       #attn.and<[#attn.sliding_window<left = 8>, #attn.full]>]>,
                            #attn.chunked<size = 16>]>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// CHECK-LABEL: func.func @nested_or
//       CHECK:   {mask = #attn.or<[#attn.sinks<count = 4>, #attn.sliding_window<left = 8>, #attn.prefix_lm<prefix = 2>]>}
func.func @nested_or(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>)
         {mask = #attn.or<[#attn.or<[#attn.sinks<count = 4>, #attn.sliding_window<left = 8>]>,
                           #attn.prefix_lm<prefix = 2>]>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// An `or` inside an `and` (and vice versa) is not spliced.
// CHECK-LABEL: func.func @mixed_nesting_kept
//       CHECK:   {mask = #attn.and<[#attn.or<[#attn.sinks<count = 4>, #attn.sliding_window<left = 8>]>, #attn.causal]>}
func.func @mixed_nesting_kept(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>)
         {mask = #attn.and<[#attn.or<[#attn.sinks<count = 4>, #attn.sliding_window<left = 8>]>,
                            #attn.causal]>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// CHECK-LABEL: func.func @or_with_full_inside_and
//       CHECK:   {mask = #attn.sinks<count = 4>}
func.func @or_with_full_inside_and(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>)
         {mask = #attn.and<[#attn.or<[#attn.causal, #attn.full]>, #attn.sinks<count = 4>]>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// CHECK-LABEL: func.func @double_not
//       CHECK:   {mask = #attn.sliding_window<left = 8>}
func.func @double_not(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>)
         {mask = #attn.not<#attn.not<#attn.sliding_window<left = 8>>>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// Three negations leave one; the operand of `not` is simplified too.
// CHECK-LABEL: func.func @triple_not
//       CHECK:   {mask = #attn.not<#attn.causal>}
func.func @triple_not(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>)
         {mask = #attn.not<#attn.not<#attn.not<#attn.and<[#attn.causal, #attn.full]>>>>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// `not` of `full` masks everything and is not the default: it stays.
// CHECK-LABEL: func.func @not_full_kept
//       CHECK:   {mask = #attn.not<#attn.full>}
func.func @not_full_kept(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.not<#attn.full>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// CHECK-LABEL: func.func @single_operand
//       CHECK:   {mask = #attn.causal}
//       CHECK:   {mask = #attn.chunked<size = 4>}
func.func @single_operand(%q: tensor<1x4x8x16xf32>) -> (tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>) {
  %r0 = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
          outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.and<[#attn.causal]>} -> tensor<1x4x8x16xf32>
  %r1 = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
          outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.or<[#attn.or<[#attn.chunked<size = 4>]>]>} -> tensor<1x4x8x16xf32>
  return %r0, %r1 : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
}

// -----

// CHECK-LABEL: func.func @duplicates
//       CHECK:   {mask = #attn.and<[#attn.causal, #attn.sinks<count = 4>]>}
//       CHECK:   {mask = #attn.causal}
func.func @duplicates(%q: tensor<1x4x8x16xf32>) -> (tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>) {
  %r0 = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
          outs(%q : tensor<1x4x8x16xf32>)
          {mask = #attn.and<[#attn.causal, #attn.sinks<count = 4>, #attn.and<[#attn.causal]>]>} -> tensor<1x4x8x16xf32>
  %r1 = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
          outs(%q : tensor<1x4x8x16xf32>)
          {mask = #attn.or<[#attn.causal, #attn.not<#attn.not<#attn.causal>>]>} -> tensor<1x4x8x16xf32>
  return %r0, %r1 : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
}

// -----

// Same kind, different parameters: not duplicates.
// CHECK-LABEL: func.func @distinct_parameters
//       CHECK:   {mask = #attn.or<[#attn.sinks<count = 4>, #attn.sinks<count = 8>]>}
func.func @distinct_parameters(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>)
         {mask = #attn.or<[#attn.sinks<count = 4>, #attn.sinks<count = 8>]>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// A data-dependent leaf keeps its operand: `and` with `full` may simplify,
// but `or` with `full` would orphan the segments and is left alone.
// CHECK-LABEL: func.func @data_dependent_leaves
//  CHECK-SAME:   %[[S:[^:]+]]: tensor<1x8xi32>
//       CHECK:   segments(%[[S]], %[[S]] : tensor<1x8xi32>, tensor<1x8xi32>)
//  CHECK-SAME:     {mask = #attn.document}
//       CHECK:   segments(%[[S]], %[[S]] : tensor<1x8xi32>, tensor<1x8xi32>)
//  CHECK-SAME:     {mask = #attn.or<[#attn.document, #attn.full]>}
func.func @data_dependent_leaves(%q: tensor<1x4x8x16xf32>, %s: tensor<1x8xi32>)
    -> (tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>) {
  %r0 = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
          segments(%s, %s : tensor<1x8xi32>, tensor<1x8xi32>) outs(%q : tensor<1x4x8x16xf32>)
          {mask = #attn.and<[#attn.document, #attn.full]>} -> tensor<1x4x8x16xf32>
  %r1 = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
          segments(%s, %s : tensor<1x8xi32>, tensor<1x8xi32>) outs(%q : tensor<1x4x8x16xf32>)
          {mask = #attn.or<[#attn.document, #attn.full]>} -> tensor<1x4x8x16xf32>
  return %r0, %r1 : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
}

// -----

// CHECK-LABEL: func.func @mask_mod_kept
//       CHECK:   mask_mod {
//       CHECK:   } {mask = #attn.or<[#attn.mask_mod, #attn.not<#attn.not<#attn.full>>]>}
func.func @mask_mod_kept(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) mask_mod {
         ^bb0(%b: index, %h: index, %i: index, %j: index):
           %ok = arith.cmpi ule, %j, %i : index
           attn.yield %ok : i1
         } {mask = #attn.or<[#attn.mask_mod, #attn.not<#attn.not<#attn.full>>]>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// CHECK-LABEL: func.func @default_attributes
//       CHECK:   attn.attention
//  CHECK-SAME:     outs(%{{.+}} : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
func.func @default_attributes(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>)
         {normalizer = #attn.softmax, layout = #attn.layout<bhsd>, score_mods = [], mask = #attn.full,
          q_offset = 0} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// Non-default values of the same attributes stay.
// CHECK-LABEL: func.func @non_default_attributes
//       CHECK:   {layout = #attn.layout<bshd>, normalizer = #attn.sigmoid, score_mods = [#attn.alibi]}
func.func @non_default_attributes(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>)
         {normalizer = #attn.sigmoid, layout = #attn.layout<bshd>, score_mods = [#attn.alibi]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// The sink softmax is not the default softmax.
// CHECK-LABEL: func.func @sink_softmax_kept
//       CHECK:   {normalizer = #attn.sink_softmax}
func.func @sink_softmax_kept(%q: tensor<1x4x8x16xf32>, %s: tensor<4xf32>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         sink(%s : tensor<4xf32>) outs(%q : tensor<1x4x8x16xf32>)
         {normalizer = #attn.sink_softmax} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}
