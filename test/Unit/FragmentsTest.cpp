//===- FragmentsTest.cpp - Tests of the emulator's fragment layouts -------===//
//
// The tables of attn/Emulator/Fragments.h checked four ways:
//  - every layout is a bijection between (lane, element) and the matrix;
//  - values read off the PTX ISA's figures and tables for several lanes;
//  - end to end: matrices distributed into per-lane fragments through the
//    tables, multiplied the way the hardware contract states (D = A*B + C on
//    the logical matrices), gathered back and compared with a plain matrix
//    product, for mma.m16n8k16 and for wgmma.m64nNk16 with B read through a
//    descriptor from a shared-memory image built the way TMA writes it;
//  - ldmatrix feeding mma: fragments loaded by the ldmatrix tables from a
//    shared-memory image are the fragments the mma tables expect.
// The cross-check against MLIR's own mma.sync layouts is in
// FragmentsMMAUtilsTest.cpp. Values are small integers held in doubles, so
// every product is exact. Random choices come from fixed seeds.
//
//===----------------------------------------------------------------------===//

#include "FragmentsTestHelpers.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <random>
#include <set>
#include <utility>
#include <vector>

using namespace attn::emu;
using namespace attn::emu::test;

namespace {

/// Checks that `layout(owner, i)` for owner < owners, i < elements hits
/// every position of a rows x cols matrix exactly once.
template <typename Layout>
void expectBijection(int owners, int elements, int rows, int cols,
                     Layout layout) {
  ASSERT_EQ(owners * elements, rows * cols);
  std::vector<int> hits(rows * cols, 0);
  for (int o = 0; o < owners; ++o)
    for (int i = 0; i < elements; ++i) {
      Coord c = layout(o, i);
      ASSERT_TRUE(c.row >= 0 && c.row < rows && c.col >= 0 && c.col < cols)
          << "owner " << o << " element " << i;
      ++hits[c.row * cols + c.col];
    }
  for (int h : hits)
    EXPECT_EQ(h, 1);
}

/// Expects `layout(lane, i)` to be the i-th of `coords`, naming the
/// element `prefix` i.
template <typename Layout>
void expectLaneHolds(Layout layout, int lane,
                     std::initializer_list<Coord> coords, const char *prefix) {
  int i = 0;
  for (Coord c : coords) {
    EXPECT_EQ(layout(lane, i), c) << prefix << i;
    ++i;
  }
}

Matrix transpose(const Matrix &m) {
  Matrix t = zeros(int(m[0].size()), int(m.size()));
  for (size_t r = 0; r < m.size(); ++r)
    for (size_t c = 0; c < m[r].size(); ++c)
      t[c][r] = m[r][c];
  return t;
}

//===----------------------------------------------------------------------===//
// Lane-level models of the instructions, written on the tables only.
//===----------------------------------------------------------------------===//

/// mma.sync.m16n8k16 on a warp's fragments: the logical A, B and C are what
/// the lanes hold according to the ISA's tables; D = A*B + C is handed back
/// through the accumulator table.
Fragments mmaM16N8K16(const Fragments &a, const Fragments &b,
                      const Fragments &c) {
  Matrix am = gather(a, 16, 16, mmaM16N8K16A);
  Matrix bm = gather(b, 16, 8, mmaM16N8K16B);
  Matrix cm = gather(c, 16, 8, mmaM16N8K16C);
  return distribute(matmulAdd(am, bm, cm), kWarpSize, kMmaCElements,
                    mmaM16N8K16C);
}

/// The 64 x n accumulator a warpgroup's wgmma.m64nNk16 D fragments hold.
Matrix gatherWgmmaD(const Fragments &d, int n) {
  Matrix m = zeros(64, n);
  for (int t = 0; t < kWarpgroupSize; ++t)
    for (int i = 0; i < wgmmaDElements(n); ++i) {
      Coord c = wgmmaM64NK16D(t, i, n);
      m[c.row][c.col] = d[t][i];
    }
  return m;
}

/// The D fragments of a 64 x n accumulator, the inverse of gatherWgmmaD.
Fragments distributeWgmmaD(const Matrix &m, int n) {
  Fragments d(kWarpgroupSize, std::vector<double>(wgmmaDElements(n)));
  for (int t = 0; t < kWarpgroupSize; ++t)
    for (int i = 0; i < wgmmaDElements(n); ++i) {
      Coord c = wgmmaM64NK16D(t, i, n);
      d[t][i] = m[c.row][c.col];
    }
  return d;
}

/// wgmma.mma_async.m64nNk16 (f32 += bf16 * bf16) with A from registers and
/// B through a descriptor: B(k, n) is read at the address the descriptor
/// layout gives for (mn = n, k).
void wgmmaM64NK16(Fragments &d, const Fragments &a, uint64_t descB,
                  Major majorB, const SharedMemory &smem, int n) {
  Matrix am = gather(a, 64, 16, wgmmaM64NK16A);
  WgmmaDescriptor desc = decodeWgmmaDescriptor(descB);
  Matrix bm = zeros(16, n);
  for (int k = 0; k < 16; ++k)
    for (int col = 0; col < n; ++col) {
      std::optional<uint32_t> addr =
          wgmmaOperandAddress(desc, majorB, 16, col, k);
      ASSERT_TRUE(addr.has_value());
      bm[k][col] = smem.load(*addr);
    }
  d = distributeWgmmaD(matmulAdd(am, bm, gatherWgmmaD(d, n)), n);
}

//===----------------------------------------------------------------------===//
// (a) Bijections
//===----------------------------------------------------------------------===//

TEST(Fragments, MmaLayoutsAreBijections) {
  expectBijection(kWarpSize, kMmaAElements, 16, 16, mmaM16N8K16A);
  expectBijection(kWarpSize, kMmaBElements, 16, 8, mmaM16N8K16B);
  expectBijection(kWarpSize, kMmaCElements, 16, 8, mmaM16N8K16C);
}

TEST(Fragments, LdMatrixLayoutsAreBijections) {
  for (bool trans : {false, true})
    expectBijection(kWarpSize, 2, 8, 8, [&](int lane, int half) {
      return ldmatrixElement(lane, half, trans);
    });
  for (int num : {1, 2, 4}) {
    std::set<std::pair<int, int>> rows;
    for (int lane = 0; lane < kWarpSize; ++lane)
      if (std::optional<LdMatrixRow> r = ldmatrixAddressRow(lane, num)) {
        EXPECT_TRUE(r->matrix >= 0 && r->matrix < num && r->row >= 0 &&
                    r->row < 8);
        EXPECT_TRUE(rows.insert({r->matrix, r->row}).second);
      }
    EXPECT_EQ(int(rows.size()), 8 * num);
  }
}

TEST(Fragments, WgmmaLayoutsAreBijections) {
  expectBijection(kWarpgroupSize, kWgmmaAElements, 64, 16, wgmmaM64NK16A);
  for (int n : {8, 16, 32, 64, 128, 256})
    expectBijection(kWarpgroupSize, wgmmaDElements(n), 64, n,
                    [&](int t, int i) { return wgmmaM64NK16D(t, i, n); });
}

TEST(Fragments, SwizzleIsAChunkPreservingInvolution) {
  for (Swizzle mode :
       {Swizzle::None, Swizzle::B32, Swizzle::B64, Swizzle::B128}) {
    std::set<uint32_t> images;
    for (uint32_t off = 0; off < 2048; ++off) {
      uint32_t s = swizzleOffset(mode, off);
      EXPECT_EQ(swizzleOffset(mode, s), off);
      // Bytes of one 16-byte chunk stay together and in order, and the
      // chunk stays in its 128-byte line.
      EXPECT_EQ(s % 16, off % 16);
      EXPECT_EQ(s / 128, off / 128);
      images.insert(s);
    }
    EXPECT_EQ(images.size(), 2048u);
  }
}

//===----------------------------------------------------------------------===//
// (b) Values read off the ISA's figures and tables
//===----------------------------------------------------------------------===//

TEST(Fragments, MmaValuesFromTheIsaFigures) {
  // Figure 79 (A): lane 0 holds a0..a7 at (0,0) (0,1) (8,0) (8,1) (0,8)
  // (0,9) (8,8) (8,9).
  expectLaneHolds(
      mmaM16N8K16A, 0,
      {{0, 0}, {0, 1}, {8, 0}, {8, 1}, {0, 8}, {0, 9}, {8, 8}, {8, 9}}, "a");
  EXPECT_EQ(mmaM16N8K16A(5, 0), (Coord{1, 2})); // T5: groupID 1, tig 1
  EXPECT_EQ(mmaM16N8K16A(5, 3), (Coord{9, 3}));
  EXPECT_EQ(mmaM16N8K16A(31, 7), (Coord{15, 15}));
  EXPECT_EQ(mmaM16N8K16A(30, 4), (Coord{7, 12}));
  // Figure 81 (B): lane 0 holds b0..b3 at rows 0, 1, 8, 9 of column 0.
  expectLaneHolds(mmaM16N8K16B, 0, {{0, 0}, {1, 0}, {8, 0}, {9, 0}}, "b");
  EXPECT_EQ(mmaM16N8K16B(6, 1), (Coord{5, 1}));
  EXPECT_EQ(mmaM16N8K16B(31, 0), (Coord{6, 7}));
  EXPECT_EQ(mmaM16N8K16B(31, 3), (Coord{15, 7}));
  // Figure 83 (C/D).
  expectLaneHolds(mmaM16N8K16C, 0, {{0, 0}, {0, 1}, {8, 0}, {8, 1}}, "c");
  EXPECT_EQ(mmaM16N8K16C(7, 2), (Coord{9, 6}));
  EXPECT_EQ(mmaM16N8K16C(31, 3), (Coord{15, 7}));
}

TEST(Fragments, LdMatrixValuesFromTheIsa) {
  // Address table of 9.7.14.5.15.
  EXPECT_EQ(ldmatrixAddressRow(0, 1)->matrix, 0);
  EXPECT_EQ(ldmatrixAddressRow(7, 1)->row, 7);
  EXPECT_FALSE(ldmatrixAddressRow(8, 1).has_value());
  EXPECT_EQ(ldmatrixAddressRow(13, 2)->matrix, 1);
  EXPECT_EQ(ldmatrixAddressRow(13, 2)->row, 5);
  EXPECT_FALSE(ldmatrixAddressRow(16, 2).has_value());
  EXPECT_EQ(ldmatrixAddressRow(26, 4)->matrix, 3);
  EXPECT_EQ(ldmatrixAddressRow(26, 4)->row, 2);
  // Figure 104: T0 holds row 0 elements 0 and 1, T1 row 0 elements 2 and 3,
  // T4 row 1, T31 row 7 elements 6 and 7.
  EXPECT_EQ(ldmatrixElement(0, 0, false), (Coord{0, 0}));
  EXPECT_EQ(ldmatrixElement(0, 1, false), (Coord{0, 1}));
  EXPECT_EQ(ldmatrixElement(1, 0, false), (Coord{0, 2}));
  EXPECT_EQ(ldmatrixElement(4, 1, false), (Coord{1, 1}));
  EXPECT_EQ(ldmatrixElement(31, 1, false), (Coord{7, 7}));
  // .trans: T1 holds stored rows 2 and 3 of column 0.
  EXPECT_EQ(ldmatrixElement(1, 0, true), (Coord{2, 0}));
  EXPECT_EQ(ldmatrixElement(1, 1, true), (Coord{3, 0}));
  EXPECT_EQ(ldmatrixElement(31, 0, true), (Coord{6, 7}));
}

TEST(Fragments, WgmmaValuesFromTheIsaFigures) {
  // Figure 148 (A): T0 as in the mma A figure; T32 starts warp 1's rows.
  EXPECT_EQ(wgmmaM64NK16A(0, 0), (Coord{0, 0}));
  EXPECT_EQ(wgmmaM64NK16A(0, 6), (Coord{8, 8}));
  EXPECT_EQ(wgmmaM64NK16A(32, 0), (Coord{16, 0}));
  EXPECT_EQ(wgmmaM64NK16A(127, 7), (Coord{63, 15}));
  // Figure 149 (D): T0 holds d0..d5 at (0,0) (0,1) (8,0) (8,1) (0,8) (0,9);
  // the last thread ends with (63, N-1).
  expectLaneHolds([](int t, int i) { return wgmmaM64NK16D(t, i, 64); }, 0,
                  {{0, 0}, {0, 1}, {8, 0}, {8, 1}, {0, 8}, {0, 9}}, "d");
  EXPECT_EQ(wgmmaM64NK16D(127, 0, 64), (Coord{55, 6}));
  for (int n : {32, 64, 128})
    EXPECT_EQ(wgmmaM64NK16D(127, n / 2 - 1, n), (Coord{63, n - 1}));
  EXPECT_EQ(wgmmaM64NK16D(65, 5, 32), (Coord{32, 11}));
  EXPECT_FALSE(isValidWgmmaN(12));
  EXPECT_TRUE(isValidWgmmaN(256));
}

TEST(Fragments, SwizzleTablesFromTheIsa) {
  // 5.5.7: line r of the 128-byte pattern holds, at 16-byte position p,
  // chunk table[r][p] of the unswizzled line.
  const int table128[8][8] = {
      {0, 1, 2, 3, 4, 5, 6, 7}, {1, 0, 3, 2, 5, 4, 7, 6},
      {2, 3, 0, 1, 6, 7, 4, 5}, {3, 2, 1, 0, 7, 6, 5, 4},
      {4, 5, 6, 7, 0, 1, 2, 3}, {5, 4, 7, 6, 1, 0, 3, 2},
      {6, 7, 4, 5, 2, 3, 0, 1}, {7, 6, 5, 4, 3, 2, 1, 0}};
  for (int r = 0; r < 8; ++r)
    for (int p = 0; p < 8; ++p) {
      uint32_t chunk = table128[r][p];
      // Byte 5 of chunk `chunk` in line r lands at position p.
      uint32_t from = r * 128 + chunk * 16 + 5;
      EXPECT_EQ(swizzle128B(from), uint32_t(r * 128 + p * 16 + 5));
      // The pattern repeats every 1024 bytes.
      EXPECT_EQ(swizzle128B(from + 3 * 1024), swizzle128B(from) + 3 * 1024);
    }
  const int table64[4][8] = {{0, 1, 2, 3, 4, 5, 6, 7},
                             {1, 0, 3, 2, 5, 4, 7, 6},
                             {2, 3, 0, 1, 6, 7, 4, 5},
                             {3, 2, 1, 0, 7, 6, 5, 4}};
  for (int r = 0; r < 4; ++r)
    for (int p = 0; p < 8; ++p)
      EXPECT_EQ(swizzleOffset(Swizzle::B64, r * 128 + table64[r][p] * 16),
                uint32_t(r * 128 + p * 16));
  const int table32[2][8] = {{0, 1, 2, 3, 4, 5, 6, 7},
                             {1, 0, 3, 2, 5, 4, 7, 6}};
  for (int r = 0; r < 2; ++r)
    for (int p = 0; p < 8; ++p)
      EXPECT_EQ(swizzleOffset(Swizzle::B32, r * 128 + table32[r][p] * 16),
                uint32_t(r * 128 + p * 16));
  EXPECT_EQ(swizzleOffset(Swizzle::None, 777u), 777u);
}

TEST(Fragments, DescriptorFields) {
  WgmmaDescriptor d;
  d.startAddress = 0x2A40;
  d.leadingByteOffset = 16;
  d.strideByteOffset = 1024;
  d.swizzle = Swizzle::B128;
  uint64_t bits = encodeWgmmaDescriptor(d);
  EXPECT_EQ(bits & 0x3FFF, 0x2A4u);
  EXPECT_EQ((bits >> 16) & 0x3FFF, 1u);
  EXPECT_EQ((bits >> 32) & 0x3FFF, 64u);
  EXPECT_EQ(bits >> 62, 1u);
  EXPECT_EQ(wgmmaDescriptorReservedBits(bits), 0u);
  EXPECT_EQ(decodeWgmmaDescriptor(bits), d);

  // The encodings the ISA lists beside its canonical-layout examples
  // (9.7.15.5.1.2.1.3): LBO 128 bf16 -> 16, SBO 512 bf16 -> 64, ...
  WgmmaDescriptor e;
  e.leadingByteOffset = 128 * 2;
  e.strideByteOffset = 512 * 2;
  e.swizzle = Swizzle::B64;
  bits = encodeWgmmaDescriptor(e);
  EXPECT_EQ((bits >> 16) & 0x3FFF, 16u);
  EXPECT_EQ((bits >> 32) & 0x3FFF, 64u);
  EXPECT_EQ(bits >> 62, 2u);

  // Every field round-trips, including the base offset and all modes.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 1000; ++trial) {
    WgmmaDescriptor f;
    f.startAddress = (rng() % (1u << 14)) << 4;
    f.leadingByteOffset = (rng() % (1u << 14)) << 4;
    f.strideByteOffset = (rng() % (1u << 14)) << 4;
    f.baseOffset = rng() % 8;
    f.swizzle = static_cast<Swizzle>(rng() % 4);
    uint64_t fb = encodeWgmmaDescriptor(f);
    EXPECT_EQ(decodeWgmmaDescriptor(fb), f);
    EXPECT_EQ(wgmmaDescriptorReservedBits(fb), 0u);
  }
  // encode() keeps address bits 4..17 only (a shared-window address).
  WgmmaDescriptor g;
  g.startAddress = 0x40000 | 0x1230 | 0x7;
  EXPECT_EQ(decodeWgmmaDescriptor(encodeWgmmaDescriptor(g)).startAddress,
            0x1230u);
  EXPECT_EQ(wgmmaDescriptorReservedBits(1ull << 14 | 1ull << 48 | 1ull << 55),
            1ull << 14 | 1ull << 48 | 1ull << 55);
}

