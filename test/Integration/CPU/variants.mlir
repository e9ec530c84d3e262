// Every variant of the dialect, run through attn-run --check against the
// float64 reference. Each section is compiled once and run on several shapes
// (lengths that are not multiples of anything, GQA/MQA, cross-attention with
// fully masked rows when Sq > Skv under a causal mask).
// RUN: split-file %s %t
// RUN: attn-run %t/causal.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %s --check-prefix=OK3
// RUN: attn-run %t/sliding_window.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/chunked.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/halo.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/dilated.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/global.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/streaming.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/prefix_lm.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/neighborhood_2d.mlir --check --shape B=1,Hq=2,Sq=72,Skv=72 --shape B=2,Hq=1,Sq=50,Skv=50 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/window_2d.mlir --check --shape B=1,Hq=2,Sq=64,Skv=64 | FileCheck %s --check-prefix=OK1
// RUN: attn-run %t/directional_2d.mlir --check --shape B=1,Hq=3,Sq=36,Skv=36 | FileCheck %s --check-prefix=OK1
// RUN: attn-run %t/directional_2d_half.mlir --check --shape B=1,Hq=4,Sq=36,Skv=36 | FileCheck %s --check-prefix=OK1
// RUN: attn-run %t/not_or.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/document.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=2,Hq=2,Sq=90,Skv=90 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/tree.mlir --check --shape B=2,Hq=2,Sq=8,Skv=40 --shape B=1,Hq=2,Sq=6,Skv=6 --tree-size 6 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/dense.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/mqa_cross.mlir --check --shape B=2,Hq=4,Hkv=1,Sq=13,Skv=70 --shape B=1,Hq=3,Hkv=1,Sq=70,Skv=13 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/d_ne_dv_bshd.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/sigmoid.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/sigmoid_beta.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/softplus.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/relu.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/relu_seq.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/sink_softmax.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/alibi_softcap.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/alibi_slopes.mlir --check --shape B=2,Hq=2,Hkv=2,Sq=30,Skv=41 | FileCheck %s --check-prefix=OK1
// RUN: attn-run %t/rel_bias.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/bias_temp.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/gaussian.mlir --check --shape B=2,Hq=2,Hkv=2,Sq=30,Skv=41 | FileCheck %s --check-prefix=OK1
// RUN: attn-run %t/score_mod_region.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=4,Hkv=4,Sq=9,Skv=50 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/mask_mod_region.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/decode_kv_len.mlir --check --shape B=3,Hq=4,Hkv=2,Sq=1,Skv=77 --shape B=2,Hq=2,Sq=4,Skv=130 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/f16.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/bf16_lse.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/merge.mlir --check --shape B=2,H=3,S=21 | FileCheck %s --check-prefix=OK1
// OK1-COUNT-1: check=ok
// OK1-NOT: FAIL
// OK2-COUNT-2: check=ok
// OK2-NOT: FAIL
// OK3-COUNT-3: check=ok
// OK3-NOT: FAIL

