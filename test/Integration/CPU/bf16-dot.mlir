// REQUIRES: avx512bf16
// The opt-in AVX512-BF16 path (bf16-dot): Q K^T of bf16 inputs by pair dot
// products, checked against the float64 reference on odd lengths, GQA,
// cross-attention, a causal mask and the LSE.
// RUN: attn-run %s --bf16-dot --check \
// RUN:   --shape B=2,Hq=4,Hkv=2,Sq=131,Skv=131 --shape B=1,Hq=2,Sq=7,Skv=300 \
// RUN:   --shape B=1,Hq=2,Sq=200,Skv=33 \
// RUN: | FileCheck %s
// RUN: attn-opt %s --attn-tile-cpu="vector-width=16 bf16-dot=true" | FileCheck %s --check-prefix=IR
// RUN: attn-opt %s --attn-tile-cpu="vector-width=16" | FileCheck %s --check-prefix=OFF

// CHECK: Skv=131,Sq=131 {{.*}} check=ok
// CHECK-NEXT: Skv=300,Sq=7 {{.*}} check=ok
// CHECK-NEXT: Skv=33,Sq=200 {{.*}} check=ok

// QT2 of the item's q-tiles (q_blocks of them, chosen per call), stacked.
// IR: memref.alloca(%{{.*}}) {alignment = 64 : i64} : memref<?x128xbf16>
// IR: vector.broadcast %{{.*}} : vector<1xi32> to vector<16xi32>
// IR: x86vector.avx512.dot %{{.*}} : vector<32xbf16> -> vector<16xf32>
// OFF-NOT: x86vector.avx512.dot

!t = tensor<?x?x?x48xbf16>
!l = tensor<?x?x?xf32>
func.func @causal_bf16(%q: !t, %k: !t, %v: !t, %o: !t, %l: !l) -> (!t, !l) {
  %r:2 = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o, %l : !t, !l)
      {mask = #attn.causal} -> !t, !l
  return %r#0, %r#1 : !t, !l
}
