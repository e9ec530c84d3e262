// ALiBi with explicit per-head slopes (Hq = 3 static) and |p - j|, in an
// encoder (no mask), with GQA 3/1.
// RUN: attn-run %s --check \
// RUN:   --shape B=2,Hkv=3,Sq=67,Skv=67 --shape B=2,Hkv=1,Sq=7,Skv=35 \
// RUN:   --shape B=2,Hkv=3,Sq=40,Skv=11 --shape B=3,Hkv=3,Sq=1,Skv=1 \
// RUN: | FileCheck %s

// CHECK: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=1,Hq=3,Skv=35,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=11,Sq=40 {{.*}} check=ok
// CHECK-NEXT: shape=B=3,D=32,Dv=32,Hkv=3,Hq=3,Skv=1,Sq=1 {{.*}} check=ok

!q = tensor<?x3x?x32xf32>
!kv = tensor<?x?x?x32xf32>
func.func @alibi_slopes(%q: !q, %k: !kv, %v: !kv, %o: !q) -> !q {
  %r = attn.attention ins(%q, %k, %v : !q, !kv, !kv)
      outs(%o : !q)
      {score_mods = [#attn.alibi<slopes = [0.5, 0.25, 0.125],
                                 symmetric = true>]} -> !q
  return %r : !q
}
