// RUN: attn-opt %s -attn-gpu-sink-constants | FileCheck %s
// RUN: attn-opt %s -attn-gpu-sink-constants -gpu-kernel-outlining | FileCheck %s --check-prefix=OUTLINED

// A constant table read in a kernel but fetched on the host (where
// canonicalisation hoists it) moves into the launch, so that outlining
// copies the global into the gpu.module instead of passing the kernel a
// host address. A mutable global stays where it is.

memref.global "private" constant @table : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>
memref.global "private" @state : memref<4xf32> = dense<0.0>

// CHECK-LABEL: func.func @kernel_reads_table
// CHECK:         %[[STATE:.*]] = memref.get_global @state
// CHECK-NOT:     memref.get_global @table
// CHECK:         gpu.launch
// CHECK:           memref.get_global @table
// CHECK:           memref.load %{{.*}}[%{{.*}}]
// CHECK:           memref.store %{{.*}}, %[[STATE]]
// OUTLINED:      gpu.launch_func
// OUTLINED-NOT:    memref<4xf32>, %{{.*}} : memref<4xf32>, %{{.*}} : memref<4xf32>)
// OUTLINED:      gpu.module @kernel_reads_table_kernel
// OUTLINED:        gpu.func @kernel_reads_table_kernel
// OUTLINED:          memref.get_global @table
// OUTLINED:        memref.global "private" constant @table
func.func @kernel_reads_table(%i: index, %out: memref<4xf32>) {
  %c1 = arith.constant 1 : index
  %table = memref.get_global @table : memref<4xf32>
  %state = memref.get_global @state : memref<4xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1)
             threads(%tx, %ty, %tz) in (%u = %c1, %v = %c1, %w = %c1) {
    %t = memref.load %table[%i] : memref<4xf32>
    memref.store %t, %out[%i] : memref<4xf32>
    memref.store %t, %state[%i] : memref<4xf32>
    gpu.terminator
  }
  return
}
