// RUN: attn-opt %s -attn-gpu-module-to-emulator-binary -split-input-file -verify-diagnostics | FileCheck %s

// The kernel module becomes a gpu.binary of the same name whose object, for
// the module's target, is the module as MLIR text (custom form) inside a
// builtin.module, with its debug locations; host code is untouched.
// CHECK-LABEL: module attributes {gpu.container_module}
// CHECK-NOT:   gpu.module
// CHECK:       gpu.binary @kernels  [#gpu.object<#nvvm.target<chip = "sm_90a">, bin = "
// CHECK-SAME:    module {\0A  gpu.module @kernels [#nvvm.target<chip = \22sm_90a\22>] {
// CHECK-SAME:    attributes {gpu.kernel, nvvm.kernel}
// CHECK-SAME:    nvvm.read.ptx.sreg.tid.x : i32 loc(#loc[[TID:[0-9]+]])
// CHECK-SAME:    llvm.store %0, %1 : i32, !llvm.ptr
// CHECK-SAME:    #loc[[TID]] = loc(\22{{[^\\]*}}attn-gpu-module-to-emulator-binary.mlir\22:[[@LINE+6]]:14)
// CHECK-SAME:    ">]
// CHECK:       llvm.func @host()
module attributes {gpu.container_module} {
  gpu.module @kernels [#nvvm.target<chip = "sm_90a">] {
    llvm.func @store_tid(%out: !llvm.ptr) attributes {gpu.kernel, nvvm.kernel} {
      %tid = nvvm.read.ptx.sreg.tid.x : i32
      %p = llvm.getelementptr %out[%tid] : (!llvm.ptr, i32) -> !llvm.ptr, i32
      llvm.store %tid, %p : i32, !llvm.ptr
      llvm.return
    }
  }
  llvm.func @host() {
    llvm.return
  }
}

// -----

// One object per target, each with the whole module; the offloading
// handler is kept.
// CHECK-LABEL: gpu.binary @two <#gpu.select_object<1 : i64>> [
// CHECK-SAME:    #gpu.object<#nvvm.target<chip = "sm_80">, bin = "module {\0A  gpu.module @two
// CHECK-SAME:    #gpu.object<#nvvm.target<chip = "sm_90a">, bin = "module {\0A  gpu.module @two
module attributes {gpu.container_module} {
  gpu.module @two <#gpu.select_object<1>> [#nvvm.target<chip = "sm_80">, #nvvm.target<chip = "sm_90a">] {
  }
}

// -----

module attributes {gpu.container_module} {
  // expected-error @below {{attn: gpu.module has no target to serialise for (run nvvm-attach-target first)}}
  gpu.module @untargeted {
  }
}
