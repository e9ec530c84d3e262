//===- AttnToCPU.h - attn.attention to fused CPU loops ----------*- C++ -*-===//
//
// The fused CPU code generator (attn-tile-cpu): its target description, the
// tile plan it resolves from an op's #attn.config, and its entry points.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTOCPU_ATTNTOCPU_H
#define ATTN_CONVERSION_ATTNTOCPU_ATTNTOCPU_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/IR/PatternMatch.h"

#include <optional>
#include <string>

namespace mlir::attn {

/// What the CPU offers, and the defaults that the pass options ask for
/// where an op's #attn.config is silent.
struct CPUTarget {
  /// f32 lanes per vector (4, 8 or 16); 0: the host's widest.
  int64_t vectorWidth = 0;
  /// Threads that decoding's automatic kv splits keep busy; 0: the host's
  /// physical cores.
  int64_t threads = 0;
  /// Default Q K^T of bf16 inputs to AVX512-BF16 dot products where they
  /// apply (the host has them, vector width 16, static even head dim).
  bool bf16Dot = false;
  /// Default both products of bf16 inputs to AMX tiles where they apply
  /// (hostAmx() says usable, vector width 16, static head dims multiples
  /// of 32, block_q and block_kv multiples of 32). Takes precedence over
  /// bf16Dot.
  bool amx = true;
  /// Default both products of f16 inputs to AMX tiles where they apply, Q,
  /// K and V rounded to bf16 (an opt-in: it changes the rounding).
  bool f16Amx = false;
};

/// The instructions of the tile kernel's products (`dot` of #attn.config).
enum class CPUDot {
  /// Q K^T and P V by f32 FMAs (f16 / bf16 inputs widened).
  Fma,
  /// Q K^T by AVX512-BF16 pair dot products, P V by f32 FMAs.
  Bf16,
  /// Q K^T and P V by AMX bf16 tile products (TDPBF16PS), f32 accumulators;
  /// f16 inputs (opt-in only) rounded to bf16.
  Amx,
  /// Opt-in, int8 KV caches only (it rounds the query to int8): Q K^T by
  /// AMX int8 tile products (TDPBUSD) of the key codes and the query
  /// quantised per (row, key group); P V by AMX bf16 tiles for bf16
  /// queries, f32 FMAs for f32 ones (AmxInt8Products.cpp).
  AmxInt8,
};

/// The resolved tile plan of one op on the CPU: every #attn.config field
/// that the CPU code generator reads, filled in.
struct CPUTilePlan {
  /// f32 lanes per vector (`vector_width`).
  int64_t vectorWidth = 16;
  /// Query rows per tile (`block_q`), a multiple of vectorWidth.
  int64_t blockQ = 64;
  /// Keys per kv tile (`block_kv`).
  int64_t blockKv = 96;
  /// Rows per register block (`unroll`): keys in Q K^T, head-dim rows in
  /// P V. unroll * blockQ / vectorWidth vector accumulators.
  int64_t unroll = 6;
  /// Decoding: kv splits per query row (`kv_splits`); 0 chooses them at
  /// run time from B * Hq and `threads`.
  int64_t kvSplits = 0;
  /// Threads the automatic kv splits keep busy (a target property).
  int64_t threads = 1;
  /// q-tiles per work item of the tile kernel (`q_blocks`); 0 chooses
  /// them at run time (CPUTiler::emitQBlocksPerItem).
  int64_t qBlocks = 0;
  /// Bytes of one core's L2 cache (a host property).
  int64_t l2Bytes = 2 << 20;
  /// The products' instructions (`dot`).
  CPUDot dot = CPUDot::Fma;
  /// Decoding (the row kernel): Q K^T and P V by AVX512-BF16 dot products
  /// of the bf16 K and V rows, the weights rounded to bf16
  /// (DecodeBf16.cpp), where `dot` = "bf16" asks for them (with dot =
  /// Fma where the tile kernel cannot take them: paged caches).
  bool rowBf16 = false;
  /// Decoding (the row kernel): Q K^T and P V of a span for all of a GQA
  /// group's heads by AMX tile products (DecodeAmx.cpp): with dot = Amx, and by
  /// default for paged bf16 caches on an AMX host (whose tile kernel keeps
  /// dot = Fma: it does not read pages on AMX).
  bool rowAmx = false;

