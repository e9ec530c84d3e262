// Paged KV caches (#attn.paged with a page_table): attn-run fills the pool
// and a random page table, checks the table, and the float64 reference
// reads the pages with its own gather. Decoding (Sq 1, 2: the row kernel)
// and chunked prefill (the tile kernel), GQA, both pool layouts, f32 and
// bf16, BSHD queries, masks (document ids too), the sink softmax and
// modifiers; the reference lowering too.
// RUN: split-file %s %t
// RUN: attn-run %t/nhd_f32.mlir --check --shape B=3,Hq=8,Hkv=2,Sq=1,Skv=320 --shape B=2,Hq=4,Hkv=1,Sq=2,Skv=96 --shape B=2,Hq=4,Hkv=2,Sq=37,Skv=160 | FileCheck %s --check-prefix=OK3
// RUN: attn-run %t/nhd_f32.mlir --lowering=reference --check --shape B=3,Hq=8,Hkv=2,Sq=1,Skv=320 --shape B=2,Hq=4,Hkv=2,Sq=37,Skv=160 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/hnd_bf16_bshd.mlir --check --shape B=3,Hq=8,Hkv=2,Sq=1,Skv=256 --shape B=2,Hq=4,Hkv=2,Sq=40,Skv=192 | FileCheck %s --check-prefix=OK2
// The GPU kernels on the emulator (sm_90a default, runs mma.sync for a
// paged cache; sm_80): the cp.async copies read rows through the table.
// RUN: attn-run %t/hnd_bf16_bshd.mlir --target=cuda-emulator --check --shape B=3,Hq=8,Hkv=2,Sq=1,Skv=256 --shape B=2,Hq=4,Hkv=2,Sq=40,Skv=192 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/hnd_bf16_bshd.mlir --target=cuda-emulator --chip=sm_80 --check --shape B=2,Hq=4,Hkv=2,Sq=40,Skv=192 | FileCheck %s --check-prefix=OK1
// RUN: attn-run %t/document_sink.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=1,Skv=256 --shape B=2,Hq=4,Hkv=1,Sq=30,Skv=128 | FileCheck %s --check-prefix=OK2
//
// Bad tables and lengths are errors before the kernel runs.
// RUN: printf '\x93NUMPY\x01\x00\x76\x00%%-117s\n' \
// RUN:   "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2), }" > %t/table.npy
// RUN: printf '\x00\x00\x00\x00\x07\x00\x00\x00' >> %t/table.npy
// RUN: not attn-run %t/nhd_f32.mlir --input page_table=%t/table.npy --shape Hq=2,Hkv=2,Sq=1 2>&1 | FileCheck %s --check-prefix=PAGE
// RUN: printf '\x93NUMPY\x01\x00\x76\x00%%-117s\n' \
// RUN:   "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }" > %t/len.npy
// RUN: printf '\x28\x00\x00\x00' >> %t/len.npy
// RUN: not attn-run %t/nhd_f32.mlir --input kv_len=%t/len.npy --shape B=1,Hq=2,Hkv=2,Sq=1,Skv=32 2>&1 | FileCheck %s --check-prefix=LEN
// RUN: not attn-run %t/nhd_f32.mlir --shape B=1,Hq=2,Hkv=2,Sq=1,Skv=40 2>&1 | FileCheck %s --check-prefix=WHOLE

// OK3-COUNT-3: check=ok
// OK3-NOT: FAIL
// OK2-COUNT-2: check=ok
// OK2-NOT: FAIL
// OK1: check=ok
// PAGE: page_table[0, 1] = 7 is not a page of the pool (pages 0..2), and batch row 0 reads it (kv_len[0] = 32)
// LEN: kv_len[0] = 40 is outside [0, max_pages 2 x page_size 16 = 32]
// WHOLE: Skv=40 must be a multiple of the page size 16 for a paged cache

//--- nhd_f32.mlir
func.func @nhd_f32(%q: tensor<?x?x?x64xf32>, %k: tensor<?x16x?x64xf32>, %v: tensor<?x16x?x64xf32>, %t: tensor<?x?xi32>, %kl: tensor<?xi32>, %o: tensor<?x?x?x64xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x64xf32>, tensor<?x16x?x64xf32>, tensor<?x16x?x64xf32>)
      page_table(%t : tensor<?x?xi32>) kv_len(%kl : tensor<?xi32>)
      outs(%o, %l : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
      {mask = #attn.causal, score_mods = [#attn.alibi, #attn.softcap<cap = 20.0>],
       paged = #attn.paged<page_size = 16>} -> tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
}

//--- hnd_bf16_bshd.mlir
func.func @hnd_bf16_bshd(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x32x64xbf16>, %v: tensor<?x?x32x64xbf16>, %t: tensor<?x?xi32>, %kl: tensor<?xi32>, %o: tensor<?x?x?x64xbf16>) -> tensor<?x?x?x64xbf16> {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x64xbf16>, tensor<?x?x32x64xbf16>, tensor<?x?x32x64xbf16>)
      page_table(%t : tensor<?x?xi32>) kv_len(%kl : tensor<?xi32>)
      outs(%o : tensor<?x?x?x64xbf16>)
      {layout = #attn.layout<bshd>, mask = #attn.and<[#attn.causal, #attn.sliding_window<left = 70>]>,
       paged = #attn.paged<page_size = 32, layout = hnd>} -> tensor<?x?x?x64xbf16>
  return %r : tensor<?x?x?x64xbf16>
}

//--- document_sink.mlir
func.func @document_sink(%q: tensor<?x?x?x32xf32>, %k: tensor<?x8x?x32xf32>, %v: tensor<?x8x?x32xf32>, %t: tensor<?x?xi32>, %s: tensor<?xf32>, %kl: tensor<?xi32>, %sq: tensor<?x?xi32>, %sk: tensor<?x?xi32>, %o: tensor<?x?x?x32xf32>) -> tensor<?x?x?x32xf32> {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x8x?x32xf32>, tensor<?x8x?x32xf32>)
      page_table(%t : tensor<?x?xi32>) sink(%s : tensor<?xf32>) kv_len(%kl : tensor<?xi32>)
      segments(%sq, %sk : tensor<?x?xi32>, tensor<?x?xi32>)
      outs(%o : tensor<?x?x?x32xf32>)
      {normalizer = #attn.sink_softmax, mask = #attn.and<[#attn.document, #attn.causal]>,
       paged = #attn.paged<page_size = 8>} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}
