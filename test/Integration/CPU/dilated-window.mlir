// #attn.dilated_window (attention-gym's dilated sliding window), one leaf,
// against attn-run's float64 reference: rows long enough for empty, full
// (dilation 1) and partial kv tiles, GQA, cross-attention (Sq != Skv), and
// Sq = 2 for the decoding (row) kernel.
// RUN: attn-run %s --check --func=dilated --shape B=1,Hq=2,Sq=300,Skv=300 --shape B=2,Hq=2,Hkv=1,Sq=129,Skv=400 --shape B=1,Hq=2,Sq=2,Skv=333 | FileCheck %s
// RUN: attn-run %s --check --func=undilated --shape B=1,Hq=2,Sq=300,Skv=300 --shape B=1,Hq=2,Sq=2,Skv=333 | FileCheck %s

// CHECK: check=ok
// CHECK-NOT: FAIL
!t = tensor<?x?x?x32xf32>
func.func @dilated(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {mask = #attn.dilated_window<window = 70, dilation = 3>} -> !t
  return %r : !t
}
func.func @undilated(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
         {mask = #attn.dilated_window<window = 70, dilation = 1>} -> !t
  return %r : !t
}