/// CuTe's Swizzle<B, M, S> on an integer, as the ISA names it beside the
/// canonical layouts (applied here to byte offsets).
uint32_t cuteSwizzle(int b, int m, int s, uint32_t x) {
  uint32_t yyy = ((1u << b) - 1) << (m + s);
  return x ^ ((x & yyy) >> s);
}

/// A CuTe mode list ((size, stride), ...) applied to a coordinate,
/// colexicographically.
int evalModes(int x, std::initializer_list<std::pair<int, int>> modes) {
  int offset = 0;
  for (auto [size, stride] : modes) {
    offset += (x % size) * stride;
    x /= size;
  }
  return offset;
}

TEST(Fragments, DescriptorAddressesMatchTheIsaExamples) {
  struct Example {
    const char *name;
    Major major;
    int bits;
    Swizzle swizzle;
    int swizzleBits; // B of Swizzle<B,4,3>
    uint32_t lbo, sbo;
    int mnExtent, kExtent;
    std::initializer_list<std::pair<int, int>> mnModes, kModes;
  };
  // The "Exact layout" lines of 9.7.15.5.1.2.1.3, in elements.
  const Example examples[] = {
      {"K-major, no swizzle, tf32",
       Major::K,
       32,
       Swizzle::None,
       0,
       64 * 4,
       32 * 4,
       16,
       16,
       {{8, 4}, {2, 32}},
       {{4, 1}, {4, 64}}},
      // The exact layout ((8,2),(4,4)):((8,64),(1,4)) is not injective past
      // k = 8 (k = 8 lands on row 1); one tf32 wgmma reads K = 8.
      {"K-major, 32B swizzle, tf32",
       Major::K,
       32,
       Swizzle::B32,
       1,
       16,
       64 * 4,
       16,
       8,
       {{8, 8}, {2, 64}},
       {{4, 1}, {4, 4}}},
      {"MN-major, no swizzle, bf16",
       Major::MN,
       16,
       Swizzle::None,
       0,
       128 * 2,
       64 * 2,
       16,
       16,
       {{8, 1}, {1, 8}, {2, 64}},
       {{8, 8}, {2, 128}}},
      {"MN-major, 32B swizzle, bf16",
       Major::MN,
       16,
       Swizzle::B32,
       1,
       128 * 2,
       256 * 2,
       32,
       16,
       {{8, 1}, {2, 8}, {2, 128}},
       {{8, 16}, {2, 256}}},
      {"MN-major, 64B swizzle, bf16",
       Major::MN,
       16,
       Swizzle::B64,
       2,
       256 * 2,
       512 * 2,
       64,
       16,
       {{8, 1}, {4, 8}, {2, 256}},
       {{8, 32}, {2, 512}}},
  };
  for (const Example &ex : examples) {
    WgmmaDescriptor desc;
    desc.leadingByteOffset = ex.lbo;
    desc.strideByteOffset = ex.sbo;
    desc.swizzle = ex.swizzle;
    // Through the 64-bit encoding, as the instruction sees it.
    desc = decodeWgmmaDescriptor(encodeWgmmaDescriptor(desc));
    std::set<uint32_t> seen;
    for (int mn = 0; mn < ex.mnExtent; ++mn)
      for (int k = 0; k < ex.kExtent; ++k) {
        uint32_t elems = evalModes(mn, ex.mnModes) + evalModes(k, ex.kModes);
        uint32_t expected =
            cuteSwizzle(ex.swizzleBits, 4, 3, elems * (ex.bits / 8));
        std::optional<uint32_t> got =
            wgmmaOperandAddress(desc, ex.major, ex.bits, mn, k);
        ASSERT_TRUE(got.has_value());
        EXPECT_EQ(*got, expected) << ex.name << " mn " << mn << " k " << k;
        seen.insert(*got);
      }
    EXPECT_EQ(int(seen.size()), ex.mnExtent * ex.kExtent) << ex.name;
  }
  WgmmaDescriptor based;
  based.baseOffset = 3;
  based.swizzle = Swizzle::B128;
  EXPECT_FALSE(wgmmaOperandAddress(based, Major::K, 16, 0, 0).has_value());
}

