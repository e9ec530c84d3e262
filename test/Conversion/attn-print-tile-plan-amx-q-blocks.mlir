// REQUIRES: amx
// The AMX kv loops keep one q-tile per work item: on a host with AMX-BF16,
// q_blocks > 1 on a bf16 op that takes AMX is an error, and with amx=false
// (the AVX-512 path) the plan keeps it.
// RUN: not attn-opt %s -attn-print-tile-plan="target=cpu vector-width=16" -o /dev/null 2>&1 | FileCheck %s --check-prefix=AMX
// RUN: attn-opt %s -attn-print-tile-plan="target=cpu vector-width=16 amx=false" -o /dev/null 2>&1 | FileCheck %s --check-prefix=OFF

// AMX: error: 'attn.attention' op #attn.config q_blocks = 2 needs dot = "fma" or "bf16" (the AMX paths run one q-tile per item)
// OFF: remark: tile plan for cpu: #attn.config<block_q = 64, block_kv = 96, vector_width = 16, unroll = 6, q_blocks = 2, dot = "fma">
!t = tensor<?x?x?x64xbf16>
func.func @bf16_q_blocks(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {config = #attn.config<q_blocks = 2>} -> !t
  return %r : !t
}
