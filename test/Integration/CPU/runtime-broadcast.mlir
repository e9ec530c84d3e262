// Bias and dense-mask operands whose batch and head dims are dynamic in the
// IR but 1 at run time broadcast like numpy. The bias files come from the
// O output of a first run with Dv = Skv = 5 (o.npy is [B, H, 5, 5]); the
// i8 mask is written by hand.
// RUN: rm -rf %t && mkdir -p %t/b1 %t/h1
// RUN: attn-run %s --func=make_table --shape B=1,Hq=2,Sq=5,Skv=9 --output-dir %t/b1
// RUN: attn-run %s --func=make_table --shape B=3,Hq=1,Sq=5,Skv=9 --output-dir %t/h1
// RUN: attn-run %s --func=bias_dynamic --check --input bias=%t/b1/o.npy \
// RUN:   --shape B=3,Hq=2,Hkv=1,Sq=5,Skv=5 | FileCheck %s --check-prefix=BATCH
// RUN: attn-run %s --func=bias_dynamic --check --input bias=%t/h1/o.npy \
// RUN:   --shape B=3,Hq=4,Hkv=2,Sq=5,Skv=5 | FileCheck %s --check-prefix=HEADS
// RUN: printf '\x93NUMPY\x01\x00\x76\x00%%-117s\n' \
// RUN:   "{'descr': '|i1', 'fortran_order': False, 'shape': (1, 1, 4, 6), }" > %t/mask.npy
// RUN: printf '\x01\x00\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x01\x01\x01\x01\x01\x01\x00\x01\x00\x01\x00\x01' >> %t/mask.npy
// RUN: attn-run %s --func=mask_dynamic --check --input dense_mask=%t/mask.npy \
// RUN:   --shape B=2,Hq=3,Sq=4,Skv=6 | FileCheck %s --check-prefix=MASK

// BATCH: shape=B=3,D=32,Dv=32,Hkv=1,Hq=2,Skv=5,Sq=5 {{.*}} check=ok
// HEADS: shape=B=3,D=32,Dv=32,Hkv=2,Hq=4,Skv=5,Sq=5 {{.*}} check=ok
// MASK: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=6,Sq=4 {{.*}} check=ok

!t5 = tensor<?x?x?x5xf32>
func.func @make_table(%q: !t5, %k: !t5, %v: !t5, %o: !t5) -> !t5 {
  %r = attn.attention ins(%q, %k, %v : !t5, !t5, !t5) outs(%o : !t5) -> !t5
  return %r : !t5
}

!t = tensor<?x?x?x32xf32>
!b = tensor<?x?x?x?xf32>
func.func @bias_dynamic(%q: !t, %k: !t, %v: !t, %bias: !b, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      bias(%bias : !b)
      outs(%o : !t)
      {score_mods = [#attn.bias]} -> !t
  return %r : !t
}

!m = tensor<?x?x?x?xi8>
func.func @mask_dynamic(%q: !t, %k: !t, %v: !t, %mask: !m, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      dense_mask(%mask : !m)
      outs(%o : !t)
      {mask = #attn.dense} -> !t
  return %r : !t
}
