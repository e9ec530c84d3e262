// REQUIRES: amx
// The AMX path without an LSE result, whose row sums add the weights as
// rounded to bf16 (CPUTiler::emitAmxWeightPairs; with an LSE result, as in
// amx.mlir and from Python, they add the f32 weights): checked against the
// float64 reference on lengths that are not multiples of the tiles, GQA,
// fully masked rows (causal with Sq > Skv) and several kv tiles per row.
// RUN: attn-run %s --check \
// RUN:   --shape B=2,Hq=4,Hkv=2,Sq=131,Skv=131 --shape B=1,Hq=2,Sq=7,Skv=300 \
// RUN:   --shape B=1,Hq=2,Sq=200,Skv=33 --shape B=1,Hq=1,Sq=1000,Skv=1000 \
// RUN: | FileCheck %s

// CHECK: Skv=131,Sq=131 {{.*}} check=ok
// CHECK-NEXT: Skv=300,Sq=7 {{.*}} check=ok
// CHECK-NEXT: Skv=33,Sq=200 {{.*}} check=ok
// CHECK-NEXT: Skv=1000,Sq=1000 {{.*}} check=ok

!t = tensor<?x?x?x64xbf16>
func.func @causal_bf16_no_lse(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.causal} -> !t
  return %r : !t
}
