//===- PrintTilePlan.cpp - Report resolved tile plans ---------------------===//
//
// The attn-print-tile-plan pass (Passes.td): the CPU and GPU plans of every
// attn.attention as remarks, through the same resolve functions that the
// code generators use.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToCPU/AttnToCPU.h"
#include "attn/Conversion/AttnToGPU/AttnToGPU.h"
#include "attn/Conversion/Passes.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNPRINTTILEPLAN
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {
struct AttnPrintTilePlanPass
    : attn::impl::AttnPrintTilePlanBase<AttnPrintTilePlanPass> {
  using AttnPrintTilePlanBase::AttnPrintTilePlanBase;
  void runOnOperation() override {
    bool cpu = target == "cpu";
    if (!cpu && target != "sm_80" && target != "sm_90a") {
      getOperation()->emitError("attn-print-tile-plan: target must be cpu, "
                                "sm_80 or sm_90a, not '")
          << target << "'";
      return signalPassFailure();
    }
    bool failedAny = false;
    getOperation()->walk([&](AttentionOp op) {
      ConfigAttr plan;
      bool rowBf16 = false, rowAmx = false;
      if (cpu) {
        FailureOr<CPUTilePlan> p = resolveCPUTilePlan(
            op, CPUTarget{vectorWidth, threads, bf16Dot, useAmx, f16Amx});
        if (succeeded(p)) {
          plan = p->toConfig(op.getContext());
          rowBf16 = p->rowBf16;
          rowAmx = p->rowAmx && p->dot != CPUDot::Amx;
        }
      } else {
        FailureOr<GPUTilePlan> p =
            resolveGPUTilePlan(op, GPUTarget{target, mma});
        if (succeeded(p))
          plan = p->toConfig(op.getContext());
      }
      // An invalid plan was reported by its resolve function.
      if (!plan) {
        failedAny = true;
        return;
      }
      auto remark = op.emitRemark()
                    << "tile plan for " << target << ": " << plan;
      if (QuantAttr quant = op.getQuantAttr()) {
        remark << " (fused; K and V dequantised from ";
        if (quant.isFloat8())
          remark << "fp8 " << stringifyQuantFormat(quant.getFormat());
        else
          remark << quant.getBits() << "-bit";
        remark << " codes as each kv tile loads";
        if (plan.getDot() == "amx_int8")
          remark << "; Q K^T by AMX int8 tiles from the key codes, the "
                    "query rounded to int8";
        remark << ")";
      }
      if (rowBf16)
        remark << " (decoding: AVX512-BF16 dot products)";
      if (rowAmx)
        remark << " (decoding: both products on AMX tiles)";
    });
    if (cpu)
      getOperation()->walk([&](AttentionGradOp op) {
        auto remark = op.emitRemark() << "backward for cpu: ";
        if (std::optional<std::string> why = whyNoFusedGrad(op))
          remark << "reference lowering (" << *why << ")";
        else
          remark << "fused "
                 << resolveCPUGradPlan(op, CPUTarget{vectorWidth, threads,
                                                     bf16Dot, useAmx, f16Amx})
                        .toConfig(op.getContext());
      });
    if (!cpu)
      getOperation()->walk([&](AttentionGradOp op) {
        FailureOr<GPUTilePlan> p =
            resolveGPUGradPlan(op, GPUTarget{target, mma});
        if (failed(p)) {
          failedAny = true;
          return;
        }
        op.emitRemark() << "backward for " << target << ": mma.sync "
                        << p->toConfig(op.getContext());
      });
    if (failedAny)
      signalPassFailure();
  }
};
} // namespace
