//===- Differentiate.cpp - Which region ops have derivatives --------------===//

#include "attn/Dialect/Attn/IR/Differentiate.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/TypeUtilities.h"

#include "llvm/ADT/DenseSet.h"

using namespace mlir;

bool attn::hasTangentRule(Operation *op) {
  return isa<arith::AddFOp, arith::SubFOp, arith::MulFOp, arith::DivFOp,
             arith::NegFOp, arith::MaximumFOp, arith::MinimumFOp,
             arith::MaxNumFOp, arith::MinNumFOp, arith::SelectOp, arith::ExtFOp,
             arith::TruncFOp, arith::ConstantOp, math::AbsFOp, math::FloorOp,
             math::CeilOp, math::RoundOp, math::RoundEvenOp, math::TruncOp,
             math::FmaOp, math::ExpOp, math::Exp2Op, math::LogOp, math::Log2Op,
             math::TanhOp, math::SqrtOp, math::RsqrtOp, math::SinOp,
             math::CosOp, math::PowFOp>(op);
}

/// The first op of `block` whose float results depend on `varies` (which it
/// extends) and that has no tangent rule.
static Operation *firstUndifferentiableFrom(Block &block,
                                            llvm::DenseSet<Value> &varies) {
  for (Operation &op : block.without_terminator()) {
    bool depends = llvm::any_of(op.getOperands(),
                                [&](Value v) { return varies.contains(v); });
    if (!depends)
      continue;
    bool floatResult = llvm::any_of(op.getResultTypes(), [](Type t) {
      return isa<FloatType>(getElementTypeOrSelf(t));
    });
    if (!floatResult)
      continue; // comparisons, fptosi: no derivative flows on
    if (op.getNumRegions() != 0 || !attn::hasTangentRule(&op))
      return &op;
    for (Value r : op.getResults())
      varies.insert(r);
  }
  return nullptr;
}

Operation *attn::firstUndifferentiable(Region &region, unsigned arg) {
  Block &block = region.front();
  llvm::DenseSet<Value> varies{block.getArgument(arg)};
  return firstUndifferentiableFrom(block, varies);
}

Operation *attn::firstUndifferentiableRead(Region &region, unsigned arg) {
  Block &block = region.front();
  llvm::DenseSet<Value> varies;
  for (Operation *user : block.getArgument(arg).getUsers()) {
    auto read = dyn_cast<tensor::ExtractOp>(user);
    if (!read || read->getBlock() != &block)
      return user;
    varies.insert(read.getResult());
  }
  return firstUndifferentiableFrom(block, varies);
}
