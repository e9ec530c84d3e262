// With AMX unusable ($ATTN_NO_AMX here, stands for a host without AMX-BF16
// or a kernel that refuses tile-data permission), bf16 keeps the AVX-512
// plan and an explicit dot = "amx" is an error that says why.
// RUN: env ATTN_NO_AMX=1 attn-opt %s -attn-print-tile-plan="target=cpu vector-width=16" -split-input-file -verify-diagnostics -o /dev/null

!t = tensor<?x?x?x64xbf16>
func.func @bf16_default(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  // expected-remark @+1 {{tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "fma">}}
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t) -> !t
  return %r : !t
}

// -----

!t = tensor<?x?x?x64xbf16>
func.func @amx_explicit(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  // expected-error @+1 {{#attn.config dot = "amx" needs AMX: AMX is turned off by $ATTN_NO_AMX}}
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {config = #attn.config<dot = "amx">} -> !t
  return %r : !t
}

// -----

!t = tensor<?x?x?x64xbf16>
!p = tensor<?x16x?x64xbf16>
func.func @amx_paged(%q: !t, %kc: !p, %pt: tensor<?x?xi32>, %n: tensor<?xi32>, %o: !t) -> !t {
  // expected-error @+1 {{#attn.config dot = "amx" does not read a paged cache yet}}
  %r = attn.attention ins(%q, %kc, %kc : !t, !p, !p) page_table(%pt : tensor<?x?xi32>)
         kv_len(%n : tensor<?xi32>) outs(%o : !t)
         {config = #attn.config<dot = "amx">, paged = #attn.paged<page_size = 16>} -> !t
  return %r : !t
}

// -----

// A quantized cache runs fused, dequantised as the kv tiles load; AMX does
// not read it.
!t = tensor<?x?x?x64xbf16>
!c = tensor<?x?x?x32xi8>
!ks = tensor<?x?x?x64xf16>
!vs = tensor<?x?x?x2xf16>
func.func @quant_plan(%q: !t, %k: !c, %ks: !ks, %vs: !vs, %n: tensor<?xi32>, %o: !t) -> !t {
  // expected-remark @+1 {{tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "fma"> (fused; K and V dequantised from 4-bit codes as each kv tile loads)}}
  %r = attn.attention ins(%q, %k, %k : !t, !c, !c) kv_quant(%ks, %ks, %vs, %vs : !ks, !ks, !vs, !vs)
         kv_len(%n : tensor<?xi32>) outs(%o : !t)
         {quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> !t
  return %r : !t
}

// -----

!t = tensor<?x?x?x64xbf16>
!c = tensor<?x?x?x32xi8>
!ks = tensor<?x?x?x64xf16>
!vs = tensor<?x?x?x2xf16>
func.func @amx_quant(%q: !t, %k: !c, %ks: !ks, %vs: !vs, %n: tensor<?xi32>, %o: !t) -> !t {
  // expected-error @+1 {{#attn.config dot = "bf16" does not read a quantized cache yet}}
  %r = attn.attention ins(%q, %k, %k : !t, !c, !c) kv_quant(%ks, %ks, %vs, %vs : !ks, !ks, !vs, !vs)
         kv_len(%n : tensor<?xi32>) outs(%o : !t)
         {config = #attn.config<dot = "bf16">, quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> !t
  return %r : !t
}

// -----

!t = tensor<?x?x?x64xf32>
!c = tensor<?x?x?x64xi8>
func.func @fp8_plan(%q: !t, %k: !c, %s: tensor<?xf32>, %n: tensor<?xi32>, %o: !t) -> !t {
  // expected-remark @+1 {{tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "fma"> (fused; K and V dequantised from fp8 e5m2 codes as each kv tile loads)}}
  %r = attn.attention ins(%q, %k, %k : !t, !c, !c) kv_quant(%s, %s : tensor<?xf32>, tensor<?xf32>)
         kv_len(%n : tensor<?xi32>) outs(%o : !t)
         {quant = #attn.quant<bits = 8, group = 1, scale = f32, format = e5m2>} -> !t
  return %r : !t
}
