// RUN: attn-opt %s -attn-print-tile-plan="target=cpu vector-width=16" -split-input-file -verify-diagnostics -o /dev/null
// RUN: not attn-opt %s -attn-print-tile-plan="target=cpu vector-width=8" -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=AVX2
// RUN: not attn-opt %s -attn-print-tile-plan="target=sm_80" -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=SM80
// RUN: not attn-opt %s -attn-print-tile-plan="target=sm_90a" -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=SM90
// RUN: not attn-opt %s -attn-print-tile-plan="target=tpu" -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=BADTARGET

// BADTARGET: attn-print-tile-plan: target must be cpu, sm_80 or sm_90a, not 'tpu'

// The defaults: AVX-512 4 x 16 query rows, 96-key tiles, 6-row blocks;
// AVX2 2 x 8 rows, 64 keys, 4-row blocks; the GPU kernels 4 warps of 16
// rows and 64 keys (sm_80 mma.sync in one stage, sm_90a wgmma in two).
// AVX2: remark: tile plan for cpu: #attn.config<block_q = 16, block_kv = 64, vector_width = 8, unroll = 4, dot = "fma">
// SM80: remark: tile plan for sm_80: #attn.config<block_q = 64, block_kv = 64, warps = 4, stages = 1, mma = "sync">
// SM90: remark: tile plan for sm_90a: #attn.config<block_q = 64, block_kv = 64, warps = 4, stages = 2, mma = "wgmma">
!t = tensor<?x?x?x64xf16>
func.func @defaults(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  // expected-remark @+1 {{tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "fma">}}
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {mask = #attn.causal} -> !t
  return %r : !t
}

// -----

// A banded mask takes 64-key tiles on AVX-512 (less waste around the band).
!t = tensor<?x?x?x64xf32>
func.func @band(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  // expected-remark @+1 {{tile plan for cpu: #attn.config<block_q = 64, block_kv = 64, vector_width = 16, unroll = 6, dot = "fma">}}
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {mask = #attn.sliding_window<left = 256>} -> !t
  return %r : !t
}

// -----

// What the config sets is kept, the rest filled in: the printed plan pinned
// on the op resolves to itself.
!t = tensor<?x?x?x64xf32>
func.func @pinned(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  // expected-remark @+1 {{tile plan for cpu: #attn.config<block_q = 32, block_kv = 128, vector_width = 8, unroll = 3, kv_splits = 4, dot = "fma">}}
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {config = #attn.config<block_q = 32, block_kv = 128, vector_width = 8, unroll = 3, kv_splits = 4, dot = "fma">} -> !t
  return %r : !t
}

// -----

// q_blocks (q-tiles per work item) is kept; unset, it is chosen per call.
!t = tensor<?x?x?x64xf32>
func.func @q_blocks(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  // expected-remark @+1 {{tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, q_blocks = 3, dot = "fma">}}
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {config = #attn.config<q_blocks = 3>} -> !t
  return %r : !t
}

// -----

// The rules that depend on the target are checked when the plan resolves.
!t = tensor<?x?x?x64xf32>
func.func @bad_block_q(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  // expected-error @+1 {{#attn.config block_q = 24 must be a multiple of the vector width 16 on the CPU}}
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {config = #attn.config<block_q = 24>} -> !t
  return %r : !t
}

// -----

!t = tensor<?x?x?x64xf32>
func.func @bad_unroll(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  // expected-error @+1 {{#attn.config unroll = 9 with block_q = 64 needs more than 32 vector accumulators}}
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {config = #attn.config<unroll = 9>} -> !t
  return %r : !t
}

// -----

!t = tensor<?x?x?x64xf32>
func.func @bad_dot(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  // expected-error @+1 {{#attn.config dot = "bf16" needs bf16 inputs}}
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {config = #attn.config<dot = "bf16">} -> !t
  return %r : !t
}

// -----

// dot = "amx": the op's rules are checked before the host's.
!t = tensor<?x?x?x64xf32>
func.func @amx_f32(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  // expected-error @+1 {{#attn.config dot = "amx" needs bf16 or f16 inputs (f16 rounded to bf16)}}
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {config = #attn.config<dot = "amx">} -> !t
  return %r : !t
}

// -----

!t = tensor<?x?x?x48xbf16>
func.func @amx_head_dim(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  // expected-error @+1 {{#attn.config dot = "amx" needs static head dims that are multiples of 32}}
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {config = #attn.config<dot = "amx">} -> !t
  return %r : !t
}

// -----

!t = tensor<?x?x?x?xbf16>
func.func @amx_dynamic_head_dim(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  // expected-error @+1 {{#attn.config dot = "amx" needs static head dims that are multiples of 32}}
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {config = #attn.config<dot = "amx">} -> !t
  return %r : !t
}
