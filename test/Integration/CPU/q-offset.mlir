// q_offset shifts every query position: p(i) = i + (Skv - Sq) - 5. Combined
// with an explicit scale, a chunked causal mask and symmetric ALiBi, and
// with the LSE output (-inf on the rows the shift leaves without keys).
// RUN: attn-run %s --check \
// RUN:   --shape B=2,Hq=3,Sq=67,Skv=67 --shape B=2,Hq=3,Sq=7,Skv=35 \
// RUN:   --shape B=2,Hq=3,Sq=40,Skv=11 --shape B=3,Hq=3,Sq=1,Skv=1 \
// RUN: | FileCheck %s

// CHECK: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=35,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=11,Sq=40 {{.*}} check=ok
// CHECK-NEXT: shape=B=3,D=32,Dv=32,Hkv=3,Hq=3,Skv=1,Sq=1 {{.*}} check=ok

!t = tensor<?x?x?x32xf32>
!l = tensor<?x?x?xf32>
func.func @q_offset(%q: !t, %k: !t, %v: !t, %o: !t, %l: !l) -> (!t, !l) {
  %r:2 = attn.attention ins(%q, %k, %v : !t, !t, !t)
      outs(%o, %l : !t, !l)
      {mask = #attn.and<[#attn.causal, #attn.chunked<size = 8>]>,
       q_offset = -5, scale = 0.3 : f64,
       score_mods = [#attn.alibi<symmetric = true>]} -> !t, !l
  return %r#0, %r#1 : !t, !l
}
