// RUN: attn-opt %s -attn-tile-gpu="chip=sm_90a" -cse -split-input-file | FileCheck %s

// The sm_90a kernel, causal bf16 with D = 128: the host encodes one TMA
// tensor map each for K and V (bf16 = 9; dims innermost first, so the box
// is 64 columns x 64 keys x 1 head x 1 batch) and frees them after the
// launch. Shared memory: 1024 alignment bytes, two stages of
// 64 * (128 + 128) * 2 bytes, two 8-byte mbarriers. Thread 0 initialises
// the mbarriers, then issues each tile's loads (2 boxes of K, 2 of V) after
// an expect_tx of the stage's 32768 bytes, and the warps reconverge
// (bar.warp.sync) before any wgmma; the next tile is requested before the
// current one is waited for. Q K^T is 8 wgmma m64n64k16 (one
// per 16 columns of D), P V 4 wgmma m64n128k16 with B transposed, each
// group between a fence and a wait on its accumulators.

// CHECK-DAG:   func.func private @attnCudaTensorMapFree(!llvm.ptr)
// CHECK-DAG:   func.func private @attnCudaTensorMap(!llvm.ptr, i32, i64, i64, i64, i64, i64, i64, i64, i32, i32, i32, i32) -> !llvm.ptr
// CHECK-LABEL: func.func @causal_bf16_d128
// CHECK-DAG:     %[[BF16:.+]] = arith.constant 9 : i32
// CHECK-DAG:     %[[C64:.+]] = arith.constant 64 : i32
// CHECK-DAG:     %[[C1:.+]] = arith.constant 1 : i32
// CHECK:         %[[KMAP:.+]] = call @attnCudaTensorMap({{.*}}, %[[BF16]], {{.*}}, %[[C64]], %[[C64]], %[[C1]], %[[C1]])
// CHECK:         %[[VMAP:.+]] = call @attnCudaTensorMap(
// CHECK:         %[[SMEM:.+]] = arith.constant 66576 : i32
// CHECK:         gpu.launch {{.*}} dynamic_shared_memory_size %[[SMEM]]
// CHECK:           nvvm.mbarrier.init
// CHECK:           nvvm.mbarrier.init
// CHECK:           nvvm.fence.mbarrier.init
// CHECK:           "fence.proxy.tensormap::generic.acquire.sys [$0], 128;", "l" %[[KMAP]]
// CHECK:           "fence.proxy.tensormap::generic.acquire.sys [$0], 128;", "l" %[[VMAP]]
// CHECK:           gpu.barrier
// CHECK:           scf.for
// CHECK:             nvvm.mbarrier.arrive.expect_tx %{{.*}}, %{{.*}} : !llvm.ptr<3>, i32
// CHECK-COUNT-2:     nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[KMAP]], %{{.*}}, box[{{.*}}] : !llvm.ptr<7>, !llvm.ptr
// CHECK-COUNT-2:     nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[VMAP]], %{{.*}}, box[{{.*}}] : !llvm.ptr<7>, !llvm.ptr
// CHECK:             nvvm.bar.warp.sync
// CHECK:             scf.for
// CHECK:               nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK:               nvvm.bar.warp.sync
// CHECK:               nvvm.mbarrier.try_wait.parity
// CHECK:               llvm.inline_asm has_side_effects {{.*}} "wgmma.fence.sync.aligned;"
// CHECK-COUNT-8:       wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// CHECK:               "wgmma.commit_group.sync.aligned;"
// CHECK:               "wgmma.wait_group.sync.aligned 0;"
// CHECK:               gpu.shuffle  xor
// CHECK:               "wgmma.fence.sync.aligned;"
// CHECK-COUNT-4:       wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;
// CHECK:               "wgmma.commit_group.sync.aligned;"
// CHECK:               "wgmma.wait_group.sync.aligned 0;"
// CHECK:               gpu.barrier
// CHECK:           gpu.terminator
// CHECK:         call @attnCudaTensorMapFree(%[[KMAP]])
// CHECK:         call @attnCudaTensorMapFree(%[[VMAP]])
!t = tensor<?x?x?x128xbf16>
func.func @causal_bf16_d128(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.causal} -> !t
  return %r : !t
}

// -----

// BSHD f16, D = 64 with cache lengths: the tensor maps see (D, H, S, B), so
// the box is 64 columns x 1 head x 64 keys x 1 batch (f16 = 6), and one box
// each of K and V fills a stage of 16384 bytes.

// CHECK-LABEL: func.func @bshd_f16_d64
// CHECK-DAG:     %[[F16:.+]] = arith.constant 6 : i32
// CHECK-DAG:     %[[C64:.+]] = arith.constant 64 : i32
// CHECK-DAG:     %[[C1:.+]] = arith.constant 1 : i32
// CHECK:         call @attnCudaTensorMap({{.*}}, %[[F16]], {{.*}}, %[[C64]], %[[C1]], %[[C64]], %[[C1]])
// CHECK:         arith.constant 33808 : i32
// CHECK:         nvvm.mbarrier.arrive.expect_tx
// CHECK-COUNT-2: nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK-NOT:     nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK:         scf.for
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}, p, 1, 1, 0;
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {{.*}}, p, 1, 1, 1;
!t = tensor<?x?x?x64xf16>
func.func @bshd_f16_d64(%q: !t, %k: !t, %v: !t, %len: tensor<?xi32>, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) kv_len(%len : tensor<?xi32>)
      outs(%o : !t)
      {layout = #attn.layout<bshd>, mask = #attn.causal} -> !t
  return %r : !t
}

// -----

// Head dims other than 64 and 128 keep the mma.sync kernel.

