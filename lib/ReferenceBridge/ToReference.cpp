//===- ToReference.cpp - Attn attributes as reference descriptions --------===//
//
// One case per mask attribute, copying its parameters into the reference's
// generic fields (a, b, c, d, flag, list) as documented on ref::Mask::Kind.
//
//===----------------------------------------------------------------------===//

#include "attn/ReferenceBridge/ToReference.h"

#include "attn/Dialect/Attn/IR/AttnAttrs.h"

#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::attn;
namespace ref = ::attn::ref;

ref::Mask mlir::attn::toRefMask(Attribute m) {
  using K = ref::Mask::Kind;
  ref::Mask r;
  auto children = [&](ArrayRef<Attribute> list) {
    for (Attribute c : list)
      r.children.push_back(toRefMask(c));
  };
  if (isa<FullMaskAttr>(m)) {
    r.kind = K::Full;
  } else if (isa<CausalMaskAttr>(m)) {
    r.kind = K::Causal;
  } else if (auto x = dyn_cast<SlidingWindowAttr>(m)) {
    r.kind = K::SlidingWindow, r.a = x.getLeft(), r.b = x.getRight();
  } else if (auto x = dyn_cast<ChunkedAttr>(m)) {
    r.kind = K::Chunked, r.a = x.getSize();
  } else if (auto x = dyn_cast<HaloAttr>(m)) {
    r.kind = K::Halo, r.a = x.getBlock(), r.b = x.getHalo();
  } else if (auto x = dyn_cast<DilatedAttr>(m)) {
    r.kind = K::Dilated, r.a = x.getSegment(), r.b = x.getRate();
  } else if (auto x = dyn_cast<GlobalAttr>(m)) {
    // The reference's "first n" applies only without a list; express both
    // with a list when positions are given.
    r.kind = K::Global;
    r.a = x.getFirst();
    if (!x.getPositions().empty()) {
      r.list.assign(x.getPositions().begin(), x.getPositions().end());
      for (int64_t k = 0; k < x.getFirst(); ++k)
        r.list.push_back(k);
    }
  } else if (auto x = dyn_cast<SinksAttr>(m)) {
    r.kind = K::Sinks, r.a = x.getCount();
  } else if (auto x = dyn_cast<DilatedWindowAttr>(m)) {
    r.kind = K::DilatedWindow, r.a = x.getWindow(), r.b = x.getDilation();
  } else if (auto x = dyn_cast<AShapeAttr>(m)) {
    r.kind = K::AShape, r.a = x.getSinks(), r.b = x.getWindow();
  } else if (auto x = dyn_cast<PrefixLMAttr>(m)) {
    r.kind = K::PrefixLM, r.a = x.getPrefix();
  } else if (auto x = dyn_cast<Neighborhood2DAttr>(m)) {
    r.kind = K::Neighborhood2D, r.a = x.getRows(), r.b = x.getCols(),
    r.c = x.getKernelRows(), r.d = x.getKernelCols();
  } else if (auto x = dyn_cast<Window2DAttr>(m)) {
    r.kind = K::Window2D, r.a = x.getRows(), r.b = x.getCols(),
    r.c = x.getWindowRows(), r.d = x.getWindowCols();
  } else if (auto x = dyn_cast<Directional2DAttr>(m)) {
    r.kind = K::Directional2D, r.a = x.getRows(), r.b = x.getCols();
    r.list.assign(x.getDirections().begin(), x.getDirections().end());
    r.flag = x.getHalfPlane();
  } else if (auto x = dyn_cast<AndMaskAttr>(m)) {
    r.kind = K::And;
    children(x.getMasks());
  } else if (auto x = dyn_cast<OrMaskAttr>(m)) {
    r.kind = K::Or;
    children(x.getMasks());
  } else if (auto x = dyn_cast<NotMaskAttr>(m)) {
    r.kind = K::Not;
    children(x.getMask());
  } else if (isa<DocumentMaskAttr>(m)) {
    r.kind = K::Document;
  } else if (isa<TreeMaskAttr>(m)) {
    r.kind = K::Tree;
  } else if (auto x = dyn_cast<DenseMaskAttr>(m)) {
    r.kind = K::Dense;
    r.a = x.getBlockQ();
    r.b = x.getBlockKv();
  } else if (isa<MaskModAttr>(m)) {
    r.kind = K::Custom;
  } else {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << m;
    llvm::report_fatal_error("mask attribute " + llvm::Twine(text) +
                             " has no reference");
  }
  return r;
}
