// T5 relative buckets for a decoder: bidirectional = false folds every
// future distance into bucket 0; distances beyond max_distance = 40 share
// the last bucket.
// RUN: attn-run %s --check \
// RUN:   --shape B=2,Hq=3,Sq=67,Skv=67 --shape B=2,Hq=3,Sq=7,Skv=35 \
// RUN:   --shape B=2,Hq=3,Sq=40,Skv=11 --shape B=3,Hq=3,Sq=1,Skv=1 \
// RUN:   --shape B=1,Hq=2,Sq=3,Skv=190 \
// RUN: | FileCheck %s

// CHECK: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=35,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=11,Sq=40 {{.*}} check=ok
// CHECK-NEXT: shape=B=3,D=32,Dv=32,Hkv=3,Hq=3,Skv=1,Sq=1 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=190,Sq=3 {{.*}} check=ok

!t = tensor<?x?x?x32xf32>
func.func @rel_bias_decoder(%q: !t, %k: !t, %v: !t, %table: tensor<?x16xf32>,
                            %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      rel_bias_table(%table : tensor<?x16xf32>)
      outs(%o : !t)
      {mask = #attn.causal,
       score_mods = [#attn.rel_bias<num_buckets = 16, max_distance = 40,
                                    bidirectional = false>]} -> !t
  return %r : !t
}
