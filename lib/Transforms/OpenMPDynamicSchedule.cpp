//===- OpenMPDynamicSchedule.cpp - Dynamic OpenMP schedules ---------------===//
//
// The attn-openmp-dynamic-schedule pass (Passes.td).
//
//===----------------------------------------------------------------------===//

#include "attn/Transforms/Passes.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNOPENMPDYNAMICSCHEDULE
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {
struct AttnOpenMPDynamicSchedulePass
    : attn::impl::AttnOpenMPDynamicScheduleBase<
          AttnOpenMPDynamicSchedulePass> {
  void runOnOperation() override {
    auto kind = omp::ClauseScheduleKindAttr::get(
        &getContext(), omp::ClauseScheduleKind::Dynamic);
    getOperation()->walk([&](omp::WsloopOp loop) {
      if (!loop.getScheduleKindAttr())
        loop.setScheduleKindAttr(kind);
    });
  }
};
} // namespace
