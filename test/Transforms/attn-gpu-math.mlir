// RUN: attn-opt %s -attn-gpu-math | FileCheck %s

// exp and log through the PTX approximations with the base change folded
// in, fma/floor/sqrt as intrinsics, absi as a compare and select.
// CHECK-LABEL: func.func @math
// CHECK-SAME: %[[X:[a-z0-9]+]]: f32
// CHECK-DAG: %[[LN2:.+]] = arith.constant 0.693147182 : f32
// CHECK-DAG: %[[LOG2E:.+]] = arith.constant 1.44269502 : f32
// CHECK: %[[A:.+]] = arith.mulf %[[X]], %[[LOG2E]] : f32
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.f32"(%[[A]])
// CHECK: %[[LG:.+]] = llvm.call_intrinsic "llvm.nvvm.lg2.approx.f"(%[[X]])
// CHECK: arith.mulf %[[LG]], %[[LN2]] : f32
// CHECK: llvm.call_intrinsic "llvm.fma.f32"
// CHECK: llvm.call_intrinsic "llvm.floor.f32"
// CHECK: llvm.call_intrinsic "llvm.sqrt.f32"
// CHECK: arith.cmpi slt
// CHECK: arith.select
// CHECK-NOT: math.
func.func @math(%x: f32, %i: index) -> (f32, f32, f32, f32, f32, index) {
  %e = math.exp %x : f32
  %l = math.log %x : f32
  %f = math.fma %x, %x, %x : f32
  %fl = math.floor %x : f32
  %s = math.sqrt %x : f32
  %a = math.absi %i : index
  return %e, %l, %f, %fl, %s, %a : f32, f32, f32, f32, f32, index
}
