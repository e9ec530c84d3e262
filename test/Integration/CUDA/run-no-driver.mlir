// UNSUPPORTED: cuda-gpu
// RUN: not attn-run %s --target=cuda --shape B=1,Hq=2,Sq=100,Skv=100 2>&1 | FileCheck %s --check-prefix=SM90
// RUN: not attn-run %s --target=cuda --chip=sm_80 2>&1 | FileCheck %s --check-prefix=SM80
// RUN: not attn-run %s --target=cuda --chip=sm_80 --mma=wgmma 2>&1 | FileCheck %s --check-prefix=BADMMA
// RUN: not attn-run %s --target=tpu 2>&1 | FileCheck %s --check-prefix=BADTARGET

// Without a CUDA driver attn-run still compiles the kernel (host code and
// embedded PTX, for either chip), then says plainly why it cannot run it
// (exit status 2) instead of crashing.

// SM90: attn-run: target=cuda: compiled for sm_90a, but cannot run here: no CUDA driver
// SM80: attn-run: target=cuda: compiled for sm_80, but cannot run here: no CUDA driver
// BADMMA: attn-run: error: mma=wgmma needs chip=sm_90a
// BADTARGET: attn-run: error: --target must be 'cpu', 'cuda' or 'cuda-emulator', not 'tpu'
!t = tensor<?x?x?x64xbf16>
func.func @attention(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.causal, score_mods = [#attn.softcap<cap = 30.0>]} -> !t
  return %r : !t
}
