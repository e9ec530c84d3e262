// RUN: attn-aot %s --emulate -o %t.so
// RUN: llvm-readelf --needed-libs %t.so | FileCheck %s --check-prefix=NEEDED
// RUN: %python %attn_src_root/test/Integration/CUDA/Inputs/call_aot.py %t.so --emulator | FileCheck %s
// RUN: attn-aot %s --emulate --chip=sm_90a -o %t.sm90.so
// RUN: %python %attn_src_root/test/Integration/CUDA/Inputs/call_aot.py %t.sm90.so --emulator | FileCheck %s

// attn-aot --emulate writes a library with the same C ABI whose kernels run
// on the GPU emulator: it needs the emulator runtime instead of the CUDA
// driver, its status is always ready, and a call on buffers from its
// mgpuMemAlloc computes causal attention (both chips' kernels) without an
// error or emulator report.

// NEEDED: NeededLibraries [
// NEEDED: libattn_emulator_runtime.so
// NEEDED: ]

// CHECK: status=1
// CHECK: after-load=0
// CHECK: called
// CHECK: after-call=0
// CHECK: matches the reference
!qkv = tensor<?x?x?x64xf16>
func.func @attention(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv) outs(%o : !qkv)
      {mask = #attn.causal} -> !qkv
  return %r : !qkv
}
