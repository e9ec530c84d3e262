// RUN: attn-opt %s -attn-inline-alloca-scopes -split-input-file -verify-diagnostics | FileCheck %s

// The scope's body moves between a stack save and restore.
// CHECK-LABEL: func.func @scope
// CHECK: scf.for
// CHECK-NEXT: %[[SP:.+]] = llvm.intr.stacksave : !llvm.ptr
// CHECK-NEXT: %[[T:.+]] = memref.alloca() : memref<64xf32>
// CHECK-NEXT: memref.store %{{.+}}, %[[T]]
// CHECK-NEXT: llvm.intr.stackrestore %[[SP]] : !llvm.ptr
// CHECK-NOT: alloca_scope
func.func @scope(%n: index, %x: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %n step %c1 {
    memref.alloca_scope {
      %t = memref.alloca() : memref<64xf32>
      memref.store %x, %t[%c0] : memref<64xf32>
    }
  }
  return
}

// -----

func.func @result() -> f32 {
  // expected-error @+1 {{cannot inline an alloca scope with results or several blocks}}
  %r = memref.alloca_scope -> f32 {
    %x = arith.constant 1.0 : f32
    memref.alloca_scope.return %x : f32
  }
  return %r : f32
}
