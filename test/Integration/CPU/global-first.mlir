// #attn.global<first = n> marks the first n positions, 0 <= x < n; a query
// placed before the first key (p < 0, from a negative q_offset or Sq > Skv)
// is not one of them, with or without a list of positions.
// RUN: attn-run %s --func=first_only --check \
// RUN:   --shape B=1,Hq=2,Sq=60,Skv=13 --shape B=2,Hq=2,Sq=9,Skv=30 \
// RUN:   --shape B=1,Hq=1,Sq=1,Skv=1 | FileCheck %s --check-prefix=FIRST
// RUN: attn-run %s --func=positions_only --check \
// RUN:   --shape B=1,Hq=2,Sq=60,Skv=13 --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 \
// RUN: | FileCheck %s --check-prefix=LIST

// FIRST: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=13,Sq=60 {{.*}} check=ok
// FIRST-NEXT: shape=B=2,D=32,Dv=32,Hkv=2,Hq=2,Skv=30,Sq=9 {{.*}} check=ok
// FIRST-NEXT: shape=B=1,D=32,Dv=32,Hkv=1,Hq=1,Skv=1,Sq=1 {{.*}} check=ok
// LIST: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=13,Sq=60 {{.*}} check=ok
// LIST-NEXT: shape=B=2,D=32,Dv=32,Hkv=2,Hq=4,Skv=67,Sq=67 {{.*}} check=ok

!t = tensor<?x?x?x32xf32>
func.func @first_only(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.or<[#attn.global<first = 3>, #attn.causal]>,
       q_offset = -4} -> !t
  return %r : !t
}

func.func @positions_only(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.or<[#attn.global<positions = [5, 11]>,
                        #attn.sliding_window<left = 2, right = 2>]>} -> !t
  return %r : !t
}
