//===- MmaSync.h - mma.sync fragments and products --------------*- C++ -*-===//
//
// Private to lib/Conversion/AttnToGPU. The warp-level pieces of the sm_80
// kernels, shared by the forward (Sm80Kernel.cpp, AttnToGPU.cpp) and the
// backward (Sm80GradKernel.cpp): the fragment types of mma.sync m16n8k16,
// A fragments loaded from global memory, cp.async copies of row tiles into
// padded shared memory, and the two products every kernel is made of,
// with B fragments from ldmatrix:
//
//   scores-like  C[16 x cols]   = A[16 x k] T^T, T = a [cols x k] tile;
//   update-like  C[16 x 8 n]   += A[16 x k] T,   T = a [k x 8 n] tile
//                                (ldmatrix.trans).
//
// Accumulator fragment (vector<2x2xf32>): lane l holds rows g = l / 4 and
// g + 8, columns 2 (l % 4) and 2 (l % 4) + 1. The A fragment
// (vector<4x2xf16>) holds (g, k 0-7), (g + 8, k 0-7), (g, k 8-15), (g + 8,
// k 8-15) at columns 2 (l % 4) + {0, 1}: two accumulator tiles of 8
// columns side by side are exactly one A fragment of 16, which is how a
// product's result feeds the next product without leaving registers.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOGPU_MMASYNC_H
#define ATTN_LIB_CONVERSION_ATTNTOGPU_MMASYNC_H

#include "attn/Dialect/Attn/Utils/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::attn::tilegpu {

/// Shared-memory rows are padded by 8 elements (16 bytes) so that the 8
/// row addresses of an ldmatrix fall in different banks.
constexpr int64_t kSmemPad = 8;

/// Element (row, col) of a global buffer as indices.
using IndexFn = function_ref<SmallVector<Value>(Value row, Value col)>;
/// The indices, in an update-like product's tile, of the 8 elements of row
/// `row` from column `col` (a multiple of 8): one ldmatrix row address.
/// Empty: the padded [k][n + kSmemPad] tile, at (row, col).
using TileRowFn = function_ref<SmallVector<Value>(Value row, int64_t col)>;

/// mma.sync m16n8k16 (f16 or bf16 inputs, f32 accumulators) for one
/// element type.
struct MmaSync {
  MmaSync(ImplicitLocOpBuilder &b, Type elem);

  ImplicitLocOpBuilder &b;
  Arith o;
  /// Fragment types: A, B, the f32 accumulator, and pairs of elements
  /// (one 32-bit register) in the input type and in f32.
  Type elem, f32;
  VectorType fragA, fragB, fragC, pair, pairF32;

  Value constVec(VectorType t, double v);
  /// The 32-bit registers of the first `n` rows of an operand fragment.
  SmallVector<Value> fragmentWords(Value frag, int64_t n);
  /// acc + a * bFrag on tensor cores. f16 goes through nvgpu; bf16, which
  /// nvgpu's lowering cannot type, through nvvm.mma.sync directly.
  Value mma(Value a, Value bFrag, Value acc);

