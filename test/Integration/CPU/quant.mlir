// Quantized KV caches (#attn.quant with a kv_quant operand group): attn-run
// fills valid codes, scales, zeros and residual rows, and the float64
// reference runs on the keys and values that attn-run dequantises itself
// from the documented packing. int8, int4 and int2 codes with f16 and f32
// scales, residual windows (kv_len mid-window), fp8 e4m3 and e5m2,
// paged + quantized (both pool layouts), decoding (Sq 1 and 2: the row
// kernel) and prefill (the tile kernel), GQA, both layouts, a cache without
// kv_len, the reference lowering, and the GPU kernels on the emulator.
// RUN: split-file %s %t
// RUN: attn-run %t/int8.mlir --check --shape B=3,Hq=8,Hkv=2,Sq=1,Skv=256 --shape B=2,Hq=4,Hkv=1,Sq=2,Skv=96 --shape B=2,Hq=4,Hkv=2,Sq=45,Skv=160 | FileCheck %s --check-prefix=OK3
// RUN: attn-run %t/int8.mlir --lowering=reference --check --shape B=3,Hq=8,Hkv=2,Sq=1,Skv=256 --shape B=2,Hq=4,Hkv=2,Sq=45,Skv=160 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/int4_residual_bf16.mlir --check --shape B=3,Hq=8,Hkv=2,Sq=1,Skv=320 --shape B=2,Hq=4,Hkv=2,Sq=50,Skv=192 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/int2_residual_bshd.mlir --check --shape B=3,Hq=6,Hkv=2,Sq=1,Skv=144 --shape B=2,Hq=4,Hkv=4,Sq=33,Skv=112 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/no_kv_len.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=1,Skv=200 --shape B=1,Hq=2,Hkv=1,Sq=30,Skv=72 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/e4m3.mlir --check --shape B=3,Hq=8,Hkv=2,Sq=1,Skv=130 --shape B=2,Hq=4,Hkv=2,Sq=40,Skv=100 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/e5m2_bf16.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=1,Skv=64 --shape B=2,Hq=4,Hkv=1,Sq=24,Skv=96 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/paged_int4.mlir --check --shape B=3,Hq=8,Hkv=2,Sq=1,Skv=256 --shape B=2,Hq=4,Hkv=2,Sq=37,Skv=128 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/paged_e4m3_hnd.mlir --check --shape B=3,Hq=4,Hkv=2,Sq=1,Skv=192 --shape B=2,Hq=4,Hkv=1,Sq=20,Skv=96 | FileCheck %s --check-prefix=OK2
// Decoding asks for the next span's key and value codes ahead (one cache
// line a row at D = 64, int4: 32 bytes).
// RUN: attn-opt %t/int4_residual_bf16.mlir --attn-tile-cpu="vector-width=16" | FileCheck %s --check-prefix=PREFETCH
// The default sizes round Skv up to whole key groups (67 -> 80).
// RUN: attn-run %t/int2_residual_bshd.mlir --check | FileCheck %s --check-prefix=DEFAULT
//
// The GPU's mma.sync kernel (sm_90a runs it for quantized caches; sm_80)
// on the emulator, against the reference rounded to the query's type as
// the kernel rounds its tiles.
// RUN: attn-run %t/int4_residual_bf16.mlir --target=cuda-emulator --check --shape B=2,Hq=4,Hkv=2,Sq=1,Skv=192 --shape B=1,Hq=2,Hkv=1,Sq=33,Skv=128 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/paged_e4m3_hnd.mlir --target=cuda-emulator --chip=sm_80 --check --shape B=2,Hq=4,Hkv=2,Sq=1,Skv=96 --shape B=1,Hq=2,Hkv=1,Sq=20,Skv=64 | FileCheck %s --check-prefix=OK2

