// attn-run on a quantized cache with bad --input files or sizes: errors
// that name the operand and what is wrong, before the kernel runs. uint8
// codes (what attn.quantize_kv writes) are taken as the i8 codes.
// RUN: rm -rf %t && split-file %s %t
// Code bytes (int8 and uint8) of one batch row and kv head, 32 tokens of 64
// int4 channels; all zero, or all 0x7f (NaN in e4m3).
// RUN: printf '\x93NUMPY\x01\x00\x76\x00%%-117s\n' \
// RUN:   "{'descr': '|i1', 'fortran_order': False, 'shape': (1, 1, 32, 32), }" > %t/codes.npy
// RUN: head -c 1024 /dev/zero >> %t/codes.npy
// RUN: printf '\x93NUMPY\x01\x00\x76\x00%%-117s\n' \
// RUN:   "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1, 32, 32), }" > %t/ucodes.npy
// RUN: head -c 1024 /dev/zero >> %t/ucodes.npy
// RUN: printf '\x93NUMPY\x01\x00\x76\x00%%-117s\n' \
// RUN:   "{'descr': '|i1', 'fortran_order': False, 'shape': (1, 1, 32, 64), }" > %t/nan.npy
// RUN: head -c 2048 /dev/zero | tr '\000' '\177' >> %t/nan.npy
// Codes as float32; key scales of one group where 32 tokens need two of 16;
// float32 value scales where the IR has f16; a kv_len of 40.
// RUN: printf '\x93NUMPY\x01\x00\x76\x00%%-117s\n' \
// RUN:   "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 32, 32), }" > %t/fcodes.npy
// RUN: head -c 4096 /dev/zero >> %t/fcodes.npy
// RUN: printf '\x93NUMPY\x01\x00\x76\x00%%-117s\n' \
// RUN:   "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 1, 1, 64), }" > %t/kscale.npy
// RUN: head -c 128 /dev/zero >> %t/kscale.npy
// RUN: printf '\x93NUMPY\x01\x00\x76\x00%%-117s\n' \
// RUN:   "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 32, 4), }" > %t/vscale.npy
// RUN: head -c 512 /dev/zero >> %t/vscale.npy
// RUN: printf '\x93NUMPY\x01\x00\x76\x00%%-117s\n' \
// RUN:   "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }" > %t/len.npy
// RUN: printf '\x28\x00\x00\x00' >> %t/len.npy
//
// RUN: attn-run %t/int4.mlir --check --input k=%t/ucodes.npy --input v=%t/codes.npy --shape B=1 | FileCheck %s --check-prefix=CODES
// RUN: not attn-run %t/int4.mlir --input k=%t/fcodes.npy 2>&1 | FileCheck %s --check-prefix=DTYPE
// RUN: not attn-run %t/int4.mlir --input v_scale=%t/vscale.npy 2>&1 | FileCheck %s --check-prefix=SCALE-DTYPE
// RUN: not attn-run %t/int4.mlir --input k=%t/codes.npy --input k_scale=%t/kscale.npy --shape B=1 2>&1 | FileCheck %s --check-prefix=SCALE-SHAPE
// RUN: not attn-run %t/int4.mlir --input k=%t/codes.npy --input kv_len=%t/len.npy --shape B=1 2>&1 | FileCheck %s --check-prefix=LEN
// RUN: not attn-run %t/int4.mlir --input k=%t/codes.npy --shape B=1,D=32 2>&1 | FileCheck %s --check-prefix=CODE-WIDTH
// RUN: not attn-run %t/int4.mlir --shape Skv=40 2>&1 | FileCheck %s --check-prefix=SKV
// RUN: not attn-run %t/int4.mlir --shape Dv=24 2>&1 | FileCheck %s --check-prefix=DV
// RUN: not attn-run %t/int4.mlir --shape D=63 2>&1 | FileCheck %s --check-prefix=PER
// RUN: not attn-run %t/e4m3.mlir --input k=%t/nan.npy --shape B=1 2>&1 | FileCheck %s --check-prefix=NAN
// RUN: not attn-run %t/int4.mlir --input k_residual=%t/kscale.npy 2>&1 | FileCheck %s --check-prefix=ROLE

// CODES: shape=B=1,D=64,Dv=64,Hkv=1,Hq=4,Skv=32,Sq=67 {{.*}} check=ok
// DTYPE: attn-run: error: '{{.*}}fcodes.npy' holds float32 but 'k' needs int8
// SCALE-DTYPE: attn-run: error: '{{.*}}vscale.npy' holds float32 but 'v_scale' needs float16
// SCALE-SHAPE: attn-run: error: --input 'k_scale' has shape [1, 1, 1, 64] but the problem needs [1, 1, 2, 64]
// LEN: attn-run: error: kv_len[0] = 40 is outside [0, Skv = 32]: the codes hold 32 keys
// CODE-WIDTH: attn-run: error: --input k={{.*}}codes.npy has D=64 but --shape gives D=32
// SKV: attn-run: error: Skv=40 must be a multiple of the group size 16 (keys are grouped along tokens)
// DV: attn-run: error: Dv=24 must be a multiple of the group size 16 (values are grouped along channels)
// PER: attn-run: error: D=63 and Dv=63 must be multiples of 2 (codes per byte of 4-bit codes)
// NAN: attn-run: error: key code of batch row 0, kv head 0, token 0, channel 0 is 0x7f, NaN in e4m3; an fp8 cache must hold finite numbers (the kernels read such codes as finite ones)
// ROLE: attn-run: error: --input names role 'k_residual', which @int4 does not have

//--- int4.mlir
!q = tensor<?x?x?x?xf32>
!c = tensor<?x?x?x?xi8>
!s = tensor<?x?x?x?xf16>
func.func @int4(%q: !q, %k: !c, %v: !c, %ks: !s, %kz: !s, %vs: !s, %vz: !s,
                %n: tensor<?xi32>, %o: !q) -> !q {
  %r = attn.attention ins(%q, %k, %v : !q, !c, !c)
      kv_quant(%ks, %kz, %vs, %vz : !s, !s, !s, !s)
      kv_len(%n : tensor<?xi32>) outs(%o : !q)
      {mask = #attn.causal, quant = #attn.quant<bits = 4, group = 16, scale = f16>} -> !q
  return %r : !q
}

//--- e4m3.mlir
!q = tensor<?x?x?x64xf32>
!c = tensor<?x?x?x64xi8>
!s = tensor<?xf32>
func.func @e4m3(%q: !q, %k: !c, %v: !c, %ks: !s, %vs: !s, %n: tensor<?xi32>, %o: !q) -> !q {
  %r = attn.attention ins(%q, %k, %v : !q, !c, !c)
      kv_quant(%ks, %vs : !s, !s)
      kv_len(%n : tensor<?xi32>) outs(%o : !q)
      {quant = #attn.quant<bits = 8, group = 1, scale = f32, format = e4m3>} -> !q
  return %r : !q
}
