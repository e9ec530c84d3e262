// RUN: attn-opt %s -split-input-file -verify-diagnostics

// One case for every verifier error of the dialect, in sections by op and
// attribute. Over ~800 lines as one file, the way upstream keeps its
// invalid.mlir: the dialect has that many errors, and one file shows
// whether each has its case.

//===----------------------------------------------------------------------===//
// attn.attention: Q, K, V
//===----------------------------------------------------------------------===//

func.func @query_rank(%q: tensor<4x8x16xf32>, %k: tensor<1x4x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op query must have rank 4 ([B, H, S, D]), got 'tensor<4x8x16xf32>'}}
  %r = attn.attention ins(%q, %k, %k : tensor<4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @value_rank_bshd(%q: tensor<1x8x4x16xf32>, %v: tensor<1x8x4x16x1xf32>, %o: tensor<1x8x4x16xf32>) -> tensor<1x8x4x16xf32> {
  // expected-error @+1 {{'attn.attention' op value must have rank 4 ([B, S, H, D]), got 'tensor<1x8x4x16x1xf32>'}}
  %r = attn.attention ins(%q, %q, %v : tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4x16x1xf32>)
         outs(%o : tensor<1x8x4x16xf32>) {layout = #attn.layout<bshd>} -> tensor<1x8x4x16xf32>
  return %r : tensor<1x8x4x16xf32>
}

// -----

func.func @f64_inputs(%q: tensor<1x4x8x16xf64>, %o: tensor<1x4x8x16xf64>) -> tensor<1x4x8x16xf64> {
  // expected-error @+1 {{'attn.attention' op query element type must be f32, f16 or bf16, got 'f64'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf64>, tensor<1x4x8x16xf64>, tensor<1x4x8x16xf64>)
         outs(%o : tensor<1x4x8x16xf64>) -> tensor<1x4x8x16xf64>
  return %r : tensor<1x4x8x16xf64>
}

// -----

func.func @integer_key(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x16xi8>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op key element type must be f32, f16 or bf16, got 'i8'}}
  %r = attn.attention ins(%q, %k, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xi8>, tensor<1x4x8x16xf32>)
         outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @mixed_element_types(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x16xf16>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op query, key and value must share one element type, got 'f32', 'f16', 'f32'}}
  %r = attn.attention ins(%q, %k, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf16>, tensor<1x4x8x16xf32>)
         outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @batch_mismatch(%q: tensor<2x4x8x16xf32>, %k: tensor<3x4x8x16xf32>, %o: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op batch sizes differ: query 2, key 3, value 3}}
  %r = attn.attention ins(%q, %k, %k : tensor<2x4x8x16xf32>, tensor<3x4x8x16xf32>, tensor<3x4x8x16xf32>)
         outs(%o : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %r : tensor<2x4x8x16xf32>
}

// -----

func.func @head_dim_mismatch(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op query head dim 16 differs from key head dim 32}}
  %r = attn.attention ins(%q, %k, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x16xf32>)
         outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @kv_heads_mismatch(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x1x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op key has 2 heads but value has 1}}
  %r = attn.attention ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x1x8x16xf32>)
         outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @kv_length_mismatch(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x16xf32>, %v: tensor<1x4x9x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op key length 8 differs from value length 9}}
  %r = attn.attention ins(%q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x9x16xf32>)
         outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @heads_not_divisible(%q: tensor<1x6x8x16xf32>, %k: tensor<1x4x8x16xf32>, %o: tensor<1x6x8x16xf32>) -> tensor<1x6x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op query heads (6) must be a multiple of key/value heads (4)}}
  %r = attn.attention ins(%q, %k, %k : tensor<1x6x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%o : tensor<1x6x8x16xf32>) -> tensor<1x6x8x16xf32>
  return %r : tensor<1x6x8x16xf32>
}

// -----

func.func @zero_kv_heads(%q: tensor<1x4x8x16xf32>, %k: tensor<1x0x8x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op query heads (4) must be a multiple of key/value heads (0)}}
  %r = attn.attention ins(%q, %k, %k : tensor<1x4x8x16xf32>, tensor<1x0x8x16xf32>, tensor<1x0x8x16xf32>)
         outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// The head axis of bshd is dim 2: 8 query heads and 3 key heads.
