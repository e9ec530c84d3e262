// RUN: attn-opt %s -attn-tile-gpu -cse -split-input-file | FileCheck %s
// RUN: attn-opt %s -attn-tile-gpu="chip=sm_90a" -cse -split-input-file | FileCheck %s

// Quantized caches on the mma.sync kernel (also on sm_90a: no TMA, no
// wgmma). The K and V tiles come through registers instead of cp.async:
// per 16-byte chunk of a tile (a loop over the thread's rounds of chunks),
// keys past kv_len are zeros, the newest kv_len mod 32 come from the
// residual rows, and the others are 4 code bytes cut into 8 nibbles (lane
// l: byte l / 2, shift 4 (l mod 2)), scaled in f32 (keys: 8 scales and
// zeros of group j / 32 along channels; values: one of channel group
// col / 32), rounded to f16 and stored where the products read them. The
// V tile's finiteness check and its barrier follow as for a float cache.

// CHECK-LABEL: func.func @int4_residual
//   CHECK-DAG:   %[[K:.+]] = bufferization.to_buffer %arg1 read_only : tensor<?x?x?x32xi8>
//   CHECK-DAG:   %[[V:.+]] = bufferization.to_buffer %arg2 read_only : tensor<?x?x?x32xi8>
//   CHECK-DAG:   %[[KS:.+]] = bufferization.to_buffer %arg3 read_only : tensor<?x?x?x64xf16>
//   CHECK-DAG:   %[[KZ:.+]] = bufferization.to_buffer %arg4 read_only : tensor<?x?x?x64xf16>
//   CHECK-DAG:   %[[VS:.+]] = bufferization.to_buffer %arg5 read_only : tensor<?x?x?x2xf16>
//   CHECK-DAG:   %[[VZ:.+]] = bufferization.to_buffer %arg6 read_only : tensor<?x?x?x2xf16>
//   CHECK-DAG:   %[[KR:.+]] = bufferization.to_buffer %arg7 read_only : tensor<?x?x32x64xf16>
//   CHECK-DAG:   %[[VR:.+]] = bufferization.to_buffer %arg8 read_only : tensor<?x?x32x64xf16>
//       CHECK:   gpu.launch
//   CHECK-NOT:   nvgpu.tma.async.load
//       CHECK:   %[[KT:.+]] = memref.view {{.*}} to memref<64x72xf16, #gpu.address_space<workgroup>>
//       CHECK:   %[[VT:.+]] = memref.view {{.*}} to memref<64x72xf16, #gpu.address_space<workgroup>>
//       CHECK:   scf.for
//       CHECK:     scf.for
//   CHECK-NOT:       nvgpu.device_async_copy
//       CHECK:       scf.for %[[U:.+]] = %c0 to %c4 step %c1 {
//       CHECK:         %[[UT:.+]] = arith.muli %[[U]], %c128
//       CHECK:         %[[CHUNK:.+]] = arith.addi %{{.+}}, %[[UT]]
//       CHECK:         %[[ROW:.+]] = arith.divui %[[CHUNK]], %c8
//       CHECK:         %[[J:.+]] = arith.addi %{{.+}}, %[[ROW]]
//       CHECK:         %[[LIVE:.+]] = arith.cmpi slt, %[[J]], %[[KVEND:.+]] : index
//       CHECK:         %[[KX:.+]] = scf.if %[[LIVE]] -> (vector<8xf16>) {
//       CHECK:           %[[CODED:.+]] = arith.cmpi slt, %[[J]], %[[N:.+]] : index
//       CHECK:           scf.if %[[CODED]] -> (vector<8xf16>) {
//       CHECK:             %[[BYTES:.+]] = vector.load %[[K]][{{.*}}, %[[J]], %{{.+}}] {alignment = 4 : i64} : memref<?x?x?x32xi8>, vector<4xi8>
//       CHECK:             %[[LANES:.+]] = vector.shuffle %[[BYTES]], %[[BYTES]] [0, 0, 1, 1, 2, 2, 3, 3]
//       CHECK:             %[[SHIFTS:.+]] = arith.constant dense<[0, 4, 0, 4, 0, 4, 0, 4]> : vector<8xi32>
//       CHECK:             %[[WIDE:.+]] = arith.extui %[[LANES]] : vector<8xi8> to vector<8xi32>
//       CHECK:             %[[SH:.+]] = arith.shrui %[[WIDE]], %[[SHIFTS]]
//       CHECK:             %[[CODE:.+]] = arith.andi %[[SH]], %{{.+}} : vector<8xi32>
//       CHECK:             %[[CF:.+]] = arith.uitofp %[[CODE]] : vector<8xi32> to vector<8xf32>
//       CHECK:             %[[G:.+]] = arith.divui %[[J]], %c32
//       CHECK:             %[[GC:.+]] = arith.minsi %[[G]]
//       CHECK:             %[[S16:.+]] = vector.load %[[KS]][{{.*}}, %[[GC]], %{{.+}}] {alignment = 16 : i64} : memref<?x?x?x64xf16>, vector<8xf16>
//       CHECK:             %[[S:.+]] = arith.extf %[[S16]] : vector<8xf16> to vector<8xf32>
//       CHECK:             %[[Z16:.+]] = vector.load %[[KZ]][{{.*}}, %[[GC]], %{{.+}}] {alignment = 16 : i64} : memref<?x?x?x64xf16>, vector<8xf16>
//       CHECK:             %[[Z:.+]] = arith.extf %[[Z16]] : vector<8xf16> to vector<8xf32>
//       CHECK:             %[[SC:.+]] = arith.mulf %[[S]], %[[CF]] : vector<8xf32>
//       CHECK:             %[[X:.+]] = arith.addf %[[SC]], %[[Z]] : vector<8xf32>
//       CHECK:             %[[XH:.+]] = arith.truncf %[[X]] : vector<8xf32> to vector<8xf16>
//       CHECK:             scf.yield %[[XH]]
//       CHECK:           } else {
//       CHECK:             %[[R:.+]] = arith.subi %[[J]], %[[N]] : index
//       CHECK:             %[[RX:.+]] = vector.load %[[KR]][{{.*}}, %[[R]], %{{.+}}] {alignment = 16 : i64} : memref<?x?x32x64xf16>, vector<8xf16>
//       CHECK:             scf.yield %[[RX]]
//       CHECK:         } else {
//       CHECK:           scf.yield %{{.+}} : vector<8xf16>
//       CHECK:         vector.store %[[KX]], %[[KT]][{{.+}}] {alignment = 16 : i64}
//       CHECK:       scf.for %{{.+}} = %c0 to %c4 step %c1 {
//       CHECK:             vector.load %[[V]]
//       CHECK:             %[[VSG:.+]] = arith.divui %{{.+}}, %c32
//       CHECK:             memref.load %[[VS]][{{.*}}, %[[VSG]]] : memref<?x?x?x2xf16>
//       CHECK:             memref.load %[[VZ]][{{.*}}, %[[VSG]]] : memref<?x?x?x2xf16>
//       CHECK:             vector.load %[[VR]]
//       CHECK:         vector.store %{{.+}}, %[[VT]]
//       CHECK:       vector.load %[[VT]]
//       CHECK:       nvvm.barrier #nvvm.reduction<or>
//   CHECK-NOT:       nvgpu.warpgroup.mma
//       CHECK:       nvgpu.mma.sync
func.func @int4_residual(%q: tensor<?x?x?x64xf16>, %k: tensor<?x?x?x32xi8>,
                         %v: tensor<?x?x?x32xi8>,
                         %ks: tensor<?x?x?x64xf16>, %kz: tensor<?x?x?x64xf16>,
                         %vs: tensor<?x?x?x2xf16>, %vz: tensor<?x?x?x2xf16>,
                         %kr: tensor<?x?x32x64xf16>, %vr: tensor<?x?x32x64xf16>,
                         %n: tensor<?xi32>) -> tensor<?x?x?x64xf16> {
  %o = attn.attention ins(%q, %k, %v : tensor<?x?x?x64xf16>, tensor<?x?x?x32xi8>, tensor<?x?x?x32xi8>)
         kv_quant(%ks, %kz, %vs, %vz, %kr, %vr : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x2xf16>, tensor<?x?x?x2xf16>, tensor<?x?x32x64xf16>, tensor<?x?x32x64xf16>)
         kv_len(%n : tensor<?xi32>) outs(%q : tensor<?x?x?x64xf16>)
         {mask = #attn.causal, quant = #attn.quant<bits = 4, group = 32, scale = f16, residual = 32>} -> tensor<?x?x?x64xf16>
  return %o : tensor<?x?x?x64xf16>
}

// -----

// fp8 codes in a paged hnd pool: one byte a channel read through the page
// table (entry j / 16, slot j mod 16), read as f16 (Quant.h), times the kv
// head's scale.

// CHECK-LABEL: func.func @fp8_paged
//       CHECK:   gpu.launch
//       CHECK:       scf.for
//       CHECK:             arith.divui %{{.+}}, %c16
//       CHECK:             memref.load %{{.+}}[%{{.+}}, %{{.+}}] : memref<?x?xi32>
//       CHECK:             arith.remui %{{.+}}, %c16
//       CHECK:             vector.load %{{.+}} {alignment = 8 : i64} : memref<?x?x16x64xi8>, vector<8xi8>
//       CHECK:             memref.load %{{.+}}[%{{.+}}] : memref<?xf32>
//       CHECK:             arith.extui %{{.+}} : vector<8xi8> to vector<8xi16>
//       CHECK:             arith.bitcast %{{.+}} : vector<8xi16> to vector<8xf16>
//       CHECK:             arith.extf %{{.+}} : vector<8xf16> to vector<8xf32>
//       CHECK:             arith.mulf
//       CHECK:             arith.truncf %{{.+}} : vector<8xf32> to vector<8xbf16>
//       CHECK:       nvvm.mma.sync
func.func @fp8_paged(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x16x64xi8>,
                     %s: tensor<?xf32>, %t: tensor<?x?xi32>,
                     %n: tensor<?xi32>) -> tensor<?x?x?x64xbf16> {
  %o = attn.attention ins(%q, %k, %k : tensor<?x?x?x64xbf16>, tensor<?x?x16x64xi8>, tensor<?x?x16x64xi8>)
         page_table(%t : tensor<?x?xi32>)
         kv_quant(%s, %s : tensor<?xf32>, tensor<?xf32>) kv_len(%n : tensor<?xi32>)
         outs(%q : tensor<?x?x?x64xbf16>)
         {mask = #attn.causal, paged = #attn.paged<page_size = 16, layout = hnd>,
          quant = #attn.quant<bits = 8, group = 1, scale = f32, format = e4m3>} -> tensor<?x?x?x64xbf16>
  return %o : tensor<?x?x?x64xbf16>
}
