// attn.merge of two f16 partials in the BSHD layout ([B, S, H, Dv]); the
// LSEs stay [B, H, S] f32, some of them -inf.
// RUN: attn-run %s --check --shape B=2,H=3,S=5 --shape B=1,H=1,S=1 \
// RUN:   --shape B=2,H=4,S=129 | FileCheck %s
// RUN: attn-run %s --check --seed 1 --shape B=1,H=2,S=67 | FileCheck %s --check-prefix=SEED1

// CHECK: shape=B=2,Dv=16,H=3,S=5 {{.*}} check=ok tol=1.0e-03
// CHECK-NEXT: shape=B=1,Dv=16,H=1,S=1 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,Dv=16,H=4,S=129 {{.*}} check=ok
// SEED1: shape=B=1,Dv=16,H=2,S=67 {{.*}} check=ok

!o = tensor<?x?x?x16xf16>
!l = tensor<?x?x?xf32>
func.func @merge_bshd(%o0: !o, %o1: !o, %l0: !l, %l1: !l, %o: !o, %l: !l)
    -> (!o, !l) {
  %r:2 = attn.merge ins(%o0, %o1 : !o, !o) lse(%l0, %l1 : !l, !l)
      outs(%o, %l : !o, !l) {layout = #attn.layout<bshd>} -> !o, !l
  return %r#0, %r#1 : !o, !l
}
