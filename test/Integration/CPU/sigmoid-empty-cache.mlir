// Sigmoid attention under a two-sided window with per-row cache lengths.
// With Skv = 1 some rows draw kv_len = 0: the default beta = -log(kv_len)
// is then +inf, and every key is masked. Such rows must give O = 0, not the
// NaN that -inf + inf would produce.
// RUN: attn-run %s --check --shape B=3,Hq=3,Sq=1,Skv=1 --shape B=5,Hq=2,Sq=2,Skv=1 \
// RUN:   --shape B=2,Hq=3,Sq=67,Skv=67 --shape B=2,Hq=4,Hkv=2,Sq=7,Skv=35 \
// RUN: | FileCheck %s
// RUN: attn-run %s --check --seed 1 --shape B=4,Hq=2,Sq=40,Skv=11 | FileCheck %s --check-prefix=SEED1

// CHECK: shape=B=3,D=32,Dv=32,Hkv=3,Hq=3,Skv=1,Sq=1 {{.*}} check=ok
// CHECK-NEXT: shape=B=5,D=32,Dv=32,Hkv=2,Hq=2,Skv=1,Sq=2 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=2,Hq=4,Skv=35,Sq=7 {{.*}} check=ok
// SEED1: shape=B=4,D=32,Dv=32,Hkv=2,Hq=2,Skv=11,Sq=40 {{.*}} check=ok

!t = tensor<?x?x?x32xf32>
func.func @sigmoid_kv_len(%q: !t, %k: !t, %v: !t, %kv_len: tensor<?xi64>,
                          %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      kv_len(%kv_len : tensor<?xi64>)
      outs(%o : !t)
      {normalizer = #attn.sigmoid,
       mask = #attn.sliding_window<left = 5, right = 2>} -> !t
  return %r : !t
}
