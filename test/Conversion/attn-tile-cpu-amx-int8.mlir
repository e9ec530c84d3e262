// REQUIRES: amx-int8
// dot = "amx_int8" (opt-in) on an int8 quantized cache:
// Q K^T becomes AMX int8 tile products of the key codes (unsigned) and the
// int8 query (signed); P V takes AMX bf16 tiles with bf16 queries and f32
// FMAs with f32 ones.
// RUN: attn-opt %s -attn-tile-cpu -split-input-file | FileCheck %s

!t = tensor<?x?x?x64xbf16>
!c = tensor<?x?x?x64xi8>
!ks = tensor<?x?x?x64xf16>
!vs = tensor<?x?x?x2xf16>
// CHECK-LABEL: func.func @int8_causal
// CHECK: amx.tile_zero : !amx.tile<16x16xi32>
// CHECK: amx.tile_muli %{{.*}} zext, %{{.*}}, %{{.*}} : !amx.tile<16x64xi8>, !amx.tile<16x64xi8>, !amx.tile<16x16xi32>
// CHECK: amx.tile_mulf
func.func @int8_causal(%q: !t, %k: !c, %ks: !ks, %vs: !vs, %n: tensor<?xi32>, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %k : !t, !c, !c) kv_quant(%ks, %ks, %vs, %vs : !ks, !ks, !vs, !vs)
         kv_len(%n : tensor<?xi32>) outs(%o : !t)
         {mask = #attn.causal, config = #attn.config<dot = "amx_int8">,
          quant = #attn.quant<bits = 8, group = 32, scale = f16>} -> !t
  return %r : !t
}


// -----

!t = tensor<?x?x?x64xf32>
!c = tensor<?x?x?x64xi8>
!ks = tensor<?x?x?x64xf16>
!vs = tensor<?x?x?x2xf16>
// CHECK-LABEL: func.func @int8_f32
// CHECK: amx.tile_muli
// CHECK-NOT: amx.tile_mulf
// CHECK: return
func.func @int8_f32(%q: !t, %k: !c, %ks: !ks, %vs: !vs, %n: tensor<?xi32>, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %k : !t, !c, !c) kv_quant(%ks, %ks, %vs, %vs : !ks, !ks, !vs, !vs)
         kv_len(%n : tensor<?xi32>) outs(%o : !t)
         {config = #attn.config<dot = "amx_int8">,
          quant = #attn.quant<bits = 8, group = 32, scale = f16>} -> !t
  return %r : !t
}
