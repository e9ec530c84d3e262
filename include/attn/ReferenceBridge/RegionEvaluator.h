//===- RegionEvaluator.h - float64 interpreter for variant regions -*- C++ -*-//
//
// Evaluates the score_mod and mask_mod regions of attn.attention in float64,
// op by op, so that the reference can check arbitrary user expressions
// without reusing the compiler's lowering of them.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_REFERENCEBRIDGE_REGIONEVALUATOR_H
#define ATTN_REFERENCEBRIDGE_REGIONEVALUATOR_H

#include "attn/Support/Npy.h"
#include "mlir/IR/Region.h"

#include <functional>
#include <string>
#include <vector>

namespace attn::run {

/// Interprets one region. Scalars (floats, integers, index, i1) are held as
/// doubles; tensor arguments are the captures, read with tensor.extract.
class RegionEvaluator {
public:
  /// `position(b, q)` implements attn.position.
  RegionEvaluator(mlir::Region &region,
                  std::vector<const npy::NpyArray *> captures,
                  std::function<double(double b, double q)> position)
      : region(region), captures(std::move(captures)),
        position(std::move(position)) {}

  /// Returns an empty string if every op in the region can be interpreted,
  /// else a message naming the first unsupported op.
  std::string check() const;

  /// Evaluates the region with its leading scalar arguments bound to
  /// `leading`. Precondition: check() succeeded.
  double evaluate(const std::vector<double> &leading) const;

private:
  mlir::Region &region;
  std::vector<const npy::NpyArray *> captures;
  std::function<double(double, double)> position;
};

} // namespace attn::run

#endif // ATTN_REFERENCEBRIDGE_REGIONEVALUATOR_H