//===----------------------------------------------------------------------===//
// (c) End to end
//===----------------------------------------------------------------------===//

void expectMmaComputes(const Matrix &a, const Matrix &b, const Matrix &c) {
  Fragments d = mmaM16N8K16(distribute(a, kWarpSize, 8, mmaM16N8K16A),
                            distribute(b, kWarpSize, 4, mmaM16N8K16B),
                            distribute(c, kWarpSize, 4, mmaM16N8K16C));
  EXPECT_EQ(gather(d, 16, 8, mmaM16N8K16C), matmulAdd(a, b, c));
}

TEST(Fragments, MmaEndToEnd) {
  std::mt19937 rng(2024);
  for (int trial = 0; trial < 20; ++trial)
    expectMmaComputes(randomMatrix(16, 16, rng), randomMatrix(16, 8, rng),
                      randomMatrix(16, 8, rng));
  // One-hot A against a coordinate-encoded B: D's row r is B's row k.
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < 16; ++k) {
      Matrix a = zeros(16, 16);
      a[r][k] = 1;
      expectMmaComputes(a, coordinateMatrix(16, 8), zeros(16, 8));
    }
  // One-hot B against a coordinate-encoded A, and a coordinate-encoded C.
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 8; ++n) {
      Matrix b = zeros(16, 8);
      b[k][n] = 1;
      expectMmaComputes(coordinateMatrix(16, 16), b, coordinateMatrix(16, 8));
    }
}

