// RUN: attn-opt %s -split-input-file -attn-gpu-device-allocs | FileCheck %s

// Buffers that the host code of a GPU function allocates (here, what
// bufferization gives a partial result between two kernels) become device
// allocations freed at the end of their block; copies between buffers
// become device copies. A buffer the kernel allocates in its own scope
// (inside a launch) is not the host code's, and stays.

// CHECK-LABEL: func.func @between_kernels
// CHECK-SAME:    (%[[N:.*]]: index, %[[OUT:.*]]: memref<?xf32>)
// CHECK-NOT:     memref.alloc(
// CHECK:         %[[T0:.*]] = gpu.wait async
// CHECK:         %[[BUF:.*]], %[[T1:.*]] = gpu.alloc async [%[[T0]]] (%[[N]]) : memref<?xf32>
// CHECK:         gpu.wait [%[[T1]]]
// CHECK:         gpu.launch
// CHECK:           memref.store %{{.*}}, %[[BUF]]
// CHECK:           memref.alloca
// CHECK:         gpu.launch
// CHECK:           memref.load %[[BUF]]
// CHECK:         %[[T2:.*]] = gpu.wait async
// CHECK:         %[[T3:.*]] = gpu.memcpy async [%[[T2]]] %[[OUT]], %[[BUF]] : memref<?xf32>, memref<?xf32>
// CHECK:         gpu.wait [%[[T3]]]
// CHECK-NOT:     memref.dealloc
// CHECK:         %[[T4:.*]] = gpu.wait async
// CHECK:         %[[T5:.*]] = gpu.dealloc async [%[[T4]]] %[[BUF]] : memref<?xf32>
// CHECK:         gpu.wait [%[[T5]]]
// CHECK-NEXT:    return
func.func @between_kernels(%n: index, %out: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %x = arith.constant 1.0 : f32
  %buf = memref.alloc(%n) : memref<?xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    memref.store %x, %buf[%c0] : memref<?xf32>
    %scratch = memref.alloca() : memref<4xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    %y = memref.load %buf[%c0] : memref<?xf32>
    memref.store %y, %out[%c0] : memref<?xf32>
    gpu.terminator
  }
  memref.copy %buf, %out : memref<?xf32> to memref<?xf32>
  memref.dealloc %buf : memref<?xf32>
  return
}
