// Bias tensors of rank 2 (f16, after a soft-cap), rank 3 (bf16) and rank 4
// with a broadcast head dim (f32, followed by ALiBi). The bias has the
// input element type and is added in f32.
// RUN: attn-run %s --func=rank2_f16 --check \
// RUN:   --shape B=2,Hq=3,Sq=67,Skv=67 --shape B=2,Hq=3,Sq=7,Skv=35 \
// RUN:   --shape B=2,Hq=3,Sq=40,Skv=11 --shape B=3,Hq=3,Sq=1,Skv=1 \
// RUN: | FileCheck %s --check-prefix=RANK2
// RUN: attn-run %s --func=rank3_bf16 --check \
// RUN:   --shape B=2,Hq=3,Sq=67,Skv=67 --shape B=2,Hq=4,Hkv=2,Sq=40,Skv=11 \
// RUN: | FileCheck %s --check-prefix=RANK3
// RUN: attn-run %s --func=rank4_f32 --check \
// RUN:   --shape B=2,Hq=3,Sq=67,Skv=67 --shape B=2,Hq=4,Hkv=1,Sq=7,Skv=35 \
// RUN: | FileCheck %s --check-prefix=RANK4

// RANK2: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=67,Sq=67 {{.*}} check=ok tol=1.0e-03
// RANK2-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=35,Sq=7 {{.*}} check=ok
// RANK2-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=11,Sq=40 {{.*}} check=ok
// RANK2-NEXT: shape=B=3,D=32,Dv=32,Hkv=3,Hq=3,Skv=1,Sq=1 {{.*}} check=ok
// RANK3: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=67,Sq=67 {{.*}} check=ok tol=8.0e-03
// RANK3-NEXT: shape=B=2,D=32,Dv=32,Hkv=2,Hq=4,Skv=11,Sq=40 {{.*}} check=ok
// RANK4: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=67,Sq=67 {{.*}} check=ok tol=1.0e-04
// RANK4-NEXT: shape=B=2,D=32,Dv=32,Hkv=1,Hq=4,Skv=35,Sq=7 {{.*}} check=ok

!h = tensor<?x?x?x32xf16>
func.func @rank2_f16(%q: !h, %k: !h, %v: !h, %b: tensor<?x?xf16>, %o: !h) -> !h {
  %r = attn.attention ins(%q, %k, %v : !h, !h, !h)
      bias(%b : tensor<?x?xf16>)
      outs(%o : !h)
      {score_mods = [#attn.softcap<cap = 2.0>, #attn.bias]} -> !h
  return %r : !h
}

!bf = tensor<?x?x?x32xbf16>
func.func @rank3_bf16(%q: !bf, %k: !bf, %v: !bf, %b: tensor<?x?x?xbf16>,
                      %o: !bf) -> !bf {
  %r = attn.attention ins(%q, %k, %v : !bf, !bf, !bf)
      bias(%b : tensor<?x?x?xbf16>)
      outs(%o : !bf)
      {mask = #attn.causal, score_mods = [#attn.bias]} -> !bf
  return %r : !bf
}

!t = tensor<?x?x?x32xf32>
func.func @rank4_f32(%q: !t, %k: !t, %v: !t, %b: tensor<?x1x?x?xf32>, %o: !t)
    -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      bias(%b : tensor<?x1x?x?xf32>)
      outs(%o : !t)
      {mask = #attn.causal, score_mods = [#attn.bias, #attn.alibi]} -> !t
  return %r : !t
}