func.func @bshd_heads_not_divisible(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x3x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op query heads (8) must be a multiple of key/value heads (3)}}
  %r = attn.attention ins(%q, %k, %k : tensor<1x4x8x16xf32>, tensor<1x4x3x16xf32>, tensor<1x4x3x16xf32>)
         outs(%o : tensor<1x4x8x16xf32>) {layout = #attn.layout<bshd>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

//===----------------------------------------------------------------------===//
// attn.attention: paged caches
//===----------------------------------------------------------------------===//

func.func @paged_without_table(%q: tensor<2x8x1x64xf32>, %kc: tensor<10x16x2x64xf32>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op #attn.paged needs a 'page_table' operand ([B, max_pages] i32)}}
  %r = attn.attention ins(%q, %kc, %kc : tensor<2x8x1x64xf32>, tensor<10x16x2x64xf32>, tensor<10x16x2x64xf32>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {paged = #attn.paged<page_size = 16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @table_without_paged(%q: tensor<2x8x1x64xf32>, %kc: tensor<10x16x2x64xf32>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op 'page_table' operand given but the op has no #attn.paged attribute}}
  %r = attn.attention ins(%q, %kc, %kc : tensor<2x8x1x64xf32>, tensor<10x16x2x64xf32>, tensor<10x16x2x64xf32>)
         page_table(%t : tensor<2x4xi32>) kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @paged_without_kv_len(%q: tensor<2x8x1x64xf32>, %kc: tensor<10x16x2x64xf32>, %t: tensor<2x4xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op #attn.paged needs a 'kv_len' operand (the visible keys of each batch row)}}
  %r = attn.attention ins(%q, %kc, %kc : tensor<2x8x1x64xf32>, tensor<10x16x2x64xf32>, tensor<10x16x2x64xf32>)
         page_table(%t : tensor<2x4xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {paged = #attn.paged<page_size = 16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @paged_page_size(%q: tensor<2x8x1x64xf32>, %kc: tensor<10x16x2x64xf32>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op key page pool 'tensor<10x16x2x64xf32>' must be [pages, page_size, Hkv, D] with page_size = 8, but dim 1 is 16}}
  %r = attn.attention ins(%q, %kc, %kc : tensor<2x8x1x64xf32>, tensor<10x16x2x64xf32>, tensor<10x16x2x64xf32>)
         page_table(%t : tensor<2x4xi32>) kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {paged = #attn.paged<page_size = 8>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @paged_hnd_page_size(%q: tensor<2x8x1x64xf32>, %kc: tensor<10x16x2x64xf32>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op key page pool 'tensor<10x16x2x64xf32>' must be [pages, Hkv, page_size, D] with page_size = 16, but dim 2 is 2}}
  %r = attn.attention ins(%q, %kc, %kc : tensor<2x8x1x64xf32>, tensor<10x16x2x64xf32>, tensor<10x16x2x64xf32>)
         page_table(%t : tensor<2x4xi32>) kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {paged = #attn.paged<page_size = 16, layout = hnd>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @paged_pools_differ(%q: tensor<2x8x1x64xf32>, %kc: tensor<10x16x2x64xf32>, %vc: tensor<12x16x2x64xf32>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op key and value page pools differ in pages or heads: 'tensor<10x16x2x64xf32>' and 'tensor<12x16x2x64xf32>'}}
  %r = attn.attention ins(%q, %kc, %vc : tensor<2x8x1x64xf32>, tensor<10x16x2x64xf32>, tensor<12x16x2x64xf32>)
         page_table(%t : tensor<2x4xi32>) kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {paged = #attn.paged<page_size = 16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @page_table_i64(%q: tensor<2x8x1x64xf32>, %kc: tensor<10x16x2x64xf32>, %t: tensor<2x4xi64>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op page_table must have i32 elements, got 'i64'}}
  %r = attn.attention ins(%q, %kc, %kc : tensor<2x8x1x64xf32>, tensor<10x16x2x64xf32>, tensor<10x16x2x64xf32>)
         page_table(%t : tensor<2x4xi64>) kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {paged = #attn.paged<page_size = 16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @page_table_batch(%q: tensor<2x8x1x64xf32>, %kc: tensor<10x16x2x64xf32>, %t: tensor<3x4xi32>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op page_table dim 0 is 3, expected 2 (type 'tensor<3x4xi32>')}}
  %r = attn.attention ins(%q, %kc, %kc : tensor<2x8x1x64xf32>, tensor<10x16x2x64xf32>, tensor<10x16x2x64xf32>)
         page_table(%t : tensor<3x4xi32>) kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {paged = #attn.paged<page_size = 16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @paged_head_dim(%q: tensor<2x8x1x64xf32>, %kc: tensor<10x16x2x32xf32>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op query head dim 64 differs from key head dim 32}}
  %r = attn.attention ins(%q, %kc, %kc : tensor<2x8x1x64xf32>, tensor<10x16x2x32xf32>, tensor<10x16x2x32xf32>)
         page_table(%t : tensor<2x4xi32>) kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {paged = #attn.paged<page_size = 16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @paged_heads(%q: tensor<2x8x1x64xf32>, %kc: tensor<10x16x3x64xf32>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op query heads (8) must be a multiple of key/value heads (3)}}
  %r = attn.attention ins(%q, %kc, %kc : tensor<2x8x1x64xf32>, tensor<10x16x3x64xf32>, tensor<10x16x3x64xf32>)
         page_table(%t : tensor<2x4xi32>) kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {paged = #attn.paged<page_size = 16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @paged_segments_logical(%q: tensor<2x8x1x64xf32>, %kc: tensor<10x16x2x64xf32>, %t: tensor<2x4xi32>, %n: tensor<2xi32>, %sq: tensor<2x1xi32>, %sk: tensor<2x60xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op segments key ids dim 1 is 60, expected 64 (type 'tensor<2x60xi32>')}}
  %r = attn.attention ins(%q, %kc, %kc : tensor<2x8x1x64xf32>, tensor<10x16x2x64xf32>, tensor<10x16x2x64xf32>)
         page_table(%t : tensor<2x4xi32>) kv_len(%n : tensor<2xi32>) segments(%sq, %sk : tensor<2x1xi32>, tensor<2x60xi32>)
         outs(%q : tensor<2x8x1x64xf32>)
         {paged = #attn.paged<page_size = 16>, mask = #attn.document} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

//===----------------------------------------------------------------------===//
// attn.attention: quantized caches
//===----------------------------------------------------------------------===//

func.func @quant_without_params(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x64x32xi8>, %v: tensor<2x2x64x32xi8>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op #attn.quant needs 4 'kv_quant' operands (key scale, key zero, value scale, value zero), got 0}}
  %r = attn.attention ins(%q, %k, %v : tensor<2x8x1x64xf32>, tensor<2x2x64x32xi8>, tensor<2x2x64x32xi8>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @params_without_quant(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x64x32xi8>, %v: tensor<2x2x64x32xi8>, %p0: tensor<2x2x2x64xf16>, %p1: tensor<2x2x2x64xf16>, %p2: tensor<2x2x64x2xf16>, %p3: tensor<2x2x64x2xf16>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op 'kv_quant' operands given but the op has no #attn.quant attribute}}
  %r = attn.attention ins(%q, %k, %v : tensor<2x8x1x64xf32>, tensor<2x2x64x32xi8>, tensor<2x2x64x32xi8>)
         kv_quant(%p0, %p1, %p2, %p3 : tensor<2x2x2x64xf16>, tensor<2x2x2x64xf16>, tensor<2x2x64x2xf16>, tensor<2x2x64x2xf16>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
          -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @quant_residual_operands(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x64x32xi8>, %v: tensor<2x2x64x32xi8>, %p0: tensor<2x2x2x64xf16>, %p1: tensor<2x2x2x64xf16>, %p2: tensor<2x2x64x2xf16>, %p3: tensor<2x2x64x2xf16>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op #attn.quant with a residual needs 6 'kv_quant' operands (key scale, key zero, value scale, value zero, key residual, value residual), got 4}}
  %r = attn.attention ins(%q, %k, %v : tensor<2x8x1x64xf32>, tensor<2x2x64x32xi8>, tensor<2x2x64x32xi8>)
         kv_quant(%p0, %p1, %p2, %p3 : tensor<2x2x2x64xf16>, tensor<2x2x2x64xf16>, tensor<2x2x64x2xf16>, tensor<2x2x64x2xf16>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {quant = #attn.quant<bits = 4, group = 32, scale = f16, residual = 32>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @quant_float_key(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x64x64xf32>, %v: tensor<2x2x64x32xi8>, %p0: tensor<2x2x2x64xf16>, %p1: tensor<2x2x2x64xf16>, %p2: tensor<2x2x64x2xf16>, %p3: tensor<2x2x64x2xf16>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op quantized key must be rank 4 [B, H, S, D] of i8 (packed codes), got 'tensor<2x2x64x64xf32>'}}
  %r = attn.attention ins(%q, %k, %v : tensor<2x8x1x64xf32>, tensor<2x2x64x64xf32>, tensor<2x2x64x32xi8>)
         kv_quant(%p0, %p1, %p2, %p3 : tensor<2x2x2x64xf16>, tensor<2x2x2x64xf16>, tensor<2x2x64x2xf16>, tensor<2x2x64x2xf16>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @quant_key_bytes(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x64x64xi8>, %v: tensor<2x2x64x32xi8>, %p0: tensor<2x2x2x64xf16>, %p1: tensor<2x2x2x64xf16>, %p2: tensor<2x2x64x2xf16>, %p3: tensor<2x2x64x2xf16>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op quantized key must have D * bits / 8 = 32 bytes per token for head dim 64, got 64}}
  %r = attn.attention ins(%q, %k, %v : tensor<2x8x1x64xf32>, tensor<2x2x64x64xi8>, tensor<2x2x64x32xi8>)
         kv_quant(%p0, %p1, %p2, %p3 : tensor<2x2x2x64xf16>, tensor<2x2x2x64xf16>, tensor<2x2x64x2xf16>, tensor<2x2x64x2xf16>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @quant_value_group(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x64x32xi8>, %v: tensor<2x2x64x24xi8>, %p0: tensor<2x2x2x64xf16>, %p1: tensor<2x2x2x64xf16>, %p2: tensor<2x2x64x2xf16>, %p3: tensor<2x2x64x2xf16>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op value head dim 48 must be a multiple of the group size 32 (values are grouped along channels)}}
  %r = attn.attention ins(%q, %k, %v : tensor<2x8x1x64xf32>, tensor<2x2x64x32xi8>, tensor<2x2x64x24xi8>)
         kv_quant(%p0, %p1, %p2, %p3 : tensor<2x2x2x64xf16>, tensor<2x2x2x64xf16>, tensor<2x2x64x2xf16>, tensor<2x2x64x2xf16>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @quant_key_group(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x48x32xi8>, %v: tensor<2x2x48x32xi8>, %p0: tensor<2x2x2x64xf16>, %p1: tensor<2x2x2x64xf16>, %p2: tensor<2x2x64x2xf16>, %p3: tensor<2x2x64x2xf16>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op key length 48 must be a multiple of the group size 32 (keys are grouped along tokens)}}
  %r = attn.attention ins(%q, %k, %v : tensor<2x8x1x64xf32>, tensor<2x2x48x32xi8>, tensor<2x2x48x32xi8>)
         kv_quant(%p0, %p1, %p2, %p3 : tensor<2x2x2x64xf16>, tensor<2x2x2x64xf16>, tensor<2x2x64x2xf16>, tensor<2x2x64x2xf16>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @quant_head_dim_bits(%q: tensor<2x8x1x66xf32>, %k: tensor<2x2x64x16xi8>, %v: tensor<2x2x64x16xi8>, %p0: tensor<2x2x2x64xf16>, %p1: tensor<2x2x2x64xf16>, %p2: tensor<2x2x64x2xf16>, %p3: tensor<2x2x64x2xf16>, %n: tensor<2xi32>) -> tensor<2x8x1x66xf32> {
  // expected-error @+1 {{'attn.attention' op head dim 66 must be a multiple of 4 (codes per byte of 2-bit codes)}}
  %r = attn.attention ins(%q, %k, %v : tensor<2x8x1x66xf32>, tensor<2x2x64x16xi8>, tensor<2x2x64x16xi8>)
         kv_quant(%p0, %p1, %p2, %p3 : tensor<2x2x2x64xf16>, tensor<2x2x2x64xf16>, tensor<2x2x64x2xf16>, tensor<2x2x64x2xf16>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x66xf32>)
         {quant = #attn.quant<bits = 2, group = 32, scale = f16>} -> tensor<2x8x1x66xf32>
  return %r : tensor<2x8x1x66xf32>
}

// -----

func.func @quant_key_scale_shape(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x64x32xi8>, %v: tensor<2x2x64x32xi8>, %p0: tensor<2x2x4x64xf16>, %p1: tensor<2x2x2x64xf16>, %p2: tensor<2x2x64x2xf16>, %p3: tensor<2x2x64x2xf16>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op key scale [B, Hkv, Skv / group, D] dim 2 is 4, expected 2 (type 'tensor<2x2x4x64xf16>')}}
  %r = attn.attention ins(%q, %k, %v : tensor<2x8x1x64xf32>, tensor<2x2x64x32xi8>, tensor<2x2x64x32xi8>)
         kv_quant(%p0, %p1, %p2, %p3 : tensor<2x2x4x64xf16>, tensor<2x2x2x64xf16>, tensor<2x2x64x2xf16>, tensor<2x2x64x2xf16>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @quant_value_zero_shape(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x64x32xi8>, %v: tensor<2x2x64x32xi8>, %p0: tensor<2x2x2x64xf16>, %p1: tensor<2x2x2x64xf16>, %p2: tensor<2x2x64x2xf16>, %p3: tensor<2x2x64x4xf16>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op value zero [B, Hkv, Skv, Dv / group] dim 3 is 4, expected 2 (type 'tensor<2x2x64x4xf16>')}}
  %r = attn.attention ins(%q, %k, %v : tensor<2x8x1x64xf32>, tensor<2x2x64x32xi8>, tensor<2x2x64x32xi8>)
         kv_quant(%p0, %p1, %p2, %p3 : tensor<2x2x2x64xf16>, tensor<2x2x2x64xf16>, tensor<2x2x64x2xf16>, tensor<2x2x64x4xf16>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @quant_scale_type(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x64x32xi8>, %v: tensor<2x2x64x32xi8>, %p0: tensor<2x2x2x64xf16>, %p1: tensor<2x2x2x64xf32>, %p2: tensor<2x2x64x2xf16>, %p3: tensor<2x2x64x2xf16>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op key zero [B, Hkv, Skv / group, D] must have f16 elements, got 'f32'}}
  %r = attn.attention ins(%q, %k, %v : tensor<2x8x1x64xf32>, tensor<2x2x64x32xi8>, tensor<2x2x64x32xi8>)
         kv_quant(%p0, %p1, %p2, %p3 : tensor<2x2x2x64xf16>, tensor<2x2x2x64xf32>, tensor<2x2x64x2xf16>, tensor<2x2x64x2xf16>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @quant_residual_shape(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x64x32xi8>, %v: tensor<2x2x64x32xi8>, %p0: tensor<2x2x2x64xf16>, %p1: tensor<2x2x2x64xf16>, %p2: tensor<2x2x64x2xf16>, %p3: tensor<2x2x64x2xf16>, %p4: tensor<2x2x16x64xf32>, %p5: tensor<2x2x32x64xf32>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op key residual [B, Hkv, residual, D] dim 2 is 16, expected 32 (type 'tensor<2x2x16x64xf32>')}}
  %r = attn.attention ins(%q, %k, %v : tensor<2x8x1x64xf32>, tensor<2x2x64x32xi8>, tensor<2x2x64x32xi8>)
         kv_quant(%p0, %p1, %p2, %p3, %p4, %p5 : tensor<2x2x2x64xf16>, tensor<2x2x2x64xf16>, tensor<2x2x64x2xf16>, tensor<2x2x64x2xf16>, tensor<2x2x16x64xf32>, tensor<2x2x32x64xf32>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {quant = #attn.quant<bits = 4, group = 32, scale = f16, residual = 32>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @quant_residual_type(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x64x32xi8>, %v: tensor<2x2x64x32xi8>, %p0: tensor<2x2x2x64xf16>, %p1: tensor<2x2x2x64xf16>, %p2: tensor<2x2x64x2xf16>, %p3: tensor<2x2x64x2xf16>, %p4: tensor<2x2x32x64xf32>, %p5: tensor<2x2x32x64xbf16>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op value residual [B, Hkv, residual, Dv] must have f32 (the query's) elements, got 'bf16'}}
  %r = attn.attention ins(%q, %k, %v : tensor<2x8x1x64xf32>, tensor<2x2x64x32xi8>, tensor<2x2x64x32xi8>)
         kv_quant(%p0, %p1, %p2, %p3, %p4, %p5 : tensor<2x2x2x64xf16>, tensor<2x2x2x64xf16>, tensor<2x2x64x2xf16>, tensor<2x2x64x2xf16>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xbf16>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {quant = #attn.quant<bits = 4, group = 32, scale = f16, residual = 32>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @quant_batch(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x64x32xi8>, %v: tensor<3x2x64x32xi8>, %p0: tensor<2x2x2x64xf16>, %p1: tensor<2x2x2x64xf16>, %p2: tensor<2x2x64x2xf16>, %p3: tensor<2x2x64x2xf16>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op batch sizes differ: query 2, value 3}}
  %r = attn.attention ins(%q, %k, %v : tensor<2x8x1x64xf32>, tensor<2x2x64x32xi8>, tensor<3x2x64x32xi8>)
         kv_quant(%p0, %p1, %p2, %p3 : tensor<2x2x2x64xf16>, tensor<2x2x2x64xf16>, tensor<2x2x64x2xf16>, tensor<2x2x64x2xf16>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @quant_heads(%q: tensor<2x8x1x64xf32>, %k: tensor<2x3x64x32xi8>, %v: tensor<2x3x64x32xi8>, %p0: tensor<2x3x2x64xf16>, %p1: tensor<2x3x2x64xf16>, %p2: tensor<2x3x64x2xf16>, %p3: tensor<2x3x64x2xf16>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op query heads (8) must be a multiple of key/value heads (3)}}
  %r = attn.attention ins(%q, %k, %v : tensor<2x8x1x64xf32>, tensor<2x3x64x32xi8>, tensor<2x3x64x32xi8>)
         kv_quant(%p0, %p1, %p2, %p3 : tensor<2x3x2x64xf16>, tensor<2x3x2x64xf16>, tensor<2x3x64x2xf16>, tensor<2x3x64x2xf16>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @quant_fp8_operands(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x64x64xi8>, %s: tensor<2xf32>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op #attn.quant (fp8) needs 2 'kv_quant' operands (key scale, value scale), got 3}}
  %r = attn.attention ins(%q, %k, %k : tensor<2x8x1x64xf32>, tensor<2x2x64x64xi8>, tensor<2x2x64x64xi8>)
         kv_quant(%s, %s, %s : tensor<2xf32>, tensor<2xf32>, tensor<2xf32>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {quant = #attn.quant<bits = 8, group = 1, scale = f32, format = e5m2>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @quant_fp8_scale_shape(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x64x64xi8>, %s: tensor<2xf32>, %t: tensor<8xf32>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op value scale [Hkv] dim 0 is 8, expected 2 (type 'tensor<8xf32>')}}
  %r = attn.attention ins(%q, %k, %k : tensor<2x8x1x64xf32>, tensor<2x2x64x64xi8>, tensor<2x2x64x64xi8>)
         kv_quant(%s, %t : tensor<2xf32>, tensor<8xf32>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {quant = #attn.quant<bits = 8, group = 1, scale = f32, format = e4m3>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @quant_paged_page_size(%q: tensor<2x8x1x64xf32>, %k: tensor<10x16x2x32xi8>, %p0: tensor<10x1x2x64xf16>, %p1: tensor<10x16x2x2xf16>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op page_size 16 must be a multiple of the group size 32 (key groups lie within a page)}}
  %r = attn.attention ins(%q, %k, %k : tensor<2x8x1x64xf32>, tensor<10x16x2x32xi8>, tensor<10x16x2x32xi8>)
         page_table(%t : tensor<2x4xi32>) kv_quant(%p0, %p0, %p1, %p1 : tensor<10x1x2x64xf16>, tensor<10x1x2x64xf16>, tensor<10x16x2x2xf16>, tensor<10x16x2x2xf16>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {paged = #attn.paged<page_size = 16>, quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @quant_paged_scale_pool(%q: tensor<2x8x1x64xf32>, %k: tensor<10x32x2x32xi8>, %p0: tensor<10x32x2x64xf16>, %p1: tensor<10x32x2x4xf16>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op key scale pool (page_size / group slots a page) dim 1 is 32, expected 2 (type 'tensor<10x32x2x64xf16>')}}
  %r = attn.attention ins(%q, %k, %k : tensor<2x8x1x64xf32>, tensor<10x32x2x32xi8>, tensor<10x32x2x32xi8>)
         page_table(%t : tensor<2x4xi32>) kv_quant(%p0, %p0, %p1, %p1 : tensor<10x32x2x64xf16>, tensor<10x32x2x64xf16>, tensor<10x32x2x4xf16>, tensor<10x32x2x4xf16>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {paged = #attn.paged<page_size = 32>, quant = #attn.quant<bits = 4, group = 16, scale = f16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

func.func @quant_paged_codes(%q: tensor<2x8x1x64xf32>, %k: tensor<10x32x2x64xi8>, %p0: tensor<10x2x2x64xf16>, %p1: tensor<10x32x2x4xf16>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) -> tensor<2x8x1x64xf32> {
  // expected-error @+1 {{'attn.attention' op query head dim 64 differs from key head dim 128}}
  %r = attn.attention ins(%q, %k, %k : tensor<2x8x1x64xf32>, tensor<10x32x2x64xi8>, tensor<10x32x2x64xi8>)
         page_table(%t : tensor<2x4xi32>) kv_quant(%p0, %p0, %p1, %p1 : tensor<10x2x2x64xf16>, tensor<10x2x2x64xf16>, tensor<10x32x2x4xf16>, tensor<10x32x2x4xf16>)
         kv_len(%n : tensor<2xi32>) outs(%q : tensor<2x8x1x64xf32>)
         {paged = #attn.paged<page_size = 32>, quant = #attn.quant<bits = 4, group = 16, scale = f16>} -> tensor<2x8x1x64xf32>
  return %r : tensor<2x8x1x64xf32>
}

// -----

//===----------------------------------------------------------------------===//
// attn.attention: outs and results
//===----------------------------------------------------------------------===//

// -----

func.func @no_outs(%q: tensor<1x4x8x16xf32>) {
  // expected-error @+1 {{'attn.attention' op expects 1 or 2 outs (O and optionally LSE), got 0}}
  "attn.attention"(%q, %q, %q) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>}> ({}, {})
      : (tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>) -> ()
  return
}

// -----

func.func @three_outs(%q: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.attention' op expects 1 or 2 outs (O and optionally LSE), got 3}}
  %r:3 = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           outs(%q, %l, %l : tensor<1x4x8x16xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>)
           -> tensor<1x4x8x16xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>
  return
}

// -----

func.func @no_results(%q: tensor<1x4x8x16xf32>) {
  // expected-error @+1 {{'attn.attention' op expects one result per out, got 0 results for 1 outs}}
  "attn.attention"(%q, %q, %q, %q) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1>}> ({}, {})
      : (tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>) -> ()
  return
}

// -----

func.func @result_type_differs(%q: tensor<1x4x8x16xf32>) -> tensor<?x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op result type 'tensor<?x4x8x16xf32>' differs from its out 'tensor<1x4x8x16xf32>'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) -> tensor<?x4x8x16xf32>
  return %r : tensor<?x4x8x16xf32>
}

// -----

func.func @output_rank(%q: tensor<1x4x8x16xf32>, %o: tensor<4x8x16xf32>) -> tensor<4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op output must have rank 4, got 'tensor<4x8x16xf32>'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%o : tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
  return %r : tensor<4x8x16xf32>
}

// -----

// O's last dim is the value dim Dv, not the query head dim.
func.func @output_value_dim(%q: tensor<1x4x8x16xf32>, %v: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op output dim 3 is 16, expected 32 (type 'tensor<1x4x8x16xf32>')}}
  %r = attn.attention ins(%q, %q, %v : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x32xf32>)
         outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// With bshd, O is [B, Sq, Hq, Dv].
func.func @output_bshd_order(%q: tensor<1x8x4x16xf32>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op output dim 1 is 4, expected 8 (type 'tensor<1x4x8x16xf32>')}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>)
         outs(%o : tensor<1x4x8x16xf32>) {layout = #attn.layout<bshd>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @output_element_type(%q: tensor<1x4x8x16xf16>, %o: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op output must have the input's elements, got 'f32'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf16>, tensor<1x4x8x16xf16>, tensor<1x4x8x16xf16>)
         outs(%o : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @lse_shape(%q: tensor<1x4x8x16xf32>, %l: tensor<1x4x9xf32>) {
  // expected-error @+1 {{'attn.attention' op LSE dim 2 is 9, expected 8 (type 'tensor<1x4x9xf32>')}}
  %r:2 = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           outs(%q, %l : tensor<1x4x8x16xf32>, tensor<1x4x9xf32>) -> tensor<1x4x8x16xf32>, tensor<1x4x9xf32>
  return
}

// -----

func.func @lse_rank(%q: tensor<1x4x8x16xf32>, %l: tensor<1x4x8x1xf32>) {
  // expected-error @+1 {{'attn.attention' op LSE must have rank 3, got 'tensor<1x4x8x1xf32>'}}
  %r:2 = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           outs(%q, %l : tensor<1x4x8x16xf32>, tensor<1x4x8x1xf32>) -> tensor<1x4x8x16xf32>, tensor<1x4x8x1xf32>
  return
}

// -----

// LSE is f32 whatever the input type.
func.func @lse_f16(%q: tensor<1x4x8x16xf16>, %l: tensor<1x4x8xf16>) {
  // expected-error @+1 {{'attn.attention' op LSE must have f32 elements, got 'f16'}}
  %r:2 = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf16>, tensor<1x4x8x16xf16>, tensor<1x4x8x16xf16>)
           outs(%q, %l : tensor<1x4x8x16xf16>, tensor<1x4x8xf16>) -> tensor<1x4x8x16xf16>, tensor<1x4x8xf16>
  return
}

//===----------------------------------------------------------------------===//
// attn.attention: normalizer
//===----------------------------------------------------------------------===//

// -----

func.func @normalizer_not_a_normalizer(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op 'normalizer' must be a normalizer attribute (#attn.softmax, #attn.sink_softmax, #attn.sigmoid, #attn.softplus, #attn.relu), got #attn.causal}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {normalizer = #attn.causal} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @normalizer_string(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'normalizer' must be a normalizer attribute (#attn.softmax, #attn.sink_softmax, #attn.sigmoid, #attn.softplus, #attn.relu), got "softmax"}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {normalizer = "softmax"} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @sigmoid_lse(%q: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.attention' op normalizer 'sigmoid' has no LSE output, but an LSE out was given}}
  %r:2 = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           outs(%q, %l : tensor<1x4x8x16xf32>, tensor<1x4x8xf32>)
           {normalizer = #attn.sigmoid} -> tensor<1x4x8x16xf32>, tensor<1x4x8xf32>
  return
}

// -----

func.func @relu_seq_len_lse(%q: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.attention' op normalizer 'relu' has no LSE output, but an LSE out was given}}
  %r:2 = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           outs(%q, %l : tensor<1x4x8x16xf32>, tensor<1x4x8xf32>)
           {normalizer = #attn.relu} -> tensor<1x4x8x16xf32>, tensor<1x4x8xf32>
  return
}

// -----

func.func @relu_none_lse(%q: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.attention' op normalizer 'relu' has no LSE output, but an LSE out was given}}
  %r:2 = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           outs(%q, %l : tensor<1x4x8x16xf32>, tensor<1x4x8xf32>)
           {normalizer = #attn.relu<power = 2, norm = none>} -> tensor<1x4x8x16xf32>, tensor<1x4x8xf32>
  return
}

// -----

func.func @sink_softmax_without_sink(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op #attn.sink_softmax needs a 'sink' operand}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {normalizer = #attn.sink_softmax} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @sink_with_softmax(%q: tensor<1x4x8x16xf32>, %s: tensor<4xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op 'sink' operand given but the normalizer is not #attn.sink_softmax}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         sink(%s : tensor<4xf32>) outs(%q : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @sink_per_kv_head(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %s: tensor<2xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op sink dim 0 is 2, expected 4 (type 'tensor<2xf32>')}}
  %r = attn.attention ins(%q, %k, %k : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
         sink(%s : tensor<2xf32>) outs(%q : tensor<1x4x8x16xf32>)
         {normalizer = #attn.sink_softmax} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @sink_f16(%q: tensor<1x4x8x16xf16>, %s: tensor<4xf16>) -> tensor<1x4x8x16xf16> {
  // expected-error @+1 {{'attn.attention' op sink must have f32 elements, got 'f16'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf16>, tensor<1x4x8x16xf16>, tensor<1x4x8x16xf16>)
         sink(%s : tensor<4xf16>) outs(%q : tensor<1x4x8x16xf16>)
         {normalizer = #attn.sink_softmax} -> tensor<1x4x8x16xf16>
  return %r : tensor<1x4x8x16xf16>
}

// -----

func.func @kv_len_rank(%q: tensor<2x4x8x16xf32>, %n: tensor<2x1xi32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op kv_len must have rank 1, got 'tensor<2x1xi32>'}}
  %r = attn.attention ins(%q, %q, %q : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>)
         kv_len(%n : tensor<2x1xi32>) outs(%q : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %r : tensor<2x4x8x16xf32>
}

// -----

func.func @kv_len_index(%q: tensor<2x4x8x16xf32>, %n: tensor<2xindex>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op kv_len must have i32 or i64 elements, got 'index'}}
  %r = attn.attention ins(%q, %q, %q : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>)
         kv_len(%n : tensor<2xindex>) outs(%q : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %r : tensor<2x4x8x16xf32>
}

//===----------------------------------------------------------------------===//
// attn.attention: mask
//===----------------------------------------------------------------------===//

// -----

func.func @mask_integer(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op 'mask' must be a mask attribute, got 5 : i64}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {mask = 5 : i64} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @mask_score_mod(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op 'mask' must be a mask attribute, got #attn.alibi}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.alibi} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @document_without_segments(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op mask #attn.document needs the 'segments' operand}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.and<[#attn.document, #attn.causal]>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @segments_without_document(%q: tensor<1x4x8x16xf32>, %s: tensor<1x8xi32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op 'segments' operand given but no mask #attn.document uses it}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         segments(%s, %s : tensor<1x8xi32>, tensor<1x8xi32>) outs(%q : tensor<1x4x8x16xf32>)
         {mask = #attn.causal} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @segments_query_ids_only(%q: tensor<1x4x8x16xf32>, %s: tensor<1x8xi32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op 'segments' needs both the query and the key ids}}
  %r = "attn.attention"(%q, %q, %q, %s, %q) <{mask = #attn.document, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1>}> ({}, {})
      : (tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x8xi32>, tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @segments_key_ids_only(%q: tensor<1x4x8x16xf32>, %s: tensor<1x8xi32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op 'segments' needs both the query and the key ids}}
  %r = "attn.attention"(%q, %q, %q, %s, %q) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1>}> ({}, {})
      : (tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x8xi32>, tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @segments_query_length(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x12x16xf32>, %s: tensor<1x12xi32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op segments query ids dim 1 is 12, expected 8 (type 'tensor<1x12xi32>')}}
  %r = attn.attention ins(%q, %k, %k : tensor<1x4x8x16xf32>, tensor<1x4x12x16xf32>, tensor<1x4x12x16xf32>)
         segments(%s, %s : tensor<1x12xi32>, tensor<1x12xi32>) outs(%q : tensor<1x4x8x16xf32>)
         {mask = #attn.document} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @segments_key_float(%q: tensor<1x4x8x16xf32>, %sq: tensor<1x8xi32>, %skv: tensor<1x8xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op segments key ids must have i32 or i64 elements, got 'f32'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         segments(%sq, %skv : tensor<1x8xi32>, tensor<1x8xf32>) outs(%q : tensor<1x4x8x16xf32>)
         {mask = #attn.document} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @tree_without_parents(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op mask #attn.tree needs the 'tree' operand}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.tree} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @parents_without_tree(%q: tensor<1x4x8x16xf32>, %p: tensor<4xi32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op 'tree' operand given but no mask #attn.tree uses it}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         tree(%p : tensor<4xi32>) outs(%q : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @tree_rank_3(%q: tensor<1x4x8x16xf32>, %p: tensor<1x2x3xi32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op tree parents must be [T] or [B, T], got 'tensor<1x2x3xi32>'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         tree(%p : tensor<1x2x3xi32>) outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.tree} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @tree_batch(%q: tensor<2x4x8x16xf32>, %p: tensor<3x4xi32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op tree parents dim 0 is 3, expected 2 (type 'tensor<3x4xi32>')}}
  %r = attn.attention ins(%q, %q, %q : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>)
         tree(%p : tensor<3x4xi32>) outs(%q : tensor<2x4x8x16xf32>) {mask = #attn.tree} -> tensor<2x4x8x16xf32>
  return %r : tensor<2x4x8x16xf32>
}

// -----

func.func @tree_i8(%q: tensor<1x4x8x16xf32>, %p: tensor<4xi8>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op tree parents must have i32 or i64 elements, got 'i8'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         tree(%p : tensor<4xi8>) outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.tree} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @dense_without_mask(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op mask #attn.dense or #attn.blocks needs the 'dense_mask' operand}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.not<#attn.dense>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @dense_mask_unused(%q: tensor<1x4x8x16xf32>, %m: tensor<8x8xi1>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op 'dense_mask' operand given but no mask #attn.dense or #attn.blocks uses it}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         dense_mask(%m : tensor<8x8xi1>) outs(%q : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @dense_rank_1(%q: tensor<1x4x8x16xf32>, %m: tensor<8xi1>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op dense_mask must have rank 2, 3 or 4, got 'tensor<8xi1>'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         dense_mask(%m : tensor<8xi1>) outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.dense} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// Only the batch and head dims broadcast; Sq and Skv must match.
func.func @dense_no_broadcast(%q: tensor<1x4x8x16xf32>, %m: tensor<1x1x1x8xi1>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op dense_mask dim 2 is 1, which does not broadcast to 8 (type 'tensor<1x1x1x8xi1>')}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         dense_mask(%m : tensor<1x1x1x8xi1>) outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.dense} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @dense_f32(%q: tensor<1x4x8x16xf32>, %m: tensor<8x8xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op dense_mask must have i1 or i8 elements, got 'f32'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         dense_mask(%m : tensor<8x8xf32>) outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.dense} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// A blocked dense mask has one entry per block: ceil(8 / 3) = 3 rows.
func.func @dense_blocked_shape(%q: tensor<1x4x8x16xf32>, %m: tensor<1x1x8x4xi1>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op dense_mask (blocked) dim 2 is 8, which does not broadcast to 3 (type 'tensor<1x1x8x4xi1>')}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         dense_mask(%m : tensor<1x1x8x4xi1>) outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.dense<block_q = 3, block_kv = 2>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @dense_blocks_differ(%q: tensor<1x4x8x16xf32>, %m: tensor<8x8xi1>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op every #attn.dense leaf reads the one 'dense_mask' operand, so they need the same blocks; got #attn.dense and #attn.dense<block_q = 2>}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         dense_mask(%m : tensor<8x8xi1>) outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.or<[#attn.dense, #attn.not<#attn.dense<block_q = 2>>]>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @dense_zero_block(%q: tensor<1x4x8x16xf32>, %m: tensor<8x8xi1>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         // expected-error @+1 {{#attn.dense: 'block_kv' must be positive, got 0}}
         dense_mask(%m : tensor<8x8xi1>) outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.dense<block_kv = 0>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

//===----------------------------------------------------------------------===//
// attn.attention: score modifiers and their operands
//===----------------------------------------------------------------------===//

// -----

func.func @score_mods_not_array(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+2 {{'attn.attention' op attribute 'score_mods' failed to satisfy constraint: array attribute}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {score_mods = #attn.softcap<cap = 2.0>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @score_mods_mask_entry(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op 'score_mods' entry #attn.causal is not a score modifier attribute}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {score_mods = [#attn.alibi, #attn.causal]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @score_mods_integer_entry(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op 'score_mods' entry 3 : i64 is not a score modifier attribute}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {score_mods = [3]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @bias_twice(%q: tensor<1x4x8x16xf32>, %b: tensor<8x8xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op #attn.bias may appear at most once in score_mods}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         bias(%b : tensor<8x8xf32>) outs(%q : tensor<1x4x8x16xf32>)
         {score_mods = [#attn.bias, #attn.bias]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @rel_bias_twice(%q: tensor<1x4x8x16xf32>, %t: tensor<4x8xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op #attn.rel_bias may appear at most once in score_mods}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         rel_bias_table(%t : tensor<4x8xf32>) outs(%q : tensor<1x4x8x16xf32>)
         {score_mods = [#attn.rel_bias<num_buckets = 8, max_distance = 16>,
                        #attn.rel_bias<num_buckets = 8, max_distance = 32>]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @temperature_twice(%q: tensor<1x4x8x16xf32>, %t: tensor<1x4x8xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op #attn.temperature may appear at most once in score_mods}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         temperature(%t : tensor<1x4x8xf32>) outs(%q : tensor<1x4x8x16xf32>)
         {score_mods = [#attn.temperature, #attn.temperature]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @score_mod_twice(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op #attn.score_mod may appear at most once in score_mods}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) score_mod {
         ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
           attn.yield %s : f32
         } {score_mods = [#attn.score_mod, #attn.score_mod]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @bias_attr_without_operand(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op score modifier #attn.bias needs the 'bias' operand}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {score_mods = [#attn.bias]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @bias_operand_without_attr(%q: tensor<1x4x8x16xf32>, %b: tensor<8x8xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op 'bias' operand given but no score modifier #attn.bias uses it}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         bias(%b : tensor<8x8xf32>) outs(%q : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @rel_bias_without_table(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op score modifier #attn.rel_bias needs the 'rel_bias_table' operand}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>)
         {score_mods = [#attn.rel_bias<num_buckets = 32, max_distance = 128>]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @table_without_rel_bias(%q: tensor<1x4x8x16xf32>, %t: tensor<4x32xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op 'rel_bias_table' operand given but no score modifier #attn.rel_bias uses it}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         rel_bias_table(%t : tensor<4x32xf32>) outs(%q : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @temperature_without_operand(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op score modifier #attn.temperature needs the 'temperature' operand}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {score_mods = [#attn.temperature]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @temperature_without_attr(%q: tensor<1x4x8x16xf32>, %t: tensor<1x4x8xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op 'temperature' operand given but no score modifier #attn.temperature uses it}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         temperature(%t : tensor<1x4x8xf32>) outs(%q : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @bias_rank_5(%q: tensor<1x4x8x16xf32>, %b: tensor<1x1x4x8x8xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op bias must have rank 2, 3 or 4, got 'tensor<1x1x4x8x8xf32>'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         bias(%b : tensor<1x1x4x8x8xf32>) outs(%q : tensor<1x4x8x16xf32>)
         {score_mods = [#attn.bias]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// A 3-D bias is [H, Sq, Skv]: 2 heads do not broadcast to 4.
func.func @bias_heads(%q: tensor<1x4x8x16xf32>, %b: tensor<2x8x8xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op bias dim 0 is 2, which does not broadcast to 4 (type 'tensor<2x8x8xf32>')}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         bias(%b : tensor<2x8x8xf32>) outs(%q : tensor<1x4x8x16xf32>)
         {score_mods = [#attn.bias]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @bias_integer(%q: tensor<1x4x8x16xf32>, %b: tensor<8x8xi32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op bias must have f32, f16 or bf16 elements, got 'i32'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         bias(%b : tensor<8x8xi32>) outs(%q : tensor<1x4x8x16xf32>)
         {score_mods = [#attn.bias]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @temperature_shape(%q: tensor<1x4x8x16xf32>, %t: tensor<1x4xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op temperature must have rank 3, got 'tensor<1x4xf32>'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         temperature(%t : tensor<1x4xf32>) outs(%q : tensor<1x4x8x16xf32>)
         {score_mods = [#attn.temperature]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @rel_bias_table_buckets(%q: tensor<1x4x8x16xf32>, %t: tensor<4x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op rel_bias_table dim 1 is 16, expected 32 (type 'tensor<4x16xf32>')}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         rel_bias_table(%t : tensor<4x16xf32>) outs(%q : tensor<1x4x8x16xf32>)
         {score_mods = [#attn.rel_bias<num_buckets = 32, max_distance = 128>]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @alibi_slopes_count(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op #attn.alibi slopes has 2 values but there are 4 query heads}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {score_mods = [#attn.alibi<slopes = [0.5, 0.25]>]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @alibi_slopes_dynamic_heads(%q: tensor<1x?x8x16xf32>) -> tensor<1x?x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op #attn.alibi slopes lists one value per head, so the number of query heads must be static}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x?x8x16xf32>, tensor<1x?x8x16xf32>, tensor<1x?x8x16xf32>)
         outs(%q : tensor<1x?x8x16xf32>) {score_mods = [#attn.alibi<slopes = [0.5, 0.25]>]} -> tensor<1x?x8x16xf32>
  return %r : tensor<1x?x8x16xf32>
}

// -----

func.func @gaussian_count(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op #attn.gaussian has 1 values but there are 4 query heads}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>)
         {score_mods = [#attn.gaussian<mu = [0.0], sigma = [1.0]>]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @scale_inf(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op 'scale' must be finite, got 0x7FF0000000000000 : f64}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {scale = 0x7FF0000000000000 : f64} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @scale_f32(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+2 {{'attn.attention' op attribute 'scale' failed to satisfy constraint: 64-bit float attribute}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {scale = 0.5 : f32} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

//===----------------------------------------------------------------------===//
// attn.attention: regions
//===----------------------------------------------------------------------===//

// -----

func.func @score_mod_listed_without_region(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op #attn.score_mod is listed in score_mods but the op has no score_mod region}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {score_mods = [#attn.score_mod]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @score_mod_region_not_listed(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op the op has a score_mod region but score_mods does not list #attn.score_mod}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) score_mod {
         ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
           attn.yield %s : f32
         } -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @mask_mod_without_region(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op mask #attn.mask_mod needs a mask_mod region}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.or<[#attn.causal, #attn.mask_mod]>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @mask_mod_region_unused(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op the op has a mask_mod region but the mask does not use #attn.mask_mod}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) mask_mod {
         ^bb0(%b: index, %h: index, %i: index, %j: index):
           %t = arith.constant true
           attn.yield %t : i1
         } {mask = #attn.causal} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @score_mod_too_few_args(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op score_mod region must have 5 arguments (5 fixed + 0 captures), got 4}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) score_mod {
         ^bb0(%s: f32, %h: index, %i: index, %j: index):
           attn.yield %s : f32
         } {score_mods = [#attn.score_mod]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @mask_mod_missing_capture_arg(%q: tensor<1x4x8x16xf32>, %c: tensor<8xi32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op mask_mod region must have 5 arguments (4 fixed + 1 captures), got 4}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         captures(%c : tensor<8xi32>) outs(%q : tensor<1x4x8x16xf32>) mask_mod {
         ^bb0(%b: index, %h: index, %i: index, %j: index):
           %t = arith.constant true
           attn.yield %t : i1
         } {mask = #attn.mask_mod} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @score_mod_f16_score(%q: tensor<1x4x8x16xf16>) -> tensor<1x4x8x16xf16> {
  // expected-error @+1 {{'attn.attention' op score_mod region argument #0 must be 'f32', got 'f16'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf16>, tensor<1x4x8x16xf16>, tensor<1x4x8x16xf16>)
         outs(%q : tensor<1x4x8x16xf16>) score_mod {
         ^bb0(%s: f16, %b: index, %h: index, %i: index, %j: index):
           attn.yield %s : f16
         } {score_mods = [#attn.score_mod]} -> tensor<1x4x8x16xf16>
  return %r : tensor<1x4x8x16xf16>
}

// -----

func.func @mask_mod_i32_index(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op mask_mod region argument #3 must be 'index', got 'i32'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) mask_mod {
         ^bb0(%b: index, %h: index, %i: index, %j: i32):
           %t = arith.constant true
           attn.yield %t : i1
         } {mask = #attn.mask_mod} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @capture_arg_type(%q: tensor<1x4x8x16xf32>, %c: tensor<4xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op score_mod region argument #5 must be 'tensor<4xf32>', got 'tensor<?xf32>'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         captures(%c : tensor<4xf32>) outs(%q : tensor<1x4x8x16xf32>) score_mod {
         ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %t: tensor<?xf32>):
           attn.yield %s : f32
         } {score_mods = [#attn.score_mod]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @score_mod_yields_i1(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op score_mod region must end with attn.yield of one 'f32' value}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) score_mod {
         ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
           %t = arith.constant true
           attn.yield %t : i1
         } {score_mods = [#attn.score_mod]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @mask_mod_yields_two(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op mask_mod region must end with attn.yield of one 'i1' value}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) mask_mod {
         ^bb0(%b: index, %h: index, %i: index, %j: index):
           %t = arith.constant true
           attn.yield %t, %t : i1, i1
         } {mask = #attn.mask_mod} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @mask_mod_yields_nothing(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op mask_mod region must end with attn.yield of one 'i1' value}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) mask_mod {
         ^bb0(%b: index, %h: index, %i: index, %j: index):
           attn.yield
         } {mask = #attn.mask_mod} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// Only constants may come from outside a region.
func.func @region_uses_value_from_above(%q: tensor<1x4x8x16xf32>, %x: f32) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op score_mod region uses a non-constant value defined outside it; pass tensors through 'captures' instead}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) score_mod {
         ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
           %y = arith.addf %s, %x : f32
           attn.yield %y : f32
         } {score_mods = [#attn.score_mod]} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @captures_without_region(%q: tensor<1x4x8x16xf32>, %c: tensor<4xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op 'captures' given but there is no score_mod or mask_mod region to read them}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         captures(%c : tensor<4xf32>) outs(%q : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @region_without_terminator(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{empty block: expect at least a terminator}}
  %r = "attn.attention"(%q, %q, %q, %q) <{score_mods = [#attn.score_mod], operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1>}> ({
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
  }, {}) : (tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @region_two_blocks(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{region #0 ('score_mod_region') failed to verify constraint: region with at most 1 blocks}}
  %r = "attn.attention"(%q, %q, %q, %q) <{score_mods = [#attn.score_mod], operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1>}> ({
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    cf.br ^bb1
  ^bb1:
    "attn.yield"(%s) : (f32) -> ()
  }, {}) : (tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

//===----------------------------------------------------------------------===//
// attn.attention_grad: the forward's checks apply as they are (one case
// shows each group is shared); these are its own.
//===----------------------------------------------------------------------===//

func.func @grad_query_rank(%q: tensor<4x8x16xf32>, %o: tensor<1x4x8x16xf32>, %do: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op query must have rank 4 ([B, H, S, D]), got 'tensor<4x8x16xf32>'}}
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<4x8x16xf32>, tensor<4x8x16xf32>, tensor<4x8x16xf32>)
           out(%o : tensor<1x4x8x16xf32>) grad_out(%do : tensor<1x4x8x16xf32>)
           lse(%l : tensor<1x4x8xf32>)
           outs(%o, %o, %o : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return
}

// -----

func.func @grad_out_shape(%q: tensor<1x4x8x16xf32>, %o: tensor<1x4x9x16xf32>, %do: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op out (O) dim 2 is 9, expected 8 (type 'tensor<1x4x9x16xf32>')}}
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%o : tensor<1x4x9x16xf32>) grad_out(%do : tensor<1x4x8x16xf32>)
           lse(%l : tensor<1x4x8xf32>)
           outs(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return
}

// -----

func.func @grad_grad_out_type(%q: tensor<1x4x8x16xf32>, %o: tensor<1x4x8x16xf32>, %do: tensor<1x4x8x16xf16>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op grad_out (dO) must have the input's elements, got 'f16'}}
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%o : tensor<1x4x8x16xf32>) grad_out(%do : tensor<1x4x8x16xf16>)
           lse(%l : tensor<1x4x8xf32>)
           outs(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return
}

// -----

func.func @grad_dq_shape(%q: tensor<1x4x8x16xf32>, %o: tensor<1x4x8x16xf32>, %do: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>, %w: tensor<1x4x8x32xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op dQ out dim 3 is 32, expected 16 (type 'tensor<1x4x8x32xf32>')}}
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%o : tensor<1x4x8x16xf32>) grad_out(%do : tensor<1x4x8x16xf32>)
           lse(%l : tensor<1x4x8xf32>)
           outs(%w, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           -> tensor<1x4x8x32xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return
}

// -----

func.func @grad_dk_result(%q: tensor<1x4x8x16xf32>, %o: tensor<1x4x8x16xf32>, %do: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op dK result type 'tensor<1x4x8x16xf16>' differs from its out 'tensor<1x4x8x16xf32>'}}
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%o : tensor<1x4x8x16xf32>) grad_out(%do : tensor<1x4x8x16xf32>)
           lse(%l : tensor<1x4x8xf32>)
           outs(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf16>, tensor<1x4x8x16xf32>
  return
}

// -----

func.func @grad_missing_lse(%q: tensor<1x4x8x16xf32>, %o: tensor<1x4x8x16xf32>, %do: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op normalizer 'softmax' needs the forward's 'lse'}}
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%o : tensor<1x4x8x16xf32>) grad_out(%do : tensor<1x4x8x16xf32>)
           outs(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return
}

// -----

func.func @grad_sigmoid_lse(%q: tensor<1x4x8x16xf32>, %o: tensor<1x4x8x16xf32>, %do: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op normalizer 'sigmoid' has no LSE, but 'lse' was given}}
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%o : tensor<1x4x8x16xf32>) grad_out(%do : tensor<1x4x8x16xf32>)
           lse(%l : tensor<1x4x8xf32>)
           outs(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           {normalizer = #attn.sigmoid} -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return
}

// -----

func.func @grad_lse_type(%q: tensor<1x4x8x16xf32>, %o: tensor<1x4x8x16xf32>, %do: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf16>) {
  // expected-error @+1 {{'attn.attention_grad' op lse must have f32 elements, got 'f16'}}
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%o : tensor<1x4x8x16xf32>) grad_out(%do : tensor<1x4x8x16xf32>)
           lse(%l : tensor<1x4x8xf16>)
           outs(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return
}

// -----

func.func @grad_lse_shape(%q: tensor<1x4x8x16xf32>, %o: tensor<1x4x8x16xf32>, %do: tensor<1x4x8x16xf32>, %l: tensor<1x4x7xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op lse dim 2 is 7, expected 8 (type 'tensor<1x4x7xf32>')}}
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%o : tensor<1x4x8x16xf32>) grad_out(%do : tensor<1x4x8x16xf32>)
           lse(%l : tensor<1x4x7xf32>)
           outs(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return
}

// -----

func.func @grad_missing_sink(%q: tensor<1x4x8x16xf32>, %o: tensor<1x4x8x16xf32>, %do: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op #attn.sink_softmax needs a 'sink' operand}}
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%o : tensor<1x4x8x16xf32>) grad_out(%do : tensor<1x4x8x16xf32>)
           lse(%l : tensor<1x4x8xf32>)
           outs(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           {normalizer = #attn.sink_softmax} -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return
}

// -----

func.func @grad_score_mod_region(%q: tensor<1x4x8x16xf32>, %o: tensor<1x4x8x16xf32>, %do: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op cannot differentiate the score_mod region with respect to the score: 'math.erf' has no derivative rule}}
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%o : tensor<1x4x8x16xf32>) grad_out(%do : tensor<1x4x8x16xf32>)
           lse(%l : tensor<1x4x8xf32>)
           outs(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           score_mod {
           ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
             %t = math.tanh %s : f32
             // expected-note @+1 {{this op}}
             %e = math.erf %t : f32
             attn.yield %e : f32
           }
           {score_mods = [#attn.score_mod]} -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return
}

// -----

func.func @grad_mask_mod_without_region(%q: tensor<1x4x8x16xf32>, %o: tensor<1x4x8x16xf32>, %do: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op mask #attn.mask_mod needs a mask_mod region}}
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%o : tensor<1x4x8x16xf32>) grad_out(%do : tensor<1x4x8x16xf32>)
           lse(%l : tensor<1x4x8xf32>)
           outs(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           {mask = #attn.mask_mod} -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return
}

// -----

func.func @grad_wrt_absent(%q: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>, %d: tensor<4xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op 'wrt' entry 'bias' names no operand with a gradient (sink, bias, rel_bias_table, temperature, or captureN for capture N of the op)}}
  %r:4 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%q : tensor<1x4x8x16xf32>) grad_out(%q : tensor<1x4x8x16xf32>)
           lse(%l : tensor<1x4x8xf32>)
           outs(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           grads(%d : tensor<4xf32>)
           {wrt = ["bias"]} -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<4xf32>
  return
}

// -----

func.func @grad_wrt_count(%q: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>, %s: tensor<4xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op has 0 'grads' destinations for 1 'wrt' entries}}
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%q : tensor<1x4x8x16xf32>) grad_out(%q : tensor<1x4x8x16xf32>)
           lse(%l : tensor<1x4x8xf32>) sink(%s : tensor<4xf32>)
           outs(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           {normalizer = #attn.sink_softmax, wrt = ["sink"]} -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return
}

// -----

func.func @grad_wrt_twice(%q: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>, %s: tensor<4xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op 'wrt' names 'sink' twice}}
  %r:5 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%q : tensor<1x4x8x16xf32>) grad_out(%q : tensor<1x4x8x16xf32>)
           lse(%l : tensor<1x4x8xf32>) sink(%s : tensor<4xf32>)
           outs(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           grads(%s, %s : tensor<4xf32>, tensor<4xf32>)
           {normalizer = #attn.sink_softmax, wrt = ["sink", "sink"]} -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @grad_wrt_shape(%q: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>, %s: tensor<4xf32>, %d: tensor<5xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op gradient destination of 'sink' must be 'tensor<4xf32>', got 'tensor<5xf32>'}}
  %r:4 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%q : tensor<1x4x8x16xf32>) grad_out(%q : tensor<1x4x8x16xf32>)
           lse(%l : tensor<1x4x8xf32>) sink(%s : tensor<4xf32>)
           outs(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           grads(%d : tensor<5xf32>)
           {normalizer = #attn.sink_softmax, wrt = ["sink"]} -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<5xf32>
  return
}

// -----

func.func @grad_wrt_int_capture(%q: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>, %c: tensor<4xi32>, %d: tensor<4xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op 'wrt' entry 'capture0' must be an f32, f16 or bf16 tensor, got 'tensor<4xi32>'}}
  %r:4 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%q : tensor<1x4x8x16xf32>) grad_out(%q : tensor<1x4x8x16xf32>)
           lse(%l : tensor<1x4x8xf32>) captures(%c : tensor<4xi32>)
           outs(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           grads(%d : tensor<4xf32>)
           score_mod {
           ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %t: tensor<4xi32>):
             attn.yield %s : f32
           }
           {score_mods = [#attn.score_mod], wrt = ["capture0"]} -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<4xf32>
  return
}

// -----

func.func @grad_wrt_capture_undifferentiable(%q: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>, %c: tensor<4xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op cannot differentiate the score_mod region with respect to 'capture0': 'math.erf' has no derivative rule}}
  %r:4 = attn.attention_grad ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           out(%q : tensor<1x4x8x16xf32>) grad_out(%q : tensor<1x4x8x16xf32>)
           lse(%l : tensor<1x4x8xf32>) captures(%c : tensor<4xf32>)
           outs(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
           grads(%c : tensor<4xf32>)
           score_mod {
           ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %t: tensor<4xf32>):
             %x = tensor.extract %t[%h] : tensor<4xf32>
             // expected-note @+1 {{this op}}
             %e = math.erf %x : f32
             %y = arith.addf %s, %e : f32
             attn.yield %y : f32
           }
           {score_mods = [#attn.score_mod], wrt = ["capture0"]} -> tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<4xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// attn.yield and attn.position
//===----------------------------------------------------------------------===//

// -----

func.func @yield_outside(%x: f32) {
  // expected-error @+1 {{'attn.yield' op expects parent op to be one of 'attn.attention, attn.attention_grad, attn.mask_blocks'}}
  attn.yield %x : f32
}

// -----

func.func @position_outside(%b: index, %i: index) -> index {
  // expected-error @+1 {{'attn.position' op is only valid inside the score_mod or mask_mod region of attn.attention}}
  %p = attn.position %b, %i : index
  return %p : index
}

// -----

func.func @position_i64(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) mask_mod {
         ^bb0(%b: index, %h: index, %i: index, %j: index):
           // expected-error @+1 {{invalid kind of type specified: expected builtin.index, but found 'i64'}}
           %p = attn.position %b, %i : i64
           %t = arith.constant true
           attn.yield %t : i1
         } {mask = #attn.mask_mod} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

//===----------------------------------------------------------------------===//
// attn.merge
//===----------------------------------------------------------------------===//

// -----

func.func @merge_no_partials(%o: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.merge' op needs at least one partial result}}
  %r:2 = "attn.merge"(%o, %l) <{operandSegmentSizes = array<i32: 0, 0, 1, 1>}>
      : (tensor<1x4x8x16xf32>, tensor<1x4x8xf32>) -> (tensor<1x4x8x16xf32>, tensor<1x4x8xf32>)
  return
}

// -----

func.func @merge_count_mismatch(%o: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.merge' op has 1 partial outputs but 2 partial LSEs}}
  %r:2 = attn.merge ins(%o : tensor<1x4x8x16xf32>) lse(%l, %l : tensor<1x4x8xf32>, tensor<1x4x8xf32>)
           outs(%o, %l : tensor<1x4x8x16xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8x16xf32>, tensor<1x4x8xf32>
  return
}

// -----

func.func @merge_output_rank(%o: tensor<4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.merge' op output must be a rank-4 f32, f16 or bf16 tensor, got 'tensor<4x8x16xf32>'}}
  %r:2 = attn.merge ins(%o : tensor<4x8x16xf32>) lse(%l : tensor<1x4x8xf32>)
           outs(%o, %l : tensor<4x8x16xf32>, tensor<1x4x8xf32>) -> tensor<4x8x16xf32>, tensor<1x4x8xf32>
  return
}

// -----

func.func @merge_output_f64(%o: tensor<1x4x8x16xf64>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.merge' op output must be a rank-4 f32, f16 or bf16 tensor, got 'tensor<1x4x8x16xf64>'}}
  %r:2 = attn.merge ins(%o : tensor<1x4x8x16xf64>) lse(%l : tensor<1x4x8xf32>)
           outs(%o, %l : tensor<1x4x8x16xf64>, tensor<1x4x8xf32>) -> tensor<1x4x8x16xf64>, tensor<1x4x8xf32>
  return
}

// -----

func.func @merge_partial_shape(%o0: tensor<1x4x8x32xf32>, %o: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.merge' op partial output #0 dim 3 is 32, expected 16 (type 'tensor<1x4x8x32xf32>')}}
  %r:2 = attn.merge ins(%o0 : tensor<1x4x8x32xf32>) lse(%l : tensor<1x4x8xf32>)
           outs(%o, %l : tensor<1x4x8x16xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8x16xf32>, tensor<1x4x8xf32>
  return
}

// -----

func.func @merge_partial_rank(%o0: tensor<1x4x8xf32>, %o: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.merge' op partial output #0 must have rank 4, got 'tensor<1x4x8xf32>'}}
  %r:2 = attn.merge ins(%o0 : tensor<1x4x8xf32>) lse(%l : tensor<1x4x8xf32>)
           outs(%o, %l : tensor<1x4x8x16xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8x16xf32>, tensor<1x4x8xf32>
  return
}

// -----

func.func @merge_partial_integer(%o0: tensor<1x4x8x16xi32>, %o: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.merge' op partial output #0 must have f32, f16 or bf16 elements, got 'i32'}}
  %r:2 = attn.merge ins(%o0 : tensor<1x4x8x16xi32>) lse(%l : tensor<1x4x8xf32>)
           outs(%o, %l : tensor<1x4x8x16xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8x16xf32>, tensor<1x4x8xf32>
  return
}

// -----

// With bshd, the LSE is still [B, H, S]: here H = 8, S = 4.
func.func @merge_partial_lse_bshd(%o: tensor<1x4x8x16xf32>, %l0: tensor<1x4x8xf32>, %l: tensor<1x8x4xf32>) {
  // expected-error @+1 {{'attn.merge' op partial LSE #0 dim 1 is 4, expected 8 (type 'tensor<1x4x8xf32>')}}
  %r:2 = attn.merge ins(%o : tensor<1x4x8x16xf32>) lse(%l0 : tensor<1x4x8xf32>)
           outs(%o, %l : tensor<1x4x8x16xf32>, tensor<1x8x4xf32>)
           {layout = #attn.layout<bshd>} -> tensor<1x4x8x16xf32>, tensor<1x8x4xf32>
  return
}

// -----

func.func @merge_partial_lse_f16(%o: tensor<1x4x8x16xf32>, %l0: tensor<1x4x8xf16>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.merge' op partial LSE #0 must have f32 elements, got 'f16'}}
  %r:2 = attn.merge ins(%o : tensor<1x4x8x16xf32>) lse(%l0 : tensor<1x4x8xf16>)
           outs(%o, %l : tensor<1x4x8x16xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8x16xf32>, tensor<1x4x8xf32>
  return
}

// -----

func.func @merge_lse_rank(%o: tensor<1x4x8x16xf32>, %l0: tensor<1x4x8xf32>, %l: tensor<1x4x8x1xf32>) {
  // expected-error @+1 {{'attn.merge' op LSE must have rank 3, got 'tensor<1x4x8x1xf32>'}}
  %r:2 = attn.merge ins(%o : tensor<1x4x8x16xf32>) lse(%l0 : tensor<1x4x8xf32>)
           outs(%o, %l : tensor<1x4x8x16xf32>, tensor<1x4x8x1xf32>) -> tensor<1x4x8x16xf32>, tensor<1x4x8x1xf32>
  return
}

// -----

func.func @merge_result_types(%o: tensor<1x4x8x16xf32>, %l: tensor<1x4x8xf32>) {
  // expected-error @+1 {{'attn.merge' op result types must equal the outs' types}}
  %r:2 = attn.merge ins(%o : tensor<1x4x8x16xf32>) lse(%l : tensor<1x4x8xf32>)
           outs(%o, %l : tensor<1x4x8x16xf32>, tensor<1x4x8xf32>) -> tensor<?x4x8x16xf32>, tensor<1x4x8xf32>
  return
}

//===----------------------------------------------------------------------===//
// Attribute parameters
//===----------------------------------------------------------------------===//

// -----

// expected-error @+1 {{#attn.relu: 'power' must be 1 or 2, got 3}}
func.func @relu_power() attributes {n = #attn.relu<power = 3>} { return }

// -----

// expected-error @+2 {{expected one of [none, seq_len, row_sum] for denominator of relu attention, got: mean}}
// expected-error @+1 {{failed to parse Attn_ReluAttr parameter 'norm'}}
func.func @relu_norm() attributes {n = #attn.relu<norm = mean>} { return }

// -----

// expected-error @+1 {{#attn.sigmoid: 'beta' must be finite, got nan}}
func.func @sigmoid_beta_nan() attributes {n = #attn.sigmoid<beta = 0x7FF8000000000000>} { return }

// -----

// expected-error @+2 {{expected floating point literal}}
// expected-error @+1 {{failed to parse Attn_SigmoidAttr parameter 'beta'}}
func.func @sigmoid_beta_word() attributes {n = #attn.sigmoid<beta = large>} { return }

// -----

// expected-error @+1 {{#attn.paged: 'page_size' must be positive, got 0}}
func.func @paged_page_size_zero() attributes {p = #attn.paged<page_size = 0>} { return }

// -----

// expected-error @+1 {{#attn.quant: 'bits' must be 8, 4 or 2, got 3}}
func.func @quant_bits() attributes {q = #attn.quant<bits = 3, group = 32, scale = f16>} { return }

// -----

// expected-error @+1 {{#attn.quant: 'scale' must be f16 or f32, got 'bf16'}}
func.func @quant_scale() attributes {q = #attn.quant<bits = 4, group = 32, scale = bf16>} { return }

// -----

// expected-error @+1 {{#attn.quant: 'group' must be positive, got 0}}
func.func @quant_group_zero() attributes {q = #attn.quant<bits = 4, group = 0, scale = f16>} { return }

// -----

// expected-error @+1 {{#attn.quant: 'residual' (48) must be a multiple of 'group' (32)}}
func.func @quant_residual() attributes {q = #attn.quant<bits = 4, group = 32, scale = f16, residual = 48>} { return }

// -----

// expected-error @+1 {{#attn.quant: fp8 codes (format = e4m3) need bits = 8 and group = 1 (one scale per head), got bits = 8, group = 32}}
func.func @quant_fp8_group() attributes {q = #attn.quant<bits = 8, group = 32, scale = f32, format = e4m3>} { return }

// -----

// expected-error @+1 {{#attn.sliding_window: 'left' must be non-negative, got -1}}
func.func @window_left() attributes {m = #attn.sliding_window<left = -1>} { return }

// -----

// expected-error @+1 {{#attn.sliding_window: 'right' must be non-negative, got -4}}
func.func @window_right() attributes {m = #attn.sliding_window<left = 4, right = -4>} { return }

// -----

// expected-error @+1 {{#attn.a_shape: 'sinks' must be non-negative, got -1}}
func.func @a_shape_sinks() attributes {m = #attn.a_shape<sinks = -1, window = 8>} { return }

// -----

// expected-error @+1 {{#attn.a_shape: 'window' must be non-negative, got -8}}
func.func @a_shape_window() attributes {m = #attn.a_shape<sinks = 4, window = -8>} { return }

// -----

// expected-error @+1 {{#attn.dilated_window: 'window' must be non-negative, got -1}}
func.func @dilated_window_window() attributes {m = #attn.dilated_window<window = -1, dilation = 2>} { return }

// -----

// expected-error @+1 {{#attn.dilated_window: 'dilation' must be at least 1, got 0}}
func.func @dilated_window_dilation() attributes {m = #attn.dilated_window<window = 8, dilation = 0>} { return }

// -----

// expected-error @+1 {{struct is missing required parameter: left}}
func.func @window_missing_left() attributes {m = #attn.sliding_window<right = 2>} { return }

// -----

// expected-error @+1 {{duplicate or unknown struct parameter name: left}}
func.func @window_duplicate_left() attributes {m = #attn.sliding_window<left = 1, left = 2>} { return }

// -----

// expected-error @+1 {{#attn.chunked: 'size' must be positive, got 0}}
func.func @chunk_zero() attributes {m = #attn.chunked<size = 0>} { return }

// -----

// expected-error @+1 {{#attn.halo: 'block' must be positive, got 0}}
func.func @halo_block() attributes {m = #attn.halo<block = 0, halo = 1>} { return }

// -----

// expected-error @+1 {{#attn.halo: 'halo' must be non-negative, got -1}}
func.func @halo_halo() attributes {m = #attn.halo<block = 8, halo = -1>} { return }

// -----

// expected-error @+1 {{#attn.dilated: 'segment' must be positive, got 0}}
func.func @dilated_segment() attributes {m = #attn.dilated<segment = 0, rate = 1>} { return }

// -----

// expected-error @+1 {{#attn.dilated: 'rate' must be positive, got 0}}
func.func @dilated_rate() attributes {m = #attn.dilated<segment = 8, rate = 0>} { return }

// -----

// expected-error @+1 {{#attn.dilated: 'rate' (8) must not exceed 'segment' (4)}}
func.func @dilated_rate_above_segment() attributes {m = #attn.dilated<segment = 4, rate = 8>} { return }

// -----

// expected-error @+1 {{#attn.global: 'first' must be non-negative, got -2}}
func.func @global_first() attributes {m = #attn.global<first = -2>} { return }

// -----

// expected-error @+1 {{#attn.global: positions must be non-negative, got -1}}
func.func @global_positions() attributes {m = #attn.global<positions = [3, -1]>} { return }

// -----

// expected-error @+1 {{#attn.global: needs 'first' > 0 or 'positions'}}
func.func @global_empty() attributes {m = #attn.global<positions = []>} { return }

// -----

// expected-error @+1 {{#attn.sinks: 'count' must be non-negative, got -4}}
func.func @sinks_count() attributes {m = #attn.sinks<count = -4>} { return }

// -----

// expected-error @+2 {{expected integer value}}
// expected-error @+1 {{failed to parse Attn_SinksAttr parameter 'count'}}
func.func @sinks_float() attributes {m = #attn.sinks<count = 1.5>} { return }

// -----

// expected-error @+1 {{#attn.prefix_lm: 'prefix' must be non-negative, got -1}}
func.func @prefix_lm() attributes {m = #attn.prefix_lm<prefix = -1>} { return }

// -----

// expected-error @+1 {{#attn.neighborhood_2d: 'rows' must be positive, got 0}}
func.func @neighborhood_rows() attributes {m = #attn.neighborhood_2d<rows = 0, cols = 4, kernel_rows = 3, kernel_cols = 3>} { return }

// -----

// expected-error @+1 {{#attn.neighborhood_2d: 'cols' must be positive, got -4}}
func.func @neighborhood_cols() attributes {m = #attn.neighborhood_2d<rows = 4, cols = -4, kernel_rows = 3, kernel_cols = 3>} { return }

// -----

// expected-error @+1 {{#attn.neighborhood_2d: 'kernel_rows' must be positive, got 0}}
func.func @neighborhood_kernel_rows() attributes {m = #attn.neighborhood_2d<rows = 4, cols = 4, kernel_rows = 0, kernel_cols = 3>} { return }

// -----

// expected-error @+1 {{#attn.neighborhood_2d: 'kernel_cols' must be positive, got 0}}
func.func @neighborhood_kernel_cols() attributes {m = #attn.neighborhood_2d<rows = 4, cols = 4, kernel_rows = 3, kernel_cols = 0>} { return }

// -----

// expected-error @+1 {{#attn.window_2d: 'rows' must be positive, got 0}}
func.func @window_2d_rows() attributes {m = #attn.window_2d<rows = 0, cols = 4, window_rows = 2, window_cols = 2>} { return }

// -----

// expected-error @+1 {{#attn.window_2d: 'cols' must be positive, got 0}}
func.func @window_2d_cols() attributes {m = #attn.window_2d<rows = 4, cols = 0, window_rows = 2, window_cols = 2>} { return }

// -----

// expected-error @+1 {{#attn.window_2d: 'window_rows' must be positive, got 0}}
func.func @window_2d_window_rows() attributes {m = #attn.window_2d<rows = 4, cols = 4, window_rows = 0, window_cols = 2>} { return }

// -----

// expected-error @+1 {{#attn.window_2d: 'window_cols' must be positive, got -2}}
func.func @window_2d_window_cols() attributes {m = #attn.window_2d<rows = 4, cols = 4, window_rows = 2, window_cols = -2>} { return }

// -----

// expected-error @+1 {{#attn.directional_2d: 'rows' must be positive, got 0}}
func.func @directional_rows() attributes {m = #attn.directional_2d<rows = 0, cols = 4, directions = [1, 0]>} { return }

// -----

// expected-error @+1 {{#attn.directional_2d: 'cols' must be positive, got 0}}
func.func @directional_cols() attributes {m = #attn.directional_2d<rows = 4, cols = 0, directions = [1, 0]>} { return }

// -----

// expected-error @+1 {{#attn.directional_2d: 'directions' must hold a non-empty list of (row, col) pairs, got 3 values}}
func.func @directional_odd() attributes {m = #attn.directional_2d<rows = 4, cols = 4, directions = [1, 0, 1]>} { return }

// -----

// expected-error @+1 {{#attn.directional_2d: 'directions' must hold a non-empty list of (row, col) pairs, got 0 values}}
func.func @directional_missing() attributes {m = #attn.directional_2d<rows = 4, cols = 4>} { return }

// -----

// expected-error @+1 {{#attn.directional_2d: direction 1 is the zero vector}}
func.func @directional_zero() attributes {m = #attn.directional_2d<rows = 4, cols = 4, directions = [1, 0, 0, 0]>} { return }

// -----

// expected-error @+2 {{expected 'true' or 'false'}}
// expected-error @+1 {{failed to parse Attn_Directional2DAttr parameter 'half_plane'}}
func.func @directional_flag() attributes {m = #attn.directional_2d<rows = 4, cols = 4, directions = [1, 0], half_plane = 1>} { return }

// -----

// expected-error @+1 {{#attn.and: operand #attn.softmax is not a mask attribute}}
func.func @and_of_normalizer() attributes {m = #attn.and<[#attn.causal, #attn.softmax]>} { return }

// -----

// expected-error @+1 {{#attn.or: operand 1 : i64 is not a mask attribute}}
func.func @or_of_integer() attributes {m = #attn.or<[#attn.causal, 1]>} { return }

// -----

// expected-error @+1 {{#attn.not: operand #attn.alibi is not a mask attribute}}
func.func @not_of_score_mod() attributes {m = #attn.not<#attn.alibi>} { return }

// -----

// A nested operand is checked where it is written, and the error propagates.
// expected-error @+3 {{#attn.or: operand #attn.bias is not a mask attribute}}
// expected-error @+2 {{failed to parse Attn_NotMaskAttr parameter 'mask'}}
// expected-error @+1 {{failed to parse Attn_AndMaskAttr parameter 'masks'}}
func.func @nested_non_mask() attributes {m = #attn.and<[#attn.causal, #attn.not<#attn.or<[#attn.bias]>>]>} { return }

// -----

// An empty operand list does not parse, so "needs at least one operand"
// cannot be reached from text.
// expected-error @+2 {{expected attribute value}}
// expected-error @+1 {{failed to parse Attn_AndMaskAttr parameter 'masks'}}
func.func @and_empty() attributes {m = #attn.and<[]>} { return }

// -----

// expected-error @+1 {{expected '['}}
func.func @or_without_brackets() attributes {m = #attn.or<#attn.causal>} { return }

// -----

// expected-error @+1 {{expected '>'}}
func.func @not_two_operands() attributes {m = #attn.not<#attn.causal, #attn.full>} { return }

// -----

// expected-error @+1 {{#attn.alibi: every slope must be finite, got INF}}
func.func @alibi_inf_slope() attributes {s = #attn.alibi<slopes = [0.5, 0x7FF0000000000000]>} { return }

// -----

// expected-error @+1 {{#attn.softcap: 'cap' must be positive and finite, got 0.000000e+00}}
func.func @softcap_zero() attributes {s = #attn.softcap<cap = 0.0>} { return }

// -----

// expected-error @+1 {{#attn.softcap: 'cap' must be positive and finite, got INF}}
func.func @softcap_inf() attributes {s = #attn.softcap<cap = 0x7FF0000000000000>} { return }

// -----

// expected-error @+3 {{unexpected decimal integer literal for a floating point value}}
// expected-note @+2 {{add a trailing dot to make the literal a float}}
// expected-error @+1 {{failed to parse Attn_SoftcapAttr parameter 'cap'}}
func.func @softcap_integer() attributes {s = #attn.softcap<cap = 30>} { return }

// -----

// expected-error @+1 {{#attn.rel_bias: 'num_buckets' must be at least 4, got 2}}
func.func @rel_bias_buckets() attributes {s = #attn.rel_bias<num_buckets = 2, max_distance = 128>} { return }

// -----

// expected-error @+1 {{#attn.rel_bias: 'num_buckets' must be at least 2, got 1}}
func.func @rel_bias_buckets_unidirectional() attributes {s = #attn.rel_bias<num_buckets = 1, max_distance = 128, bidirectional = false>} { return }

// -----

// expected-error @+1 {{#attn.rel_bias: 'max_distance' must exceed the exact range 8, got 8}}
func.func @rel_bias_distance() attributes {s = #attn.rel_bias<num_buckets = 32, max_distance = 8>} { return }

// -----

// expected-error @+1 {{#attn.gaussian: 'mu' and 'sigma' must be non-empty and of equal length, got 2 and 1}}
func.func @gaussian_lengths() attributes {s = #attn.gaussian<mu = [0.0, 1.0], sigma = [1.0]>} { return }

// -----

// expected-error @+1 {{#attn.gaussian: 'mu' and 'sigma' must be non-empty and of equal length, got 0 and 0}}
func.func @gaussian_empty() attributes {s = #attn.gaussian<mu = [], sigma = []>} { return }

// -----

// expected-error @+1 {{#attn.gaussian: every 'mu' must be finite, got nan}}
func.func @gaussian_mu_nan() attributes {s = #attn.gaussian<mu = [0x7FF8000000000000], sigma = [1.0]>} { return }

// -----

// expected-error @+1 {{#attn.gaussian: every 'sigma' must be positive, got 0.000000e+00}}
func.func @gaussian_sigma() attributes {s = #attn.gaussian<mu = [0.0, 1.0], sigma = [1.0, 0.0]>} { return }

// -----

// expected-error @+1 {{#attn.config: 'block_q' must be non-negative, got -1}}
func.func @config_block_q() attributes {c = #attn.config<block_q = -1>} { return }

// -----

// expected-error @+1 {{#attn.config: 'kv_splits' must be non-negative, got -8}}
func.func @config_kv_splits() attributes {c = #attn.config<block_kv = 64, kv_splits = -8>} { return }

// -----

// expected-error @+1 {{#attn.config: 'q_blocks' must be non-negative, got -2}}
func.func @config_q_blocks() attributes {c = #attn.config<q_blocks = -2>} { return }

// -----

// expected-error @+1 {{#attn.config: 'vector_width' must be 0 (the target's), 4, 8 or 16, got 12}}
func.func @config_vector_width() attributes {c = #attn.config<vector_width = 12>} { return }

// -----

// expected-error @+1 {{#attn.config: 'dot' must be "fma", "bf16", "amx" or "amx_int8", got "tmul"}}
func.func @config_dot() attributes {c = #attn.config<dot = "tmul">} { return }

// -----

// expected-error @+1 {{#attn.config: dot = "amx" needs 'block_kv' to be a multiple of 32, got 48}}
func.func @config_dot_amx_block_kv() attributes {c = #attn.config<block_kv = 48, dot = "amx">} { return }

// -----

// expected-error @+1 {{#attn.config: dot = "amx" needs 'block_q' to be a multiple of 32, got 16}}
func.func @config_dot_amx_block_q() attributes {c = #attn.config<block_q = 16, dot = "amx">} { return }

// -----

// expected-error @+1 {{#attn.config: dot = "amx" needs vector_width 16 (AVX-512), got 8}}
func.func @config_dot_amx_vector_width() attributes {c = #attn.config<vector_width = 8, dot = "amx">} { return }

// -----

// expected-error @+1 {{#attn.config: dot = "amx_int8" needs 'block_q' to be a multiple of 32, got 48}}
func.func @config_dot_amx_int8_block_q() attributes {c = #attn.config<block_q = 48, dot = "amx_int8">} { return }

// -----

// expected-error @+1 {{#attn.config: 'mma' must be "sync" or "wgmma", got "wmma"}}
func.func @config_mma() attributes {c = #attn.config<mma = "wmma">} { return }

// -----

// expected-error @+2 {{expected ::mlir::attn::Layout to be one of: bhsd, bshd}}
// expected-error @+1 {{failed to parse Attn_LayoutAttr parameter 'value'}}
func.func @layout_unknown() attributes {l = #attn.layout<bsdh>} { return }

// -----

// expected-error @+1 {{unknown attribute `causal_mask` in dialect `attn`}}
func.func @unknown_attribute() attributes {m = #attn.causal_mask} { return }

// -----

func.func @layout_not_a_layout(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+2 {{'attn.attention' op attribute 'layout' failed to satisfy constraint: Tensor layout: [B, H, S, D] (bhsd) or [B, S, H, D] (bshd)}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {layout = "bshd"} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @config_not_a_config(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+2 {{'attn.attention' op attribute 'config' failed to satisfy constraint: Tile plan: tile sizes and code-generation knobs}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {config = #attn.causal} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// #attn.blocks overrides the mask inside it, so it cannot sit under and/or/not.
func.func @blocks_nested(%q: tensor<1x4x8x16xf32>, %t: tensor<1x1x1x1xi8>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op #attn.blocks must be the whole mask (its table overrides the mask inside it), got #attn.and<[#attn.causal, #attn.blocks<block_q = 8, block_kv = 8, mask = #attn.full>]>}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         dense_mask(%t : tensor<1x1x1x1xi8>) outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.and<[#attn.causal, #attn.blocks<block_q = 8, block_kv = 8, mask = #attn.full>]>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @blocks_with_dense_inside(%q: tensor<1x4x8x16xf32>, %t: tensor<1x1x1x1xi8>) -> tensor<1x4x8x16xf32> {
  // expected-error @+2 {{#attn.blocks: its mask may not hold #attn.dense or #attn.blocks (the block table is the dense_mask operand), got #attn.and<[#attn.causal, #attn.dense]>}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         dense_mask(%t : tensor<1x1x1x1xi8>) outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.blocks<block_q = 8, block_kv = 8, mask = #attn.and<[#attn.causal, #attn.dense]>>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @blocks_without_table(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op mask #attn.dense or #attn.blocks needs the 'dense_mask' operand}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.blocks<block_q = 4, block_kv = 4, mask = #attn.causal>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// One entry per block: ceil(8 / 4) = 2 rows and columns.
func.func @blocks_table_shape(%q: tensor<1x4x8x16xf32>, %t: tensor<1x1x3x2xi8>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{'attn.attention' op dense_mask (the block table) dim 2 is 3, which does not broadcast to 2 (type 'tensor<1x1x3x2xi8>')}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         dense_mask(%t : tensor<1x1x3x2xi8>) outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.blocks<block_q = 4, block_kv = 4, mask = #attn.causal>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @blocks_zero_block(%q: tensor<1x4x8x16xf32>, %t: tensor<1x1x1x1xi8>) -> tensor<1x4x8x16xf32> {
  // expected-error @+2 {{#attn.blocks: 'block_q' must be positive, got 0}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         dense_mask(%t : tensor<1x1x1x1xi8>) outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.blocks<block_q = 0, block_kv = 8, mask = #attn.causal>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

func.func @natten_zero_dilation(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+2 {{#attn.natten: 'dilation_cols' must be positive, got 0}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>)
         outs(%q : tensor<1x4x8x16xf32>) {mask = #attn.natten<rows = 2, cols = 4, kernel_rows = 1, kernel_cols = 3, dilation_cols = 0>} -> tensor<1x4x8x16xf32>
  return %r : tensor<1x4x8x16xf32>
}

// -----

// attn.mask_blocks

func.func @mask_blocks_table_shape(%q: tensor<1x4x100x1xf32>, %k: tensor<1x4x70x1xf32>, %t: tensor<1x4x2x2xi8>) -> tensor<1x4x2x2xi8> {
  // expected-error @+1 {{'attn.mask_blocks' op table dim 2 is 2, expected 4}}
  %r = attn.mask_blocks ins(%q, %k, %k : tensor<1x4x100x1xf32>, tensor<1x4x70x1xf32>, tensor<1x4x70x1xf32>)
         outs(%t : tensor<1x4x2x2xi8>) {mask = #attn.causal, block_q = 32 : i64, block_kv = 64 : i64} -> tensor<1x4x2x2xi8>
  return %r : tensor<1x4x2x2xi8>
}

// -----

func.func @mask_blocks_table_type(%q: tensor<1x4x8x1xf32>, %t: tensor<1x4x1x1xi32>) -> tensor<1x4x1x1xi32> {
  // expected-error @+1 {{'attn.mask_blocks' op table must have i8}}
  %r = attn.mask_blocks ins(%q, %q, %q : tensor<1x4x8x1xf32>, tensor<1x4x8x1xf32>, tensor<1x4x8x1xf32>)
         outs(%t : tensor<1x4x1x1xi32>) {mask = #attn.causal, block_q = 8 : i64, block_kv = 8 : i64} -> tensor<1x4x1x1xi32>
  return %r : tensor<1x4x1x1xi32>
}

// -----

func.func @mask_blocks_zero_block(%q: tensor<1x4x8x1xf32>, %t: tensor<1x4x1x1xi8>) -> tensor<1x4x1x1xi8> {
  // expected-error @+1 {{'attn.mask_blocks' op block sizes must be positive, got block_q = 0 and block_kv = 8}}
  %r = attn.mask_blocks ins(%q, %q, %q : tensor<1x4x8x1xf32>, tensor<1x4x8x1xf32>, tensor<1x4x8x1xf32>)
         outs(%t : tensor<1x4x1x1xi8>) {mask = #attn.causal, block_q = 0 : i64, block_kv = 8 : i64} -> tensor<1x4x1x1xi8>
  return %r : tensor<1x4x1x1xi8>
}

// -----

func.func @mask_blocks_score_mods(%q: tensor<1x4x8x1xf32>, %t: tensor<1x4x1x1xi8>) -> tensor<1x4x1x1xi8> {
  // expected-error @+1 {{'attn.mask_blocks' op classifies the mask only and takes no score modifiers or score_mod region}}
  %r = attn.mask_blocks ins(%q, %q, %q : tensor<1x4x8x1xf32>, tensor<1x4x8x1xf32>, tensor<1x4x8x1xf32>)
         outs(%t : tensor<1x4x1x1xi8>) {mask = #attn.causal, score_mods = [#attn.alibi], block_q = 8 : i64, block_kv = 8 : i64} -> tensor<1x4x1x1xi8>
  return %r : tensor<1x4x1x1xi8>
}

// -----

func.func @mask_blocks_normalizer(%q: tensor<1x4x8x1xf32>, %t: tensor<1x4x1x1xi8>) -> tensor<1x4x1x1xi8> {
  // expected-error @+1 {{'attn.mask_blocks' op classifies the mask only and takes no normalizer, got #attn.sigmoid}}
  %r = attn.mask_blocks ins(%q, %q, %q : tensor<1x4x8x1xf32>, tensor<1x4x8x1xf32>, tensor<1x4x8x1xf32>)
         outs(%t : tensor<1x4x1x1xi8>) {mask = #attn.causal, normalizer = #attn.sigmoid, block_q = 8 : i64, block_kv = 8 : i64} -> tensor<1x4x1x1xi8>
  return %r : tensor<1x4x1x1xi8>
}

// -----

func.func @mask_blocks_missing_segments(%q: tensor<1x4x8x1xf32>, %t: tensor<1x4x1x1xi8>) -> tensor<1x4x1x1xi8> {
  // expected-error @+1 {{'attn.mask_blocks' op mask #attn.document needs the 'segments' operand}}
  %r = attn.mask_blocks ins(%q, %q, %q : tensor<1x4x8x1xf32>, tensor<1x4x8x1xf32>, tensor<1x4x8x1xf32>)
         outs(%t : tensor<1x4x1x1xi8>) {mask = #attn.document, block_q = 8 : i64, block_kv = 8 : i64} -> tensor<1x4x1x1xi8>
  return %r : tensor<1x4x1x1xi8>
}
