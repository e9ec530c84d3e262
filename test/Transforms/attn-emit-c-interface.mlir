// RUN: attn-opt %s -attn-emit-c-interface -split-input-file | FileCheck %s

// Public definitions get the C interface; private functions and
// declarations do not.
// CHECK-LABEL: func.func @kernel
// CHECK-SAME: attributes {llvm.emit_c_interface}
func.func @kernel(%a: memref<?xf32>) {
  return
}
// CHECK-LABEL: func.func private @helper
// CHECK-NOT: llvm.emit_c_interface
func.func private @helper(%a: memref<?xf32>) {
  return
}
// CHECK-LABEL: func.func private @external
// CHECK-NOT: llvm.emit_c_interface
func.func private @external(%a: memref<?xf32>)
