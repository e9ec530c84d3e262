// REQUIRES: cuda-gpu
// RUN: split-file %s %t
// RUN: attn-run %t/int4_residual.mlir --target=cuda --check --shape B=3,Hq=8,Hkv=2,Sq=1,Skv=1024 --shape B=2,Hq=4,Hkv=2,Sq=300,Skv=512 | FileCheck %s
// RUN: attn-run %t/int4_residual.mlir --target=cuda --chip=sm_80 --check --shape B=2,Hq=4,Hkv=2,Sq=300,Skv=512 | FileCheck %s
// RUN: attn-run %t/paged_e4m3.mlir --target=cuda --check --shape B=3,Hq=8,Hkv=2,Sq=1,Skv=1024 --shape B=2,Hq=4,Hkv=1,Sq=100,Skv=256 | FileCheck %s

// On a machine with an NVIDIA GPU, the mma.sync kernel's dequantised tiles
// (int4 codes with a residual window; a paged fp8 cache) agree with the
// float64 reference on the cache dequantised by attn-run and rounded to the
// query's type (test/Integration/CPU/quant.mlir runs the same on the GPU
// emulator). Not yet run on a GPU.

// CHECK: attn-run: shape=
// CHECK-NOT: FAIL

//--- int4_residual.mlir
!q = tensor<?x?x?x128xbf16>
!c = tensor<?x?x?x64xi8>
!ks = tensor<?x?x?x128xf16>
!vs = tensor<?x?x?x4xf16>
!r = tensor<?x?x128x128xbf16>
func.func @int4_residual(%q: !q, %k: !c, %v: !c, %ks: !ks, %kz: !ks, %vs: !vs, %vz: !vs,
                         %kr: !r, %vr: !r, %n: tensor<?xi32>, %o: !q) -> !q {
  %r = attn.attention ins(%q, %k, %v : !q, !c, !c)
      kv_quant(%ks, %kz, %vs, %vz, %kr, %vr : !ks, !ks, !vs, !vs, !r, !r)
      kv_len(%n : tensor<?xi32>) outs(%o : !q)
      {mask = #attn.causal,
       quant = #attn.quant<bits = 4, group = 32, scale = f16, residual = 128>} -> !q
  return %r : !q
}

//--- paged_e4m3.mlir
!q = tensor<?x?x?x64xf16>
!c = tensor<?x64x?x64xi8>
!s = tensor<?xf32>
func.func @paged_e4m3(%q: !q, %k: !c, %v: !c, %t: tensor<?x?xi32>, %ks: !s, %vs: !s,
                      %n: tensor<?xi32>, %o: !q) -> !q {
  %r = attn.attention ins(%q, %k, %v : !q, !c, !c)
      page_table(%t : tensor<?x?xi32>) kv_quant(%ks, %vs : !s, !s)
      kv_len(%n : tensor<?xi32>) outs(%o : !q)
      {mask = #attn.causal, paged = #attn.paged<page_size = 64>,
       quant = #attn.quant<bits = 8, group = 1, scale = f32, format = e4m3>} -> !q
  return %r : !q
}
