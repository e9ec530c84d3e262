//===- TilePlan.cpp - The GPU tile plan and its limits --------------------===//
//
// Resolves #attn.config against the target and the op into a GPUTilePlan:
// which kernel (mma.sync or wgmma), warps, tile sizes and stages. Fields the
// config leaves unset get the defaults the kernels were tuned with; fields
// it sets are checked against what the kernels can emit and what the
// register file and shared memory hold, and rejected with a diagnostic that
// names the field, the value and the limit.
//
// The limits, and why:
//   warps    mma.sync: 1, 2, 4 or 8 (16 rows each). A thread may use up to
//            255 registers, and 8 warps x 32 x 255 is the largest CTA the
//            65536-register file always holds. wgmma: 4, one warpgroup
//            (the m64 of wgmma.mma_async).
//   block_q  16 * warps.
//   block_kv a multiple of 32 from 32 to 128: fragments of 8 and 16 keys,
//            and the run-time tile classification gives each lane keys
//            j0 + lane + 32 k. The fragments a thread keeps live (scores,
//            accumulators, Q) must fit a register budget calibrated with
//            ptxas -v (fragmentRegisters, registerBudget, maxBlockKv).
//   stages   mma.sync: 1 (each tile is copied, then computed). wgmma: 2 or
//            more (TMA runs stages - 1 tiles ahead), up to the dynamic
//            shared memory of the chip (227 KiB on sm_90a).
//
//===----------------------------------------------------------------------===//

#include "GPUTiler.h"

#include "mlir/IR/Diagnostics.h"

#include <string>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::tilegpu;

namespace {

/// Dynamic shared memory a CTA may opt into (CUDA programming guide,
/// "Features and Technical Specifications"): 163 KiB on sm_80, 227 KiB on
/// sm_90.
int64_t sharedMemoryLimit(StringRef chip) {
  return chip == "sm_90a" ? 227 * 1024 : 163 * 1024;
}

/// 32-bit registers a thread holds in fragments across a kv tile: the
/// scores (blockKv / 2 f32), the output accumulators (Dv / 2 f32) and Q
/// (D / 4 words of two halves).
int64_t fragmentRegisters(const OpFacts &facts, int64_t blockKv) {
  return blockKv / 2 + facts.dv / 2 + facts.d / 4;
}

/// The limits on block_kv that ptxas -v (CUDA 13) showed without spills:
/// fragments of at most 112 registers (128 for wgmma without per-element
/// score code), and at most 64 keys when score modifiers or data-dependent
/// masks add live values per score (wgmma: 96 without them). Beyond, e.g.
/// 128 keys at D = 64 with a document mask and ALiBi spill about 220 bytes
/// on both kernels.
int64_t registerBudget(bool wgmma, bool lightScores) {
  return wgmma && lightScores ? 128 : 112;
}
int64_t maxBlockKv(bool wgmma, bool lightScores) {
  if (!lightScores)
    return 64;
  return wgmma ? 96 : 128;
}

bool wgmmaHeadDims(const OpFacts &facts) {
  auto ok = [](int64_t x) { return x == 64 || x == 128; };
  return ok(facts.d) && ok(facts.dv);
}

/// Bytes of dynamic shared memory of the plan's kernel. Keep in sync with
/// sharedBytes() of Sm80Kernel.cpp and Sm90aKernel.cpp.
int64_t sharedBytes(const OpFacts &facts, const GPUTilePlan &plan) {
  if (plan.wgmma)
    return 1024 + plan.stages * plan.blockKv * (facts.d + facts.dv) * 2 +
           8 * plan.stages;
  return plan.stages * plan.blockKv * (facts.d + facts.dv + 16) * 2;
}

} // namespace

FailureOr<OpFacts> OpFacts::get(VariantOpInterface op) {
  auto qType = cast<RankedTensorType>(op.getQuery().getType());
  auto vType = cast<RankedTensorType>(op.getValue().getType());
  OpFacts facts;
  facts.elem = qType.getElementType();
  if (!facts.elem.isF16() && !facts.elem.isBF16())
    return op.emitOpError("attn-tile-gpu: tensor cores need f16 or bf16 "
                          "inputs, got ")
           << facts.elem;
  facts.d = qType.getDimSize(3);
  facts.dv = vType.getDimSize(3);
  // A quantized cache's V packs several channels to a byte.
  auto attention = dyn_cast<AttentionOp>(op.getOperation());
  if (QuantAttr quant = attention ? attention.getQuantAttr() : QuantAttr();
      quant && !ShapedType::isDynamic(facts.dv))
    facts.dv *= quant.getCodesPerByte();
  auto headDimOk = [](int64_t x) {
    return !ShapedType::isDynamic(x) && x > 0 && x % 16 == 0 && x <= 128;
  };
  auto str = [](int64_t x) {
    return ShapedType::isDynamic(x) ? std::string("?") : std::to_string(x);
  };
  if (!headDimOk(facts.d) || !headDimOk(facts.dv))
    return op.emitOpError("attn-tile-gpu: head dims must be static multiples "
                          "of 16 up to 128, got D = ")
           << str(facts.d) << " and Dv = " << str(facts.dv);
  facts.bshd = op.getLayoutOrDefault() == Layout::bshd;
  facts.hasMods = !op.getScoreModList().empty();
  return facts;
}

