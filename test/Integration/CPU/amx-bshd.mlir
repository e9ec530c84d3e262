// REQUIRES: amx
// The AMX path with the BSHD layout (K rows kv_heads * D apart), D = 128,
// Dv = 32, a sliding window with sinks (empty, full and partial tiles),
// soft-capping (per-element modifiers on every tile) and 32 x 128 tiles.
// RUN: attn-run %s --check \
// RUN:   --shape B=2,Hq=4,Hkv=2,Sq=300,Skv=300 --shape B=1,Hq=2,Sq=37,Skv=700 \
// RUN:   --shape B=1,Hq=2,Hkv=1,Sq=129,Skv=31 \
// RUN: | FileCheck %s
// RUN: attn-opt %s -attn-print-tile-plan="target=cpu" -o /dev/null 2>&1 | FileCheck %s --check-prefix=PLAN

// CHECK: Skv=300,Sq=300 {{.*}} check=ok
// CHECK-NEXT: Skv=700,Sq=37 {{.*}} check=ok
// CHECK-NEXT: Skv=31,Sq=129 {{.*}} check=ok
// PLAN: #attn.config<block_q = 32, block_kv = 128, vector_width = 16, unroll = 6, dot = "amx">

!q = tensor<?x?x?x128xbf16>
!v = tensor<?x?x?x32xbf16>
func.func @window_bshd(%q: !q, %k: !q, %v: !v, %o: !v) -> !v {
  %r = attn.attention ins(%q, %k, %v : !q, !q, !v) outs(%o : !v)
      {layout = #attn.layout<bshd>,
       mask = #attn.or<[#attn.sinks<count = 4>, #attn.sliding_window<left = 100>]>,
       score_mods = [#attn.softcap<cap = 20.0>],
       config = #attn.config<block_q = 32, block_kv = 128>} -> !v
  return %r : !v
}
