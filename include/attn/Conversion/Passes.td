//===- Passes.td - Conversions of attn ops to target code --*- tablegen -*-===//
//
// The fused code generators: attn.attention to tiled loops for the CPU
// (AttnToCPU) and to tensor-core kernels for NVIDIA GPUs (AttnToGPU). Each
// resolves a tile plan per op (#attn.config filled from the target's
// defaults) and emits the kernel it names.
//
// The flags keep the names attn-tile-cpu / attn-tile-gpu rather than
// convert-attn-to-*: the output is still at the tensor level (bufferization
// and the LLVM conversions follow in the pipelines), and every lit test,
// README and user script names them.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_PASSES
#define ATTN_CONVERSION_PASSES

include "mlir/Pass/PassBase.td"

def AttnTileCPU : Pass<"attn-tile-cpu"> {
  let summary = "Fused, tiled flash-attention code for the host CPU";
  let description = [{
    Lowers every `attn.attention` to fused loops over memory that never
    materialise the `[Sq, Skv]` scores (FlashAttention-2 on the CPU):

    - one `scf.parallel` over work items `(b, h, q-tiles)`, consecutive
      items sharing K and V and the heaviest causal q-tiles of a head first;
      the CPU pipeline turns it into an OpenMP loop with a dynamic
      schedule; an item of several q-tiles (`q_blocks`, chosen per call
      where a head's K and V exceed half the L2 cache) runs each L2-sized
      chunk of kv tiles against its q-tiles in turn;
    - per item, a kv-tile loop over the tiles that the symbolic tile
      classification (TileClasses.h) leaves non-empty, each checked at
      run time against the top-level document, tree and dense conjuncts
      (skipped, unmasked or masked), carrying the running row shift, row sum and an
      f32 accumulator (online normalisation for softmax, sink softmax and
      softplus; streaming sums for sigmoid and relu);
    - register-blocked vector micro-kernels for `Q K^T` and `P V` with the
      query rows of a tile in the vector lanes, so that row statistics need
      no horizontal reductions; per-element mask and modifier code runs only
      on partial tiles (and, for position-dependent modifiers, on every
      visited tile);
    - for bf16 on hosts with AMX (`dot = "amx"`, the default there), both
      products as AMX tile products (amx dialect) in the same layouts:
      `ST = K Q^T` and `OT = V^T P^T`, weights rounded to bf16; f16 inputs
      take them only where asked for (`dot = "amx"` on the op, or option
      `f16-amx`), Q, K and V rounded to bf16 (nearest even);
    - small query tiles (decoding) use a row kernel whose lanes run along
      the head dimension, and split the kv range across threads, merging the
      partial results by their log-sum-exp.

    Memory is O(tile) per thread. Batch, heads and sequence lengths stay
    dynamic. `#attn.config<block_q, block_kv, vector_width, kv_splits, q_blocks>`
    overrides the defaults; `attn.merge` ops are left for
    `attn-lower-to-linalg`.
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", /*default=*/"0",
           "f32 lanes per vector: 16 (AVX-512), 8 (AVX2) or 0 for the host">,
    Option<"threads", "threads", "int64_t", /*default=*/"0",
           "Threads that decoding's kv splits should keep busy (0: the "
           "host's cores)">,
    Option<"bf16Dot", "bf16-dot", "bool", /*default=*/"false",
           "bf16 inputs: Q K^T by AVX512-BF16 pair dot products "
           "(x86vector.avx512.dot) when the host has them and the head dim "
           "is static and even (off by default: slower than widening to "
           "f32 FMAs on the Sapphire Rapids machines measured)">,
    Option<"useAmx", "amx", "bool", /*default=*/"true",
           "bf16 inputs: Q K^T and P V by AMX bf16 tile products (amx "
           "dialect) where they apply: the host has AMX-BF16 and grants "
           "tile-data permission, static head dims multiples of 32, block_q "
           "and block_kv multiples of 32; takes precedence over bf16-dot">,
    Option<"f16Amx", "f16-amx", "bool", /*default=*/"false",
           "f16 inputs: Q K^T and P V by AMX bf16 tile products where they "
           "apply (as amx), Q, K and V rounded to bf16 (nearest even: 8 "
           "significant bits instead of 11); off by default, since it "
           "changes the rounding (an op's #attn.config dot = amx opts in "
           "alone)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect", "::mlir::func::FuncDialect",
    "::mlir::LLVM::LLVMDialect", "::mlir::x86vector::X86VectorDialect",
    "::mlir::amx::AMXDialect"
  ];
}

def AttnTileGPU : Pass<"attn-tile-gpu"> {
  let summary = "Tensor-core flash attention for NVIDIA GPUs (nvgpu dialect)";
  let description = [{
    Lowers every `attn.attention` with f16 or bf16 inputs and static head
    dims (multiples of 16, at most 128) to one `gpu.launch` of a
    FlashAttention-2 kernel:

    - grid `(ceil(Sq / block_q), B * Hq)`, `warps` warps of 16 query rows
      per CTA (default 4, so block_q = 64);
    - per kv tile of `block_kv` keys (default 64; 32 when D or Dv exceeds
      64), K and V copied to dynamic shared memory with
      `nvgpu.device_async_copy` (cp.async, rows padded against bank
      conflicts, zero-filled past Skv);
    - `S = Q K^T` and `O += P V` with `nvgpu.mma.sync` m16n8k16 (f32
      accumulators), fragments from `nvgpu.ldmatrix`; Q fragments stay in
      registers, P goes from accumulator to operand fragments without
      touching memory;
    - the online normalisation of every normalizer in registers, row
      statistics reduced across each quad of lanes with `gpu.shuffle`;
    - kv tiles from the symbolic tile classification shared with the CPU
      path: empty tiles lie outside the loop bounds, full tiles skip the
      per-element mask; score modifiers and partial-tile masks run per
      element through the same emitter as every other code generator;
    - top-level `#attn.document`, `#attn.tree` and block-sparse
      `#attn.dense` conjuncts classified per tile at run time: the kv loop
      visits only the tiles a warp vote keeps (a key whose segment id lies
      in the CTA's rows' id range; the draft tree's causal prefix; a block
      entry on) and finds the next kept tile before the current one runs
      (with wgmma, before its TMA request), so skipped tiles are never
      loaded; tiles the conjuncts allow entirely skip the per-element mask.
      A dense conjunct is classified when at most 32 of its entries cover
      a tile (one load a lane); when its blocks align with the tiles it is
      not read per element at all. Finer dense masks stay per element.

    The tile plan comes from the op's `#attn.config` (warps, block_q,
    block_kv, stages, mma); fields it leaves unset get the defaults above
    for the target (`chip`, `mma`), and values the kernels cannot honour
    (register budget, shared memory of the chip, one warpgroup for wgmma)
    are reported on the op (TilePlan.cpp lists the limits).

    Batch, heads and sequence lengths stay dynamic. The kernel reads and
    writes device memory: the function's buffers must be device pointers.

    `attn.merge` becomes its linalg form (`attn-lower-to-linalg`'s, so
    that fully masked rows give O = 0 and LSE = -inf on every target),
    which `attn-gpu-elementwise` turns into kernels after bufferization.

    `attn.attention_grad` (same element types and head dims) becomes two
    `gpu.launch`es of mma.sync kernels on either chip (Sm80GradKernel.cpp):
    a query kernel, grid `(ceil(Sq / 64), B * Hq)`, that computes
    Delta = rowsum(dO * O) of its rows and dQ over the kv tiles the
    symbolic classification leaves (K and V by cp.async), then a key
    kernel, grid `(ceil(Skv / 64), B * Hkv)`, that computes dK and dV of
    its 64 keys over the query heads of the group and their q-tiles (Q and
    dO by cp.async). Both recompute P from the LSE, and skip the tile pairs
    that the symbolic and the run-time tile classes rule out, as the
    forward does; tiles of the other side have 32 rows
    (resolveGPUGradPlan). Deterministic: no atomics.
    The op's `#attn.config` (the forward's) does not apply to them.

    Before:
    ```mlir
    %o = attn.attention ins(%q, %k, %v : ...) outs(%init : ...)
        {mask = #attn.causal} -> tensor<?x?x?x64xf16>
    ```
    After: `bufferization.to_buffer` of the operands, a `gpu.launch` whose
    body holds the kernel (`nvgpu.mma.sync`, `nvgpu.ldmatrix`,
    `nvgpu.device_async_copy`, `gpu.shuffle xor`), and
    `bufferization.to_tensor` of the outputs.

    On sm_90a (`chip=sm_90a`, `mma` auto or wgmma), ops whose head dims are
    64 or 128 get the warpgroup kernel instead: the CTA's 4 warps form one
    warpgroup; K and V tiles of `block_kv` keys arrive by TMA
    (`cp.async.bulk.tensor`, 128-byte swizzle, `stages` stages, default 2:
    stages - 1 tiles load while one computes, each stage completing on an
    mbarrier); `S = Q K^T` and `O += P V` are
    `wgmma.mma_async` m64nNk16 with Q and P from registers and K and V
    from shared memory (V transposed by the instruction). The host encodes
    the two tensor maps (`attnCudaTensorMap` in the runtime) before the
    launch and frees them after. Other head dims keep the mma.sync kernel.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_80\"",
           "Target: sm_80 (mma.sync; Ampere and later) or sm_90a (Hopper: "
           "also wgmma and TMA)">,
    Option<"mma", "mma", "std::string", /*default=*/"\"auto\"",
           "Tensor-core instructions where #attn.config leaves them unset: "
           "auto (wgmma on sm_90a where head dims are 64 or 128), sync, or "
           "wgmma (sm_90a; other head dims fall back to mma.sync)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::gpu::GPUDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::NVVM::NVVMDialect", "::mlir::nvgpu::NVGPUDialect",
    "::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect",
    "::mlir::ub::UBDialect", "::mlir::vector::VectorDialect"
  ];
}

def AttnGPUElementwise : Pass<"attn-gpu-elementwise"> {
  let summary = "Elementwise linalg.generic ops on buffers as GPU kernels";
  let description = [{
    Replaces every `linalg.generic` on buffers whose iterators are all
    parallel, with one init on the identity indexing map and input maps
    of dims and constants, by a `gpu.launch` with one thread per element
    of the init: grid `(ceil(N / 256))`, 256 threads, thread `i` computing
    the element at row-major position `i` (the body cloned, its block
    arguments loaded, `linalg.index` the element's indices, the yielded
    value stored). In the CUDA pipeline it runs after bufferization: on
    the GPU the host code's buffers are device memory, so the merge of
    partial results (`attn.merge`, which `attn-tile-gpu` lowers to linalg)
    and the gathers of a shared-prefix cascade (`attn.cascade_ir`) must be
    kernels. These ops are bandwidth-bound; the flat grid keeps
    neighbouring threads on neighbouring elements. Other linalg ops, and
    generics that break these rules, are reported.

    Before:
    ```mlir
    linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
        ins(%a : memref<?xf32>) outs(%b : memref<?xf32>) {
    ^bb0(%x: f32, %y: f32):
      %e = math.exp %x : f32
      linalg.yield %e : f32
    }
    ```
    After:
    ```mlir
    gpu.launch blocks(%bx, ...) in (%gx = %n_ctas, ...)
               threads(%tx, ...) in (%sx = %c256, ...) {
      %i = ... %bx * 256 + %tx
      scf.if %i < %n {
        %x = memref.load %a[%i] : memref<?xf32>
        %e = math.exp %x : f32
        memref.store %e, %b[%i] : memref<?xf32>
      }
      gpu.terminator
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect"
  ];
}

def AttnPrintTilePlan : Pass<"attn-print-tile-plan"> {
  let summary = "Report the tile plan each attn.attention resolves to";
  let description = [{
    For every `attn.attention`, emits a remark with the tile plan that the
    code generator of `target` resolves from the op's `#attn.config`, the
    target's defaults and the op (every field that code generator reads,
    filled in), or the diagnostic of an invalid plan. The IR is unchanged.
    The printed attribute is valid as the op's config and resolves to the
    same plan, so a plan can be read, edited and pinned. For every
    `attn.attention_grad`, a remark says how the backward lowers:
    `backward for cpu: fused #attn.config<...>` or `reference lowering
    (<reason>)`, `backward for sm_80: mma.sync #attn.config<...>` (the
    GPU backward's fixed tiles).

    ```
    $ attn-opt --attn-print-tile-plan=target=cpu x.mlir
    x.mlir:3:8: remark: tile plan for cpu: #attn.config<block_q = 64,
        block_kv = 96, vector_width = 16, unroll = 6, dot = "fma">
    ```
  }];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"cpu\"",
           "Whose plan: cpu, sm_80 or sm_90a">,
    Option<"vectorWidth", "vector-width", "int64_t", /*default=*/"0",
           "cpu: f32 lanes per vector, 4, 8, 16 or 0 for the host">,
    Option<"threads", "threads", "int64_t", /*default=*/"0",
           "cpu: threads of decoding's kv splits (0: the host's cores)">,
    Option<"bf16Dot", "bf16-dot", "bool", /*default=*/"false",
           "cpu: AVX512-BF16 dot products for bf16 Q K^T where they apply">,
    Option<"useAmx", "amx", "bool", /*default=*/"true",
           "cpu: AMX tile products for bf16 where they apply, as "
           "attn-tile-cpu's option">,
    Option<"f16Amx", "f16-amx", "bool", /*default=*/"false",
           "cpu: AMX tile products for f16 (rounded to bf16) where they "
           "apply, as attn-tile-cpu's option">,
    Option<"mma", "mma", "std::string", /*default=*/"\"auto\"",
           "sm_80 / sm_90a: auto, sync or wgmma, as attn-tile-gpu's option">,
  ];
}

#endif // ATTN_CONVERSION_PASSES