ConfigAttr GPUTilePlan::toConfig(MLIRContext *ctx) const {
  return ConfigAttr::get(ctx, blockQ, blockKv, /*vector_width=*/0,
                         /*unroll=*/0, warps, stages, /*kv_splits=*/0,
                         /*q_blocks=*/0, /*dot=*/"", wgmma ? "wgmma" : "sync");
}

/// The target's fields, checked for either op.
static LogicalResult checkTarget(Operation *op, const GPUTarget &target) {
  if (target.chip != "sm_80" && target.chip != "sm_90a")
    return op->emitOpError("attn-tile-gpu: chip must be sm_80 or sm_90a, "
                           "got '")
           << target.chip << "'";
  if (!llvm::is_contained({"auto", "sync", "wgmma"}, target.mma))
    return op->emitOpError("attn-tile-gpu: mma must be auto, sync or wgmma, "
                           "got '")
           << target.mma << "'";
  if (target.mma == "wgmma" && target.chip != "sm_90a")
    return op->emitOpError("attn-tile-gpu: mma = wgmma needs chip = sm_90a, "
                           "got '")
           << target.chip << "'";
  return success();
}

FailureOr<GPUTilePlan> mlir::attn::resolveGPUTilePlan(AttentionOp op,
                                                      const GPUTarget &target) {
  if (failed(checkTarget(op, target)))
    return failure();
  FailureOr<OpFacts> facts = OpFacts::get(op);
  if (failed(facts))
    return failure();
  ConfigAttr config = op.getConfigAttr();
  int64_t warps = config ? config.getWarps() : 0;
  int64_t blockQ = config ? config.getBlockQ() : 0;
  int64_t blockKv = config ? config.getBlockKv() : 0;
  int64_t stages = config ? config.getStages() : 0;
  StringRef mma = config ? config.getMma() : "";
  auto bad = [&](StringRef field, int64_t value) {
    InFlightDiagnostic diag = op.emitOpError("attn-tile-gpu: #attn.config ");
    diag << field << " = " << value << " ";
    return diag;
  };

  GPUTilePlan plan;
  // Instructions: the config's, else the target's (auto and a target-wide
  // wgmma fall back to mma.sync for head dims wgmma cannot take).
  // A paged cache is read row by row through its page table, as the
  // mma.sync kernel's cp.async copies read; wgmma's TMA boxes would need
  // one box per page. A quantized cache is dequantised in registers on
  // its way to shared memory (DequantTile.cpp), which TMA copies bypass.
  bool paged = static_cast<bool>(op.getPagedAttr());
  bool quant = static_cast<bool>(op.getQuantAttr());
  if (paged && mma == "wgmma")
    return op.emitOpError("attn-tile-gpu: #attn.config mma = \"wgmma\" "
                          "cannot read a paged cache (TMA copies whole "
                          "boxes, not rows through a page table); use "
                          "mma = \"sync\"");
  if (quant && mma == "wgmma")
    return op.emitOpError("attn-tile-gpu: #attn.config mma = \"wgmma\" "
                          "cannot read a quantized cache (TMA copies the "
                          "codes as they are, and the tiles wgmma reads "
                          "must hold dequantised f16/bf16); use "
                          "mma = \"sync\"");
  if (mma == "wgmma") {
    if (target.chip != "sm_90a")
      return op.emitOpError("attn-tile-gpu: #attn.config mma = \"wgmma\" "
                            "needs chip sm_90a, the target is ")
             << target.chip;
    if (!wgmmaHeadDims(*facts))
      return op.emitOpError("attn-tile-gpu: #attn.config mma = \"wgmma\" "
                            "needs head dims of 64 or 128, got D = ")
             << facts->d << " and Dv = " << facts->dv;
    plan.wgmma = true;
  } else if (mma.empty()) {
    bool wanted = target.mma == "wgmma" ||
                  (target.mma == "auto" && target.chip == "sm_90a");
    plan.wgmma = wanted && wgmmaHeadDims(*facts) && !paged && !quant;
  }

  // Warps and query rows.
  if (plan.wgmma) {
    if (warps != 0 && warps != 4)
      return bad("warps", warps) << "is not supported by wgmma: its CTA is "
                                    "one warpgroup of 4 warps";
    if (blockQ != 0 && blockQ != 64)
      return bad("block_q", blockQ) << "is not supported by wgmma: its CTA "
                                       "computes 64 rows (m64)";
    plan.warps = 4;
  } else {
    if (warps == 0 && blockQ != 0) {
      if (blockQ % kRowsPerWarp != 0)
        return bad("block_q", blockQ) << "is not a multiple of 16 (the rows "
                                         "of one warp)";
      warps = blockQ / kRowsPerWarp;
    }
    plan.warps = warps == 0 ? 4 : warps;
    if (!llvm::is_contained({1, 2, 4, 8}, plan.warps))
      return bad("warps", plan.warps)
             << "is not supported by mma.sync: 1, 2, 4 or 8 (at most 8 so "
                "that 32 * warps threads of up to 255 registers fit the "
                "65536-register file)";
    if (blockQ != 0 && blockQ != plan.warps * kRowsPerWarp)
      return bad("block_q", blockQ)
             << "does not match warps = " << plan.warps
             << ": each warp computes 16 rows, so block_q must be "
             << plan.warps * kRowsPerWarp;
  }
  plan.blockQ = plan.warps * kRowsPerWarp;

  // Keys per tile. The defaults: 64, or 32 where the fragments of larger
  // head dims would not fit the registers with 64 (wgmma keeps no
  // ldmatrix fragments, so 64 keys also fit at D = 128 unless score
  // modifiers or data-dependent masks add their own live values; ptxas -v:
  // 244 registers for causal D = 128).
  bool lightScores =
      !facts->hasMods && !isDataDependentMask(op.getMaskOrDefault());
  int64_t maxDim = std::max(facts->d, facts->dv);
  if (blockKv == 0) {
    plan.blockKv = maxDim <= 64 || (plan.wgmma && lightScores) ? 64 : 32;
  } else {
    if (blockKv % 32 != 0 || blockKv > 128)
      return bad("block_kv", blockKv)
             << "is not supported: a multiple of 32 up to 128";
    int64_t keys = maxBlockKv(plan.wgmma, lightScores);
    if (blockKv > keys)
      return bad("block_kv", blockKv)
             << "is over the " << keys << " keys this kernel holds in "
             << "registers without spills"
             << (lightScores ? ""
                             : " with score modifiers or data-dependent "
                               "masks");
    int64_t budget = registerBudget(plan.wgmma, lightScores);
    int64_t regs = fragmentRegisters(*facts, blockKv);
    if (regs > budget)
      return bad("block_kv", blockKv)
             << "needs " << regs
             << " registers of fragments a thread (block_kv / 2 + Dv / 2 + "
                "D / 4 with D = "
             << facts->d << ", Dv = " << facts->dv << "), over the budget of "
             << budget << " of this kernel";
    plan.blockKv = blockKv;
  }

  // Stages.
  if (plan.wgmma) {
    if (stages == 1)
      return bad("stages", stages)
             << "is not supported by wgmma: at least 2 (TMA loads run ahead "
                "of the products)";
    plan.stages = stages == 0 ? 2 : stages;
  } else {
    if (stages > 1)
      return bad("stages", stages)
             << "is not supported by mma.sync: 1 (each tile is copied, then "
                "computed)";
    plan.stages = 1;
  }
  int64_t smem = sharedBytes(*facts, plan);
  int64_t limit = sharedMemoryLimit(target.chip);
  if (smem > limit)
    return bad("stages", plan.stages)
           << "with block_kv = " << plan.blockKv << " needs " << smem
           << " bytes of shared memory, over the " << limit << " of "
           << target.chip;
  return plan;
}

FailureOr<GPUTilePlan> mlir::attn::resolveGPUGradPlan(AttentionGradOp op,
                                                      const GPUTarget &target) {
  if (failed(checkTarget(op, target)) || failed(OpFacts::get(op)))
    return failure();
  // The backward's kernels are mma.sync on either chip (sm_90a runs them
  // unchanged): 4 warps of 16 rows, tiles of the other side of 32 rows.
  // With 64, the key kernel (dK and dV accumulators, K and V fragments,
  // scores and dP) spilled at D = 64 (ptxas -v, CUDA 13: 56 bytes); with
  // 32 it takes 227 registers and the query kernel 128, without spills
  // (at D = 128, with K and V in shared memory: 254 and 234). The op's
  // #attn.config is the forward's and does not apply.
  GPUTilePlan plan;
  plan.warps = 4;
  plan.blockQ = plan.warps * kRowsPerWarp;
  plan.blockKv = 32;
  plan.stages = 1;
  return plan;
}
