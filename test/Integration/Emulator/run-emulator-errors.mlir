// RUN: not attn-run %s --target=cuda-emulator --chip=sm_80 --mma=wgmma 2>&1 | FileCheck %s --check-prefix=BADMMA
// RUN: not attn-run %s --target=cuda-emulator --chip=sm_70 2>&1 | FileCheck %s --check-prefix=BADCHIP

// The emulator target takes the CUDA target's options and reports bad ones
// as the CUDA pipeline does (its runtime's errors are checked by
// EmulatorRuntimeTest).

// BADMMA: attn-run: error: mma=wgmma needs chip=sm_90a
// BADCHIP: attn-run: error: chip must be 'sm_80' or 'sm_90a', not 'sm_70'
!t = tensor<?x?x?x64xbf16>
func.func @attention(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.causal} -> !t
  return %r : !t
}
