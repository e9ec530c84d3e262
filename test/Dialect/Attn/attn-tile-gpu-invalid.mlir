// RUN: not attn-opt %s -attn-tile-gpu -split-input-file 2>&1 | FileCheck %s

// Tensor cores take f16 or bf16.

// CHECK: error: 'attn.attention' op attn-tile-gpu: tensor cores need f16 or bf16 inputs, got 'f32'
func.func @f32(%q: tensor<?x?x?x64xf32>, %o: tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
      outs(%o : tensor<?x?x?x64xf32>) -> tensor<?x?x?x64xf32>
  return %r : tensor<?x?x?x64xf32>
}

// -----

// The fragments are unrolled over the head dims, which must be static.

// CHECK: error: 'attn.attention' op attn-tile-gpu: head dims must be static multiples of 16 up to 128, got D = ? and Dv = ?
func.func @dynamic_d(%q: tensor<?x?x?x?xf16>, %o: tensor<?x?x?x?xf16>) -> tensor<?x?x?x?xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<?x?x?x?xf16>, tensor<?x?x?x?xf16>, tensor<?x?x?x?xf16>)
      outs(%o : tensor<?x?x?x?xf16>) -> tensor<?x?x?x?xf16>
  return %r : tensor<?x?x?x?xf16>
}

// -----

// CHECK: error: 'attn.attention' op attn-tile-gpu: head dims must be static multiples of 16 up to 128, got D = 256 and Dv = 256
func.func @d256(%q: tensor<1x1x8x256xf16>, %o: tensor<1x1x8x256xf16>) -> tensor<1x1x8x256xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x8x256xf16>, tensor<1x1x8x256xf16>, tensor<1x1x8x256xf16>)
      outs(%o : tensor<1x1x8x256xf16>) -> tensor<1x1x8x256xf16>
  return %r : tensor<1x1x8x256xf16>
}

// -----

// The backward's kernels take what the forward's take: f16 or bf16, static
// head dims that are multiples of 16 up to 128.

// CHECK: error: 'attn.attention_grad' op attn-tile-gpu: tensor cores need f16 or bf16 inputs, got 'f32'
func.func @grad_f32(%q: tensor<1x2x4x16xf32>, %l: tensor<1x2x4xf32>) -> tensor<1x2x4x16xf32> {
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>)
      out(%q : tensor<1x2x4x16xf32>) grad_out(%q : tensor<1x2x4x16xf32>) lse(%l : tensor<1x2x4xf32>)
      outs(%q, %q, %q : tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>)
      -> tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>
  return %r#0 : tensor<1x2x4x16xf32>
}

// -----

// CHECK: error: 'attn.attention_grad' op attn-tile-gpu: head dims must be static multiples of 16 up to 128, got D = 8 and Dv = 8
func.func @grad_d8(%q: tensor<1x2x4x8xf16>, %l: tensor<1x2x4xf32>) -> tensor<1x2x4x8xf16> {
  %r:3 = attn.attention_grad ins(%q, %q, %q : tensor<1x2x4x8xf16>, tensor<1x2x4x8xf16>, tensor<1x2x4x8xf16>)
      out(%q : tensor<1x2x4x8xf16>) grad_out(%q : tensor<1x2x4x8xf16>) lse(%l : tensor<1x2x4xf32>)
      outs(%q, %q, %q : tensor<1x2x4x8xf16>, tensor<1x2x4x8xf16>, tensor<1x2x4x8xf16>)
      -> tensor<1x2x4x8xf16>, tensor<1x2x4x8xf16>, tensor<1x2x4x8xf16>
  return %r#0 : tensor<1x2x4x8xf16>
}

// -----

// Tile plans (#attn.config) the mma.sync kernel cannot emit. Each warp
// computes 16 rows; at most 8 warps keep 32 * warps threads of up to 255
// registers within the register file.

// CHECK: error: 'attn.attention' op attn-tile-gpu: #attn.config warps = 16 is not supported by mma.sync: 1, 2, 4 or 8
!t = tensor<?x?x?x64xf16>
func.func @warps16(%q: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %q, %q : !t, !t, !t) outs(%o : !t)
      {config = #attn.config<warps = 16>} -> !t
  return %r : !t
}

// -----

// CHECK: error: 'attn.attention' op attn-tile-gpu: #attn.config block_q = 64 does not match warps = 2: each warp computes 16 rows, so block_q must be 32
!t = tensor<?x?x?x64xf16>
func.func @block_q_warps(%q: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %q, %q : !t, !t, !t) outs(%o : !t)
      {config = #attn.config<block_q = 64, warps = 2>} -> !t
  return %r : !t
}

// -----

// CHECK: error: 'attn.attention' op attn-tile-gpu: #attn.config block_q = 40 is not a multiple of 16 (the rows of one warp)
!t = tensor<?x?x?x64xf16>
func.func @block_q_40(%q: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %q, %q : !t, !t, !t) outs(%o : !t)
      {config = #attn.config<block_q = 40>} -> !t
  return %r : !t
}

// -----

