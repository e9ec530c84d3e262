// REQUIRES: amx
// dot = "amx" on f16 inputs (an opt-in): the AMX bf16 tile products, with
// Q, K and V rounded to bf16 (widened to f32, then one rounding) where QT2,
// KS and VT2 are written; f16 without it keeps the f32-FMA kernel.
// RUN: attn-opt %s -attn-tile-cpu=vector-width=16 -split-input-file | FileCheck %s

!t = tensor<?x?x?x64xf16>
// CHECK-LABEL: func.func @f16_dot_amx
// CHECK-DAG: arith.truncf %{{.+}} : vector<32xf32> to vector<32xbf16>
// CHECK-DAG: arith.truncf %{{.+}} : vector<16xf32> to vector<16xbf16>
// CHECK: amx.tile_mulf
func.func @f16_dot_amx(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {mask = #attn.causal, config = #attn.config<dot = "amx">} -> !t
  return %r : !t
}

// -----

!t = tensor<?x?x?x64xf16>
// CHECK-LABEL: func.func @f16_default
// CHECK-NOT: amx.
// CHECK-NOT: xbf16>
// CHECK: return
func.func @f16_default(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {mask = #attn.causal} -> !t
  return %r : !t
}
