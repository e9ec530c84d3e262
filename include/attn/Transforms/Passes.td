//===- Passes.td - Passes of the attn pipelines -------------*- tablegen -*-===//
//
// The passes that the CPU and CUDA pipelines run between upstream ones. None
// of them knows the attn dialect: they prepare functions for the JIT and C
// callers, schedule OpenMP loops, flatten stack scopes, replace math
// functions and embed kernels for the GPU emulator, on the ops the attn code
// generators leave behind.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LOWERING_PASSES
#define ATTN_LOWERING_PASSES

include "mlir/Pass/PassBase.td"

def AttnEmitCInterface : Pass<"attn-emit-c-interface", "ModuleOp"> {
  let summary = "Tag public function definitions with llvm.emit_c_interface";
  let description = [{
    Sets `llvm.emit_c_interface` on every public `func.func` that has a
    body, so that `convert-func-to-llvm` emits a `_mlir_ciface_<name>`
    wrapper taking memref descriptors by pointer: the calling convention of
    the JIT (`CPUKernel`), attn-aot libraries and C callers.

    Before: `func.func @f(%a: memref<?xf32>)`
    After:  `func.func @f(%a: memref<?xf32>) attributes {llvm.emit_c_interface}`
  }];
}

def AttnDropReturnedArguments
    : Pass<"attn-drop-returned-arguments", "ModuleOp"> {
  let summary = "Drop the results of kernel functions that return their outs";
  let description = [{
    After bufferization a destination-passing function returns the very
    buffers it was given as outs. This pass removes those results, so that
    callers pass outputs as arguments and nothing is cloned or leaked. A
    result that is not a function argument is an error (the caller could
    not own it), as is a function body with several blocks.

    Before:
    ```mlir
    func.func @f(%q: memref<..>, %o: memref<..>) -> memref<..> {
      ...
      return %o : memref<..>
    }
    ```
    After:
    ```mlir
    func.func @f(%q: memref<..>, %o: memref<..>) {
      ...
      return
    }
    ```
  }];
}

def AttnOpenMPDynamicSchedule
    : Pass<"attn-openmp-dynamic-schedule", "ModuleOp"> {
  let summary = "Give OpenMP worksharing loops a dynamic schedule";
  let description = [{
    Sets `schedule(dynamic)` on every `omp.wsloop` that has no schedule
    yet. The fused CPU path orders its work items heaviest first (causal
    and windowed q-tiles differ in cost), so dynamic dispatch balances the
    threads.
  }];
  let dependentDialects = ["omp::OpenMPDialect"];
}

def AttnInlineAllocaScopes : Pass<"attn-inline-alloca-scopes", "ModuleOp"> {
  let summary = "Inline memref.alloca_scope between stacksave and "
                "stackrestore";
  let description = [{
    Replaces each `memref.alloca_scope` (single block, no results) by its
    body between `llvm.intr.stacksave` and `llvm.intr.stackrestore`. The
    fused CPU path and `convert-scf-to-openmp` scope the stack scratch of
    each loop iteration this way, and the scopes must be gone before
    `convert-scf-to-cf`, which would split their regions into blocks.
    Also brackets each iteration of an `scf.for` or `scf.parallel` whose
    body allocas (and yields no memref) the same way: the canonicalizer
    inlines alloca scopes into loop bodies, and a serial loop over work
    items, or a long loop over tiles, would otherwise keep every
    iteration's scratch until the function returns.

    Before:
    ```mlir
    memref.alloca_scope {
      %t = memref.alloca() : memref<64xf32>
      ...
    }
    ```
    After:
    ```mlir
    %sp = llvm.intr.stacksave : !llvm.ptr
    %t = memref.alloca() : memref<64xf32>
    ...
    llvm.intr.stackrestore %sp : !llvm.ptr
    ```
  }];
  let dependentDialects = ["LLVM::LLVMDialect"];
}

def AttnApproximateMath : Pass<"attn-approximate-math", "ModuleOp"> {
  let summary = "Polynomial f32 exp, expm1, log, log1p, log2 and tanh";
  let description = [{
    Replaces f32 `math.exp`, `expm1`, `log`, `log1p`, `log2` and `tanh`
    (scalars and vectors) by MLIR's polynomial approximations, so that
    vectorised code calls no scalar libm functions.
  }];
  let dependentDialects = ["arith::ArithDialect", "math::MathDialect",
                           "vector::VectorDialect"];
}