// CHECK: error: 'attn.attention' op attn-tile-gpu: #attn.config block_kv = 48 is not supported: a multiple of 32 up to 128
!t = tensor<?x?x?x64xf16>
func.func @block_kv_48(%q: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %q, %q : !t, !t, !t) outs(%o : !t)
      {config = #attn.config<block_kv = 48>} -> !t
  return %r : !t
}

// -----

// 64 keys at D = 128: scores, accumulators and Q fragments exceed the
// registers (hence the default of 32).

// CHECK: error: 'attn.attention' op attn-tile-gpu: #attn.config block_kv = 64 needs 128 registers of fragments a thread (block_kv / 2 + Dv / 2 + D / 4 with D = 128, Dv = 128), over the budget of 112 of this kernel
!t = tensor<?x?x?x128xbf16>
func.func @block_kv_d128(%q: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %q, %q : !t, !t, !t) outs(%o : !t)
      {mask = #attn.causal, config = #attn.config<block_kv = 64>} -> !t
  return %r : !t
}

// -----

// CHECK: error: 'attn.attention' op attn-tile-gpu: #attn.config block_kv = 128 is over the 64 keys this kernel holds in registers without spills with score modifiers or data-dependent masks
!t = tensor<?x?x?x64xf16>
func.func @block_kv_mods(%q: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %q, %q : !t, !t, !t) outs(%o : !t)
      {score_mods = [#attn.alibi], config = #attn.config<block_kv = 128>} -> !t
  return %r : !t
}

// -----

// CHECK: error: 'attn.attention' op attn-tile-gpu: #attn.config stages = 2 is not supported by mma.sync: 1 (each tile is copied, then computed)
!t = tensor<?x?x?x64xf16>
func.func @sync_stages(%q: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %q, %q : !t, !t, !t) outs(%o : !t)
      {config = #attn.config<stages = 2>} -> !t
  return %r : !t
}

// -----

// CHECK: error: 'attn.attention' op attn-tile-gpu: #attn.config mma = "wgmma" needs chip sm_90a, the target is sm_80
!t = tensor<?x?x?x64xf16>
func.func @wgmma_sm80(%q: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %q, %q : !t, !t, !t) outs(%o : !t)
      {config = #attn.config<mma = "wgmma">} -> !t
  return %r : !t
}

// -----

// CHECK: error: 'attn.attention' op attn-tile-gpu: #attn.config mma = "wgmma" cannot read a paged cache (TMA copies whole boxes, not rows through a page table); use mma = "sync"
func.func @paged(%q: tensor<?x?x1x64xf16>, %kc: tensor<?x16x?x64xf16>,
                 %t: tensor<?x?xi32>, %n: tensor<?xi32>) -> tensor<?x?x1x64xf16> {
  %r = attn.attention ins(%q, %kc, %kc : tensor<?x?x1x64xf16>, tensor<?x16x?x64xf16>, tensor<?x16x?x64xf16>)
      page_table(%t : tensor<?x?xi32>) kv_len(%n : tensor<?xi32>)
      outs(%q : tensor<?x?x1x64xf16>) {paged = #attn.paged<page_size = 16>, config = #attn.config<mma = "wgmma">} -> tensor<?x?x1x64xf16>
  return %r : tensor<?x?x1x64xf16>
}

// -----

// A quantized cache is dequantised by the mma.sync kernel's copies.

// CHECK: error: 'attn.attention' op attn-tile-gpu: #attn.config mma = "wgmma" cannot read a quantized cache (TMA copies the codes as they are, and the tiles wgmma reads must hold dequantised f16/bf16); use mma = "sync"
func.func @quant(%q: tensor<?x?x1x64xf16>, %k: tensor<?x?x?x32xi8>,
                 %ks: tensor<?x?x?x64xf16>, %vs: tensor<?x?x?x2xf16>,
                 %n: tensor<?xi32>) -> tensor<?x?x1x64xf16> {
  %r = attn.attention ins(%q, %k, %k : tensor<?x?x1x64xf16>, tensor<?x?x?x32xi8>, tensor<?x?x?x32xi8>)
      kv_quant(%ks, %ks, %vs, %vs : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x2xf16>, tensor<?x?x?x2xf16>)
      kv_len(%n : tensor<?xi32>)
      outs(%q : tensor<?x?x1x64xf16>) {quant = #attn.quant<bits = 4, group = 32, scale = f16>, config = #attn.config<mma = "wgmma">} -> tensor<?x?x1x64xf16>
  return %r : tensor<?x?x1x64xf16>
}

// -----

// Block classification runs on the CPU only.

// CHECK: error: 'attn.mask_blocks' op has no GPU lowering: classify blocks on the CPU (attn-cpu-pipeline) and pass the table to the GPU kernel
func.func @mask_blocks(%q: tensor<?x?x?x1xf32>, %t0: tensor<?x?x?x?xi8>) -> tensor<?x?x?x?xi8> {
  %t = attn.mask_blocks ins(%q, %q, %q : tensor<?x?x?x1xf32>, tensor<?x?x?x1xf32>, tensor<?x?x?x1xf32>)
      outs(%t0 : tensor<?x?x?x?xi8>) {mask = #attn.causal, block_q = 32 : i64, block_kv = 16 : i64}
      -> tensor<?x?x?x?xi8>
  return %t : tensor<?x?x?x?xi8>
}