/// Stores `m` as 16-bit elements at `base`, its rows `pitch` bytes apart.
void storeRows(SharedMemory &smem, uint32_t base, uint32_t pitch,
               const Matrix &m) {
  for (size_t r = 0; r < m.size(); ++r)
    for (size_t c = 0; c < m[r].size(); ++c)
      smem.store(base + r * pitch + 2 * c, m[r][c]);
}

/// ldmatrix row addresses into a matrix stored by storeRows: lane l < lanes
/// points at row l % rows, column 8 * (l / rows); the other lanes at 0
/// (ldmatrix does not read their addresses).
std::vector<uint32_t> rowAddresses(int lanes, int rows, uint32_t base,
                                   uint32_t pitch) {
  std::vector<uint32_t> addr(kWarpSize, 0);
  for (int l = 0; l < lanes; ++l)
    addr[l] = base + (l % rows) * pitch + 2 * (8 * (l / rows));
  return addr;
}

/// Writes a row-major rows x cols tile of 16-bit elements the way a TMA
/// load with a `mode` swizzle writes it: boxes `boxCols` elements wide
/// (boxCols * 2 == the swizzle width), one after the other, each row of a
/// box a line of the swizzle pattern. `base` is pattern-aligned.
void writeLikeTma(SharedMemory &smem, uint32_t base, const Matrix &m,
                  int boxCols, Swizzle mode) {
  int rows = int(m.size()), cols = int(m[0].size());
  uint32_t boxBytes = uint32_t(rows) * boxCols * 2;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      uint32_t off =
          (c / boxCols) * boxBytes + r * boxCols * 2 + (c % boxCols) * 2;
      smem.store(base + swizzleOffset(mode, off), m[r][c]);
    }
}

