// REQUIRES: amx
// Decoding from bf16 caches on AMX (DecodeAmx.cpp): the row kernel's
// scores of a span for all heads of a GQA group by tile products, and its
// P V by tile products for all of them (spans whose values hold a NaN or
// inf: the masked f32 product; test_masked_nan.py), against the float64
// reference. GQA groups of 4 and of 20 heads (two 16-column
// blocks), MHA, Sq 2, kv lengths that are not multiples of 16 (K's last
// rows through the staging copy), a cache of 5 keys and an empty one, the
// LSE; ALiBi (per-head slopes: the heads' columns must not be swapped) with
// soft-capping in BSHD (K rows Hkv * D apart); paged caches in both pool
// layouts (decoding, and prefill on the FMA tile kernel); then the same
// with AMX off.
// RUN: split-file %s %t
// RUN: attn-run %t/causal.mlir --check --shape B=2,Hq=8,Hkv=2,Sq=1,Skv=301 --shape B=2,Hq=40,Hkv=2,Sq=1,Skv=100 --shape B=1,Hq=3,Sq=2,Skv=77 --shape B=1,Hq=4,Hkv=1,Sq=1,Skv=5 --shape B=2,Hq=4,Hkv=4,Sq=1,Skv=0 --shape B=1,Hq=32,Hkv=8,Sq=1,Skv=1000 | FileCheck %s --check-prefix=OK6
// RUN: attn-run %t/alibi_bshd.mlir --check --shape B=2,Hq=8,Hkv=2,Sq=1,Skv=333 --shape B=1,Hq=20,Hkv=1,Sq=2,Skv=64 --shape B=3,Hq=6,Hkv=3,Sq=1,Skv=17 | FileCheck %s --check-prefix=OK3
// RUN: attn-run %t/paged.mlir --check --shape B=3,Hq=8,Hkv=2,Sq=1,Skv=320 --shape B=2,Hq=4,Hkv=1,Sq=2,Skv=96 --shape B=2,Hq=4,Hkv=2,Sq=37,Skv=160 | FileCheck %s --check-prefix=OK3
// RUN: attn-run %t/paged_hnd.mlir --check --shape B=3,Hq=8,Hkv=2,Sq=1,Skv=304 --shape B=2,Hq=36,Hkv=2,Sq=1,Skv=48 | FileCheck %s --check-prefix=OK2
// RUN: attn-opt %t/paged.mlir -attn-print-tile-plan="target=cpu vector-width=16" -o /dev/null 2>&1 | FileCheck %s --check-prefix=PLAN
// RUN: attn-run %t/causal.mlir --amx=false --check --shape B=2,Hq=8,Hkv=2,Sq=1,Skv=301 --shape B=2,Hq=40,Hkv=2,Sq=1,Skv=100 | FileCheck %s --check-prefix=OK2
// RUN: attn-opt %t/causal.mlir --attn-tile-cpu="vector-width=16" | FileCheck %s --check-prefix=IR

// OK6-COUNT-6: check=ok
// OK6-NOT: FAIL
// OK3-COUNT-3: check=ok
// OK3-NOT: FAIL
// OK2-COUNT-2: check=ok
// OK2-NOT: FAIL
// A paged cache's prefill keeps the FMA tile kernel; its decoding reads
// each span's K rows through the page table into the tiles' copy.
// PLAN: dot = "fma"> (decoding: both products on AMX tiles)
// The group's query pairs (16 columns of bf16 pairs) feed the tile product.
// IR: amx.tile_load %{{.*}} : memref<?x32xbf16> into !amx.tile<16x32xbf16>
// IR: amx.tile_mulf
// P V: the heads' accumulators are the C tiles' rows (Dv 64: 4 column
// blocks).
// IR-COUNT-4: amx.tile_load %{{.*}} : memref<?x?xf32> into !amx.tile<16x16xf32>

//--- causal.mlir
func.func @causal(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x64xbf16>, %kl: tensor<?xi32>, %o: tensor<?x?x?x64xbf16>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x64xbf16>)
      kv_len(%kl : tensor<?xi32>)
      outs(%o, %l : tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
      {mask = #attn.causal} -> tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>
}

//--- alibi_bshd.mlir
!t = tensor<?x?x?x64xbf16>
func.func @alibi_bshd(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {layout = #attn.layout<bshd>, mask = #attn.causal,
       score_mods = [#attn.alibi, #attn.softcap<cap = 5.0>]} -> !t
  return %r : !t
}

//--- paged.mlir
func.func @paged(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x16x?x128xbf16>, %v: tensor<?x16x?x128xbf16>, %t: tensor<?x?xi32>, %kl: tensor<?xi32>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x16x?x128xbf16>, tensor<?x16x?x128xbf16>)
      page_table(%t : tensor<?x?xi32>) kv_len(%kl : tensor<?xi32>)
      outs(%o : tensor<?x?x?x128xbf16>)
      {mask = #attn.causal, paged = #attn.paged<page_size = 16>} -> tensor<?x?x?x128xbf16>
  return %r : tensor<?x?x?x128xbf16>
}

//--- paged_hnd.mlir
func.func @paged_hnd(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x16x64xbf16>, %v: tensor<?x?x16x64xbf16>, %t: tensor<?x?xi32>, %kl: tensor<?xi32>, %o: tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x64xbf16>, tensor<?x?x16x64xbf16>, tensor<?x?x16x64xbf16>)
      page_table(%t : tensor<?x?xi32>) kv_len(%kl : tensor<?xi32>)
      outs(%o : tensor<?x?x?x64xbf16>)
      {mask = #attn.causal, paged = #attn.paged<page_size = 16, layout = hnd>} -> tensor<?x?x?x64xbf16>
  return %r : tensor<?x?x?x64xbf16>
}
