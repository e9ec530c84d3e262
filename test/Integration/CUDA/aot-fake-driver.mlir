// RUN: attn-aot %s -o %t.so
// RUN: env LD_LIBRARY_PATH=%fake_cuda_dir %python %S/Inputs/call_aot.py %t.so --fake | FileCheck %s --check-prefix=SM80
// RUN: attn-aot %s --chip=sm_90a -o %t.sm90.so
// RUN: env LD_LIBRARY_PATH=%fake_cuda_dir %python %S/Inputs/call_aot.py %t.sm90.so --fake | FileCheck %s --check-prefix=SM90

// A library written by attn-aot, over the fake driver of the unit tests
// (host memory, no kernel runs): loading it loads the kernel, and a call on
// a [1, 2, 5, 64] problem launches one grid of ceil(5 / 64) x (1 * 2) CTAs
// of 128 threads with no error; the sm_90a kernel first has K's and V's
// tensor maps made.

// SM80: status=1
// SM80: after-load=0
// SM80: called
// SM80: after-call=0
// SM80: launches=1 grid=[1, 2, 1] block=[128, 1, 1] maps=0

// SM90: status=1
// SM90: after-call=0
// SM90: launches=1 grid=[1, 2, 1] block=[128, 1, 1] maps=2
!qkv = tensor<?x?x?x64xf16>
func.func @attention(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv) -> !qkv {
  %r = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv) outs(%o : !qkv)
      {mask = #attn.causal} -> !qkv
  return %r : !qkv
}
