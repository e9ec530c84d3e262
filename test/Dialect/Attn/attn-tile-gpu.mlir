// RUN: attn-opt %s -attn-tile-gpu -split-input-file | FileCheck %s

// Causal f16, D = 64: one gpu.launch over (q-tiles, B * Hq) with 128
// threads and 2 * 64 * (64 + 8) * 2 bytes of dynamic shared memory; K and V
// tiles arrive by cp.async, products run on mma.sync, row statistics are
// reduced across quads with xor shuffles, and the outputs come back as
// tensors. The barrier after the copies ORs each thread's check of its V
// chunks for NaN and inf; a V tile with one takes the first P V product.

// CHECK-LABEL: func.func @causal
// CHECK-DAG:     %[[Q:.+]] = bufferization.to_buffer %arg0 read_only
// CHECK-DAG:     %[[O:.+]] = bufferization.to_buffer %arg3 :
// CHECK-DAG:     %[[THREADS:.+]] = arith.constant 128 : index
// CHECK-DAG:     %[[SMEM:.+]] = arith.constant 18432 : i32
// CHECK:         gpu.launch blocks({{.*}}) threads({{.*}}) in ({{.*}} = %[[THREADS]]
// CHECK-SAME:        dynamic_shared_memory_size %[[SMEM]]
// CHECK:           gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
// CHECK:           memref.view {{.*}} to memref<64x72xf16, #gpu.address_space<workgroup>>
// CHECK:           vector.load %[[Q]]{{.*}} : memref<?x?x?x64xf16>, vector<2xf16>
// CHECK:           scf.for
// CHECK:             scf.for
// CHECK:               nvgpu.device_async_copy {{.*}}, 8, {{.*}} {bypassL1}
// CHECK:               nvgpu.device_async_create_group
// CHECK:               nvgpu.device_async_wait {{.*}} {numGroups = 0 : i32}
// CHECK:               vector.load {{.*}} : memref<64x72xf16, #gpu.address_space<workgroup>>, vector<8xf16>
// CHECK:               %[[NONFINITE:.+]] = nvvm.barrier #nvvm.reduction<or>
// CHECK:               %[[FLAG:.+]] = arith.cmpi ne, %[[NONFINITE]]
// CHECK:               nvgpu.ldmatrix {{.*}} {numTiles = 2 : i32, transpose = false}
// CHECK:               nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
// CHECK:               scf.if
// CHECK:               gpu.shuffle  xor
// CHECK:               scf.if %[[FLAG]]
// CHECK:               nvgpu.ldmatrix {{.*}} {numTiles = 2 : i32, transpose = true}
// CHECK:               scf.for
// CHECK:               } else {
// CHECK:               nvgpu.ldmatrix {{.*}} {numTiles = 2 : i32, transpose = true}
// CHECK:               gpu.barrier
// CHECK:           gpu.shuffle  xor
// CHECK:           vector.store {{.*}}, %[[O]]
// CHECK:           gpu.terminator
// CHECK:         bufferization.to_tensor %[[O]]
!qkv = tensor<?x?x?x64xf16>
!lse = tensor<?x?x?xf32>
func.func @causal(%q: !qkv, %k: !qkv, %v: !qkv, %o: !qkv, %l: !lse) -> (!qkv, !lse) {
  %r:2 = attn.attention ins(%q, %k, %v : !qkv, !qkv, !qkv) outs(%o, %l : !qkv, !lse)
      {mask = #attn.causal} -> !qkv, !lse
  return %r#0, %r#1 : !qkv, !lse
}

// -----

// bf16 has no nvgpu lowering for mma.sync: it is emitted as nvvm.mma.sync
// on packed 32-bit registers. Head dims above 64 halve the kv tile to 32
// keys (registers), so shared memory holds 2 * 32 * (128 + 8) * 2 bytes.

// CHECK-LABEL: func.func @bf16_d128
// CHECK:         arith.constant 17408 : i32
// CHECK:         memref<32x136xbf16, #gpu.address_space<workgroup>>
// CHECK:         nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>}
// CHECK-NOT:     nvgpu.mma.sync
!t = tensor<?x?x?x128xbf16>
func.func @bf16_d128(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t) -> !t
  return %r : !t
}

// -----

// Sliding window: the kv loop bounds come from the symbolic tile
// classification (the window's key interval, clipped and divided by the
// tile), and full tiles skip the per-element mask.

