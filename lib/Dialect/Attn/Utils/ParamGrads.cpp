//===- ParamGrads.cpp - Gradients of float operands -----------------------===//
//
// Tensor-level linalg code for the operand gradients of attn.attention_grad
// that depend on row statistics only (the sink logits). The reference and
// the fused CPU lowering both call it; the linalg reductions are lowered to
// sequential loops, so every sum runs in one fixed order.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Utils/ParamGrads.h"
#include "attn/Dialect/Attn/Utils/Arith.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::attn;

using IT = utils::IteratorType;

static AffineMap dimsMap(MLIRContext *ctx, unsigned numDims,
                         ArrayRef<unsigned> dims) {
  SmallVector<AffineExpr> exprs;
  for (unsigned d : dims)
    exprs.push_back(getAffineDimExpr(d, ctx));
  return AffineMap::get(numDims, 0, exprs, ctx);
}

Value mlir::attn::emitSinkGradient(ImplicitLocOpBuilder &b, AttentionGradOp op,
                                   Value init) {
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  Value o = op.getOut(), dO = op.getGradOut(), lse = op.getLse();
  bool bshd = op.getLayoutOrDefault() == Layout::bshd;
  auto zeroed = [&](Value t) {
    Value zero = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
    return linalg::FillOp::create(b, zero, t).getResult(0);
  };

  // Delta[b, h, i] = sum_e dO * O over loops (b, h, i, e); O is [B, Sq, H,
  // Dv] in bshd.
  SmallVector<OpFoldResult> rows = tensor::getMixedSizes(b, b.getLoc(), lse);
  Value delta0 = zeroed(tensor::EmptyOp::create(b, rows, f32));
  AffineMap oMap = bshd ? dimsMap(ctx, 4, {0, 2, 1, 3})
                        : dimsMap(ctx, 4, {0, 1, 2, 3});
  auto deltaOp = linalg::GenericOp::create(
      b, TypeRange{delta0.getType()}, ValueRange{dO, o}, ValueRange{delta0},
      ArrayRef<AffineMap>{oMap, oMap, dimsMap(ctx, 4, {0, 1, 2})},
      ArrayRef<IT>{IT::parallel, IT::parallel, IT::parallel, IT::reduction},
      [&](OpBuilder &nb, Location loc, ValueRange e) {
        ImplicitLocOpBuilder ib(loc, nb);
        Arith a{ib};
        linalg::YieldOp::create(
            ib, a.fadd(e[2], a.fmul(a.extF(e[0]), a.extF(e[1]))));
      });

  // d sink[h] -= exp(sink[h] - LSE[b, h, i]) * Delta[b, h, i] over loops
  // (h, b, i): for each head, the rows in (b, i) order.
  auto sinkOp = linalg::GenericOp::create(
      b, TypeRange{init.getType()},
      ValueRange{op.getSink(), lse, deltaOp.getResult(0)},
      ValueRange{zeroed(init)},
      ArrayRef<AffineMap>{dimsMap(ctx, 3, {0}), dimsMap(ctx, 3, {1, 0, 2}),
                          dimsMap(ctx, 3, {1, 0, 2}), dimsMap(ctx, 3, {0})},
      ArrayRef<IT>{IT::parallel, IT::reduction, IT::reduction},
      [&](OpBuilder &nb, Location loc, ValueRange e) {
        ImplicitLocOpBuilder ib(loc, nb);
        Arith a{ib};
        // P_sink = exp(sink - LSE); 0 for a row with LSE = -inf (no sink
        // weight and no keys).
        Value pSink = a.select(a.isNegInf(e[1]), a.f32(0.0),
                               a.exp(a.fsub(e[0], e[1])));
        linalg::YieldOp::create(ib, a.fsub(e[3], a.fmul(pSink, e[2])));
      });
  return sinkOp.getResult(0);
}

SmallVector<Value> mlir::attn::emitParamGradients(ImplicitLocOpBuilder &b,
                                                  AttentionGradOp op) {
  SmallVector<Value> grads;
  ArrayAttr wrt = op.getWrtAttr();
  if (!wrt)
    return grads;
  for (auto [name, init] :
       llvm::zip_equal(wrt.getAsValueRange<StringAttr>(),
                       op.getParamGradInits())) {
    grads.push_back(name == "sink" ? emitSinkGradient(b, op, init)
                                   : Value());
  }
  return grads;
}