def AttnGPUMath : Pass<"attn-gpu-math"> {
  let summary = "Math in GPU kernels without libdevice";
  let description = [{
    Scalar f32 `math.exp` and `math.log` become the PTX approximations
    (`llvm.nvvm.ex2.approx.f32`, `llvm.nvvm.lg2.approx.f`, about 2 ulp, as
    FlashAttention's `exp2f`) with the base change folded into a multiply;
    `exp2`, `log2` map directly; `log1p`, `expm1`, `tanh`, `sin` and `cos`
    become MLIR's polynomials, `powf` exp(b log a) with its sign and zero
    cases; `fma`, `floor`, `ceil`, `absf` and `sqrt` become LLVM
    intrinsics that NVPTX selects natively; `math.absi` becomes a compare
    and select. `convert-gpu-to-nvvm` would otherwise call libdevice for
    all of them, which links only when the CUDA toolkit is found at
    compile time. f64 math (the log of T5 bucketing) still calls libdevice.
  }];
  let dependentDialects = ["arith::ArithDialect", "LLVM::LLVMDialect",
                           "math::MathDialect", "vector::VectorDialect"];
}

def AttnGPUSinkConstants : Pass<"attn-gpu-sink-constants"> {
  let summary = "Move the constant tables kernels read into the kernels";
  let description = [{
    Sinks into each `gpu.launch` the `memref.get_global` of constant
    globals (the tables of per-head ALiBi slopes, Gaussian parameters and
    the like) that its body reads, with the constants and index
    computations `gpu-launch-sink-index-computations` sinks. Canonicalisation
    hoists such constants out of the launch (which is not isolated from
    above), and bufferisation then makes them host globals: outlined as they
    are, the kernel would receive a host address and read it on the device.
    Sunk, outlining copies the global into the `gpu.module`, where it is
    device memory.
  }];
  let dependentDialects = ["gpu::GPUDialect", "memref::MemRefDialect"];
}

def AttnGPUDeviceAllocs : Pass<"attn-gpu-device-allocs", "ModuleOp"> {
  let summary = "Buffers that host code allocates for GPU kernels on the device";
  let description = [{
    In the CUDA pipeline every buffer of a kernel function is device
    memory: the caller passes device pointers, and the kernels read and
    write nothing else. Bufferisation gives the function's own buffers
    (the results of ops between two kernels, such as the partial results
    and gathers of a shared-prefix cascade) as `memref.alloc` in host
    memory, which a kernel cannot access on a GPU. This pass replaces each
    `memref.alloc` outside GPU code by a `gpu.alloc`, freed by a
    `gpu.dealloc` at the end of its block (the kernel launches before it
    are synchronous), and each `memref.copy` outside GPU code by a
    `gpu.memcpy` (contiguous buffers only; a strided copy is an error). A
    buffer that leaves its block (yielded by its terminator) is an error.

    Before:
    ```mlir
    %t = memref.alloc(%n) : memref<?xf32>
    gpu.launch_func ... args(%t : memref<?xf32>)
    return
    ```
    After:
    ```mlir
    %0 = gpu.wait async
    %t, %1 = gpu.alloc async [%0] (%n) : memref<?xf32>
    gpu.wait [%1]
    gpu.launch_func ... args(%t : memref<?xf32>)
    %2 = gpu.wait async
    %3 = gpu.dealloc async [%2] %t : memref<?xf32>
    gpu.wait [%3]
    return
    ```
  }];
  let dependentDialects = ["gpu::GPUDialect", "memref::MemRefDialect"];
}

def AttnGPUModuleToEmulatorBinary
    : Pass<"attn-gpu-module-to-emulator-binary", "ModuleOp"> {
  let summary = "Embed GPU modules as MLIR text for the GPU emulator";
  let description = [{
    Replaces every `gpu.module` by a `gpu.binary` of the same name holding,
    for each of the module's targets, one object of format `bin` whose
    bytes are the `gpu.module` printed as MLIR text (custom form, debug
    locations kept), wrapped in a `builtin.module`. This is what the CUDA
    pipeline's `emulate=true` runs instead of `gpu-module-to-binary`: the
    host code is unchanged and hands the text to `mgpuModuleLoad(data,
    size)`, which the emulator runtime (lib/Runtime/Emulator) parses and
    interprets instead of loading PTX or cubin on a GPU. A module without
    a target is an error.

    Before:
    ```mlir
    gpu.module @kernels [#nvvm.target<chip = "sm_90a">] {
      llvm.func @k(%arg0: !llvm.ptr) attributes {gpu.kernel} { ... }
    }
    ```
    After:
    ```mlir
    gpu.binary @kernels [#gpu.object<#nvvm.target<chip = "sm_90a">,
        bin = "module {\0A  gpu.module @kernels [...] {\0A ...">]
    ```
  }];
  let dependentDialects = ["gpu::GPUDialect"];
}

#endif // ATTN_LOWERING_PASSES
