// REQUIRES: amx-int8
// dot = "amx_int8" (opt-in) on an int8 quantized cache: the plan says so,
// and where the opt-in does not apply the plan is an error that names the
// rule (attn-tile-cpu-amx-int8.mlir checks the lowering).
// RUN: attn-opt %s -attn-print-tile-plan="target=cpu vector-width=16" -split-input-file -verify-diagnostics -o /dev/null

!t = tensor<?x?x?x64xbf16>
!c = tensor<?x?x?x64xi8>
!ks = tensor<?x?x?x64xf16>
!vs = tensor<?x?x?x2xf16>
func.func @int8_causal(%q: !t, %k: !c, %ks: !ks, %vs: !vs, %n: tensor<?xi32>, %o: !t) -> !t {
  // expected-remark @+1 {{tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "amx_int8"> (fused; K and V dequantised from 8-bit codes as each kv tile loads; Q K^T by AMX int8 tiles from the key codes, the query rounded to int8)}}
  %r = attn.attention ins(%q, %k, %k : !t, !c, !c) kv_quant(%ks, %ks, %vs, %vs : !ks, !ks, !vs, !vs)
         kv_len(%n : tensor<?xi32>) outs(%o : !t)
         {mask = #attn.causal, config = #attn.config<dot = "amx_int8">,
          quant = #attn.quant<bits = 8, group = 32, scale = f16>} -> !t
  return %r : !t
}

// -----

!t = tensor<?x?x?x64xf32>
!c = tensor<?x?x?x32xi8>
!ks = tensor<?x?x?x64xf16>
!vs = tensor<?x?x?x2xf16>
func.func @int4(%q: !t, %k: !c, %ks: !ks, %vs: !vs, %n: tensor<?xi32>, %o: !t) -> !t {
  // expected-error @+1 {{#attn.config dot = "amx_int8" needs an int8 quantized cache (#attn.quant with bits = 8)}}
  %r = attn.attention ins(%q, %k, %k : !t, !c, !c) kv_quant(%ks, %ks, %vs, %vs : !ks, !ks, !vs, !vs)
         kv_len(%n : tensor<?xi32>) outs(%o : !t)
         {config = #attn.config<dot = "amx_int8">,
          quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> !t
  return %r : !t
}

// -----

!t = tensor<?x?x?x64xf32>
!c = tensor<?x?x?x64xi8>
!ks = tensor<?x?x?x64xf16>
!vs = tensor<?x?x?x4xf16>
func.func @group16(%q: !t, %k: !c, %ks: !ks, %vs: !vs, %n: tensor<?xi32>, %o: !t) -> !t {
  // expected-error @+1 {{#attn.config dot = "amx_int8" needs key groups of a multiple of 32 tokens, not 16}}
  %r = attn.attention ins(%q, %k, %k : !t, !c, !c) kv_quant(%ks, %ks, %vs, %vs : !ks, !ks, !vs, !vs)
         kv_len(%n : tensor<?xi32>) outs(%o : !t)
         {config = #attn.config<dot = "amx_int8">,
          quant = #attn.quant<bits = 8, group = 16, scale = f16>} -> !t
  return %r : !t
}

// -----

!t = tensor<?x?x?x32xf32>
!c = tensor<?x?x?x32xi8>
!ks = tensor<?x?x?x32xf16>
!vs = tensor<?x?x?x1xf16>
func.func @head_dim_32(%q: !t, %k: !c, %ks: !ks, %vs: !vs, %n: tensor<?xi32>, %o: !t) -> !t {
  // expected-error @+1 {{#attn.config dot = "amx_int8" needs a static head dim that is a multiple of 64}}
  %r = attn.attention ins(%q, %k, %k : !t, !c, !c) kv_quant(%ks, %ks, %vs, %vs : !ks, !ks, !vs, !vs)
         kv_len(%n : tensor<?xi32>) outs(%o : !t)
         {config = #attn.config<dot = "amx_int8">,
          quant = #attn.quant<bits = 8, group = 32, scale = f16>} -> !t
  return %r : !t
}
