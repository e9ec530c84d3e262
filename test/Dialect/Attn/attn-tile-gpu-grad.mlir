// RUN: attn-opt %s -attn-tile-gpu -split-input-file | FileCheck %s
// RUN: attn-opt %s -attn-print-tile-plan="target=sm_90a" -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=PLAN

// attn.attention_grad, causal f16, D = 64: a device buffer for Delta, then
// two launches of 128 threads with 2 * 32 * (64 + 8) * 2 bytes of shared
// memory each. The query kernel loads LSE, computes Delta = rowsum(dO * O)
// over each quad (xor shuffles) and stores it once per row, then per kv
// tile copies K and V by cp.async and runs S = Q K^T and dP = dO V^T
// (ldmatrix) and dQ += dS K (ldmatrix.trans) on mma.sync, and stores dQ.
// The key kernel loops over the query heads of the group and their
// q-tiles, skips the pairs the tile classes rule out, copies Q and dO,
// reads LSE and Delta per query column, accumulates dK and dV, and stores
// both. The gradients come back as tensors; Delta is freed.

// CHECK-LABEL: func.func @attention_grad
// CHECK-DAG:     %[[LSE:.+]] = bufferization.to_buffer %arg5 read_only
// CHECK-DAG:     %[[DQ:.+]] = bufferization.to_buffer %arg6 :
// CHECK-DAG:     %[[DK:.+]] = bufferization.to_buffer %arg7 :
// CHECK-DAG:     %[[DV:.+]] = bufferization.to_buffer %arg8 :
// CHECK:         %[[DELTA:.+]], %{{.+}} = gpu.alloc async {{.*}} : memref<?xf32>
// CHECK:         %[[SMEM:.+]] = arith.constant 9216 : i32
// CHECK:         gpu.launch {{.*}} dynamic_shared_memory_size %[[SMEM]]
// CHECK-COUNT-2:   memref.view {{.*}} to memref<32x72xf16, #gpu.address_space<workgroup>>
// CHECK:           memref.load %[[LSE]]
// CHECK:           gpu.shuffle  xor
// CHECK:           scf.if
// CHECK:             memref.store {{.*}}, %[[DELTA]]
// CHECK:           scf.for
// CHECK:             nvgpu.device_async_copy
// CHECK:             nvgpu.device_async_wait
// CHECK:             gpu.barrier
// CHECK:             nvgpu.ldmatrix {{.*}} {numTiles = 2 : i32, transpose = false}
// CHECK:             nvgpu.mma.sync
// CHECK:             scf.if
// CHECK:             nvgpu.ldmatrix {{.*}} {numTiles = 2 : i32, transpose = true}
// CHECK:             nvgpu.mma.sync
// CHECK:             gpu.barrier
// CHECK:           vector.store {{.*}}, %[[DQ]]
// CHECK:           gpu.terminator
// CHECK:         gpu.launch {{.*}} dynamic_shared_memory_size %[[SMEM]]
// CHECK-COUNT-2:   memref.view {{.*}} to memref<32x72xf16, #gpu.address_space<workgroup>>
// CHECK:           scf.for
// CHECK:             scf.for
// CHECK:               scf.if
// CHECK:                 nvgpu.device_async_copy
// CHECK:                 gpu.barrier
// CHECK:                 nvgpu.mma.sync
// CHECK:                 memref.load %[[LSE]]
// CHECK:                 memref.load %[[DELTA]]
// CHECK:                 nvgpu.ldmatrix {{.*}} {numTiles = 2 : i32, transpose = true}
// CHECK:                 nvgpu.mma.sync
// CHECK:                 gpu.barrier
// CHECK:           vector.store {{.*}}, %[[DK]]
// CHECK:           vector.store {{.*}}, %[[DV]]
// CHECK:           gpu.terminator
// CHECK:         gpu.dealloc async {{.*}} %[[DELTA]]
// CHECK:         bufferization.to_tensor %[[DQ]]
// CHECK:         bufferization.to_tensor %[[DK]]
// CHECK:         bufferization.to_tensor %[[DV]]
// CHECK-NOT:     attn.attention_grad
// PLAN: remark: backward for sm_90a: mma.sync #attn.config<block_q = 64, block_kv = 32, {{.*}}warps = 4, stages = 1, {{.*}}mma = "sync">
!t = tensor<?x?x?x64xf16>
!lse = tensor<?x?x?xf32>
func.func @attention_grad(%q: !t, %k: !t, %v: !t, %o: !t, %do: !t, %l: !lse,
                          %dq: !t, %dk: !t, %dv: !t) -> (!t, !t, !t) {
  %r:3 = attn.attention_grad ins(%q, %k, %v : !t, !t, !t) out(%o : !t)
      grad_out(%do : !t) lse(%l : !lse) outs(%dq, %dk, %dv : !t, !t, !t)
      {mask = #attn.causal} -> !t, !t, !t
  return %r#0, %r#1, %r#2 : !t, !t, !t
}

// -----

// Packed documents under causal: the document conjunct is classified per
// tile at run time (segment ids read by the lanes, a warp vote), in the
// query kernel per kv tile and in the key kernel per q-tile; tiles it rules
// out are skipped before their copies.

// CHECK-LABEL: func.func @document_causal
// CHECK:         gpu.launch
// CHECK:           scf.for
// CHECK:             nvvm.vote.sync  any
// CHECK:             scf.if
// CHECK:               nvgpu.device_async_copy
// CHECK:           gpu.terminator
// CHECK:         gpu.launch
// CHECK:           scf.for
// CHECK:             scf.for
// CHECK:               scf.if
// CHECK:                 nvvm.vote.sync  any
// CHECK:               scf.if
// CHECK:                 nvgpu.device_async_copy
// CHECK:           gpu.terminator
!t = tensor<?x?x?x64xbf16>
!lse = tensor<?x?x?xf32>
!seg = tensor<?x?xi32>
func.func @document_causal(%q: !t, %k: !t, %v: !t, %o: !t, %do: !t, %l: !lse,
                           %sq: !seg, %sk: !seg) -> (!t, !t, !t) {
  %r:3 = attn.attention_grad ins(%q, %k, %v : !t, !t, !t) out(%o : !t)
      grad_out(%do : !t) lse(%l : !lse) segments(%sq, %sk : !seg, !seg)
      outs(%q, %k, %v : !t, !t, !t)
      {mask = #attn.and<[#attn.document, #attn.causal]>} -> !t, !t, !t
  return %r#0, %r#1, %r#2 : !t, !t, !t
}

// -----

// Head dims over 64: the key kernel copies its 64 rows of K and V to shared
// memory once (two more tiles: 2 * 32 * 136 * 2 + 2 * 64 * 136 * 2 bytes)
// and reads their A fragments by ldmatrix x4 where used.

// CHECK-LABEL: func.func @d128
// CHECK:         arith.constant 17408 : i32
// CHECK:         gpu.launch
// CHECK:           gpu.terminator
// CHECK:         arith.constant 52224 : i32
// CHECK:         gpu.launch
// CHECK-COUNT-2:   memref<64x136xbf16, #gpu.address_space<workgroup>>
// CHECK:           scf.for
// CHECK:             scf.for
// CHECK:               nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK:           gpu.terminator
!t = tensor<?x?x?x128xbf16>
!lse = tensor<?x?x?xf32>
func.func @d128(%q: !t, %k: !t, %v: !t, %o: !t, %do: !t, %l: !lse) -> (!t, !t, !t) {
  %r:3 = attn.attention_grad ins(%q, %k, %v : !t, !t, !t) out(%o : !t)
      grad_out(%do : !t) lse(%l : !lse) outs(%q, %k, %v : !t, !t, !t)
      -> !t, !t, !t
  return %r#0, %r#1, %r#2 : !t, !t, !t
}

// -----

// Operand gradients (wrt): sink logits, an f16 bias and a captured table.
// The bias gets a zeroed device scratch of one f32 per score element, the
// table zeroed slots (one per query-kernel thread); the query kernel then
// runs on at most 128 CTAs, each looping over its items, and adds the
// elements' dS' * ds'/dx into both (the warp reconverges after the
// per-element branches); after the key kernel, a warp per head sums the
// sink's rows (a butterfly of xor shuffles), and a kernel per operand sums
// the bias scratch over the broadcast batch and head rows and the table's
// slots in order into the f32 gradients, which come back in `wrt` order.

// CHECK-LABEL: func.func @grad_wrt
// CHECK-DAG:     %[[DSINK:.+]] = bufferization.to_buffer %arg9 :
// CHECK-DAG:     %[[DBIAS:.+]] = bufferization.to_buffer %arg10 :
// CHECK-DAG:     %[[DTAB:.+]] = bufferization.to_buffer %arg11 :
// CHECK:         %[[BS:.+]], %[[T1:.+]] = gpu.alloc async {{.*}} : memref<?xf32>
// CHECK:         gpu.memset async [%[[T1]]] %[[BS]]
// CHECK:         %[[SLOTS:.+]], %[[T2:.+]] = gpu.alloc async {{.*}} : memref<?xf32>
// CHECK:         gpu.memset async [%[[T2]]] %[[SLOTS]]
// CHECK:         gpu.launch blocks(%[[BX:.+]], %{{.+}}, %{{.+}}) in (%{{.+}} = %[[CTAS:.+]], %{{.+}} = %c1{{.*}}, %{{.+}} = %c1{{.*}}) threads
// CHECK:           scf.for %{{.+}} = %[[BX]] to %{{.+}} step %[[CTAS]] {
// CHECK:             nvgpu.mma.sync
// CHECK:               memref.store {{.*}}, %[[SLOTS]]
// CHECK:               memref.store {{.*}}, %[[BS]]
// CHECK:             nvvm.bar.warp.sync
// CHECK:             nvgpu.mma.sync
// CHECK:           gpu.terminator
// CHECK:         gpu.launch
// CHECK:           gpu.terminator
// CHECK:         gpu.launch {{.*}} threads({{.*}}) in (%{{.+}} = %c32
// CHECK:           gpu.shuffle  xor %{{.+}}, %c16_i32
// CHECK:           gpu.shuffle  xor %{{.+}}, %c1_i32
// CHECK:           memref.store {{.*}}, %[[DSINK]]
// CHECK:         gpu.launch
// CHECK:           scf.for
// CHECK:             scf.for
// CHECK:               memref.load %[[BS]]
// CHECK:           memref.store {{.*}}, %[[DBIAS]]
// CHECK:         gpu.launch
// CHECK:           scf.for
// CHECK:             memref.load %[[SLOTS]]
// CHECK:           memref.store {{.*}}, %[[DTAB]]
// CHECK:         gpu.dealloc async {{.*}} %[[BS]]
// CHECK:         gpu.dealloc async {{.*}} %[[SLOTS]]
// CHECK:         bufferization.to_tensor %[[DSINK]]
// CHECK:         bufferization.to_tensor %[[DBIAS]]
// CHECK:         bufferization.to_tensor %[[DTAB]]
// CHECK-NOT:     attn.attention_grad
!t = tensor<?x?x?x32xf16>
!lse = tensor<?x?x?xf32>
!bias = tensor<?x?x?x?xf16>
!biasg = tensor<?x?x?x?xf32>
func.func @grad_wrt(%q: !t, %k: !t, %v: !t, %o: !t, %do: !t, %l: !lse,
                    %sink: tensor<?xf32>, %bias: !bias, %tab: tensor<?x8xf32>,
                    %dsink: tensor<?xf32>, %dbias: !biasg, %dtab: tensor<?x8xf32>)
    -> (!t, tensor<?xf32>, !biasg, tensor<?x8xf32>) {
  %r:6 = attn.attention_grad ins(%q, %k, %v : !t, !t, !t) out(%o : !t)
      grad_out(%do : !t) lse(%l : !lse) sink(%sink : tensor<?xf32>)
      bias(%bias : !bias) captures(%tab : tensor<?x8xf32>)
      outs(%q, %k, %v : !t, !t, !t)
      grads(%dsink, %dbias, %dtab : tensor<?xf32>, !biasg, tensor<?x8xf32>)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %tb: tensor<?x8xf32>):
        %c8 = arith.constant 8 : index
        %x = arith.remui %j, %c8 : index
        %w = tensor.extract %tb[%h, %x] : tensor<?x8xf32>
        %y = arith.addf %s, %w : f32
        attn.yield %y : f32
      }
      {mask = #attn.causal, normalizer = #attn.sink_softmax,
       score_mods = [#attn.score_mod, #attn.bias],
       wrt = ["sink", "bias", "capture0"]}
      -> !t, !t, !t, tensor<?xf32>, !biasg, tensor<?x8xf32>
  return %r#0, %r#3, %r#4, %r#5 : !t, tensor<?xf32>, !biasg, tensor<?x8xf32>
}
