// RUN: env ATTN_EMULATOR_MUTATION='[{"pattern": "nvvm\\.barrier0[^\\n]*", "replace": "", "nth": -1}]' not attn-run %s --target=cuda-emulator --chip=sm_80 --shape B=1,Hq=2,Sq=67,Skv=67 2>&1 | FileCheck %s

// A kernel broken on purpose (its last barrier removed by the emulator's
// mutation hook) races; the run fails with a plain message naming the
// launch and listing the first five reports with their kind, the op and
// its location, and how many more there were.

// CHECK:      attn-run: error: target=cuda-emulator: kernel 'attention_kernel' (grid 2x2x1, block 128x1x1, 18432 bytes of dynamic shared memory) has {{[0-9]+}} emulator reports
// CHECK-NEXT:   race at {{.*}}run-emulator-reports.mlir":[[#@LINE+8]]:8): {{.+}}
// CHECK-NEXT:   race at
// CHECK-NEXT:   race at
// CHECK-NEXT:   race at
// CHECK-NEXT:   race at
// CHECK-NEXT:   (and {{[0-9]+}} more)
!t = tensor<?x?x?x64xbf16>
func.func @attention(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.causal} -> !t
  return %r : !t
}
