// REQUIRES: amx
// The AMX path, the default for bf16 on hosts with AMX-BF16: both products
// on AMX tiles, checked against the float64 reference on lengths that are
// not multiples of the tiles (Skv below one 32-key block, K's last rows
// read through the staging copy), GQA, cross-attention, fully masked rows
// (causal with Sq > Skv) and the LSE; then the same shapes with AMX off.
// RUN: attn-run %s --check \
// RUN:   --shape B=2,Hq=4,Hkv=2,Sq=131,Skv=131 --shape B=1,Hq=2,Sq=7,Skv=300 \
// RUN:   --shape B=1,Hq=2,Sq=200,Skv=33 --shape B=1,Hq=3,Hkv=1,Sq=65,Skv=5 \
// RUN:   --shape B=1,Hq=1,Sq=1000,Skv=1000 \
// RUN: | FileCheck %s
// RUN: attn-run %s --amx=false --check \
// RUN:   --shape B=2,Hq=4,Hkv=2,Sq=131,Skv=131 --shape B=1,Hq=2,Sq=200,Skv=33 \
// RUN: | FileCheck %s --check-prefix=OFF
// RUN: attn-opt %s --attn-tile-cpu="vector-width=16" | FileCheck %s --check-prefix=IR
// RUN: attn-opt %s --attn-tile-cpu="vector-width=16 amx=false" | FileCheck %s --check-prefix=IROFF
// RUN: attn-opt %s --attn-cpu-pipeline | FileCheck %s --check-prefix=LLVM

// CHECK: Skv=131,Sq=131 {{.*}} check=ok
// CHECK-NEXT: Skv=300,Sq=7 {{.*}} check=ok
// CHECK-NEXT: Skv=33,Sq=200 {{.*}} check=ok
// CHECK-NEXT: Skv=5,Sq=65 {{.*}} check=ok
// CHECK-NEXT: Skv=1000,Sq=1000 {{.*}} check=ok
// OFF: Skv=131,Sq=131 {{.*}} check=ok
// OFF-NEXT: Skv=33,Sq=200 {{.*}} check=ok

// Q K^T: 2 x 2 blocks of 16 x 16 f32 accumulators over 32-element slices
// of the head dim (64 = two), A from K, B from Q^T in pairs.
// IR-LABEL: func.func @causal_bf16
// V^T in key pairs for every (batch, kv head, kv tile) and each tile's
// state, written by the first work item that needs the tile.
// IR: memref.alloc({{.*}}) {alignment = 64 : i64} : memref<?x64x96xbf16>
// IR: memref.alloc({{.*}}) {alignment = 64 : i64} : memref<?xi32>
// IR: scf.parallel
// IR: amx.tile_zero : !amx.tile<16x16xf32>
// IR: amx.tile_load %{{.*}} : memref<?x?x?x64xbf16> into !amx.tile<16x32xbf16>
// IR: amx.tile_load %{{.*}} : memref<32x128xbf16> into !amx.tile<16x32xbf16>
// IR: amx.tile_mulf %{{.*}} : !amx.tile<16x32xbf16>, !amx.tile<16x32xbf16>, !amx.tile<16x16xf32>
// IR: amx.tile_store %{{.*}} : memref<96x64xf32>, !amx.tile<16x16xf32>
// P V: the weights stored as bf16 pairs of keys, OT rescaled only where
// some row's shift moved, the kv tile's V^T claimed (atomic or) and
// transposed (16 x 16 transposes of key pairs) or waited for,
// accumulators loaded from OT, V^T from the buffer.
// IR: vector.interleave %{{.*}} : vector<16xbf16> -> vector<32xbf16>
// IR: vector.reduction <or>
// IR: memref.atomic_rmw ori
// IR: vector.interleave %{{.*}} : vector<16xbf16> -> vector<32xbf16>
// IR: vector.shuffle
// IR: memref.atomic_rmw ori
// IR: scf.while
// IR: amx.tile_load %{{.*}} : memref<?x64xf32> into !amx.tile<16x16xf32>
// IR: amx.tile_load %{{.*}} : memref<?x64x96xbf16> into !amx.tile<16x32xbf16>
// IR: amx.tile_mulf
// IR: amx.tile_store %{{.*}} : memref<?x64xf32>, !amx.tile<16x16xf32>
// IROFF-NOT: amx.

// LLVM: llvm.call_intrinsic "llvm.x86.tdpbf16ps.internal"
// LLVM-NOT: amx.

!t = tensor<?x?x?x64xbf16>
!l = tensor<?x?x?xf32>
func.func @causal_bf16(%q: !t, %k: !t, %v: !t, %o: !t, %l: !l) -> (!t, !l) {
  %r:2 = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o, %l : !t, !l)
      {mask = #attn.causal} -> !t, !l
  return %r#0, %r#1 : !t, !l
}
