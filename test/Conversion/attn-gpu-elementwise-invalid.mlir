// RUN: not attn-opt %s -split-input-file -attn-gpu-elementwise 2>&1 | FileCheck %s

// What one thread per element cannot compute is reported.

// CHECK: error: 'linalg.generic' op has no GPU lowering: must have parallel iterators only (one thread per element of the result)
func.func @reduction(%a: memref<?x?xf32>, %o: memref<?xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%a : memref<?x?xf32>) outs(%o : memref<?xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %s = arith.addf %x, %acc : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// CHECK: error: 'linalg.generic' op has no GPU lowering: operands must be buffers (run it after bufferization)
func.func @tensors(%a: tensor<4xf32>) -> tensor<4xf32> {
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      outs(%a : tensor<4xf32>) {
  ^bb0(%x: f32):
    linalg.yield %x : f32
  } -> tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

// CHECK: error: 'linalg.generic' op has no GPU lowering: result indexing map must be the identity
func.func @transposed_result(%a: memref<4x4xf32>, %o: memref<4x4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j, i)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%a : memref<4x4xf32>) outs(%o : memref<4x4xf32>) {
  ^bb0(%x: f32, %y: f32):
    linalg.yield %x : f32
  }
  return
}

// -----

// CHECK: error: 'linalg.generic' op has no GPU lowering: input indexing maps must have dims and constants as results
func.func @strided_input(%a: memref<8xf32>, %o: memref<4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i) -> (i * 2)>, affine_map<(i) -> (i)>],
                  iterator_types = ["parallel"]}
      ins(%a : memref<8xf32>) outs(%o : memref<4xf32>) {
  ^bb0(%x: f32, %y: f32):
    linalg.yield %x : f32
  }
  return
}

// -----

// CHECK: error: 'linalg.fill' op has no GPU lowering: attn-gpu-elementwise runs elementwise linalg.generic ops only
func.func @fill(%o: memref<4xf32>) {
  %c = arith.constant 0.0 : f32
  linalg.fill ins(%c : f32) outs(%o : memref<4xf32>)
  return
}