// CHECK-LABEL: func.func @d32_falls_back
// CHECK-NOT:     attnCudaTensorMap
// CHECK:         nvgpu.device_async_copy
// CHECK:         nvgpu.mma.sync
// CHECK-NOT:     wgmma
!t = tensor<?x?x?x32xf16>
func.func @d32_falls_back(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t) -> !t
  return %r : !t
}

// -----

// A tree conjunct (speculative decoding) is classified per tile at run
// time: the first kept tile is searched before it is requested, and inside
// the loop the next kept tile is searched, then requested, then the
// current one waited for. Skipped tiles are never loaded.

// CHECK-LABEL: func.func @tree_bf16_d128
// CHECK:         gpu.launch
// CHECK:           scf.for
// CHECK:             %[[FIRST:.+]]:2 = scf.while
// CHECK:             scf.if
// CHECK:               nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK:             scf.while (%{{.+}} = %[[FIRST]]#0, %{{.+}} = %[[FIRST]]#1,
// CHECK:             } do {
// CHECK:               scf.while
// CHECK:               scf.if
// CHECK:                 nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK:               nvvm.mbarrier.try_wait.parity
// CHECK:               wgmma.mma_async
!t = tensor<?x?x?x128xbf16>
func.func @tree_bf16_d128(%q: !t, %k: !t, %v: !t, %p: tensor<?xi32>, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) tree(%p : tensor<?xi32>)
      outs(%o : !t) {mask = #attn.tree} -> !t
  return %r : !t
}

// -----

// A non-default plan: three stages of 96-key tiles, so TMA runs two tiles
// ahead of the products. Shared memory: 1024 alignment bytes, three stages
// of 96 * (64 + 64) * 2 bytes and three mbarriers; the TMA box is 64
// columns x 96 keys. Each range requests its first two tiles before its
// loop, and each iteration requests the tile two after the current one
// into stage n + 2 mod 3 before waiting for the current one, whose
// mbarrier phase is n / 3 mod 2. Q K^T is 4 wgmma m64n96k16, P V 6
// wgmma m64n64k16.

// CHECK-LABEL: func.func @plan_stages3_kv96
// CHECK-DAG:     %[[N64:.+]] = arith.constant 64 : i32
// CHECK-DAG:     %[[N96:.+]] = arith.constant 96 : i32
// CHECK-DAG:     %[[N1:.+]] = arith.constant 1 : i32
// CHECK:         call @attnCudaTensorMap({{.*}}, %[[N64]], %[[N96]], %[[N1]], %[[N1]])
// CHECK:         %[[SMEM:.+]] = arith.constant 74776 : i32
// CHECK:         gpu.launch {{.*}} dynamic_shared_memory_size %[[SMEM]]
// CHECK-COUNT-3:   nvvm.mbarrier.init
// CHECK:           nvvm.fence.mbarrier.init
// CHECK:           scf.for
// CHECK:             scf.if
// CHECK:               arith.remui %{{.*}}, %[[C3:.+]] : index
// CHECK:               nvvm.mbarrier.arrive.expect_tx
// CHECK:             scf.if
// CHECK:               nvvm.mbarrier.arrive.expect_tx
// CHECK:             scf.for
// CHECK:               nvvm.mbarrier.arrive.expect_tx
// CHECK:               %[[PHASE:.+]] = arith.divui %{{.*}}, %[[C3]] : index
// CHECK:               arith.remui %[[PHASE]], %{{.*}} : index
// CHECK:               nvvm.mbarrier.try_wait.parity
// CHECK-COUNT-4:       wgmma.mma_async.sync.aligned.m64n96k16.f32.f16.f16
// CHECK-COUNT-6:       wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16
// CHECK:               gpu.barrier
!p = tensor<?x?x?x64xf16>
func.func @plan_stages3_kv96(%q: !p, %k: !p, %v: !p, %o: !p) -> !p {
  %r = attn.attention ins(%q, %k, %v : !p, !p, !p) outs(%o : !p)
      {mask = #attn.causal, config = #attn.config<block_kv = 96, stages = 3>} -> !p
  return %r : !p
}

// -----

// A paged cache on sm_90a runs the mma.sync kernel: its cp.async copies
// read each key row through the page table (logical key j: entry j / 16,
// slot j mod 16, the page id clamped into the pool).
// CHECK-LABEL: func.func @paged
//       CHECK:   gpu.launch
//   CHECK-NOT:   nvgpu.tma.async.load
//       CHECK:   %[[E:.+]] = arith.divui %{{.+}}, %c16
//       CHECK:   memref.load %{{.+}}[%{{.+}}, %{{.+}}] : memref<?x?xi32>
//       CHECK:   arith.remui %{{.+}}, %c16
//       CHECK:   nvgpu.device_async_copy
//   CHECK-NOT:   nvgpu.warpgroup.mma
//       CHECK:   nvgpu.mma.sync
func.func @paged(%q: tensor<?x?x?x64xf16>, %kc: tensor<?x16x?x64xf16>,
                 %t: tensor<?x?xi32>, %n: tensor<?xi32>) -> tensor<?x?x?x64xf16> {
  %r = attn.attention ins(%q, %kc, %kc : tensor<?x?x?x64xf16>, tensor<?x16x?x64xf16>, tensor<?x16x?x64xf16>)
      page_table(%t : tensor<?x?xi32>) kv_len(%n : tensor<?xi32>)
      outs(%q : tensor<?x?x?x64xf16>) {mask = #attn.causal, paged = #attn.paged<page_size = 16>} -> tensor<?x?x?x64xf16>
  return %r : tensor<?x?x?x64xf16>
}
