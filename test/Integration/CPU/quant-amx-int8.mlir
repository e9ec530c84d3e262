// REQUIRES: amx-int8
// attn-run on an int8 quantized cache with the AMX int8 opt-in
// (#attn.config<dot = "amx_int8">), which rounds the query to int8: the
// default tolerance is then 3e-2 (README, "int8 Q K^T on AMX"), prefill
// (the int8 tile products) and decoding (not routed to them).
// RUN: attn-run %s --check --shape B=1,Hq=4,Hkv=2,Sq=256,Skv=256 --shape B=2,Hq=8,Hkv=2,Sq=100,Skv=320 --shape B=2,Hq=4,Hkv=1,Sq=1,Skv=128 | FileCheck %s

// CHECK-COUNT-3: check=ok tol=3.0e-02
// CHECK-NOT: FAIL
!q = tensor<?x?x?x128xbf16>
!c = tensor<?x?x?x128xi8>
!ks = tensor<?x?x?x128xf32>
!vs = tensor<?x?x?x4xf32>
func.func @amx8(%q: !q, %k: !c, %v: !c, %ks: !ks, %kz: !ks, %vs: !vs, %vz: !vs, %o: !q) -> !q {
  %r = attn.attention ins(%q, %k, %v : !q, !c, !c)
      kv_quant(%ks, %kz, %vs, %vz : !ks, !ks, !vs, !vs)
      outs(%o : !q)
      {mask = #attn.causal, config = #attn.config<dot = "amx_int8">,
       quant = #attn.quant<bits = 8, group = 32, scale = f32>} -> !q
  return %r : !q
}
