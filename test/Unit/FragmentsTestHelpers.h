//===- FragmentsTestHelpers.h - Lane-level models for the layout tests ----===//
//
// Matrices of small integers held in doubles, shared memory as 16-bit cells,
// distribution of a matrix into per-lane fragments and back, and ldmatrix,
// all written on the tables of attn/Emulator/Fragments.h. Shared by
// FragmentsTest.cpp and FragmentsMMAUtilsTest.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TEST_UNIT_FRAGMENTSTESTHELPERS_H
#define ATTN_TEST_UNIT_FRAGMENTSTESTHELPERS_H

#include "attn/Emulator/Fragments.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <vector>

namespace attn::emu::test {

using Matrix = std::vector<std::vector<double>>;

inline Matrix zeros(int rows, int cols) {
  return Matrix(rows, std::vector<double>(cols, 0.0));
}

inline Matrix randomMatrix(int rows, int cols, std::mt19937 &rng) {
  std::uniform_int_distribution<int> dist(-4, 4);
  Matrix m = zeros(rows, cols);
  for (auto &row : m)
    for (double &v : row)
      v = dist(rng);
  return m;
}

/// Distinct values that name their coordinate.
inline Matrix coordinateMatrix(int rows, int cols) {
  Matrix m = zeros(rows, cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      m[r][c] = 1 + r * cols + c;
  return m;
}

inline Matrix matmulAdd(const Matrix &a, const Matrix &b, const Matrix &c) {
  Matrix d = c;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 0; j < b[0].size(); ++j)
      for (size_t k = 0; k < b.size(); ++k)
        d[i][j] += a[i][k] * b[k][j];
  return d;
}

using Fragments = std::vector<std::vector<double>>; // [lane][element]

inline Fragments distribute(const Matrix &m, int owners, int elements,
                            Coord (*layout)(int, int)) {
  Fragments f(owners, std::vector<double>(elements));
  for (int o = 0; o < owners; ++o)
    for (int i = 0; i < elements; ++i) {
      Coord c = layout(o, i);
      f[o][i] = m[c.row][c.col];
    }
  return f;
}

inline Matrix gather(const Fragments &f, int rows, int cols,
                     Coord (*layout)(int, int)) {
  Matrix m = zeros(rows, cols);
  for (size_t o = 0; o < f.size(); ++o)
    for (size_t i = 0; i < f[o].size(); ++i) {
      Coord c = layout(int(o), int(i));
      m[c.row][c.col] = f[o][i];
    }
  return m;
}

/// Shared memory as 16-bit cells holding values, addressed in bytes.
struct SharedMemory {
  std::vector<double> cells;
  explicit SharedMemory(uint32_t bytes) : cells(bytes / 2, 0.0) {}
  double load(uint32_t byteAddress) const {
    EXPECT_EQ(byteAddress % 2, 0u);
    return cells.at(byteAddress / 2);
  }
  void store(uint32_t byteAddress, double v) {
    EXPECT_EQ(byteAddress % 2, 0u);
    cells.at(byteAddress / 2) = v;
  }
};

/// ldmatrix.m8n8.x{num}{.trans}.b16: per-lane row addresses in, per-lane
/// registers out ([lane][2 * j + half] for the j-th matrix).
inline Fragments ldmatrix(const SharedMemory &smem,
                          const std::vector<uint32_t> &addr, int num,
                          bool trans) {
  // rowAddress[j][r]: the address supplied for row r of matrix j.
  std::vector<std::vector<uint32_t>> rowAddress(num, std::vector<uint32_t>(8));
  for (int lane = 0; lane < kWarpSize; ++lane)
    if (std::optional<LdMatrixRow> r = ldmatrixAddressRow(lane, num))
      rowAddress[r->matrix][r->row] = addr[lane];
  Fragments regs(kWarpSize, std::vector<double>(2 * num));
  for (int lane = 0; lane < kWarpSize; ++lane)
    for (int j = 0; j < num; ++j)
      for (int half = 0; half < 2; ++half) {
        Coord e = ldmatrixElement(lane, half, trans);
        regs[lane][2 * j + half] = smem.load(rowAddress[j][e.row] + 2 * e.col);
      }
  return regs;
}

} // namespace attn::emu::test

#endif // ATTN_TEST_UNIT_FRAGMENTSTESTHELPERS_H
