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

// CHECK: error: 'attn.merge' op is not supported by the GPU path yet
func.func @merge(%o0: tensor<1x2x4x8xf16>, %l0: tensor<1x2x4xf32>, %o: tensor<1x2x4x8xf16>, %l: tensor<1x2x4xf32>) -> (tensor<1x2x4x8xf16>, tensor<1x2x4xf32>) {
  %r:2 = attn.merge ins(%o0, %o0 : tensor<1x2x4x8xf16>, tensor<1x2x4x8xf16>) lse(%l0, %l0 : tensor<1x2x4xf32>, tensor<1x2x4xf32>)
      outs(%o, %l : tensor<1x2x4x8xf16>, tensor<1x2x4xf32>) -> tensor<1x2x4x8xf16>, tensor<1x2x4xf32>
  return %r#0, %r#1 : tensor<1x2x4x8xf16>, tensor<1x2x4xf32>
}