  /// The A fragment of columns [col0, col0 + 16) of the thread's rows
  /// `rows` (g and g + 8 of its warp) read from global memory at `at`;
  /// `c` is lane % 4.
  Value loadA(Value buf, IndexFn at, ArrayRef<Value> rows, Value c,
              int64_t col0);
  /// The A fragment of rows [row0, row0 + 16) and columns [col0, col0 +
  /// 16) of the shared tile `tile`, by ldmatrix x4.
  Value loadASharedRows(Value tile, Value row0, int64_t col0, Value lane);
  /// Issues cp.async copies of rows [first, first + rows) x [0, width) of
  /// `buf` (read at `at`) into `shared` ([rows][width + kSmemPad]), spread
  /// over the `threads` threads (`tid`). Rows at or past `limit` are
  /// zero-filled (a source size of 0 reads nothing, so their address is
  /// left as it is). Appends the copies' tokens that every thread issues.
  void emitCopyRows(Value shared, Value buf, IndexFn at, Value first,
                    Value limit, int64_t rows, int64_t width, Value tid,
                    int64_t threads, SmallVectorImpl<Value> &tokens);
  /// Scores-like product: A (one fragment per 16 of depth) times the
  /// transpose of the first `cols` rows of `tile`, in accumulator order:
  /// element (n * 2 + r) * 2 + e is row r of the thread (g, g + 8) and
  /// column 8 n + 2 c + e.
  SmallVector<Value> emitTimesRowsT(ArrayRef<Value> a, Value tile, int64_t cols,
                                    Value lane);
  /// Update-like product: acc[n] += A (one fragment per 16 rows of `tile`)
  /// times columns [8 n, 8 n + 8) of `tile`, n < acc.size().
  void emitTimesTile(ArrayRef<Value> a, Value tile, MutableArrayRef<Value> acc,
                     Value lane, TileRowFn at = {});
  /// emitTimesTile where a row of `tile` may hold NaN or inf that a zero
  /// weight must not reach (README "Masked keys"): the product runs on the
  /// tile with its non-finite elements read as 0; then a loop over the
  /// tile's rows (keys) finds, per output element, whether a key that the
  /// row weighs nonzero (A's halves, as bit masks ORed over the quad) holds
  /// +inf or NaN there, -inf or NaN there, and adds +inf, -inf (so NaN
  /// where both). Weights are never negative, and a NaN weight makes the
  /// element NaN through the product. Few registers besides `acc`: the
  /// kernels' heaviest plans keep it without spills.
  void emitTimesTileSkippingZeros(ArrayRef<Value> a, Value tile,
                                  MutableArrayRef<Value> acc, Value lane,
                                  TileRowFn at = {});
  /// `acc` updated by `flagged` where `nonFinite` (uniform over the CTA),
  /// else by `clean`: an scf.if over the accumulators.
  void emitIfNonFinite(Value nonFinite, MutableArrayRef<Value> acc,
                       function_ref<void(MutableArrayRef<Value>)> flagged,
                       function_ref<void(MutableArrayRef<Value>)> clean);
  /// The finiteness check of a tile in shared memory, spread over a CTA:
  /// each thread ORs its 16-byte chunks (vector<8 x elem>) into an i32 with
  /// orNonFinite (3 integer ops a word), then barrierAnyNonFinite reduces
  /// the CTA's words by bar.red.or, which is also a CTA barrier.
  Value orNonFinite(Value bits, Value chunk);
  /// orNonFinite over rows [0, rows) x [0, width) of the shared tile
  /// `shared`, 16-byte chunks spread over the threads as by emitCopyRows
  /// (so that a thread reads what its own copies wrote), from `bits` 0.
  Value orNonFiniteRows(Value shared, int64_t rows, int64_t width, Value tid,
                        int64_t threads);
  Value barrierAnyNonFinite(Value bits);
  /// The B fragment of rows [row, row + 16) (row: lane % 16 plus a
  /// multiple of 16) and columns [col, col + 8) of an update-like product's
  /// tile, by ldmatrix.trans.
  Value loadBTrans(Value tile, Value row, int64_t col, TileRowFn at);
  /// The scalars of emitTimesRowsT's order over `cols` columns rounded to
  /// the input type and packed as one A fragment per 16 columns.
  SmallVector<Value> packA(ArrayRef<Value> flat, int64_t cols);
  /// A padded [rows][width + kSmemPad] tile of the input type at byte
  /// `offset` of the dynamic shared memory `raw`, and its size in bytes.
  Value sharedTile(Value raw, int64_t offset, int64_t rows, int64_t width);
  static int64_t sharedTileBytes(int64_t rows, int64_t width) {
    return rows * (width + kSmemPad) * 2;
  }
  /// Reduces `v` over the 4 lanes of a quad (the lanes of one row).
  Value quadReduce(Value v, bool max);
};

/// Index of the accumulator-order scalar of emitTimesRowsT: column tile n,
/// thread row r, element e.
inline int64_t flatIndex(int64_t n, int64_t r, int64_t e) {
  return (n * 2 + r) * 2 + e;
}

} // namespace mlir::attn::tilegpu

#endif // ATTN_LIB_CONVERSION_ATTNTOGPU_MMASYNC_H