//--- causal.mlir
func.func @causal(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o, %l : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {mask = #attn.causal} -> tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}

//--- sliding_window.mlir
func.func @sw(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {mask = #attn.sliding_window<left = 9, right = 3>} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- chunked.mlir
func.func @ch(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {mask = #attn.and<[#attn.chunked<size = 16>, #attn.causal]>} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- halo.mlir
func.func @halo(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {mask = #attn.halo<block = 8, halo = 3>} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- dilated.mlir
func.func @dil(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {mask = #attn.dilated<segment = 16, rate = 2>} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- global.mlir
func.func @glob(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {mask = #attn.or<[#attn.global<first = 2, positions = [40]>, #attn.sliding_window<left = 4, right = 4>]>} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- streaming.mlir
func.func @stream(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o, %l : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {mask = #attn.and<[#attn.or<[#attn.sinks<count = 4>, #attn.sliding_window<left = 8>]>, #attn.causal]>} -> tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}

//--- prefix_lm.mlir
func.func @plm(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {mask = #attn.prefix_lm<prefix = 20>} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- neighborhood_2d.mlir
func.func @nb(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {mask = #attn.neighborhood_2d<rows = 8, cols = 9, kernel_rows = 3, kernel_cols = 5>} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- window_2d.mlir
func.func @w2(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {mask = #attn.window_2d<rows = 8, cols = 8, window_rows = 4, window_cols = 4>} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- directional_2d.mlir
func.func @dir(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {mask = #attn.directional_2d<rows = 6, cols = 6, directions = [-1, 0, 0, 1, 1, 1]>} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- directional_2d_half.mlir
func.func @dirh(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {mask = #attn.directional_2d<rows = 6, cols = 6, directions = [1, 0, 0, -1], half_plane = true>} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- not_or.mlir
func.func @notor(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {mask = #attn.not<#attn.or<[#attn.causal, #attn.sinks<count = 3>]>>} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- document.mlir
func.func @doc(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %sq: tensor<?x?xi32>, %sk: tensor<?x?xi32>, %o: tensor<?x?x?x32xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      segments(%sq, %sk : tensor<?x?xi32>, tensor<?x?xi32>)
      outs(%o, %l : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {mask = #attn.and<[#attn.document, #attn.causal]>} -> tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}

//--- tree.mlir
func.func @tree(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %p: tensor<?xi32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      tree(%p : tensor<?xi32>)
      outs(%o : tensor<?x?x?x32xf32>) {mask = #attn.tree} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- dense.mlir
func.func @dense(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %m: tensor<?x1x?x?xi1>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      dense_mask(%m : tensor<?x1x?x?xi1>)
      outs(%o : tensor<?x?x?x32xf32>) {mask = #attn.dense} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- mqa_cross.mlir
func.func @mqa(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {mask = #attn.causal} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- d_ne_dv_bshd.mlir
func.func @ddv(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x48xf32>, %o: tensor<?x?x?x48xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x48xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x48xf32>)
      outs(%o, %l : tensor<?x?x?x48xf32>, tensor<?x?x?xf32>) {mask = #attn.causal, layout = #attn.layout<bshd>} -> tensor<?x?x?x48xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x48xf32>, tensor<?x?x?xf32>
}

//--- sigmoid.mlir
func.func @sig(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {normalizer = #attn.sigmoid, mask = #attn.causal} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- sigmoid_beta.mlir
func.func @sigb(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {normalizer = #attn.sigmoid<beta = -2.0>} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- softplus.mlir
func.func @sp(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o, %l : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {normalizer = #attn.softplus, mask = #attn.causal} -> tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}

//--- relu.mlir
func.func @relu(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o, %l : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {normalizer = #attn.relu<power = 2, norm = row_sum>, mask = #attn.causal} -> tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}

//--- relu_seq.mlir
func.func @relus(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {normalizer = #attn.relu} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- sink_softmax.mlir
func.func @sink(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %s: tensor<?xf32>, %o: tensor<?x?x?x32xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      sink(%s : tensor<?xf32>)
      outs(%o, %l : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {normalizer = #attn.sink_softmax, mask = #attn.causal} -> tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}

//--- alibi_softcap.mlir
func.func @alibi(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {mask = #attn.causal, score_mods = [#attn.alibi, #attn.softcap<cap = 5.0>]} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- alibi_slopes.mlir
func.func @alibis(%q: tensor<?x2x?x32xf32>, %k: tensor<?x2x?x32xf32>, %v: tensor<?x2x?x32xf32>, %o: tensor<?x2x?x32xf32>) -> (tensor<?x2x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32>)
      outs(%o : tensor<?x2x?x32xf32>) {score_mods = [#attn.alibi<slopes = [0.5, 0.25], symmetric = true>]} -> tensor<?x2x?x32xf32>
  return %r : tensor<?x2x?x32xf32>
}

//--- rel_bias.mlir
func.func @rel(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %t: tensor<?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      rel_bias_table(%t : tensor<?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {mask = #attn.causal, score_mods = [#attn.rel_bias<num_buckets = 32, max_distance = 64>]} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- bias_temp.mlir
func.func @bt(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %bias: tensor<?x?x?xf32>, %tau: tensor<?x?x?xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      bias(%bias : tensor<?x?x?xf32>) temperature(%tau : tensor<?x?x?xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {score_mods = [#attn.temperature, #attn.bias]} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- gaussian.mlir
func.func @gauss(%q: tensor<?x2x?x32xf32>, %k: tensor<?x2x?x32xf32>, %v: tensor<?x2x?x32xf32>, %o: tensor<?x2x?x32xf32>) -> (tensor<?x2x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32>)
      outs(%o : tensor<?x2x?x32xf32>) {score_mods = [#attn.gaussian<mu = [0.0, 2.0], sigma = [3.0, 5.0]>]} -> tensor<?x2x?x32xf32>
  return %r : tensor<?x2x?x32xf32>
}

//--- score_mod_region.mlir
func.func @smr(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %tab: tensor<4xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      captures(%tab : tensor<4xf32>)
      outs(%o : tensor<?x?x?x32xf32>) score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %tb: tensor<4xf32>):
        %w = tensor.extract %tb[%h] : tensor<4xf32>
        %c = arith.constant 8.0 : f32
        %d = arith.divf %s, %c : f32
        %t = math.tanh %d : f32
        %r0 = arith.mulf %t, %c : f32
        %r1 = arith.addf %r0, %w : f32
        attn.yield %r1 : f32
      } {mask = #attn.causal, score_mods = [#attn.score_mod]} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- mask_mod_region.mlir
func.func @mmr(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) mask_mod {
      ^bb0(%b: index, %h: index, %i: index, %j: index):
        %p = attn.position %b, %i : index
        %c3 = arith.constant 3 : index
        %pm = arith.remsi %p, %c3 : index
        %jm = arith.remsi %j, %c3 : index
        %eq = arith.cmpi eq, %pm, %jm : index
        %le = arith.cmpi sle, %j, %p : index
        %r = arith.andi %eq, %le : i1
        attn.yield %r : i1
      } {mask = #attn.mask_mod} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- decode_kv_len.mlir
func.func @dec(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %kl: tensor<?xi32>, %o: tensor<?x?x?x32xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      kv_len(%kl : tensor<?xi32>)
      outs(%o, %l : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {mask = #attn.causal} -> tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}

//--- f16.mlir
func.func @f16(%q: tensor<?x?x?x32xf16>, %k: tensor<?x?x?x32xf16>, %v: tensor<?x?x?x32xf16>, %o: tensor<?x?x?x32xf16>) -> (tensor<?x?x?x32xf16>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf16>, tensor<?x?x?x32xf16>, tensor<?x?x?x32xf16>)
      outs(%o : tensor<?x?x?x32xf16>) {mask = #attn.causal, score_mods = [#attn.alibi]} -> tensor<?x?x?x32xf16>
  return %r : tensor<?x?x?x32xf16>
}

//--- bf16_lse.mlir
func.func @bf16(%q: tensor<?x?x?x32xbf16>, %k: tensor<?x?x?x32xbf16>, %v: tensor<?x?x?x32xbf16>, %o: tensor<?x?x?x32xbf16>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xbf16>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xbf16>, tensor<?x?x?x32xbf16>, tensor<?x?x?x32xbf16>)
      outs(%o, %l : tensor<?x?x?x32xbf16>, tensor<?x?x?xf32>) {mask = #attn.sliding_window<left = 16>} -> tensor<?x?x?x32xbf16>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xbf16>, tensor<?x?x?xf32>
}

//--- merge.mlir
func.func @merge(%o0: tensor<?x?x?x16xf32>, %o1: tensor<?x?x?x16xf32>, %l0: tensor<?x?x?xf32>, %l1: tensor<?x?x?xf32>, %o: tensor<?x?x?x16xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x16xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.merge ins(%o0, %o1 : tensor<?x?x?x16xf32>, tensor<?x?x?x16xf32>) lse(%l0, %l1 : tensor<?x?x?xf32>, tensor<?x?x?xf32>) outs(%o, %l : tensor<?x?x?x16xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x16xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x16xf32>, tensor<?x?x?xf32>
}