/// D(64xN) = A(64x64) * B(64xN) as four wgmma.m64nNk16, A from registers,
/// B from `smem` through descriptors that advance `kStepBytes` per k-step.
Matrix wgmmaChain(const Matrix &a, int n, const SharedMemory &smem,
                  WgmmaDescriptor desc, uint32_t kStepBytes, Major major) {
  Fragments d = distributeWgmmaD(zeros(64, n), n);
  uint32_t start = desc.startAddress;
  for (int ks = 0; ks < 4; ++ks) {
    Fragments af(kWarpgroupSize, std::vector<double>(kWgmmaAElements));
    for (int t = 0; t < kWarpgroupSize; ++t)
      for (int i = 0; i < kWgmmaAElements; ++i) {
        Coord c = wgmmaM64NK16A(t, i);
        af[t][i] = a[c.row][16 * ks + c.col];
      }
    desc.startAddress = start + ks * kStepBytes;
    wgmmaM64NK16(d, af, encodeWgmmaDescriptor(desc), major, smem, n);
  }
  return gatherWgmmaD(d, n);
}

TEST(Fragments, WgmmaKMajorBEndToEnd) {
  // S = Q * K^T: B = K^T with K stored [n][k], k contiguous (K-major), one
  // 128-byte line per key row (64 bf16), written with the 128B swizzle.
  // Each k-step of 16 moves the start address 32 bytes inside the pattern.
  std::mt19937 rng(11);
  for (int n : {32, 64, 128}) {
    Matrix a = randomMatrix(64, 64, rng);
    Matrix keys = randomMatrix(n, 64, rng); // [n][k]
    Matrix b = transpose(keys);
    const uint32_t base = 3 * 1024;
    SharedMemory smem(base + n * 128 + 1024);
    writeLikeTma(smem, base, keys, 64, Swizzle::B128);
    WgmmaDescriptor desc;
    desc.startAddress = base;
    desc.leadingByteOffset = 16; // unused for swizzled K-major ("1")
    desc.strideByteOffset = 8 * 128;
    desc.swizzle = Swizzle::B128;
    EXPECT_EQ(wgmmaChain(a, n, smem, desc, 32, Major::K),
              matmulAdd(a, b, zeros(64, n)))
        << "N = " << n;
  }
}

