// RUN: not attn-opt %s -attn-tile-gpu="chip=sm_90a" -split-input-file 2>&1 | FileCheck %s
// RUN: not attn-opt %s -attn-tile-gpu="chip=sm_70" -split-input-file 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not attn-opt %s -attn-tile-gpu="mma=wgmma" -split-input-file 2>&1 | FileCheck %s --check-prefix=MMA

// Tile plans (#attn.config) the sm_90a warpgroup kernel cannot emit, and
// targets the pass does not know.

// CHIP: error: 'attn.attention' op attn-tile-gpu: chip must be sm_80 or sm_90a, got 'sm_70'
// MMA: error: 'attn.attention' op attn-tile-gpu: mma = wgmma needs chip = sm_90a, got 'sm_80'

// The CTA is one warpgroup computing 64 rows (m64).

// CHECK: error: 'attn.attention' op attn-tile-gpu: #attn.config warps = 8 is not supported by wgmma: its CTA is one warpgroup of 4 warps
!t = tensor<?x?x?x64xf16>
func.func @warps8(%q: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %q, %q : !t, !t, !t) outs(%o : !t)
      {config = #attn.config<warps = 8>} -> !t
  return %r : !t
}

// -----

// CHECK: error: 'attn.attention' op attn-tile-gpu: #attn.config block_q = 128 is not supported by wgmma: its CTA computes 64 rows (m64)
!t = tensor<?x?x?x64xf16>
func.func @block_q_128(%q: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %q, %q : !t, !t, !t) outs(%o : !t)
      {config = #attn.config<block_q = 128>} -> !t
  return %r : !t
}

// -----

// CHECK: error: 'attn.attention' op attn-tile-gpu: #attn.config stages = 1 is not supported by wgmma: at least 2 (TMA loads run ahead of the products)
!t = tensor<?x?x?x64xf16>
func.func @one_stage(%q: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %q, %q : !t, !t, !t) outs(%o : !t)
      {config = #attn.config<stages = 1>} -> !t
  return %r : !t
}

// -----

// 8 stages of 64 keys at D = Dv = 128: 1024 + 8 * 32768 + 8 * 8 bytes.

// CHECK: error: 'attn.attention' op attn-tile-gpu: #attn.config stages = 8 with block_kv = 64 needs 263232 bytes of shared memory, over the 232448 of sm_90a
!t = tensor<?x?x?x128xbf16>
func.func @too_many_stages(%q: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %q, %q : !t, !t, !t) outs(%o : !t)
      {config = #attn.config<stages = 8>} -> !t
  return %r : !t
}

// -----

// CHECK: error: 'attn.attention' op attn-tile-gpu: #attn.config block_kv = 128 is over the 96 keys this kernel holds in registers without spills
!t = tensor<?x?x?x64xf16>
func.func @block_kv_128(%q: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %q, %q : !t, !t, !t) outs(%o : !t)
      {config = #attn.config<block_kv = 128>} -> !t
  return %r : !t
}

// -----

// An explicit mma = "wgmma" does not fall back to mma.sync.

// CHECK: error: 'attn.attention' op attn-tile-gpu: #attn.config mma = "wgmma" needs head dims of 64 or 128, got D = 96 and Dv = 96
!t = tensor<?x?x?x96xf16>
func.func @wgmma_d96(%q: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %q, %q : !t, !t, !t) outs(%o : !t)
      {config = #attn.config<mma = "wgmma">} -> !t
  return %r : !t
}
