// REQUIRES: amx
// f16 inputs take AMX tiles (Q, K and V rounded to bf16) only where asked
// for: #attn.config<dot = "amx"> on the op, or the f16-amx option; by
// default, and with amx=true alone, they keep the f32-FMA plan. (Each run
// includes an op whose plan is an error, hence `not`.)
// RUN: not attn-opt %s -attn-print-tile-plan="target=cpu vector-width=16" -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=DEFAULT
// RUN: not attn-opt %s -attn-print-tile-plan="target=cpu vector-width=16 f16-amx=true" -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=OPTIN
// RUN: not env ATTN_NO_AMX=1 attn-opt %s -attn-print-tile-plan="target=cpu vector-width=16 f16-amx=true" -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOAMX

// DEFAULT: remark: tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "fma">
// OPTIN: remark: tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "amx">
// NOAMX: remark: tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "fma">
!t = tensor<?x?x?x64xf16>
func.func @f16_default(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {mask = #attn.causal} -> !t
  return %r : !t
}

// -----

// The op's own opt-in, with and without the option.
// DEFAULT: remark: tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "amx">
// OPTIN: remark: tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "amx">
// NOAMX: error: 'attn.attention' op #attn.config dot = "amx" needs AMX: AMX is turned off by $ATTN_NO_AMX
!t = tensor<?x?x?x64xf16>
func.func @f16_dot_amx(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {config = #attn.config<dot = "amx">} -> !t
  return %r : !t
}

// -----

// What AMX cannot take keeps the f32-FMA plan under the option, and is an
// error on the op that asks for it.
// OPTIN: remark: tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, dot = "fma">
!t = tensor<?x?x?x64xf16>
!v = tensor<?x?x?x48xf16>
func.func @f16_dv48(%q: !t, %k: !t, %v: !v, %o: !v) -> !v {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !v) outs(%o : !v) -> !v
  return %r : !v
}

// -----

// DEFAULT: error: 'attn.attention' op #attn.config dot = "amx" needs static head dims that are multiples of 32
// OPTIN: error: 'attn.attention' op #attn.config dot = "amx" needs static head dims that are multiples of 32
// NOAMX: error: 'attn.attention' op #attn.config dot = "amx" needs static head dims that are multiples of 32
!t = tensor<?x?x?x64xf16>
!v = tensor<?x?x?x48xf16>
func.func @f16_dv48_dot_amx(%q: !t, %k: !t, %v: !v, %o: !v) -> !v {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !v) outs(%o : !v)
         {config = #attn.config<dot = "amx">} -> !v
  return %r : !v
}

// -----

// The backward takes the op's opt-in too (bf16 copies of Q, K, V and dO).
// DEFAULT: remark: backward for cpu: fused #attn.config<block_q = 64, block_kv = 64, vector_width = 16, unroll = 6, dot = "amx">
// OPTIN: remark: backward for cpu: fused #attn.config<block_q = 64, block_kv = 64, vector_width = 16, unroll = 6, dot = "amx">
// NOAMX: remark: backward for cpu: fused #attn.config<block_q = 64, block_kv = 64, vector_width = 16, unroll = 6, dot = "fma">
!t = tensor<?x?x?x64xf16>
!l = tensor<?x?x?xf32>
func.func @f16_grad_dot_amx(%q: !t, %k: !t, %v: !t, %o: !t, %do: !t, %lse: !l) -> (!t, !t, !t) {
  %r:3 = attn.attention_grad ins(%q, %k, %v : !t, !t, !t)
      out(%o : !t) grad_out(%do : !t) lse(%lse : !l)
      outs(%q, %k, %v : !t, !t, !t)
      {config = #attn.config<dot = "amx">} -> !t, !t, !t
  return %r#0, %r#1, %r#2 : !t, !t, !t
}

// -----

// DEFAULT: remark: backward for cpu: fused #attn.config<block_q = 64, block_kv = 64, vector_width = 16, unroll = 6, dot = "fma">
// OPTIN: remark: backward for cpu: fused #attn.config<block_q = 64, block_kv = 64, vector_width = 16, unroll = 6, dot = "amx">
// NOAMX: remark: backward for cpu: fused #attn.config<block_q = 64, block_kv = 64, vector_width = 16, unroll = 6, dot = "fma">
!t = tensor<?x?x?x64xf16>
!l = tensor<?x?x?xf32>
func.func @f16_grad_default(%q: !t, %k: !t, %v: !t, %o: !t, %do: !t, %lse: !l) -> (!t, !t, !t) {
  %r:3 = attn.attention_grad ins(%q, %k, %v : !t, !t, !t)
      out(%o : !t) grad_out(%do : !t) lse(%lse : !l)
      outs(%q, %k, %v : !t, !t, !t) -> !t, !t, !t
  return %r#0, %r#1, %r#2 : !t, !t, !t
}