  /// Query-row vectors per tile.
  int64_t vecs() const { return blockQ / vectorWidth; }
  /// The plan as an #attn.config (GPU fields left at their defaults):
  /// resolving it again gives the same plan.
  ConfigAttr toConfig(MLIRContext *context) const;
};

/// Resolves `op`'s #attn.config for `target`: fields left at 0 / "" get the
/// defaults of the host and the op (documented in TilePlan.cpp). Emits a
/// diagnostic on the op and fails when a value breaks a rule of the CPU
/// code generator.
FailureOr<CPUTilePlan> resolveCPUTilePlan(AttentionOp op,
                                          const CPUTarget &target);

/// Replaces `op` with fused, tiled flash-attention loops over memory for the
/// CPU (see attn-tile-cpu), as `plan` says.
LogicalResult tileAttentionForCPU(RewriterBase &rewriter, AttentionOp op,
                                  const CPUTilePlan &plan);

/// Why the fused CPU backward (FlashGradKernel.cpp) cannot lower `op`, or
/// none when it can. Ops it cannot lower stay for the reference lowering
/// (attn-lower-to-linalg); attn-print-tile-plan reports which and why.
std::optional<std::string> whyNoFusedGrad(AttentionGradOp op);

/// The plan of the fused backward: the target's vector width, block_q =
/// block_kv = 4 vectors, unroll 6 (AVX-512) or 3, and dot = amx for bf16
/// where the forward's AMX conditions hold (target.amx, hostAmx(), vector
/// width 16, head dims multiples of 32). Of the op's #attn.config only
/// `dot` is read: "fma" or "bf16" keeps the backward on f32 FMAs.
CPUTilePlan resolveCPUGradPlan(AttentionGradOp op, const CPUTarget &target);

/// Replaces `op` with the two fused passes of the backward (dQ over
/// q-tiles, dK and dV over kv tiles); whyNoFusedGrad(op) must be none.
LogicalResult tileAttentionGradForCPU(RewriterBase &rewriter,
                                      AttentionGradOp op,
                                      const CPUTilePlan &plan);

/// Adds the pattern that resolves each attn.attention's plan for `target`
/// and tiles it, and the one that tiles each attn.attention_grad that the
/// fused backward covers.
void populateAttnToCPUPatterns(RewritePatternSet &patterns,
                               const CPUTarget &target);

/// f32 lanes of the host's widest vector unit: 16 with AVX-512, 8 with
/// AVX2 + FMA, else 4.
int64_t hostVectorWidth();

/// Bytes of the host's L2 cache per core (sysconf), 1 MiB when unknown.
int64_t hostL2Bytes();

/// Whether the host has AVX512-BF16 (vdpbf16ps).
bool hostHasBf16Dot();

/// Whether AMX bf16 tile products can run in this process.
struct AmxStatus {
  bool usable = false;
  /// Why not, when not usable (for diagnostics).
  std::string why;
};

/// Whether this process can run AMX bf16 code: the CPU has AMX-TILE,
/// AMX-BF16 and AVX512-BF16, $ATTN_NO_AMX is unset (or "0"), and Linux
/// granted the process tile-data permission (arch_prctl
/// ARCH_REQ_XCOMP_PERM for XTILEDATA, requested on the first call; without
/// it the first tile instruction raises SIGILL). Evaluated once per
/// process; when the CPU has AMX but the kernel refuses the permission, the
/// first call says so on stderr, and bf16 kernels use the AVX-512 paths.
const AmxStatus &hostAmx();

/// Whether this process can run AMX int8 code: hostAmx() is usable and the
/// CPU has AMX-INT8.
bool hostHasAmxInt8();

} // namespace mlir::attn

#endif // ATTN_CONVERSION_ATTNTOCPU_ATTNTOCPU_H
