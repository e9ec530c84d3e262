//===- Fragments.h - Tensor-core and shared-memory layouts ------*- C++ -*-===//
//
// The first brick of the GPU emulator (DESIGN.md, "The GPU emulator"): which
// lane holds which element of the logical matrix for the warp- and
// warpgroup-collective operations the CUDA code generator emits, and where
// the tensor cores look in shared memory. Every function transcribes a
// section of NVIDIA's PTX ISA (section numbers of PTX ISA 8.8/9.0, where
// `mma` is 9.7.14 and `wgmma` 9.7.15; older editions number them 9.7.13 and
// 9.7.14), written without reference to attn's own code generator so that
// the emulator checks the generator instead of repeating it.
//
// Plain C++ with no MLIR, so the interpreter, its tests and the reference
// can all use it.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_EMULATOR_FRAGMENTS_H
#define ATTN_EMULATOR_FRAGMENTS_H

#include <cstdint>
#include <optional>

namespace attn::emu {

/// A position in a logical (row-major indexed) matrix.
struct Coord {
  int row = 0;
  int col = 0;
  friend bool operator==(Coord a, Coord b) {
    return a.row == b.row && a.col == b.col;
  }
  friend bool operator!=(Coord a, Coord b) { return !(a == b); }
};

constexpr int kWarpSize = 32;
constexpr int kWarpgroupSize = 128;

//===----------------------------------------------------------------------===//
// mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32
//===----------------------------------------------------------------------===//
//
// Element `i` of a fragment is numbered as in the ISA's "Elements (low to
// high)" column: for the .f16x2 registers of A and B, element i lives in
// register i / 2, in its low 16 bits when i is even. f16 and bf16 share
// every layout.

/// Elements per lane: A (16x16) 8, B (16x8) 4, C and D (16x8, f32) 4.
constexpr int kMmaAElements = 8;
constexpr int kMmaBElements = 4;
constexpr int kMmaCElements = 4;

/// A (16x16, M x K), element a_i of `lane`. PTX ISA 9.7.14.5.8 "Matrix
/// Fragments for mma.m16n8k16 with floating point type", Multiplicand A,
/// .f16/.bf16 (Figure 79):
///   row = groupID (+ 8 for a2, a3, a6, a7),
///   col = threadID_in_group * 2 + (i & 1) (+ 8 for i >= 4).
Coord mmaM16N8K16A(int lane, int i);

/// B (16x8, K x N), element b_i of `lane`. PTX ISA 9.7.14.5.8, Multiplicand
/// B, .f16/.bf16 (Figure 81):
///   row = threadID_in_group * 2 + (i & 1) (+ 8 for i >= 2), col = groupID.
Coord mmaM16N8K16B(int lane, int i);

/// C and D (16x8, M x N, f32), element c_i of `lane`. PTX ISA 9.7.14.5.8,
/// Accumulators (Figure 83):
///   row = groupID (+ 8 for i >= 2), col = threadID_in_group * 2 + (i & 1).
Coord mmaM16N8K16C(int lane, int i);

//===----------------------------------------------------------------------===//
// ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{.trans}.shared.b16
//===----------------------------------------------------------------------===//

/// The row whose address a lane supplies: row `row` (0..7) of the
/// `matrix`-th 8x8 matrix (0..num-1).
struct LdMatrixRow {
  int matrix = 0;
  int row = 0;
};

/// Which matrix row's start address `lane` supplies to an ldmatrix of `num`
/// (1, 2 or 4) matrices; nullopt for lanes whose address is not read (their
/// address must still be valid on sm_75 and below, not on sm_80+). PTX ISA
/// 9.7.14.5.15 "Warp-level matrix load instruction: ldmatrix", table of
/// addresses: threads 8j..8j+7 hold addr8j..addr8j+7, the rows of matrix j.
std::optional<LdMatrixRow> ldmatrixAddressRow(int lane, int num);

/// The element of the 8x8 matrix that half `half` (0: low 16 bits) of
/// `lane`'s destination register r_j holds, for the j-th matrix (the same
/// for every j). The result is in storage coordinates: `row` indexes the
/// eight row addresses, `col` the 16-bit element within the 16-byte row.
/// PTX ISA 9.7.14.5.15, Figure 104 "ldmatrix fragment layout for one 8x8
/// Matrix with 16-bit elements": lane holds row lane / 4, elements
/// 2 * (lane % 4) + half. With `.trans` ("the matrix is loaded in
/// column-major format") the roles swap: the register holds stored row
/// 2 * (lane % 4) + half, element lane / 4.
Coord ldmatrixElement(int lane, int half, bool trans);

//===----------------------------------------------------------------------===//
// wgmma.mma_async.sync.aligned.m64nNk16.f32.{f16,bf16}.{f16,bf16}
//===----------------------------------------------------------------------===//
//
// Thread `t` is the index within the warpgroup (0..127); warp t / 32 owns
// rows 16 * (t / 32) .. +15. The ISA gives these layouts only as figures;
// the formulas below read them and agree with CUTLASS's CLayout_64xN /
// ALayout_64x16 (cute/atom/mma_traits_sm90_gmma.hpp).

/// Valid N of m64nNk16 with f32 accumulators: multiples of 8 up to 256.
bool isValidWgmmaN(int n);

/// Elements per thread: A (64x16) 8, D (64xN, f32) N / 2.
constexpr int kWgmmaAElements = 8;
inline int wgmmaDElements(int n) { return n / 2; }

/// A from registers (64x16, M x K, .f16/.bf16), element a_i of thread `t`.
/// PTX ISA 9.7.15.5.1.1.1 "Matrix Fragments for wgmma.mma_async.m64nNk16",
/// Multiplicand A in registers (Figure 148): per warp, the m16n8k16 A
/// layout shifted down by 16 rows per warp.
Coord wgmmaM64NK16A(int t, int i);

/// D (64xN, f32), element d_i (0 <= i < N/2) of thread `t`. PTX ISA
/// 9.7.15.5.1.1.1, Accumulator D (Figure 149): the m16n8 accumulator layout
/// repeated every 8 columns, shifted down by 16 rows per warp:
///   row = 16 * warp + groupID (+ 8 for (i & 2)),
///   col = 8 * (i / 4) + threadID_in_group * 2 + (i & 1).
Coord wgmmaM64NK16D(int t, int i, int n);

//===----------------------------------------------------------------------===//
// Shared-memory swizzling (TMA tensor maps and wgmma descriptors)
//===----------------------------------------------------------------------===//

/// Swizzling modes, numbered as in bits 63-62 of a wgmma matrix descriptor.
enum class Swizzle : unsigned { None = 0, B128 = 1, B64 = 2, B32 = 3 };

/// Bytes in one swizzle row (the swizzle width): 16 (none), 32, 64 or 128.
unsigned swizzleWidthBytes(Swizzle mode);

/// The swizzled byte offset of `offset`, an offset from the start of a
/// repeating pattern (1024-byte aligned for 128B, 512 for 64B, 256 for
/// 32B). The 16-byte chunk index within each 128-byte line is XORed with
/// the line index modulo 8, 4 or 2; bytes within a chunk stay together.
/// PTX ISA 5.5.7 "Swizzling Modes" (tables for 32-, 64- and 128-byte
/// swizzle, 16-byte atomicity), equivalently CuTe's Swizzle<3,4,3>,
/// Swizzle<2,4,3>, Swizzle<1,4,3> on byte addresses as named in 9.7.15.5.1.2
/// "Shared Memory Matrix Layout". An involution: applying it twice gives
/// back `offset`.
uint32_t swizzleOffset(Swizzle mode, uint32_t offset);

/// CU_TENSOR_MAP_SWIZZLE_128B / descriptor mode 1: `offset` within the
/// 1024-byte pattern (or any offset from a 1024-byte aligned base)
/// -> swizzled offset. `offset ^ (((offset >> 7) & 7) << 4)`.
inline uint32_t swizzle128B(uint32_t offset) {
  return swizzleOffset(Swizzle::B128, offset);
}

//===----------------------------------------------------------------------===//
// wgmma shared-memory matrix descriptor
//===----------------------------------------------------------------------===//

/// The fields of a wgmma matrix descriptor, in bytes. PTX ISA 9.7.15.5.1.2.2
/// "Matrix Descriptor Format":
///   bits 13-0   encode(start address)
///   bits 29-16  encode(leading dimension byte offset)
///   bits 45-32  encode(stride dimension byte offset)
///   bits 51-49  matrix base offset
///   bits 63-62  swizzle mode
/// with encode(x) = (x & 0x3FFFF) >> 4; the other bits are reserved (0).
struct WgmmaDescriptor {
  uint32_t startAddress = 0;
  uint32_t leadingByteOffset = 0;
  uint32_t strideByteOffset = 0;
  unsigned baseOffset = 0;
  Swizzle swizzle = Swizzle::None;
  friend bool operator==(const WgmmaDescriptor &a, const WgmmaDescriptor &b) {
    return a.startAddress == b.startAddress &&
           a.leadingByteOffset == b.leadingByteOffset &&
           a.strideByteOffset == b.strideByteOffset &&
           a.baseOffset == b.baseOffset && a.swizzle == b.swizzle;
  }
};

/// The 64-bit descriptor; byte fields go through encode(x), so only
/// multiples of 16 below 2^18 survive a round trip.
uint64_t encodeWgmmaDescriptor(const WgmmaDescriptor &desc);
/// The fields of a 64-bit descriptor (byte fields decoded as field << 4).
WgmmaDescriptor decodeWgmmaDescriptor(uint64_t bits);
/// The reserved bits of `bits` that are set (0 for a well-formed one).
uint64_t wgmmaDescriptorReservedBits(uint64_t bits);

/// Which dimension is contiguous in shared memory (imm-trans-a/b = 0: K).
enum class Major { K, MN };

/// The shared-memory byte address of element (mn, k) of the operand a
/// descriptor describes: A is M x K (mn = m), B is K x N read as N x K
/// (mn = n). `elementBits` is 16 for f16/bf16 (also 8 and 32). The address
/// follows the canonical layouts of PTX ISA 9.7.15.5.1.2.1.3 "Canonical
/// Layouts", with T = 128 / elementBits elements per 16 bytes and W the
/// swizzle width in bytes:
///   K-major, no swizzle:  (mn%8)*16 + (mn/8)*SBO + (k%T)*eb + (k/T)*LBO
///   K-major, swizzled:    (mn%8)*W  + (mn/8)*SBO + k*eb
///   MN-major, no swizzle: (mn%T)*eb + (mn/T)*SBO + (k%8)*16 + (k/8)*LBO
///   MN-major, swizzled:   (mn%(W/eb))*eb + (mn/(W/eb))*LBO
///                         + (k%8)*W + (k/8)*SBO
/// added to the start address, then swizzled as an absolute address (the
/// pattern starting at a multiple of its size, base offset 0). nullopt for
/// a non-zero base offset, whose effect the ISA does not pin down.
std::optional<uint32_t> wgmmaOperandAddress(const WgmmaDescriptor &desc,
                                            Major major, int elementBits,
                                            int mn, int k);

} // namespace attn::emu

#endif // ATTN_EMULATOR_FRAGMENTS_H
