// REQUIRES: cuda-gpu
// RUN: split-file %s %t
// RUN: attn-run %t/causal.mlir --target=cuda --check --shape B=2,Hq=4,Sq=300,Skv=300 --shape B=1,Hq=2,Sq=1,Skv=1000 | FileCheck %s
// RUN: attn-run %t/causal.mlir --target=cuda --mma=sync --check --shape B=2,Hq=4,Sq=300,Skv=300 | FileCheck %s
// RUN: attn-run %t/causal.mlir --target=cuda --chip=sm_80 --check --shape B=2,Hq=4,Sq=300,Skv=300 | FileCheck %s
// RUN: attn-run %t/masked.mlir --target=cuda --check --shape B=2,Hq=8,Hkv=2,Sq=777,Skv=777 | FileCheck %s
// RUN: attn-run %t/masked.mlir --target=cuda --mma=sync --check --shape B=2,Hq=8,Hkv=2,Sq=777,Skv=777 | FileCheck %s

// On a machine with an NVIDIA GPU (sm_90a kernels need Hopper), both
// kernels of each chip agree with the float64 reference within the bf16
// tolerance, at lengths that are not multiples of the tiles, with GQA and
// a fully masked query (document padding).

// CHECK: attn-run: shape=
// CHECK-NOT: FAIL

//--- causal.mlir
!t = tensor<?x?x?x128xbf16>
func.func @attention(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.causal} -> !t
  return %r : !t
}

//--- masked.mlir
!t = tensor<?x?x?x64xbf16>
!seg = tensor<?x?xi32>
func.func @attention(%q: !t, %k: !t, %v: !t, %sq: !seg, %sk: !seg, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) segments(%sq, %sk : !seg, !seg)
      outs(%o : !t)
      {mask = #attn.and<[#attn.document, #attn.sliding_window<left = 256>, #attn.causal]>,
       score_mods = [#attn.alibi]} -> !t
  return %r : !t
}
