//===- Hopper.cpp - mbarriers, TMA and wgmma ------------------------------===//
//
// sm_90's asynchronous machinery: mbarriers (phases, arrival counts and
// transaction bytes), TMA tile copies from the tensor map the host encoded
// (zero fill, swizzle), landing at the mbarrier wait that completes their
// phase, and wgmma with its fence, commit and wait groups (results and
// shared-memory operands pending until their group retires).
//
//===----------------------------------------------------------------------===//

#include "Machine.h"

#include "attn/Emulator/Fragments.h"

#include "llvm/ADT/StringExtras.h"

#include <cstring>

using namespace attn::emu;

namespace attn::emu::detail {

//===----------------------------------------------------------------------===//
// mbarriers and TMA
//===----------------------------------------------------------------------===//

MBarrier *findBarrier(CTA &cta, const Inst &inst, uint64_t address) {
  address = sharedAddress(address);
  auto it = cta.mbarriers.find(address);
  if (it == cta.mbarriers.end()) {
    cta.report(inst, "uninitialised",
               "mbarrier at shared address " + std::to_string(address) +
                   " is used before mbarrier.init");
    return nullptr;
  }
  return &it->second;
}

void arrive(CTA &cta, const Inst &inst, MBarrier &b, uint64_t address,
            uint32_t count) {
  if (b.pending < count) {
    cta.report(inst, "deadlock",
               "more arrivals on the mbarrier at " + std::to_string(address) +
                   " than its count in one phase");
    return;
  }
  b.pending -= count;
  if (b.pending == 0 && b.tx == 0) {
    ++b.phase;
    b.pending = b.count;
  }
}

static const char *kTensorMapName = "tensor map";

/// Where TMA puts box byte `linear` (its offset in the dense box) for a
/// destination `dst`: the 16-byte chunk's absolute shared address swizzled.
static uint64_t tmaDestination(const TensorMap &map, uint64_t dst,
                               uint64_t linear) {
  static const Swizzle modes[] = {Swizzle::None, Swizzle::B32, Swizzle::B64,
                                  Swizzle::B128};
  uint64_t chunk = dst + (linear & ~uint64_t(15));
  uint64_t swizzled =
      map.swizzle ? swizzleOffset(modes[map.swizzle & 3], uint32_t(chunk))
                  : chunk;
  return swizzled + (linear & 15);
}

static uint64_t boxBytes(const TensorMap &map) {
  uint64_t n = map.elementBytes;
  for (uint32_t d = 0; d < map.rank; ++d)
    n *= map.box[d];
  return n;
}

void tmaLoad(CTA &cta, const Inst &inst) {
  unsigned coords = unsigned(inst.a);
  for (uint32_t t = 0; t < cta.threads; ++t) {
    if (!cta.active[t] || !cta.lanePredicate(inst, t))
      continue;
    TmaCopy copy;
    copy.inst = inst.index;
    copy.thread = int32_t(t);
    copy.dst = sharedAddress(cta.reg(inst.operands[0], 0, t));
    uint64_t mapAddress = cta.reg(inst.operands[1], 0, t);
    copy.mbarrier = sharedAddress(cta.reg(inst.operands[2 + coords], 0, t));
    if (!cta.readBytes(inst, 1, mapAddress, sizeof(TensorMap),
                       reinterpret_cast<uint8_t *>(&copy.map), -1))
      continue;
    const TensorMap &map = copy.map;
    if (map.magic != TensorMap::kMagic || map.rank != coords || map.rank == 0 ||
        map.rank > 5 ||
        (map.elementBytes != 1 && map.elementBytes != 2 &&
         map.elementBytes != 4)) {
      cta.report(inst, "invalid",
                 std::string("the ") + kTensorMapName +
                     " operand does not hold a map the emulator runtime "
                     "encoded with " +
                     std::to_string(coords) + " dimensions");
      continue;
    }
    for (unsigned d = 0; d < coords; ++d)
      copy.coords[d] = int64_t(int32_t(cta.reg(inst.operands[2 + d], 0, t)));
    if (copy.dst % 128 != 0)
      cta.report(inst, "misaligned",
                 "TMA destination " + std::to_string(copy.dst) +
                     " is not 128-byte aligned");
    static const unsigned widths[] = {0, 32, 64, 128};
    if (map.swizzle && map.box[0] * map.elementBytes > widths[map.swizzle & 3])
      cta.report(inst, "invalid",
                 "the box's inner dimension is wider than the swizzle");
    MBarrier *b = findBarrier(cta, inst, copy.mbarrier);
    if (!b)
      continue;
    uint64_t bytes = boxBytes(map);
    bool inside = true;
    for (uint64_t chunk = 0; chunk < bytes && inside; chunk += 16) {
      uint64_t at = tmaDestination(map, copy.dst, chunk);
      std::optional<uint64_t> offset = cta.sharedOffset(inst, at, 16);
      if (!offset) {
        inside = false;
        break;
      }
      issueAsyncWrite(cta, inst, *offset, std::min<uint64_t>(16, bytes - chunk),
                      int32_t(t));
    }
    if (inside)
      cta.tmaInFlight.push_back(copy);
  }
}

/// Lands every TMA copy that completes the mbarrier at `address`.
static void landTma(CTA &cta, const Inst &inst, uint64_t address, MBarrier &b) {
  std::vector<TmaCopy> still;
  for (const TmaCopy &copy : cta.tmaInFlight) {
    if (copy.mbarrier != address) {
      still.push_back(copy);
      continue;
    }
    const TensorMap &map = copy.map;
    uint64_t eb = map.elementBytes, bytes = boxBytes(map);
    std::vector<uint8_t> box(bytes, 0);
    uint64_t count = bytes / eb;
    for (uint64_t e = 0; e < count; ++e) {
      uint64_t rest = e, address = map.base;
      bool in = true;
      for (uint32_t d = 0; d < map.rank; ++d) {
        int64_t c = copy.coords[d] + int64_t(rest % map.box[d]);
        rest /= map.box[d];
        if (c < 0 || uint64_t(c) >= map.dims[d]) {
          in = false;
          break;
        }
        address += d == 0 ? uint64_t(c) * eb : uint64_t(c) * map.strides[d - 1];
      }
      if (!in)
        continue; // out-of-bounds elements are filled with zeros
      if (!cta.globalOk(address, eb)) {
        cta.report(inst, "out-of-bounds",
                   "a TMA copy reads global address 0x" +
                       llvm::utohexstr(address) +
                       " (inside the tensor map's dims), outside every "
                       "allocation");
        continue;
      }
      std::memcpy(box.data() + e * eb, reinterpret_cast<const void *>(address),
                  eb);
    }
    for (uint64_t chunk = 0; chunk < bytes; chunk += 16) {
      uint64_t at = tmaDestination(map, copy.dst, chunk) - kSharedBase;
      landAsyncWrite(cta, inst, at, box.data() + chunk,
                     std::min<uint64_t>(16, bytes - chunk), -1);
    }
    b.tx -= int64_t(bytes);
  }
  cta.tmaInFlight = std::move(still);
  if (b.tx < 0)
    cta.report(inst, "deadlock",
               "the TMA copies on the mbarrier at " + std::to_string(address) +
                   " moved " + std::to_string(-b.tx) +
                   " more bytes than expect_tx announced");
  if (b.pending == 0 && b.tx <= 0) {
    ++b.phase;
    b.pending = b.count;
    b.tx = 0;
  }
}

void mbarrierWait(CTA &cta, const Inst &inst) {
  for (uint32_t t = 0; t < cta.threads; ++t) {
    if (!cta.active[t])
      continue;
    uint64_t address = sharedAddress(cta.reg(inst.operands[0], 0, t));
    uint32_t parity = uint32_t(cta.reg(inst.operands[1], 0, t)) & 1;
    MBarrier *b = findBarrier(cta, inst, address);
    if (!b)
      continue;
    if ((b->phase & 1) == parity)
      landTma(cta, inst, address, *b);
    if ((b->phase & 1) == parity)
      cta.report(inst, "deadlock",
                 "thread " + std::to_string(t) +
                     " waits for the phase of parity " +
                     std::to_string(parity) + " of the mbarrier at " +
                     std::to_string(address) + ", which never completes (" +
                     std::to_string(b->pending) + " arrivals and " +
                     std::to_string(b->tx) + " transaction bytes missing)");
  }
}

//===----------------------------------------------------------------------===//
// wgmma
//===----------------------------------------------------------------------===//

static void tiedCopy(CTA &cta, const Inst &inst) {
  uint32_t k = 0;
  for (const Ref &r : inst.operands)
    for (uint32_t i = 0; i < r.leaves && k < inst.result.leaves; ++i, ++k)
      for (uint32_t t = 0; t < cta.threads; ++t)
        if (cta.active[t]) {
          cta.reg(inst.result, k, t) = cta.reg(r, i, t);
          cta.pendingSeq[(inst.result.slot + k) * cta.threads + t] =
              cta.pendingSeq[(r.slot + i) * cta.threads + t];
        }
}

static void retireWgmma(CTA &cta, uint32_t g, WgmmaGroup &group) {
  for (uint64_t offset : group.sharedBytes)
    if (cta.shadow[offset].asyncReads)
      --cta.shadow[offset].asyncReads;
  cta.wgmmaRetired[g] = group.seq;
  if (group.used && cta.liveWgmmaGroups)
    --cta.liveWgmmaGroups;
}

void wgmmaMma(CTA &cta, const Inst &inst) {
  int n = int(inst.a);
  bool bf16 = inst.b != 0;
  Major majorB = inst.c ? Major::MN : Major::K;
  uint32_t scaleDOperand = uint32_t(inst.data[0]);
  uint32_t descOperand = uint32_t(inst.data[5]);
  float scaleA = float(int64_t(inst.data[6])),
        scaleB = float(int64_t(inst.data[7]));
  for (uint32_t g = 0; g < (cta.threads + 127) / 128; ++g) {
    uint32_t base = 128 * g;
    if (!converged(cta, inst, base, 128, "wgmma.mma_async"))
      continue;
    uint64_t descBits = cta.reg(inst.operands[descOperand], 0, base);
    bool scaleD = cta.reg(inst.operands[scaleDOperand], 0, base) & 1;
    for (uint32_t t = base; t < base + 128; ++t)
      if (cta.reg(inst.operands[descOperand], 0, t) != descBits ||
          (cta.reg(inst.operands[scaleDOperand], 0, t) & 1) != scaleD) {
        cta.report(inst, "divergence",
                   "the threads of the warpgroup pass different B "
                   "descriptors or scale-d values to wgmma");
        break;
      }
    if (uint64_t reserved = wgmmaDescriptorReservedBits(descBits))
      cta.report(inst, "invalid",
                 "the B descriptor sets reserved bits 0x" +
                     llvm::utohexstr(reserved));
    WgmmaDescriptor desc = decodeWgmmaDescriptor(descBits);
    std::vector<float> a(64 * 16), b(size_t(n) * 16);
    for (uint32_t t = 0; t < 128; ++t)
      for (int i = 0; i < kWgmmaAElements; ++i) {
        Coord at = wgmmaM64NK16A(int(t), i);
        uint32_t reg = word(cta, inst.operands[inst.data[1 + i / 2]], base + t);
        a[at.row * 16 + at.col] = half16(reg >> (16 * (i & 1)), bf16) * scaleA;
      }
    WgmmaGroup &group = cta.wgmmaOpen[g];
    bool readable = true;
    for (int col = 0; col < n && readable; ++col)
      for (int k = 0; k < 16; ++k) {
        std::optional<uint32_t> address =
            wgmmaOperandAddress(desc, majorB, 16, col, k);
        if (!address) {
          cta.report(inst, "invalid",
                     "the B descriptor has a non-zero base offset, whose "
                     "effect the emulator does not model");
          readable = false;
          break;
        }
        std::optional<uint64_t> offset = cta.sharedOffset(inst, *address, 2);
        if (!offset) {
          readable = false;
          break;
        }
        for (uint64_t byte = *offset; byte < *offset + 2; ++byte) {
          ShadowByte &s = cta.shadow[byte];
          if (s.inFlight)
            cta.report(inst, "in-flight",
                       "wgmma reads B from shared byte " +
                           std::to_string(byte) +
                           " while an asynchronous copy into it is in "
                           "flight (no mbarrier wait before the wgmma)");
          if (s.unfenced)
            cta.report(inst, "race",
                       "wgmma (the async proxy) reads shared byte " +
                           std::to_string(byte) + " that thread " +
                           std::to_string(s.writer.thread) +
                           " wrote with a generic store, with no "
                           "fence.proxy.async in between");
          ++s.asyncReads;
          group.sharedBytes.push_back(byte);
        }
        uint16_t v;
        std::memcpy(&v, cta.shared.data() + *offset, 2);
        b[size_t(col) * 16 + k] = half16(v, bf16) * scaleB;
      }
    if (!readable)
      continue;
    for (uint32_t t = 0; t < 128; ++t)
      for (int i = 0; i < wgmmaDElements(n); ++i) {
        Coord at = wgmmaM64NK16D(int(t), i, n);
        double sum = scaleD ? double(asFloat(uint32_t(
                                  cta.reg(inst.operands[i], 0, base + t))))
                            : 0.0;
        for (int k = 0; k < 16; ++k)
          sum += double(a[at.row * 16 + k]) * double(b[at.col * 16 + k]);
        uint32_t slot = inst.result.slot + uint32_t(i);
        cta.reg(slot, base + t) = floatBits(float(sum));
        cta.pendingSeq[slot * cta.threads + base + t] = group.seq;
      }
    if (!group.used) {
      group.used = true;
      ++cta.liveWgmmaGroups;
    }
  }
}

void wgmmaGroupOp(CTA &cta, const Inst &inst) {
  for (uint32_t g = 0; g < (cta.threads + 127) / 128; ++g) {
    uint32_t base = 128 * g;
    if (!converged(cta, inst, base, 128,
                   inst.op == Opcode::AsmWgmmaCommit ? "wgmma.commit_group"
                   : inst.op == Opcode::AsmWgmmaWait ? "wgmma.wait_group"
                                                     : "wgmma.fence"))
      continue;
    if (inst.op == Opcode::AsmWgmmaCommit) {
      uint32_t seq = cta.wgmmaOpen[g].seq;
      cta.wgmmaGroups[g].push_back(std::move(cta.wgmmaOpen[g]));
      cta.wgmmaOpen[g] = WgmmaGroup{};
      cta.wgmmaOpen[g].seq = seq + 1;
    } else if (inst.op == Opcode::AsmWgmmaWait) {
      auto &groups = cta.wgmmaGroups[g];
      while (groups.size() > size_t(inst.a)) {
        retireWgmma(cta, g, groups.front());
        groups.pop_front();
      }
    }
  }
  if (inst.result.leaves)
    tiedCopy(cta, inst);
}

} // namespace attn::emu::detail
