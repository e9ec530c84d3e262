// Dense masks of rank 2 ([Sq, Skv] i8, shared by batch and heads) and
// rank 3 ([Hq, Sq, Skv] i1, numpy-style), combined with declarative masks
// through or / and / not.
// RUN: attn-run %s --func=rank2_i8 --check \
// RUN:   --shape B=2,Hq=3,Sq=67,Skv=67 --shape B=2,Hq=3,Sq=7,Skv=35 \
// RUN:   --shape B=2,Hq=3,Sq=40,Skv=11 --shape B=3,Hq=3,Sq=1,Skv=1 \
// RUN: | FileCheck %s --check-prefix=RANK2
// RUN: attn-run %s --func=rank3_i1 --check \
// RUN:   --shape B=2,Hq=3,Sq=67,Skv=67 --shape B=2,Hq=4,Hkv=2,Sq=7,Skv=35 \
// RUN: | FileCheck %s --check-prefix=RANK3

// RANK2: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=67,Sq=67 {{.*}} check=ok
// RANK2-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=35,Sq=7 {{.*}} check=ok
// RANK2-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=11,Sq=40 {{.*}} check=ok
// RANK2-NEXT: shape=B=3,D=32,Dv=32,Hkv=3,Hq=3,Skv=1,Sq=1 {{.*}} check=ok
// RANK3: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=67,Sq=67 {{.*}} check=ok
// RANK3-NEXT: shape=B=2,D=32,Dv=32,Hkv=2,Hq=4,Skv=35,Sq=7 {{.*}} check=ok

!t = tensor<?x?x?x32xf32>
func.func @rank2_i8(%q: !t, %k: !t, %v: !t, %m: tensor<?x?xi8>, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      dense_mask(%m : tensor<?x?xi8>)
      outs(%o : !t)
      {mask = #attn.or<[#attn.dense, #attn.sinks<count = 2>]>} -> !t
  return %r : !t
}

func.func @rank3_i1(%q: !t, %k: !t, %v: !t, %m: tensor<?x?x?xi1>, %o: !t)
    -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      dense_mask(%m : tensor<?x?x?xi1>)
      outs(%o : !t)
      {mask = #attn.and<[#attn.dense, #attn.not<#attn.sinks<count = 2>>]>}
      -> !t
  return %r : !t
}
