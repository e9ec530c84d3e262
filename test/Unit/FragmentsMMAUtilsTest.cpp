//===- FragmentsMMAUtilsTest.cpp - Fragment layouts against MLIR's --------===//
//
// MLIR's NVGPU utilities (mlir/Dialect/NVGPU/Utils/MMAUtils.h, in libMLIR)
// carry their own reading of the mma.sync layouts, written independently
// of attn: getLaneIdAndValueIdToOperandCoord maps (lane, value) to operand
// coordinates, and getLaneIdToLdMatrixMatrixCoord gives the row each lane
// points ldmatrix at. The emulator's tables must agree with both for the
// m16n8k16 f16 fragments (MLIR has no bf16 case, whose layouts the ISA
// makes identical, and nothing for wgmma). MLIR writes the B operand
// transposed, as an N x K vector.
//
//===----------------------------------------------------------------------===//

#include "FragmentsTestHelpers.h"

#include "mlir/Dialect/NVGPU/Utils/MMAUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/MLIRContext.h"

using namespace attn::emu;
using namespace attn::emu::test;

namespace {

using mlir::nvgpu::MatMulOperandRole;

struct FragmentsMMAUtils : ::testing::Test {
  mlir::MLIRContext ctx;
  mlir::OpBuilder builder{&ctx};
  mlir::Location loc = builder.getUnknownLoc();

  mlir::nvgpu::WarpMatrixInfo info(int64_t rows, int64_t cols,
                                   mlir::Type elementType,
                                   MatMulOperandRole role) {
    return {mlir::VectorType::get({rows, cols}, elementType), role};
  }

  /// (lane, value) -> operand coordinate according to MLIR.
  Coord mlirCoord(const mlir::nvgpu::WarpMatrixInfo &type, int lane,
                  int value) {
    mlir::FailureOr<mlir::AffineMap> map =
        mlir::nvgpu::getLaneIdAndValueIdToOperandCoord(builder, loc, type);
    EXPECT_TRUE(mlir::succeeded(map));
    llvm::SmallVector<int64_t> r = map->compose({lane, value});
    return {int(r[0]), int(r[1])};
  }
};

TEST_F(FragmentsMMAUtils, MmaSyncFragmentsAgree) {
  auto a = info(16, 16, builder.getF16Type(), MatMulOperandRole::A);
  auto bT = info(8, 16, builder.getF16Type(), MatMulOperandRole::B);
  auto c = info(16, 8, builder.getF32Type(), MatMulOperandRole::C);
  for (int lane = 0; lane < kWarpSize; ++lane) {
    for (int i = 0; i < kMmaAElements; ++i)
      EXPECT_EQ(mlirCoord(a, lane, i), mmaM16N8K16A(lane, i))
          << "A lane " << lane << " a" << i;
    for (int i = 0; i < kMmaBElements; ++i) {
      Coord nk = mlirCoord(bT, lane, i);
      EXPECT_EQ((Coord{nk.col, nk.row}), mmaM16N8K16B(lane, i))
          << "B lane " << lane << " b" << i;
    }
    for (int i = 0; i < kMmaCElements; ++i)
      EXPECT_EQ(mlirCoord(c, lane, i), mmaM16N8K16C(lane, i))
          << "C lane " << lane << " c" << i;
  }
}

TEST_F(FragmentsMMAUtils, LdMatrixAddressesFeedTheMmaFragments) {
  // For each operand MLIR loads by ldmatrix: store the operand in shared
  // memory the way MLIR assumes (row-major over the operand vector, or over
  // its transpose when `transpose`), point each lane where MLIR points it,
  // run the emulator's ldmatrix, and expect the emulator's mma fragment.
  struct Case {
    const char *name;
    int64_t rows, cols;
    MatMulOperandRole role;
    bool transpose;
  };
  const Case cases[] = {
      {"A", 16, 16, MatMulOperandRole::A, false},
      {"B (N x K, k contiguous)", 8, 16, MatMulOperandRole::B, false},
      {"B (N x K, n contiguous)", 8, 16, MatMulOperandRole::B, true},
  };
  for (const Case &cs : cases) {
    auto type = info(cs.rows, cs.cols, builder.getF16Type(), cs.role);
    mlir::FailureOr<mlir::nvgpu::LdMatrixParams> params =
        mlir::nvgpu::getLdMatrixParams(type, cs.transpose);
    ASSERT_TRUE(mlir::succeeded(params)) << cs.name;
    mlir::FailureOr<mlir::AffineMap> laneMap =
        mlir::nvgpu::getLaneIdToLdMatrixMatrixCoord(builder, loc, *params);
    ASSERT_TRUE(mlir::succeeded(laneMap)) << cs.name;
    int num = int(params->numTiles);

    // The operand's values name their (row, col) in the operand vector.
    Matrix operand = coordinateMatrix(int(cs.rows), int(cs.cols));
    int memRows = int(cs.transpose ? cs.cols : cs.rows);
    int memCols = int(cs.transpose ? cs.rows : cs.cols);
    auto byteAddress = [&](int64_t r, int64_t c) {
      int64_t mr = cs.transpose ? c : r, mc = cs.transpose ? r : c;
      return uint32_t(2 * (mr * memCols + mc));
    };
    SharedMemory smem(2 * memRows * memCols);
    for (int r = 0; r < cs.rows; ++r)
      for (int c = 0; c < cs.cols; ++c)
        smem.store(byteAddress(r, c), operand[r][c]);

    std::vector<uint32_t> addr(kWarpSize, 0);
    for (int lane = 0; lane < 8 * num; ++lane) {
      llvm::SmallVector<int64_t> rc = laneMap->compose({lane});
      addr[lane] = byteAddress(rc[0], rc[1]);
    }
    Fragments got = ldmatrix(smem, addr, num, cs.transpose);

    Fragments want;
    if (cs.role == MatMulOperandRole::A) {
      want = distribute(operand, kWarpSize, kMmaAElements, mmaM16N8K16A);
    } else {
      Matrix b = zeros(16, 8); // operand is B^T (N x K)
      for (int k = 0; k < 16; ++k)
        for (int n = 0; n < 8; ++n)
          b[k][n] = operand[n][k];
      want = distribute(b, kWarpSize, kMmaBElements, mmaM16N8K16B);
    }
    EXPECT_EQ(got, want) << cs.name;
  }
}

} // namespace
