// Both regions at once, sharing one capture: the score_mod branches with
// scf.if on the query position (doubling past keys, exponentiating the
// diagonal), the mask_mod reads a per-batch key limit from an i32 capture
// with tensor.extract. The limits are random in [0, 3], so many rows are
// fully masked. The capture has 3 entries, so B <= 3.
// RUN: attn-run %s --check \
// RUN:   --shape B=2,Hq=3,Sq=67,Skv=67 --shape B=2,Hq=3,Sq=7,Skv=35 \
// RUN:   --shape B=2,Hq=3,Sq=40,Skv=11 --shape B=3,Hq=3,Sq=1,Skv=1 \
// RUN: | FileCheck %s
// RUN: attn-run %s --check --seed 2 --shape B=3,Hq=4,Hkv=2,Sq=5,Skv=9 \
// RUN: | FileCheck %s --check-prefix=SEED2

// CHECK: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=35,Sq=7 {{.*}} check=ok
// CHECK-NEXT: shape=B=2,D=32,Dv=32,Hkv=3,Hq=3,Skv=11,Sq=40 {{.*}} check=ok
// CHECK-NEXT: shape=B=3,D=32,Dv=32,Hkv=3,Hq=3,Skv=1,Sq=1 {{.*}} check=ok
// SEED2: shape=B=3,D=32,Dv=32,Hkv=2,Hq=4,Skv=9,Sq=5 {{.*}} check=ok

!t = tensor<?x?x?x32xf32>
func.func @regions(%q: !t, %k: !t, %v: !t, %limit: tensor<3xi32>, %o: !t)
    -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      captures(%limit : tensor<3xi32>)
      outs(%o : !t)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index,
           %x: tensor<3xi32>):
        %p = attn.position %b, %i : index
        %past = arith.cmpi slt, %j, %p : index
        %y = scf.if %past -> f32 {
          %two = arith.constant 2.0 : f32
          %m = arith.mulf %s, %two : f32
          scf.yield %m : f32
        } else {
          %e = math.exp %s : f32
          scf.yield %e : f32
        }
        attn.yield %y : f32
      }
      mask_mod {
      ^bb0(%b: index, %h: index, %i: index, %j: index, %x: tensor<3xi32>):
        %n = tensor.extract %x[%b] : tensor<3xi32>
        %ni = arith.index_cast %n : i32 to index
        %ok = arith.cmpi slt, %j, %ni : index
        attn.yield %ok : i1
      }
      {mask = #attn.and<[#attn.mask_mod, #attn.causal]>,
       score_mods = [#attn.score_mod]} -> !t
  return %r : !t
}
