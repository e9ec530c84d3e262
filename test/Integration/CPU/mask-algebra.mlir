// A deeper mask expression: causal and (listed global positions, or a
// dilated pattern, or a halo), on lengths that are not multiples of the
// segment, block or halo.
// RUN: attn-run %s --check \
// RUN:   --shape B=2,Hq=3,Sq=67,Skv=67 --shape B=2,Hq=3,Sq=7,Skv=35 \
// RUN:   --shape B=2,Hq=3,Sq=40,Skv=11 --shape B=3,Hq=3,Sq=1,Skv=1 \
// RUN: | FileCheck %s

// CHECK: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=35,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=11,Sq=40 {{.*}} check=ok
// CHECK-NEXT: shape=B=3,D=32,Dv=32,Hkv=3,Hq=3,Skv=1,Sq=1 {{.*}} check=ok

!t = tensor<?x?x?x32xf32>
func.func @mask_algebra(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      outs(%o : !t)
      {mask = #attn.and<[#attn.causal,
                         #attn.or<[#attn.global<positions = [3, 17, 60]>,
                                   #attn.dilated<segment = 16, rate = 2>,
                                   #attn.halo<block = 8, halo = 2>]>]>} -> !t
  return %r : !t
}
