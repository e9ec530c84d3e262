// ReLU attention with a constant denominator: Z = kv_len[b] (seq_len, the
// default) and Z = 1 (none). Rows of an empty cache (kv_len = 0) give O = 0.
// RUN: attn-run %s --func=relu_seq_len --check \
// RUN:   --shape B=2,Hq=3,Sq=67,Skv=67 --shape B=2,Hq=3,Sq=7,Skv=35 \
// RUN:   --shape B=2,Hq=3,Sq=40,Skv=11 --shape B=3,Hq=3,Sq=1,Skv=1 \
// RUN: | FileCheck %s --check-prefix=SEQ
// RUN: attn-run %s --func=relu_none --check \
// RUN:   --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 \
// RUN: | FileCheck %s --check-prefix=NONE

// SEQ: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=67,Sq=67 {{.*}} check=ok
// SEQ-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=35,Sq=7 {{.*}} check=ok
// SEQ-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=11,Sq=40 {{.*}} check=ok
// SEQ-NEXT: shape=B=3,D=32,Dv=32,Hkv=3,Hq=3,Skv=1,Sq=1 {{.*}} check=ok
// NONE: shape=B=2,D=32,Dv=32,Hkv=2,Hq=4,Skv=67,Sq=67 {{.*}} check=ok
// NONE-NEXT: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=31,Sq=100 {{.*}} check=ok

!t = tensor<?x?x?x32xf32>
func.func @relu_seq_len(%q: !t, %k: !t, %v: !t, %kv_len: tensor<?xi32>,
                        %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      kv_len(%kv_len : tensor<?xi32>)
      outs(%o : !t)
      {normalizer = #attn.relu, mask = #attn.causal} -> !t
  return %r : !t
}

func.func @relu_none(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      outs(%o : !t)
      {normalizer = #attn.relu<power = 2, norm = none>, mask = #attn.causal}
      -> !t
  return %r : !t
}
