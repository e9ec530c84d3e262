//===- ToReference.cpp - Attn attributes as reference descriptions --------===//
//
// One case per mask attribute, copying its parameters into the reference's
// generic fields (a, b, c, d, flag, list) as documented on ref::Mask::Kind.
//
//===----------------------------------------------------------------------===//

#include "attn/ReferenceBridge/ToReference.h"

#include "attn/Dialect/Attn/IR/AttnAttrs.h"

#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::attn;
namespace ref = ::attn::ref;

using K = ref::Mask::Kind;

/// A reference mask of `kind` with generic fields a, b, c, d.
static ref::Mask leaf(K kind, int64_t a = 0, int64_t b = 0, int64_t c = 0,
                      int64_t d = 0) {
  ref::Mask r;
  r.kind = kind;
  r.a = a, r.b = b, r.c = c, r.d = d;
  return r;
}

/// A reference combinator of `kind` over `masks`.
static ref::Mask node(K kind, ArrayRef<Attribute> masks) {
  ref::Mask r;
  r.kind = kind;
  for (Attribute c : masks)
    r.children.push_back(toRefMask(c));
  return r;
}

ref::Mask mlir::attn::toRefMask(Attribute m) {
  return TypeSwitch<Attribute, ref::Mask>(m)
      .Case([](FullMaskAttr) { return leaf(K::Full); })
      .Case([](CausalMaskAttr) { return leaf(K::Causal); })
      .Case([](SlidingWindowAttr x) {
        return leaf(K::SlidingWindow, x.getLeft(), x.getRight());
      })
      .Case([](ChunkedAttr x) { return leaf(K::Chunked, x.getSize()); })
      .Case([](HaloAttr x) { return leaf(K::Halo, x.getBlock(), x.getHalo()); })
      .Case([](DilatedAttr x) {
        return leaf(K::Dilated, x.getSegment(), x.getRate());
      })
      .Case([](GlobalAttr x) {
        // The reference's "first n" applies only without a list; express
        // both with a list when positions are given.
        ref::Mask r = leaf(K::Global, x.getFirst());
        if (!x.getPositions().empty()) {
          r.list.assign(x.getPositions().begin(), x.getPositions().end());
          for (int64_t k = 0; k < x.getFirst(); ++k)
            r.list.push_back(k);
        }
        return r;
      })
      .Case([](SinksAttr x) { return leaf(K::Sinks, x.getCount()); })
      .Case([](DilatedWindowAttr x) {
        return leaf(K::DilatedWindow, x.getWindow(), x.getDilation());
      })
      .Case([](AShapeAttr x) {
        return leaf(K::AShape, x.getSinks(), x.getWindow());
      })
      .Case([](PrefixLMAttr x) { return leaf(K::PrefixLM, x.getPrefix()); })
      .Case([](Neighborhood2DAttr x) {
        return leaf(K::Neighborhood2D, x.getRows(), x.getCols(),
                    x.getKernelRows(), x.getKernelCols());
      })
      .Case([](NattenAttr x) {
        ref::Mask r = leaf(K::Natten, x.getRows(), x.getCols(),
                           x.getKernelRows(), x.getKernelCols());
        r.list = {x.getDilationRows(), x.getDilationCols()};
        return r;
      })
      .Case([](Window2DAttr x) {
        return leaf(K::Window2D, x.getRows(), x.getCols(), x.getWindowRows(),
                    x.getWindowCols());
      })
      .Case([](Directional2DAttr x) {
        ref::Mask r = leaf(K::Directional2D, x.getRows(), x.getCols());
        r.list.assign(x.getDirections().begin(), x.getDirections().end());
        r.flag = x.getHalfPlane();
        return r;
      })
      .Case([](AndMaskAttr x) { return node(K::And, x.getMasks()); })
      .Case([](OrMaskAttr x) { return node(K::Or, x.getMasks()); })
      .Case([](NotMaskAttr x) { return node(K::Not, x.getMask()); })
      .Case([](DocumentMaskAttr) { return leaf(K::Document); })
      .Case([](TreeMaskAttr) { return leaf(K::Tree); })
      .Case([](DenseMaskAttr x) {
        return leaf(K::Dense, x.getBlockQ(), x.getBlockKv());
      })
      .Case([](MaskModAttr) { return leaf(K::Custom); })
      .Case([](BlocksMaskAttr x) {
        ref::Mask r = leaf(K::Blocks, x.getBlockQ(), x.getBlockKv());
        r.children.push_back(toRefMask(x.getMask()));
        return r;
      })
      .Default([](Attribute m) -> ref::Mask {
        std::string text;
        llvm::raw_string_ostream os(text);
        os << m;
        llvm::report_fatal_error("mask attribute " + llvm::Twine(text) +
                                 " has no reference");
      });
}
