// RUN: attn-opt %s --attn-cuda-pipeline="chip=sm_90a" | grep -v gpu.binary > %t.gpu.mlir
// RUN: attn-opt %s --attn-cuda-pipeline="chip=sm_90a emulate=true" -o %t.emu.mlir
// RUN: grep -v gpu.binary %t.emu.mlir | diff %t.gpu.mlir -
// RUN: FileCheck %s --check-prefix=SM90 < %t.emu.mlir
// RUN: attn-opt %s --attn-cuda-pipeline="chip=sm_80 emulate=true" | FileCheck %s --check-prefix=SM80
// RUN: not attn-opt %s --attn-cuda-pipeline="emulate=true format=bin" 2>&1 | FileCheck %s --check-prefix=BADFORMAT

// With emulate=true the host code is exactly that of a GPU build (launch
// geometry, shared memory, kernel arguments, tensor maps), and the kernel
// module is embedded as MLIR text (custom form, with the source location
// of the attention op) where the PTX would be.

// SM90:      gpu.launch_func @attention_kernel::@attention_kernel
// SM90:      gpu.binary @attention_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx83">, bin = "
// SM90-SAME:   #loc = loc(\22{{[^\\]*}}attn-cuda-pipeline-emulate.mlir\22:[[@LINE+14]]:8)
// SM90-SAME:   module {\0A  gpu.module @attention_kernel
// SM90-SAME:   attributes {gpu.kernel
// SM90-SAME:   llvm.inline_asm
// SM90-SAME:   wgmma.mma_async
// SM90-SAME:   loc(#loc)

// SM80:      gpu.binary @attention_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_80">, bin = "
// SM80-SAME:   nvvm.mma.sync

// BADFORMAT: emulate=true embeds MLIR text for the emulator; format=bin does not apply

!t = tensor<?x?x?x64xbf16>
func.func @attention(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.causal} -> !t
  return %r : !t
}
