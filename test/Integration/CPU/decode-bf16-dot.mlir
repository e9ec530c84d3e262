// REQUIRES: avx512bf16
// Decoding with dot = "bf16": the row kernel's products of bf16 caches by
// AVX512-BF16 dot products (DecodeBf16.cpp), against the float64
// reference: GQA, odd kv lengths, Sq 1 and 2 (Sq 3 takes the tile kernel),
// D != Dv, a paged cache (whose tile kernel keeps the FMA Q K^T), a
// document mask (one item per query row) and an empty cache.
// RUN: split-file %s %t
// RUN: attn-run %t/causal.mlir --check --shape B=2,Hq=8,Hkv=2,Sq=1,Skv=301 --shape B=1,Hq=3,Sq=2,Skv=77 --shape B=1,Hq=2,Sq=3,Skv=130 | FileCheck %s --check-prefix=OK3
// RUN: attn-run %t/paged.mlir --check --shape B=3,Hq=8,Hkv=2,Sq=1,Skv=320 --shape B=2,Hq=4,Hkv=1,Sq=2,Skv=96 --shape B=2,Hq=4,Hkv=2,Sq=37,Skv=160 | FileCheck %s --check-prefix=OK3
// RUN: attn-run %t/document.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=1,Skv=200 --shape B=2,Hq=2,Sq=2,Skv=2 --shape B=2,Hq=2,Hkv=1,Sq=1,Skv=0 --num-docs 3 | FileCheck %s --check-prefix=OK3
// RUN: attn-opt %t/causal.mlir -attn-print-tile-plan="target=cpu vector-width=16" -o /dev/null 2>&1 | FileCheck %s --check-prefix=PLAN
// RUN: attn-opt %t/paged.mlir -attn-print-tile-plan="target=cpu vector-width=16" -o /dev/null 2>&1 | FileCheck %s --check-prefix=PLAN
// RUN: attn-opt %t/causal.mlir --attn-tile-cpu="vector-width=16" | FileCheck %s --check-prefix=IR

// OK3-COUNT-3: check=ok
// OK3-NOT: FAIL
// PLAN: dot = "bf16"> (decoding: AVX512-BF16 dot products)
// The span's values in pairs of keys, and the pair product.
// IR: vector.interleave %{{.*}}, %{{.*}} : vector<16xbf16> -> vector<32xbf16>
// IR: x86vector.avx512.dot %{{.*}} : vector<32xbf16> -> vector<16xf32>

//--- causal.mlir
func.func @causal(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x48xbf16>, %kl: tensor<?xi32>, %o: tensor<?x?x?x48xbf16>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x48xbf16>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x48xbf16>)
      kv_len(%kl : tensor<?xi32>)
      outs(%o, %l : tensor<?x?x?x48xbf16>, tensor<?x?x?xf32>)
      {mask = #attn.causal, config = #attn.config<dot = "bf16">} -> tensor<?x?x?x48xbf16>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x48xbf16>, tensor<?x?x?xf32>
}

//--- paged.mlir
func.func @paged(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x16x?x128xbf16>, %v: tensor<?x16x?x128xbf16>, %t: tensor<?x?xi32>, %kl: tensor<?xi32>, %o: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x128xbf16>, tensor<?x16x?x128xbf16>, tensor<?x16x?x128xbf16>)
      page_table(%t : tensor<?x?xi32>) kv_len(%kl : tensor<?xi32>)
      outs(%o : tensor<?x?x?x128xbf16>)
      {mask = #attn.causal, paged = #attn.paged<page_size = 16>,
       config = #attn.config<dot = "bf16">} -> tensor<?x?x?x128xbf16>
  return %r : tensor<?x?x?x128xbf16>
}

//--- document.mlir
func.func @document(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>, %sq: tensor<?x?xi32>, %sk: tensor<?x?xi32>, %o: tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>)
      segments(%sq, %sk : tensor<?x?xi32>, tensor<?x?xi32>)
      outs(%o : tensor<?x?x?x64xbf16>)
      {mask = #attn.and<[#attn.document, #attn.causal]>, config = #attn.config<dot = "bf16">} -> tensor<?x?x?x64xbf16>
  return %r : tensor<?x?x?x64xbf16>
}
