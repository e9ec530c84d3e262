// REQUIRES: amx
// On a host with AMX-BF16, bf16 ops whose head dims and tiles fit take AMX
// tiles by default; the amx=false option and $ATTN_NO_AMX keep the AVX-512
// plan, and what does not fit keeps it too.
// RUN: attn-opt %s -attn-print-tile-plan="target=cpu vector-width=16" -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=AMX
// RUN: attn-opt %s -attn-print-tile-plan="target=cpu vector-width=16 amx=false" -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=OFF
// RUN: env ATTN_NO_AMX=1 attn-opt %s -attn-print-tile-plan="target=cpu vector-width=16" -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=OFF

// AMX: remark: tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "amx">
// OFF: remark: tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "fma">
!t = tensor<?x?x?x64xbf16>
func.func @bf16_default(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {mask = #attn.causal} -> !t
  return %r : !t
}

// -----

// A value head dim that is not a multiple of 32.
// AMX: remark: tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "fma">
// OFF: remark: tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "fma">
!t = tensor<?x?x?x64xbf16>
!v = tensor<?x?x?x48xbf16>
func.func @bf16_dv48(%q: !t, %k: !t, %v: !v, %o: !v) -> !v {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !v) outs(%o : !v) -> !v
  return %r : !v
}

// -----

// Tiles that are not multiples of 32 keys (a config's, or a block-sparse
// mask's choice of 48).
// AMX: remark: tile plan for cpu: #attn.config<block_q = 64, block_kv = 48, vector_width = 16, unroll = 6, dot = "fma">
// OFF: remark: tile plan for cpu: #attn.config<block_q = 64, block_kv = 48, vector_width = 16, unroll = 6, dot = "fma">
!t = tensor<?x?x?x64xbf16>
func.func @bf16_block_kv_48(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {config = #attn.config<block_kv = 48>} -> !t
  return %r : !t
}

// -----

// f32 never takes AMX, f16 only where asked for
// (attn-print-tile-plan-f16-amx.mlir).
// AMX: remark: tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "fma">
!t = tensor<?x?x?x64xf16>
func.func @f16(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t) -> !t
  return %r : !t
}

// -----

// A paged cache: the AMX products do not read through a page table yet.
// AMX: remark: tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "fma">
// OFF: remark: tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "fma">
!t = tensor<?x?x?x64xbf16>
!p = tensor<?x16x?x64xbf16>
func.func @bf16_paged(%q: !t, %kc: !p, %pt: tensor<?x?xi32>, %n: tensor<?xi32>, %o: !t) -> !t {
  %r = attn.attention ins(%q, %kc, %kc : !t, !p, !p) page_table(%pt : tensor<?x?xi32>)
         kv_len(%n : tensor<?xi32>) outs(%o : !t)
         {mask = #attn.causal, paged = #attn.paged<page_size = 16>} -> !t
  return %r : !t
}
