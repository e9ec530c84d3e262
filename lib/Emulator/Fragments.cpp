//===- Fragments.cpp - Data layouts of tensor-core and shared-memory ops --===//
//
// Transcriptions of the PTX ISA's fragment, ldmatrix, swizzle and wgmma
// descriptor layouts; see Fragments.h for the section each one follows.
//
//===----------------------------------------------------------------------===//

#include "attn/Emulator/Fragments.h"

#include <cassert>

namespace attn::emu {

// The ISA's names for the two halves of a lane index in every mma layout.
static int groupID(int lane) { return lane >> 2; }
static int threadIDInGroup(int lane) { return lane % 4; }

Coord mmaM16N8K16A(int lane, int i) {
  assert(lane >= 0 && lane < kWarpSize && i >= 0 && i < kMmaAElements);
  int row = groupID(lane) + ((i < 2 || (i >= 4 && i < 6)) ? 0 : 8);
  int col = threadIDInGroup(lane) * 2 + (i & 1) + (i < 4 ? 0 : 8);
  return {row, col};
}

Coord mmaM16N8K16B(int lane, int i) {
  assert(lane >= 0 && lane < kWarpSize && i >= 0 && i < kMmaBElements);
  int row = threadIDInGroup(lane) * 2 + (i & 1) + (i < 2 ? 0 : 8);
  return {row, groupID(lane)};
}

Coord mmaM16N8K16C(int lane, int i) {
  assert(lane >= 0 && lane < kWarpSize && i >= 0 && i < kMmaCElements);
  int row = groupID(lane) + (i < 2 ? 0 : 8);
  int col = threadIDInGroup(lane) * 2 + (i & 1);
  return {row, col};
}

std::optional<LdMatrixRow> ldmatrixAddressRow(int lane, int num) {
  assert(lane >= 0 && lane < kWarpSize);
  assert(num == 1 || num == 2 || num == 4);
  if (lane >= 8 * num)
    return std::nullopt;
  return LdMatrixRow{lane / 8, lane % 8};
}

Coord ldmatrixElement(int lane, int half, bool trans) {
  assert(lane >= 0 && lane < kWarpSize && (half == 0 || half == 1));
  Coord plain{groupID(lane), threadIDInGroup(lane) * 2 + half};
  if (!trans)
    return plain;
  return {plain.col, plain.row};
}

bool isValidWgmmaN(int n) { return n >= 8 && n <= 256 && n % 8 == 0; }

Coord wgmmaM64NK16A(int t, int i) {
  assert(t >= 0 && t < kWarpgroupSize && i >= 0 && i < kWgmmaAElements);
  // Figure 148 is four copies of the mma.m16n8k16 A figure, one per warp.
  Coord c = mmaM16N8K16A(t % kWarpSize, i);
  return {16 * (t / kWarpSize) + c.row, c.col};
}

Coord wgmmaM64NK16D(int t, int i, int n) {
  assert(isValidWgmmaN(n));
  assert(t >= 0 && t < kWarpgroupSize && i >= 0 && i < wgmmaDElements(n));
  int lane = t % kWarpSize;
  int row = 16 * (t / kWarpSize) + groupID(lane) + ((i & 2) ? 8 : 0);
  int col = 8 * (i / 4) + threadIDInGroup(lane) * 2 + (i & 1);
  return {row, col};
}

unsigned swizzleWidthBytes(Swizzle mode) {
  switch (mode) {
  case Swizzle::None:
    return 16;
  case Swizzle::B32:
    return 32;
  case Swizzle::B64:
    return 64;
  case Swizzle::B128:
    return 128;
  }
  return 16;
}

uint32_t swizzleOffset(Swizzle mode, uint32_t offset) {
  // The number of 128-byte lines before the pattern repeats, minus one:
  // Swizzle<B,4,3> XORs address bits [4, 4+B) with bits [7, 7+B).
  uint32_t lineMask = swizzleWidthBytes(mode) / 16 - 1;
  return offset ^ (((offset >> 7) & lineMask) << 4);
}

static uint64_t descriptorEncode(uint32_t x) { return (x & 0x3FFFF) >> 4; }

uint64_t encodeWgmmaDescriptor(const WgmmaDescriptor &desc) {
  assert(desc.baseOffset < 8);
  return descriptorEncode(desc.startAddress) |
         descriptorEncode(desc.leadingByteOffset) << 16 |
         descriptorEncode(desc.strideByteOffset) << 32 |
         uint64_t(desc.baseOffset & 7) << 49 |
         uint64_t(static_cast<unsigned>(desc.swizzle) & 3) << 62;
}

WgmmaDescriptor decodeWgmmaDescriptor(uint64_t bits) {
  WgmmaDescriptor desc;
  desc.startAddress = uint32_t(bits & 0x3FFF) << 4;
  desc.leadingByteOffset = uint32_t((bits >> 16) & 0x3FFF) << 4;
  desc.strideByteOffset = uint32_t((bits >> 32) & 0x3FFF) << 4;
  desc.baseOffset = unsigned((bits >> 49) & 7);
  desc.swizzle = static_cast<Swizzle>((bits >> 62) & 3);
  return desc;
}

uint64_t wgmmaDescriptorReservedBits(uint64_t bits) {
  const uint64_t used =
      0x3FFFull | 0x3FFFull << 16 | 0x3FFFull << 32 | 7ull << 49 | 3ull << 62;
  return bits & ~used;
}

std::optional<uint32_t> wgmmaOperandAddress(const WgmmaDescriptor &desc,
                                            Major major, int elementBits,
                                            int mn, int k) {
  assert(elementBits == 8 || elementBits == 16 || elementBits == 32);
  assert(mn >= 0 && k >= 0);
  if (desc.baseOffset != 0)
    return std::nullopt;
  const uint32_t eb = elementBits / 8;
  const uint32_t t = 128 / elementBits; // elements per 16 bytes
  const uint32_t lbo = desc.leadingByteOffset;
  const uint32_t sbo = desc.strideByteOffset;
  const uint32_t w = swizzleWidthBytes(desc.swizzle);
  const uint32_t umn = mn, uk = k;
  uint32_t offset;
  if (major == Major::K) {
    // ((8,m),(T,2k)) : ((1T,SBO),(1,LBO)) without swizzle,
    // ((8,m),(T,2k)) : ((W/16*T,SBO),(1,T)) with a W-byte swizzle.
    if (desc.swizzle == Swizzle::None)
      offset =
          (umn % 8) * 16 + (umn / 8) * sbo + (uk % t) * eb + (uk / t) * lbo;
    else
      offset = (umn % 8) * w + (umn / 8) * sbo + uk * eb;
  } else {
    // ((T,1,m),(8,k)) : ((1,T,SBO),(1T,LBO)) without swizzle,
    // ((T,W/16,m),(8,k)) : ((1,T,LBO),(W/16*T,SBO)) with a W-byte swizzle.
    if (desc.swizzle == Swizzle::None) {
      offset =
          (umn % t) * eb + (umn / t) * sbo + (uk % 8) * 16 + (uk / 8) * lbo;
    } else {
      uint32_t perLine = w / eb;
      offset = (umn % perLine) * eb + (umn / perLine) * lbo + (uk % 8) * w +
               (uk / 8) * sbo;
    }
  }
  return swizzleOffset(desc.swizzle, desc.startAddress + offset);
}

} // namespace attn::emu
