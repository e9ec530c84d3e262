//===- Npy.h - Reading and writing NumPy .npy files --------------*- C++ -*-===//
//
// Minimal .npy (format versions 1.0, 2.0 and 3.0) reader and writer for the
// dtypes attn exchanges with users. Independent of MLIR so that the float64
// reference and its tests can use it too.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_SUPPORT_NPY_H
#define ATTN_SUPPORT_NPY_H

#include <cstdint>
#include <string>
#include <vector>

namespace attn::npy {

/// Element types attn understands. BF16 is stored by ml_dtypes as a
/// two-byte void type ('V2') in the header.
enum class DType { F64, F32, F16, BF16, I64, I32, I8, U8, Bool };

/// Size in bytes of one element.
unsigned elementSize(DType t);
/// Human-readable name: "float32", "bfloat16", "int32", "bool", ...
const char *dtypeName(DType t);

/// A C-contiguous (row-major) array as raw bytes.
struct NpyArray {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  int64_t numElements() const;
  /// Element `idx` (flat) converted to double.
  double getAsDouble(int64_t idx) const;
  /// Stores `v` at flat index `idx`, converting (round to nearest even for
  /// f16/bf16, truncation toward zero for integers, != 0 for bool).
  void setFromDouble(int64_t idx, double v);
};

/// Reads `path`. On failure returns false and sets `error` to a message that
/// names the file and the reason (missing, not an .npy, unsupported dtype,
/// Fortran order, big-endian, truncated data).
bool readNpy(const std::string &path, NpyArray &out, std::string &error);

/// Writes `a` to `path` (format 1.0). On failure returns false and sets
/// `error`.
bool writeNpy(const std::string &path, const NpyArray &a, std::string &error);

/// IEEE half and bfloat16 conversions (round to nearest even; NaN kept).
uint16_t floatToHalf(float f);
float halfToFloat(uint16_t h);
uint16_t floatToBF16(float f);
float bf16ToFloat(uint16_t h);

} // namespace attn::npy

#endif // ATTN_SUPPORT_NPY_H
