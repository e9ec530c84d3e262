// RUN: split-file %s %t
// RUN: attn-run %t/causal.mlir --target=cuda-emulator --check --shape B=1,Hq=2,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=1,Skv=129 | FileCheck %s
// RUN: attn-run %t/causal.mlir --target=cuda-emulator --mma=sync --check --shape B=1,Hq=2,Sq=67,Skv=67 | FileCheck %s
// RUN: attn-run %t/causal.mlir --target=cuda-emulator --chip=sm_80 --check --shape B=1,Hq=2,Sq=67,Skv=67 | FileCheck %s
// RUN: attn-run %t/masked.mlir --target=cuda-emulator --check --shape B=1,Hq=4,Hkv=2,Sq=129,Skv=129 | FileCheck %s
// RUN: attn-run %t/masked.mlir --target=cuda-emulator --chip=sm_80 --check --shape B=1,Hq=4,Hkv=2,Sq=129,Skv=129 | FileCheck %s

// The CUDA kernels of both chips (sm_90a: wgmma + TMA, and mma.sync;
// sm_80: mma.sync + cp.async) and their host code, run by the GPU emulator,
// agree with the float64 reference within the bf16 tolerance at lengths
// that are not multiples of the tiles, decoding, and GQA with a document
// mask (a fully masked query). Any emulator report would fail the run.

// CHECK: attn-run: shape=
// CHECK-NOT: FAIL

//--- causal.mlir
!t = tensor<?x?x?x64xbf16>
func.func @attention(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.causal} -> !t
  return %r : !t
}

//--- masked.mlir
!t = tensor<?x?x?x64xf16>
!seg = tensor<?x?xi32>
func.func @attention(%q: !t, %k: !t, %v: !t, %sq: !seg, %sk: !seg, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) segments(%sq, %sk : !seg, !seg)
      outs(%o : !t)
      {mask = #attn.and<[#attn.document, #attn.sliding_window<left = 48>, #attn.causal]>,
       score_mods = [#attn.alibi]} -> !t
  return %r : !t
}