TEST(Fragments, WgmmaMNMajorBEndToEnd) {
  // O = P * V: B = V stored [k][n], n contiguous (MN-major), in boxes of
  // one swizzle line: 64 columns under the 128B swizzle, 32 under 64B.
  // Each k-step of 16 moves the start address 16 lines.
  std::mt19937 rng(12);
  for (int n : {32, 64, 128}) {
    Swizzle mode = n >= 64 ? Swizzle::B128 : Swizzle::B64;
    int boxCols = int(swizzleWidthBytes(mode)) / 2;
    Matrix a = randomMatrix(64, 64, rng);
    Matrix v = randomMatrix(64, n, rng); // [k][n]
    const uint32_t base = 2 * 1024;
    SharedMemory smem(base + 64 * n * 2 + 1024);
    writeLikeTma(smem, base, v, boxCols, mode);
    WgmmaDescriptor desc;
    desc.startAddress = base;
    desc.leadingByteOffset = 64 * boxCols * 2;           // next box of columns
    desc.strideByteOffset = 8 * swizzleWidthBytes(mode); // next 8 rows of k
    desc.swizzle = mode;
    EXPECT_EQ(
        wgmmaChain(a, n, smem, desc, 16 * swizzleWidthBytes(mode), Major::MN),
        matmulAdd(a, v, zeros(64, n)))
        << "N = " << n;
  }
}

