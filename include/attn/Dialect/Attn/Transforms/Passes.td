//===- Passes.td - attn transformation passes --------------*- tablegen -*-===//
//
// Passes over the attn dialect.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TRANSFORMS_PASSES
#define ATTN_TRANSFORMS_PASSES

include "mlir/Pass/PassBase.td"

def AttnLowerToLinalg : Pass<"attn-lower-to-linalg"> {
  let summary = "Reference lowering of attn ops that materialises the scores";
  let description = [{
    Lowers every `attn.attention` and `attn.merge` to tensor-level `scf`,
    `linalg`, `tensor`, `arith` and `math` ops, and every `attn.mask_blocks`
    to a parallel loop over (batch, head, query block) that evaluates the
    mask and stores each block's class (LowerMaskBlocks.cpp). For each
    `(b, h)` pair of an attention the
    full `[Sq, Skv]` score matrix is materialised:

    ```
    S[i,j]  = scale * sum_d Q[i,d] K[j,d]                  (f32 accumulation)
    S'[i,j] = mask(b,h,i,j) ? mods(S[i,j], b, h, i, j) : -inf
    W[i,j]  = normalizer weights of row S'[i,:]            (0 where masked)
    O[i,:]  = sum_j W[i,j] V[j,:] / Z[i]                   (0 where Z = 0)
    ```

    This is the correctness baseline for the fused code generators: it
    handles every normalizer, mask and score modifier of the dialect, and
    uses O(Sq * Skv) memory per `(b, h)`. Speed is not its job.

    `attn.attention_grad` is lowered the same way, per `(b, kv head)`
    with the query heads of the group in a sequential loop (their dK and
    dV add up), recomputing P from the forward's LSE:

    ```
    dP[i,j] = sum_e dO[i,e] V[j,e]
    dS[i,j] = scale * ds'/ds * P[i,j] * (dP[i,j] - sum_e dO[i,e] O[i,e])
    dQ = dS K,   dK += dS^T Q,   dV += P^T dO
    ```

    Before:
    ```mlir
    %o = attn.attention ins(%q, %k, %v : ...) outs(%init : ...)
           {mask = #attn.causal} -> tensor<?x?x?x64xf32>
    ```
    After (abridged):
    ```mlir
    %o = scf.forall (%b, %h) in (%B, %H) shared_outs(%out = %init) -> ... {
      %s = linalg.generic ... // Q K^T
      %m = linalg.generic ... // modifiers + mask
      ...
      scf.forall.in_parallel { tensor.parallel_insert_slice ... }
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect", "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect", "::mlir::memref::MemRefDialect",
    "::mlir::bufferization::BufferizationDialect"
  ];
}

#endif // ATTN_TRANSFORMS_PASSES