// CHECK-LABEL: func.func @window
// CHECK:         gpu.launch
// CHECK:           arith.floordivsi
// CHECK:           arith.ceildivsi
// CHECK:           scf.for
// CHECK:             scf.for
// CHECK:               scf.if %{{.+}} -> (f32, f32,
!w = tensor<?x?x?x64xf16>
func.func @window(%q: !w, %k: !w, %v: !w, %o: !w) -> !w {
  %r = attn.attention ins(%q, %k, %v : !w, !w, !w) outs(%o : !w)
      {mask = #attn.sliding_window<left = 100>} -> !w
  return %r : !w
}

// -----

// Document conjunct: the CTA's rows give a segment-id range (one scan per
// CTA); the kv loop becomes a while loop over the tiles that a warp vote
// keeps (some key's id in that range), searching the next kept tile before
// processing the current one, and a tile whose keys all carry the rows'
// single id skips the per-element mask. The declarative rest (causal) still
// bounds the loop.

// CHECK-LABEL: func.func @document
// CHECK:         gpu.launch
// CHECK:           %[[IDS:.+]]:2 = scf.for {{.+}} -> (index, index) {
// CHECK:             tensor.extract %{{.+}} : tensor<?x?xi32>
// CHECK:             arith.minsi
// CHECK:             arith.maxsi
// CHECK:           scf.for {{.+}} iter_args(
// CHECK:             %[[FIRST:.+]]:2 = scf.while ({{.+}}) : (index, i1) -> (index, i1) {
// CHECK:               nvvm.vote.sync  any
// CHECK:               nvvm.vote.sync  any
// CHECK:               scf.condition
// CHECK:             scf.while (%[[T:.+]] = %[[FIRST]]#0, %[[FULL:.+]] = %[[FIRST]]#1,
// CHECK:               scf.condition
// CHECK:             } do {
// CHECK:               scf.while
// CHECK:                 nvvm.vote.sync  any
// CHECK:               nvgpu.mma.sync
// CHECK:               arith.andi %{{.+}}, %{{.+}} : i1
// CHECK:               scf.if %{{.+}} -> (f32, f32,
!d = tensor<?x?x?x64xf16>
!seg = tensor<?x?xi32>
func.func @document(%q: !d, %k: !d, %v: !d, %o: !d, %sq: !seg, %sk: !seg) -> !d {
  %r = attn.attention ins(%q, %k, %v : !d, !d, !d) segments(%sq, %sk : !seg, !seg)
      outs(%o : !d) {mask = #attn.and<[#attn.causal, #attn.document]>} -> !d
  return %r : !d
}

// -----

// A dense conjunct stays per element: no vote, the usual for loop.

// CHECK-LABEL: func.func @dense
// CHECK:         gpu.launch
// CHECK-NOT:       nvvm.vote.sync
// CHECK:           scf.for
// CHECK:             scf.for
// CHECK-NOT:       nvvm.vote.sync
// CHECK:         gpu.terminator
!e = tensor<?x?x?x64xf16>
func.func @dense(%q: !e, %k: !e, %v: !e, %o: !e, %m: tensor<?x?x?x?xi1>) -> !e {
  %r = attn.attention ins(%q, %k, %v : !e, !e, !e) dense_mask(%m : tensor<?x?x?x?xi1>)
      outs(%o : !e) {mask = #attn.and<[#attn.causal, #attn.dense]>} -> !e
  return %r : !e
}

// -----

// A block-sparse conjunct (64 x 64 blocks: one entry per CTA and tile) is
// classified per tile at run time: each lane reads at most one entry of
// the block mask, the warp votes on any entry on (kept) and any off (not
// full), and the kv loop is a while loop over kept tiles. The blocks align
// with the tiles, so a kept tile needs no per-element reads of the mask:
// the only reads are the two searches (first kept tile, next kept tile).

// CHECK-LABEL: func.func @block_sparse
// CHECK:         gpu.launch
// CHECK:           scf.for
// CHECK:             scf.while
// CHECK:               tensor.extract %{{.*}} : tensor<?x?x?x?xi1>
// CHECK:               arith.cmpi uge
// CHECK:               nvvm.vote.sync  any
// CHECK:               nvvm.vote.sync  any
// CHECK:             scf.while
// CHECK:               scf.while
// CHECK:                 tensor.extract %{{.*}} : tensor<?x?x?x?xi1>
// CHECK-NOT:         tensor.extract %{{.*}} : tensor<?x?x?x?xi1>
// CHECK:         gpu.terminator
!f = tensor<?x?x?x64xf16>
func.func @block_sparse(%q: !f, %k: !f, %v: !f, %o: !f, %m: tensor<?x?x?x?xi1>) -> !f {
  %r = attn.attention ins(%q, %k, %v : !f, !f, !f) dense_mask(%m : tensor<?x?x?x?xi1>)
      outs(%o : !f) {mask = #attn.and<[#attn.causal, #attn.dense<block_q = 64, block_kv = 64>]>} -> !f
  return %r : !f
}

// -----

// Blocks of 32 x 32 do not align with the 64 x 64 tiles: tiles are still
// classified, and the mask is also read per element on kept tiles that are
// not full.

// CHECK-LABEL: func.func @unaligned_blocks
// CHECK:         gpu.launch
// CHECK:           nvvm.vote.sync  any
// CHECK:           scf.if
// CHECK:           } else {
// CHECK:             tensor.extract %{{.*}} : tensor<?x?x?x?xi1>
// CHECK:         gpu.terminator
!h = tensor<?x?x?x64xf16>
func.func @unaligned_blocks(%q: !h, %k: !h, %v: !h, %o: !h, %m: tensor<?x?x?x?xi1>) -> !h {
  %r = attn.attention ins(%q, %k, %v : !h, !h, !h) dense_mask(%m : tensor<?x?x?x?xi1>)
      outs(%o : !h) {mask = #attn.dense<block_q = 32, block_kv = 32>} -> !h
  return %r : !h
}

// -----

// Blocks of 4 x 4: up to 16 x 16 = 256 entries cover a tile, more than one
// per lane; the mask stays per element, with no vote.

// CHECK-LABEL: func.func @small_blocks
// CHECK:         gpu.launch
// CHECK-NOT:       nvvm.vote.sync
// CHECK:         gpu.terminator
!g = tensor<?x?x?x64xf16>
func.func @small_blocks(%q: !g, %k: !g, %v: !g, %o: !g, %m: tensor<?x?x?x?xi1>) -> !g {
  %r = attn.attention ins(%q, %k, %v : !g, !g, !g) dense_mask(%m : tensor<?x?x?x?xi1>)
      outs(%o : !g) {mask = #attn.dense<block_q = 4, block_kv = 4>} -> !g
  return %r : !g
}

// -----

// A non-default plan: 8 warps (128 query rows a CTA, 256 threads) and kv
// tiles of 32 keys, so the grid is ceil(Sq / 128) and shared memory holds
// 32 * (64 + 8) * 2 bytes each of K and V.

// CHECK-LABEL: func.func @plan_warps8_kv32
// CHECK-DAG:     %[[C128:.+]] = arith.constant 128 : index
// CHECK-DAG:     %[[GRIDX:.+]] = arith.ceildivsi %{{.*}}, %[[C128]] : index
// CHECK-DAG:     %[[SMEM:.+]] = arith.constant 9216 : i32
// CHECK-DAG:     %[[THREADS:.+]] = arith.constant 256 : index
// CHECK:         gpu.launch blocks({{.*}}) in ({{.*}} = %[[GRIDX]], {{.*}}) threads({{.*}}) in ({{.*}} = %[[THREADS]]
// CHECK-SAME:        dynamic_shared_memory_size %[[SMEM]]
// CHECK:           memref.view {{.*}} to memref<32x72xf16, #gpu.address_space<workgroup>>
// CHECK:           memref.view {{.*}} to memref<32x72xf16, #gpu.address_space<workgroup>>
// CHECK:             scf.for
// CHECK-COUNT-2:       nvgpu.device_async_copy {{.*}} to memref<32x72xf16, #gpu.address_space<workgroup>>
// CHECK:               nvgpu.device_async_wait
// CHECK-COUNT-16:      nvgpu.mma.sync
// CHECK-NOT:           nvgpu.mma.sync
// CHECK:               gpu.shuffle  xor
// P V: on a V tile with a NaN or inf, then the plain product.
// CHECK:               scf.if
// CHECK-COUNT-16:      nvgpu.mma.sync
// CHECK-NOT:           nvgpu.mma.sync
// CHECK:               } else {
// CHECK-COUNT-16:      nvgpu.mma.sync
// CHECK-NOT:           nvgpu.mma.sync
// CHECK:               gpu.barrier
!p = tensor<?x?x?x64xf16>
func.func @plan_warps8_kv32(%q: !p, %k: !p, %v: !p, %o: !p) -> !p {
  %r = attn.attention ins(%q, %k, %v : !p, !p, !p) outs(%o : !p)
      {mask = #attn.causal, config = #attn.config<warps = 8, block_kv = 32>} -> !p
  return %r : !p
}

// -----

// A captured array read out of range raises a device word (atomic max in
// the kernel), set from the host module's error word before the launch
// and copied back into it after, on a stream of its own.

// CHECK: memref.global "public" @__attn_capture_error : memref<i32> = dense<0>
// CHECK-LABEL: func.func @capture_error_word
// CHECK:         %[[HOST:.+]] = memref.get_global @__attn_capture_error
// CHECK:         %[[DEV:.+]], %{{.+}} = gpu.alloc async
// CHECK:         gpu.memcpy async {{.*}} %[[DEV]], %[[HOST]]
// CHECK:         gpu.wait [
// CHECK:         gpu.launch
// CHECK:           scf.if
// CHECK:             tensor.extract
// CHECK:           } else {
// CHECK:             memref.atomic_rmw maxs %{{.+}}, %[[DEV]][]
// CHECK:         gpu.terminator
// CHECK:         gpu.memcpy async {{.*}} %[[HOST]], %[[DEV]]
// CHECK:         gpu.dealloc async {{.*}} %[[DEV]]
// CHECK:         gpu.wait [
!c = tensor<?x?x?x64xf16>
func.func @capture_error_word(%q: !c, %k: !c, %v: !c, %t: tensor<?xf32>, %o: !c) -> !c {
  %r = attn.attention ins(%q, %k, %v : !c, !c, !c) captures(%t : tensor<?xf32>) outs(%o : !c)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index, %x: tensor<?xf32>):
        %e = tensor.extract %x[%j] : tensor<?xf32>
        %y = arith.addf %s, %e : f32
        attn.yield %y : f32
      } {score_mods = [#attn.score_mod]} -> !c
  return %r : !c
}