TEST(Fragments, WgmmaOneHotB) {
  // Every element of B read from exactly the right swizzled address.
  const int n = 32;
  const uint32_t base = 1024;
  Matrix a = coordinateMatrix(64, 64);
  for (int k = 0; k < 64; ++k)
    for (int j = 0; j < n; ++j) {
      Matrix keys = zeros(n, 64);
      keys[j][k] = 1;
      SharedMemory smem(base + n * 128 + 1024);
      writeLikeTma(smem, base, keys, 64, Swizzle::B128);
      WgmmaDescriptor desc;
      desc.startAddress = base;
      desc.strideByteOffset = 1024;
      desc.swizzle = Swizzle::B128;
      Matrix b = zeros(64, n);
      b[k][j] = 1;
      ASSERT_EQ(wgmmaChain(a, n, smem, desc, 32, Major::K),
                matmulAdd(a, b, zeros(64, n)))
          << "k " << k << " n " << j;
    }
}

//===----------------------------------------------------------------------===//
// ldmatrix feeding mma
//===----------------------------------------------------------------------===//

TEST(Fragments, LdMatrixFeedsMmaA) {
  // A (16x16, row-major, rows padded to 24 elements) by ldmatrix.x4: lane l
  // points at row l % 16, column 8 * (l / 16).
  const uint32_t base = 256, pitch = 24 * 2;
  Matrix a = coordinateMatrix(16, 16);
  SharedMemory smem(base + 16 * pitch);
  storeRows(smem, base, pitch, a);
  EXPECT_EQ(ldmatrix(smem, rowAddresses(kWarpSize, 16, base, pitch), 4, false),
            distribute(a, kWarpSize, kMmaAElements, mmaM16N8K16A));
}

