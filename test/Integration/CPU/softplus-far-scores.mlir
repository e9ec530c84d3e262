// Softplus-l1 where a Gaussian bias with sigma = 0.5 pushes every allowed
// score of some rows far below 0 (down to about -9000). softplus(s) then
// underflows in f32 (below about -87) and even in float64 (below about
// -745), yet P = softplus(s) / sum softplus(s) is well defined: the compiler
// and the reference both scale the weights by exp(-min(max s, 0)), which
// the normalisation cancels, and add it back to LSE = log Z. Document ids
// follow Skv while positions follow kv_len, which puts the keys of a
// document far from the query.
// RUN: attn-run %s --check \
// RUN:   --shape B=2,Sq=67,Skv=67 --shape B=3,Sq=7,Skv=35 \
// RUN:   --shape B=2,Hkv=1,Sq=40,Skv=11 --shape B=3,Sq=1,Skv=1 \
// RUN: | FileCheck %s

// CHECK: shape=B=2,D=32,Dv=32,Hkv=2,Hq=2,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=3,D=32,Dv=32,Hkv=2,Hq=2,Skv=35,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=1,Hq=2,Skv=11,Sq=40 {{.*}} check=ok
// CHECK-NEXT: shape=B=3,D=32,Dv=32,Hkv=2,Hq=2,Skv=1,Sq=1 {{.*}} check=ok

!q = tensor<?x2x?x32xf32>
!kv = tensor<?x?x?x32xf32>
!l = tensor<?x2x?xf32>
!s = tensor<?x?xi32>
func.func @softplus_far(%q: !q, %k: !kv, %v: !kv, %kv_len: tensor<?xi32>,
                        %seg_q: !s, %seg_kv: !s, %o: !q, %l: !l) -> (!q, !l) {
  %r:2 = attn.attention ins(%q, %k, %v : !q, !kv, !kv)
      kv_len(%kv_len : tensor<?xi32>)
      segments(%seg_q, %seg_kv : !s, !s)
      outs(%o, %l : !q, !l)
      {normalizer = #attn.softplus, mask = #attn.document,
       score_mods = [#attn.gaussian<mu = [1.0, 2.0], sigma = [3.0, 0.5]>]}
      -> !q, !l
  return %r#0, %r#1 : !q, !l
}
