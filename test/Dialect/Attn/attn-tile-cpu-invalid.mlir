// RUN: not attn-opt %s -attn-tile-cpu="vector-width=16" 2>&1 | FileCheck %s

// The config's block_q must fill whole vectors.

// CHECK: error: 'attn.attention' op #attn.config block_q = 20 must be a multiple of the vector width 16 on the CPU
func.func @bad_block_q(%q: tensor<1x1x8x16xf32>, %o: tensor<1x1x8x16xf32>) -> tensor<1x1x8x16xf32> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32>)
      outs(%o : tensor<1x1x8x16xf32>) {config = #attn.config<block_q = 20>} -> tensor<1x1x8x16xf32>
  return %r : tensor<1x1x8x16xf32>
}