TEST(Fragments, LdMatrixFeedsMmaB) {
  Matrix b = coordinateMatrix(16, 8); // [k][n]
  Fragments expected = distribute(b, kWarpSize, kMmaBElements, mmaM16N8K16B);
  {
    // B^T stored [n][k] (keys, k contiguous), ldmatrix.x2 without .trans:
    // lane l < 16 points at row n = l % 8, column k = 8 * (l / 8).
    SharedMemory smem(8 * 32);
    storeRows(smem, 0, 32, transpose(b));
    EXPECT_EQ(ldmatrix(smem, rowAddresses(16, 8, 0, 32), 2, false), expected);
  }
  {
    // B stored [k][n] (values, n contiguous), ldmatrix.x2.trans: lane l < 16
    // points at row k = l.
    SharedMemory smem(16 * 16);
    storeRows(smem, 0, 16, b);
    EXPECT_EQ(ldmatrix(smem, rowAddresses(16, 16, 0, 16), 2, true), expected);
  }
  {
    // Two n-blocks of B stored [k][n] (16 x 16) by one ldmatrix.x4.trans:
    // matrices 0, 1 are n-block 0 (k 0-7, 8-15), matrices 2, 3 n-block 1.
    Matrix wide = coordinateMatrix(16, 16);
    SharedMemory smem(16 * 32);
    storeRows(smem, 0, 32, wide);
    Fragments regs =
        ldmatrix(smem, rowAddresses(kWarpSize, 16, 0, 32), 4, true);
    for (int blk = 0; blk < 2; ++blk) {
      Matrix part = zeros(16, 8);
      for (int k = 0; k < 16; ++k)
        for (int n = 0; n < 8; ++n)
          part[k][n] = wide[k][8 * blk + n];
      Fragments want = distribute(part, kWarpSize, 4, mmaM16N8K16B);
      for (int l = 0; l < kWarpSize; ++l)
        for (int i = 0; i < 4; ++i)
          EXPECT_EQ(regs[l][4 * blk + i], want[l][i]);
    }
  }
}

} // namespace
