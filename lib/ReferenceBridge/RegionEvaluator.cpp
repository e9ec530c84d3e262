//===- RegionEvaluator.cpp - float64 interpreter for variant regions ------===//
//
// A small tree-walking interpreter over the arith, math, tensor.extract,
// scf.if and attn.position ops that score_mod and mask_mod regions use.
//
//===----------------------------------------------------------------------===//

#include "attn/ReferenceBridge/RegionEvaluator.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using ::attn::run::RegionEvaluator;

namespace {
using Env = llvm::DenseMap<Value, double>;

/// Ops the interpreter understands.
bool isSupported(Operation *op) {
  return isa<arith::ConstantOp, arith::AddFOp, arith::SubFOp, arith::MulFOp,
             arith::DivFOp, arith::NegFOp, arith::MaximumFOp,
             arith::MinimumFOp, arith::MaxNumFOp, arith::MinNumFOp,
             arith::CmpFOp, arith::CmpIOp, arith::SelectOp, arith::AddIOp,
             arith::SubIOp, arith::MulIOp, arith::DivSIOp, arith::RemSIOp,
             arith::FloorDivSIOp, arith::CeilDivSIOp, arith::MaxSIOp,
             arith::MinSIOp, arith::IndexCastOp, arith::SIToFPOp,
             arith::FPToSIOp, arith::ExtFOp, arith::TruncFOp, arith::AndIOp,
             arith::OrIOp, arith::XOrIOp, arith::ExtSIOp, arith::TruncIOp,
             math::ExpOp, math::Exp2Op, math::LogOp, math::Log2Op,
             math::Log1pOp, math::TanhOp, math::AbsFOp, math::AbsIOp,
             math::SqrtOp, math::RsqrtOp, math::SinOp, math::CosOp,
             math::PowFOp, tensor::ExtractOp, scf::IfOp, scf::YieldOp,
             mlir::attn::PositionOp, mlir::attn::YieldOp>(op);
}

bool cmpF(arith::CmpFPredicate p, double x, double y) {
  using P = arith::CmpFPredicate;
  bool unordered = std::isnan(x) || std::isnan(y);
  switch (p) {
  case P::AlwaysFalse: return false;
  case P::OEQ: return !unordered && x == y;
  case P::OGT: return !unordered && x > y;
  case P::OGE: return !unordered && x >= y;
  case P::OLT: return !unordered && x < y;
  case P::OLE: return !unordered && x <= y;
  case P::ONE: return !unordered && x != y;
  case P::ORD: return !unordered;
  case P::UEQ: return unordered || x == y;
  case P::UGT: return unordered || x > y;
  case P::UGE: return unordered || x >= y;
  case P::ULT: return unordered || x < y;
  case P::ULE: return unordered || x <= y;
  case P::UNE: return unordered || x != y;
  case P::UNO: return unordered;
  case P::AlwaysTrue: return true;
  }
  return false;
}

bool cmpI(arith::CmpIPredicate p, double x, double y) {
  using P = arith::CmpIPredicate;
  auto sx = static_cast<int64_t>(x), sy = static_cast<int64_t>(y);
  auto ux = static_cast<uint64_t>(sx), uy = static_cast<uint64_t>(sy);
  switch (p) {
  case P::eq: return sx == sy;
  case P::ne: return sx != sy;
  case P::slt: return sx < sy;
  case P::sle: return sx <= sy;
  case P::sgt: return sx > sy;
  case P::sge: return sx >= sy;
  case P::ult: return ux < uy;
  case P::ule: return ux <= uy;
  case P::ugt: return ux > uy;
  case P::uge: return ux >= uy;
  }
  return false;
}

int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/// Evaluates the ops of `block` in order; returns the yielded values.
std::vector<double> runBlock(Block &block, Env &env,
                             const std::vector<const ::attn::npy::NpyArray *> &caps,
                             const std::function<double(double, double)> &pos);

double evalOp(Operation *op, Env &env,
              const std::vector<const ::attn::npy::NpyArray *> &caps,
              const std::function<double(double, double)> &pos);

/// The value of `v`: computed in the region, or a constant defined outside
/// it (the verifier allows those).
double lookup(Value v, Env &env,
              const std::vector<const ::attn::npy::NpyArray *> &caps,
              const std::function<double(double, double)> &pos) {
  auto it = env.find(v);
  if (it != env.end())
    return it->second;
  if (Operation *def = v.getDefiningOp())
    if (def->hasTrait<OpTrait::ConstantLike>())
      return evalOp(def, env, caps, pos);
  return std::nan("");
}

double evalOp(Operation *op, Env &env,
              const std::vector<const ::attn::npy::NpyArray *> &caps,
              const std::function<double(double, double)> &pos) {
  auto in = [&](unsigned i) {
    return lookup(op->getOperand(i), env, caps, pos);
  };
  auto asInt = [](double v) { return static_cast<int64_t>(v); };
  return llvm::TypeSwitch<Operation *, double>(op)
      .Case<arith::ConstantOp>([&](arith::ConstantOp c) -> double {
        if (auto f = dyn_cast<FloatAttr>(c.getValue()))
          return f.getValueAsDouble();
        if (auto i = dyn_cast<IntegerAttr>(c.getValue()))
          return c.getType().isInteger(1)
                     ? static_cast<double>(i.getValue().getBoolValue())
                     : static_cast<double>(i.getValue().getSExtValue());
        return std::nan("");
      })
      .Case<arith::AddFOp>([&](auto) { return in(0) + in(1); })
      .Case<arith::SubFOp>([&](auto) { return in(0) - in(1); })
      .Case<arith::MulFOp>([&](auto) { return in(0) * in(1); })
      .Case<arith::DivFOp>([&](auto) { return in(0) / in(1); })
      .Case<arith::NegFOp>([&](auto) { return -in(0); })
      .Case<arith::MaximumFOp, arith::MaxNumFOp>(
          [&](auto) { return std::fmax(in(0), in(1)); })
      .Case<arith::MinimumFOp, arith::MinNumFOp>(
          [&](auto) { return std::fmin(in(0), in(1)); })
      .Case<arith::CmpFOp>([&](arith::CmpFOp c) {
        return cmpF(c.getPredicate(), in(0), in(1)) ? 1.0 : 0.0;
      })
      .Case<arith::CmpIOp>([&](arith::CmpIOp c) {
        return cmpI(c.getPredicate(), in(0), in(1)) ? 1.0 : 0.0;
      })
      .Case<arith::SelectOp>(
          [&](auto) { return in(0) != 0.0 ? in(1) : in(2); })
      .Case<arith::AddIOp>([&](auto) { return double(asInt(in(0)) + asInt(in(1))); })
      .Case<arith::SubIOp>([&](auto) { return double(asInt(in(0)) - asInt(in(1))); })
      .Case<arith::MulIOp>([&](auto) { return double(asInt(in(0)) * asInt(in(1))); })
      .Case<arith::DivSIOp>([&](auto) { return double(asInt(in(0)) / asInt(in(1))); })
      .Case<arith::RemSIOp>([&](auto) { return double(asInt(in(0)) % asInt(in(1))); })
      .Case<arith::FloorDivSIOp>(
          [&](auto) { return double(floorDiv(asInt(in(0)), asInt(in(1)))); })
      .Case<arith::CeilDivSIOp>(
          [&](auto) { return double(-floorDiv(-asInt(in(0)), asInt(in(1)))); })
      .Case<arith::MaxSIOp>([&](auto) { return double(std::max(asInt(in(0)), asInt(in(1)))); })
      .Case<arith::MinSIOp>([&](auto) { return double(std::min(asInt(in(0)), asInt(in(1)))); })
      .Case<arith::AndIOp>([&](auto) { return double(asInt(in(0)) & asInt(in(1))); })
      .Case<arith::OrIOp>([&](auto) { return double(asInt(in(0)) | asInt(in(1))); })
      .Case<arith::XOrIOp>([&](Operation *o) {
        int64_t v = asInt(in(0)) ^ asInt(in(1));
        return o->getResult(0).getType().isInteger(1) ? double(v & 1) : double(v);
      })
      .Case<arith::IndexCastOp, arith::ExtSIOp, arith::TruncIOp,
            arith::ExtFOp, arith::TruncFOp>([&](auto) { return in(0); })
      .Case<arith::SIToFPOp>([&](auto) { return in(0); })
      .Case<arith::FPToSIOp>([&](auto) { return std::trunc(in(0)); })
      .Case<math::ExpOp>([&](auto) { return std::exp(in(0)); })
      .Case<math::Exp2Op>([&](auto) { return std::exp2(in(0)); })
      .Case<math::LogOp>([&](auto) { return std::log(in(0)); })
      .Case<math::Log2Op>([&](auto) { return std::log2(in(0)); })
      .Case<math::Log1pOp>([&](auto) { return std::log1p(in(0)); })
      .Case<math::TanhOp>([&](auto) { return std::tanh(in(0)); })
      .Case<math::AbsFOp>([&](auto) { return std::fabs(in(0)); })
      .Case<math::AbsIOp>([&](auto) { return double(std::llabs(asInt(in(0)))); })
      .Case<math::SqrtOp>([&](auto) { return std::sqrt(in(0)); })
      .Case<math::RsqrtOp>([&](auto) { return 1.0 / std::sqrt(in(0)); })
      .Case<math::SinOp>([&](auto) { return std::sin(in(0)); })
      .Case<math::CosOp>([&](auto) { return std::cos(in(0)); })
      .Case<math::PowFOp>([&](auto) { return std::pow(in(0), in(1)); })
      .Case<mlir::attn::PositionOp>([&](auto) { return pos(in(0), in(1)); })
      .Case<tensor::ExtractOp>([&](tensor::ExtractOp e) -> double {
        auto arg = cast<BlockArgument>(e.getTensor());
        // Captures follow the leading scalar arguments.
        unsigned numLeading =
            arg.getOwner()->getNumArguments() - static_cast<unsigned>(caps.size());
        const ::attn::npy::NpyArray *t = caps[arg.getArgNumber() - numLeading];
        int64_t flat = 0;
        for (auto [d, idx] : llvm::enumerate(e.getIndices())) {
          int64_t i = asInt(lookup(idx, env, caps, pos));
          if (i < 0 || i >= t->shape[d])
            return std::nan("");
          flat = flat * t->shape[d] + i;
        }
        return t->getAsDouble(flat);
      })
      .Case<scf::IfOp>([&](scf::IfOp ifOp) {
        Region &r = in(0) != 0.0 ? ifOp.getThenRegion() : ifOp.getElseRegion();
        std::vector<double> vals = runBlock(r.front(), env, caps, pos);
        for (auto [res, v] : llvm::zip(ifOp.getResults(), vals))
          env[res] = v;
        return vals.empty() ? 0.0 : vals.front();
      })
      .Default([](Operation *) { return std::nan(""); });
}

std::vector<double> runBlock(Block &block, Env &env,
                             const std::vector<const ::attn::npy::NpyArray *> &caps,
                             const std::function<double(double, double)> &pos) {
  for (Operation &op : block) {
    if (op.hasTrait<OpTrait::IsTerminator>()) {
      std::vector<double> out;
      for (Value v : op.getOperands())
        out.push_back(lookup(v, env, caps, pos));
      return out;
    }
    double v = evalOp(&op, env, caps, pos);
    if (op.getNumResults() == 1 && !isa<scf::IfOp>(op))
      env[op.getResult(0)] = v;
  }
  return {};
}
} // namespace

std::string RegionEvaluator::check() const {
  std::string problem;
  region.walk([&](Operation *op) {
    if (problem.empty() && !isSupported(op))
      problem = "the float64 reference cannot interpret '" +
                op->getName().getStringRef().str() +
                "' in a score_mod/mask_mod region";
  });
  return problem;
}

double RegionEvaluator::evaluate(const std::vector<double> &leading) const {
  Env env;
  Block &block = region.front();
  for (auto [i, v] : llvm::enumerate(leading))
    env[block.getArgument(i)] = v;
  std::vector<double> out = runBlock(block, env, captures, position);
  return out.empty() ? std::nan("") : out.front();
}
