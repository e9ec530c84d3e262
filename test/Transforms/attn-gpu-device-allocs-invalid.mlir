// RUN: not attn-opt %s -split-input-file -attn-gpu-device-allocs 2>&1 | FileCheck %s

// CHECK: error: attn-gpu-device-allocs: a strided copy between device buffers is not supported
func.func @strided_copy(%a: memref<4x4xf32>, %b: memref<4xf32, strided<[4]>>) {
  %c = memref.alloc() : memref<4xf32>
  memref.copy %b, %c : memref<4xf32, strided<[4]>> to memref<4xf32>
  return
}

// -----

// CHECK: error: attn-gpu-device-allocs: a buffer allocated for GPU kernels leaves its block; it would not be freed
func.func @escapes(%n: index) {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %c2 step %c1 {
    %r = scf.execute_region -> memref<?xf32> {
      %buf = memref.alloc(%n) : memref<?xf32>
      scf.yield %buf : memref<?xf32>
    }
  }
  return
}
