// UNSUPPORTED: cuda-gpu
// RUN: attn-aot %s -o %t.so
// RUN: llvm-readelf --needed-libs %t.so | FileCheck %s --check-prefix=NEEDED
// RUN: %python %S/Inputs/call_aot.py %t.so | FileCheck %s
// RUN: attn-aot %s --chip=sm_90a -o %t.sm90.so
// RUN: %python %S/Inputs/call_aot.py %t.sm90.so | FileCheck %s

// attn-aot writes a library that depends on no LLVM or MLIR library. On a
// machine without a CUDA driver it loads, its status call says why, and
// calling the kernel launches nothing and reports the error instead of
// crashing; for sm_90a (the wgmma kernel) that includes the TMA tensor
// maps the host makes before the launch.

// NEEDED: NeededLibraries [
// NEEDED-NOT: MLIR
// NEEDED-NOT: LLVM
// NEEDED: ]

// CHECK: status=0 no CUDA driver
// CHECK: after-load={{-?[0-9]+}}
// CHECK: called
// CHECK: after-call={{-?[0-9]+}} no CUDA driver
!qkv = tensor<?x?x?x64xf16>
func.func @attention(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv) outs(%o : !qkv)
      {mask = #attn.causal} -> !qkv
  return %r : !qkv
}