// PREFETCH: memref.prefetch %{{.*}}, read, locality<2>, data : memref<?x?x?x32xi8>
// PREFETCH: memref.prefetch %{{.*}}, read, locality<2>, data : memref<?x?x?x32xi8>
// OK3-COUNT-3: check=ok
// OK3-NOT: FAIL
// OK2-COUNT-2: check=ok
// OK2-NOT: FAIL
// DEFAULT: shape=B=2,D=64,Dv=64,Hkv=4,Hq=4,Skv=80,Sq=67 {{.*}} gflops={{[0-9.]+}} gbps={{[0-9.]+}} check=ok

//--- int8.mlir
func.func @int8(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xi8>, %v: tensor<?x?x?x64xi8>,
                %ks: tensor<?x?x?x64xf32>, %kz: tensor<?x?x?x64xf32>,
                %vs: tensor<?x?x?x2xf32>, %vz: tensor<?x?x?x2xf32>,
                %n: tensor<?xi32>, %o: tensor<?x?x?x64xf32>, %l: tensor<?x?x?xf32>)
    -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x64xf32>, tensor<?x?x?x64xi8>, tensor<?x?x?x64xi8>)
      kv_quant(%ks, %kz, %vs, %vz : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x2xf32>, tensor<?x?x?x2xf32>)
      kv_len(%n : tensor<?xi32>) outs(%o, %l : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
      {mask = #attn.causal, quant = #attn.quant<bits = 8, group = 32, scale = f32>}
      -> tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
}

//--- int4_residual_bf16.mlir
!q = tensor<?x?x?x64xbf16>
!c = tensor<?x?x?x32xi8>
!ks = tensor<?x?x?x64xf16>
!vs = tensor<?x?x?x4xf16>
!r = tensor<?x?x64x64xbf16>
func.func @int4_residual(%q: !q, %k: !c, %v: !c, %ks: !ks, %kz: !ks, %vs: !vs, %vz: !vs,
                         %kr: !r, %vr: !r, %n: tensor<?xi32>, %o: !q) -> !q {
  %r = attn.attention ins(%q, %k, %v : !q, !c, !c)
      kv_quant(%ks, %kz, %vs, %vz, %kr, %vr : !ks, !ks, !vs, !vs, !r, !r)
      kv_len(%n : tensor<?xi32>) outs(%o : !q)
      {mask = #attn.causal,
       quant = #attn.quant<bits = 4, group = 16, scale = f16, residual = 64>} -> !q
  return %r : !q
}

//--- int2_residual_bshd.mlir
!q = tensor<?x?x?x64xf32>
!c = tensor<?x?x?x16xi8>
!ks = tensor<?x?x?x64xf32>
!vs = tensor<?x?x?x4xf32>
!r = tensor<?x32x?x64xf32>
func.func @int2_residual(%q: !q, %k: !c, %v: !c, %ks: !ks, %kz: !ks, %vs: !vs, %vz: !vs,
                         %kr: !r, %vr: !r, %n: tensor<?xi32>, %o: !q) -> !q {
  %r = attn.attention ins(%q, %k, %v : !q, !c, !c)
      kv_quant(%ks, %kz, %vs, %vz, %kr, %vr : !ks, !ks, !vs, !vs, !r, !r)
      kv_len(%n : tensor<?xi32>) outs(%o : !q)
      {layout = #attn.layout<bshd>, mask = #attn.sliding_window<left = 40>,
       quant = #attn.quant<bits = 2, group = 16, scale = f32, residual = 32>} -> !q
  return %r : !q
}

//--- no_kv_len.mlir
// Without kv_len every row holds Skv keys: the newest Skv mod 64 come from
// the residual rows.
!q = tensor<?x?x?x32xf32>
!c = tensor<?x?x?x16xi8>
!ks = tensor<?x?x?x32xf16>
!vs = tensor<?x?x?x4xf16>
!r = tensor<?x?x64x32xf32>
func.func @no_kv_len(%q: !q, %k: !c, %v: !c, %ks: !ks, %kz: !ks, %vs: !vs, %vz: !vs,
                     %kr: !r, %vr: !r, %o: !q) -> !q {
  %r = attn.attention ins(%q, %k, %v : !q, !c, !c)
      kv_quant(%ks, %kz, %vs, %vz, %kr, %vr : !ks, !ks, !vs, !vs, !r, !r)
      outs(%o : !q)
      {mask = #attn.causal, score_mods = [#attn.softcap<cap = 20.0>],
       quant = #attn.quant<bits = 4, group = 8, scale = f16, residual = 64>} -> !q
  return %r : !q
}

//--- e4m3.mlir
!q = tensor<?x?x?x64xf32>
!c = tensor<?x?x?x64xi8>
!s = tensor<?xf32>
!r = tensor<?x?x32x64xf32>
func.func @e4m3(%q: !q, %k: !c, %v: !c, %ks: !s, %vs: !s, %kr: !r, %vr: !r,
                %n: tensor<?xi32>, %o: !q) -> !q {
  %r = attn.attention ins(%q, %k, %v : !q, !c, !c)
      kv_quant(%ks, %vs, %kr, %vr : !s, !s, !r, !r)
      kv_len(%n : tensor<?xi32>) outs(%o : !q)
      {mask = #attn.causal,
       quant = #attn.quant<bits = 8, group = 1, scale = f32, residual = 32, format = e4m3>} -> !q
  return %r : !q
}

//--- e5m2_bf16.mlir
!q = tensor<?x?x?x64xbf16>
!c = tensor<?x?x?x64xi8>
!s = tensor<?xf16>
func.func @e5m2(%q: !q, %k: !c, %v: !c, %ks: !s, %vs: !s, %n: tensor<?xi32>, %o: !q) -> !q {
  %r = attn.attention ins(%q, %k, %v : !q, !c, !c)
      kv_quant(%ks, %vs : !s, !s)
      kv_len(%n : tensor<?xi32>) outs(%o : !q)
      {quant = #attn.quant<bits = 8, group = 1, scale = f16, format = e5m2>} -> !q
  return %r : !q
}

//--- paged_int4.mlir
// Codes, scales and zeros are nhd page pools of 32 slots: key scales 32 / 16
// slots a page.
!q = tensor<?x?x?x64xf32>
!c = tensor<?x32x?x32xi8>
!ks = tensor<?x2x?x64xf16>
!vs = tensor<?x32x?x4xf16>
!r = tensor<?x?x32x64xf32>
func.func @paged_int4(%q: !q, %k: !c, %v: !c, %t: tensor<?x?xi32>, %ks: !ks, %kz: !ks,
                      %vs: !vs, %vz: !vs, %kr: !r, %vr: !r, %n: tensor<?xi32>, %o: !q) -> !q {
  %r = attn.attention ins(%q, %k, %v : !q, !c, !c)
      page_table(%t : tensor<?x?xi32>)
      kv_quant(%ks, %kz, %vs, %vz, %kr, %vr : !ks, !ks, !vs, !vs, !r, !r)
      kv_len(%n : tensor<?xi32>) outs(%o : !q)
      {mask = #attn.causal, paged = #attn.paged<page_size = 32>,
       quant = #attn.quant<bits = 4, group = 16, scale = f16, residual = 32>} -> !q
  return %r : !q
}

//--- paged_e4m3_hnd.mlir
!q = tensor<?x?x?x64xf16>
!c = tensor<?x?x32x64xi8>
!s = tensor<?xf32>
!r = tensor<?x?x32x64xf16>
func.func @paged_e4m3(%q: !q, %k: !c, %v: !c, %t: tensor<?x?xi32>, %ks: !s, %vs: !s,
                      %kr: !r, %vr: !r, %n: tensor<?xi32>, %o: !q) -> !q {
  %r = attn.attention ins(%q, %k, %v : !q, !c, !c)
      page_table(%t : tensor<?x?xi32>)
      kv_quant(%ks, %vs, %kr, %vr : !s, !s, !r, !r)
      kv_len(%n : tensor<?xi32>) outs(%o : !q)
      {mask = #attn.causal, paged = #attn.paged<page_size = 32, layout = hnd>,
       quant = #attn.quant<bits = 8, group = 1, scale = f32, residual = 32, format = e4m3>} -> !q
  return %r : !q
}
