// Document masking in the BSHD layout with i64 ids, where Sq != Skv (a
// chunk of queries against a longer or shorter key range): ids are compared
// by index, the causal part by position.
// RUN: attn-run %s --check \
// RUN:   --shape B=2,Hq=3,Sq=67,Skv=67 --shape B=2,Hq=3,Sq=7,Skv=35 \
// RUN:   --shape B=2,Hq=3,Sq=40,Skv=11 --shape B=3,Hq=3,Sq=1,Skv=1 \
// RUN: | FileCheck %s

// CHECK: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=35,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=11,Sq=40 {{.*}} check=ok
// CHECK-NEXT: shape=B=3,D=32,Dv=32,Hkv=3,Hq=3,Skv=1,Sq=1 {{.*}} check=ok

!t = tensor<?x?x?x32xf32>
!s = tensor<?x?xi64>
func.func @document_bshd(%q: !t, %k: !t, %v: !t, %seg_q: !s, %seg_kv: !s,
                         %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      segments(%seg_q, %seg_kv : !s, !s)
      outs(%o : !t)
      {mask = #attn.and<[#attn.document, #attn.causal]>,
       layout = #attn.layout<bshd>} -> !t
  return %r : !t
}
