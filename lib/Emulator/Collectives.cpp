//===- Collectives.cpp - Warp-level and asynchronous operations -----------===//
//
// The operations of the emulated kernels that involve more than one thread
// or complete later than they are issued: barriers, shuffles and votes,
// mma.sync and ldmatrix through the layout tables of Fragments.h, cp.async
// groups, the inline assembly the kernels use (recognised by its exact
// text), and the dispatch of all of them; sm_90's mbarriers, TMA and wgmma
// are in Hopper.cpp.
//
// Asynchronous copies land at the wait that makes them visible (cp.async at
// wait_group, TMA at the mbarrier wait), not when issued; until then their
// destination bytes are in flight and a read of them is reported.
//
//===----------------------------------------------------------------------===//

#include "Machine.h"

#include "attn/Emulator/Fragments.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "llvm/ADT/StringExtras.h"

#include <cmath>
#include <cstring>
#include <regex>

using namespace attn::emu;
using namespace attn::emu::detail;

namespace attn::emu::detail {

/// The 32-bit register a value of one i32 or two 16-bit scalars forms.
uint32_t word(CTA &cta, const Ref &ref, uint32_t t) {
  if (ref.leaves == 2)
    return uint32_t(cta.reg(ref, 0, t) & 0xffff) |
           uint32_t(cta.reg(ref, 1, t) & 0xffff) << 16;
  return uint32_t(cta.reg(ref, 0, t));
}

float half16(uint32_t bits, bool bf16) {
  return bf16 ? bf16ToFloat(uint16_t(bits)) : halfToFloat(uint16_t(bits));
}

/// Whether every lane of each warp in `warps` is active; reports the op
/// otherwise. `width` is 32 for warp ops, 128 for warpgroup ops.
bool converged(CTA &cta, const Inst &inst, uint32_t first, uint32_t width,
               const char *what) {
  uint32_t active = 0;
  for (uint32_t t = first; t < first + width && t < cta.threads; ++t)
    active += cta.active[t];
  if (active == 0)
    return false;
  if (active != std::min(width, cta.threads - first)) {
    cta.report(inst, "divergence",
               std::string(what) + " executed by " + std::to_string(active) +
                   " of the " + std::to_string(width) + " threads from " +
                   std::to_string(first) +
                   " (it needs them all, converged: .sync.aligned)");
    return false;
  }
  for (uint32_t w = first / 32; w * 32 < first + width && w < cta.warps(); ++w)
    if (mlir::Operation *branch = cta.divergedAt[w]) {
      cta.report(inst, "divergence",
                 std::string(what) + " executed by warp " + std::to_string(w) +
                     ", which has not re-converged since it diverged at " +
                     describe(branch) +
                     ": with independent thread scheduling only "
                     "bar.warp.sync, a CTA barrier or a full-mask "
                     "shfl/vote.sync re-converge a warp, and .aligned ops "
                     "need it converged");
      cta.divergedAt[w] = nullptr; // one report per divergence
      return false;
    }
  return true;
}

/// A synchronising instruction (bar.warp.sync, shfl.sync, vote.sync) whose
/// member mask holds every live lane of warp `w`, all executing it,
/// re-converges the warp.
void reconverge(CTA &cta, uint32_t w, uint32_t member) {
  for (uint32_t l = 0; l < 32 && 32 * w + l < cta.threads; ++l) {
    uint32_t t = 32 * w + l;
    if (!cta.exited[t] && (!cta.active[t] || !((member >> l) & 1)))
      return;
  }
  cta.divergedAt[w] = nullptr;
}

uint64_t sharedAddress(uint64_t v) { return v & ~kTagMask; }

/// Marks [offset, +bytes) as the destination of an asynchronous write
/// issued now, reporting conflicts with unsynchronised accesses.
void issueAsyncWrite(CTA &cta, const Inst &inst, uint64_t offset,
                     uint64_t bytes, int32_t thread) {
  for (uint64_t i = offset; i < offset + bytes; ++i) {
    ShadowByte &s = cta.shadow[i];
    if (s.asyncReads)
      cta.report(inst, "race",
                 "an asynchronous copy into shared byte " + std::to_string(i) +
                     " is issued while an unretired wgmma reads it");
    for (const Access &r : s.readers)
      if (!cta.ordered(r, thread))
        cta.report(inst, "race",
                   "an asynchronous copy issued by thread " +
                       std::to_string(thread) + " overwrites shared byte " +
                       std::to_string(i) + " that thread " +
                       std::to_string(r.thread) + " read at instruction " +
                       std::to_string(r.inst) + " with no barrier in between");
    if (!cta.ordered(s.writer, thread))
      cta.report(
          inst, "race",
          "an asynchronous copy issued by thread " + std::to_string(thread) +
              " overwrites shared byte " + std::to_string(i) + " that thread " +
              std::to_string(s.writer.thread) + " wrote at instruction " +
              std::to_string(s.writer.inst) + " with no barrier in between");
    ++s.inFlight;
  }
}

/// Lands an asynchronous write: the bytes become the writer's (for a
/// cp.async, its thread; for TMA, nobody's: the mbarrier wait orders it).
void landAsyncWrite(CTA &cta, const Inst &inst, uint64_t offset,
                    const uint8_t *data, uint64_t bytes, int32_t thread) {
  for (uint64_t i = 0; i < bytes; ++i) {
    ShadowByte &s = cta.shadow[offset + i];
    if (s.inFlight)
      --s.inFlight;
    s.writer = thread < 0 ? Access{}
                          : Access{thread, inst.index, cta.epoch,
                                   cta.warpEpoch[thread / 32]};
    s.readers[0] = s.readers[1] = Access{};
  }
  std::memcpy(cta.shared.data() + offset, data, bytes);
}

} // namespace attn::emu::detail

namespace {

//===----------------------------------------------------------------------===//
// Barriers, shuffles, votes
//===----------------------------------------------------------------------===//

void barrier(CTA &cta, const Inst &inst) {
  uint32_t waiting = 0, alive = 0;
  for (uint32_t t = 0; t < cta.threads; ++t) {
    alive += !cta.exited[t];
    waiting += cta.active[t];
  }
  if (waiting != alive)
    cta.report(inst, "divergence",
               "bar.sync reached by " + std::to_string(waiting) + " of the " +
                   std::to_string(alive) +
                   " live threads of the CTA (the others would hang or "
                   "pass a different barrier)");
  else
    std::fill(cta.divergedAt.begin(), cta.divergedAt.end(), nullptr);
  ++cta.epoch;
  if (inst.a == 0)
    return;
  // bar.red: the predicates (the i32 operand != 0, as the op's translation
  // compares it) of the threads that arrive, reduced; each gets the result.
  auto kind = mlir::NVVM::BarrierReduction(inst.a - 1);
  uint64_t count = 0, all = 1, any = 0;
  for (uint32_t t = 0; t < cta.threads; ++t)
    if (cta.active[t]) {
      uint64_t p = uint32_t(cta.reg(inst.operands[0], 0, t)) != 0;
      count += p;
      all &= p;
      any |= p;
    }
  uint64_t r = kind == mlir::NVVM::BarrierReduction::POPC ? count
               : kind == mlir::NVVM::BarrierReduction::AND ? all
                                                            : any;
  for (uint32_t t = 0; t < cta.threads; ++t)
    if (cta.active[t])
      cta.reg(inst.result, 0, t) = r;
}

void warpSync(CTA &cta, const Inst &inst) {
  for (uint32_t w = 0; w < cta.warps(); ++w) {
    bool any = false;
    uint32_t mask = 0;
    for (uint32_t l = 0; l < 32; ++l) {
      uint32_t t = 32 * w + l;
      if (t >= cta.threads || !cta.active[t])
        continue;
      any = true;
      mask = uint32_t(cta.reg(inst.operands[0], 0, t));
      for (uint32_t m = 0; m < 32; ++m)
        if (32 * w + m < cta.threads && cta.active[32 * w + m] &&
            !((mask >> m) & 1)) {
          cta.report(inst, "divergence",
                     "bar.warp.sync executed by lane " + std::to_string(m) +
                         ", which is not in its member mask (undefined)");
          break;
        }
      for (uint32_t m = 0; m < 32; ++m)
        if ((mask >> m) & 1) {
          uint32_t u = 32 * w + m;
          if (u >= cta.threads || (!cta.active[u] && !cta.exited[u])) {
            cta.report(inst, "divergence",
                       "bar.warp.sync with lane " + std::to_string(m) +
                           " in its mask, which does not reach it");
            break;
          }
        }
      break;
    }
    if (any) {
      ++cta.warpEpoch[w];
      reconverge(cta, w, mask);
    }
  }
}

void shuffle(CTA &cta, const Inst &inst) {
  const auto &in = inst.operands; // mask, value, offset, mask_and_clamp
  auto kind = mlir::NVVM::ShflKind(inst.a);
  for (uint32_t w = 0; w < cta.warps(); ++w) {
    uint32_t base = 32 * w;
    uint64_t values[32];
    bool anyActive = false;
    for (uint32_t l = 0; l < 32 && base + l < cta.threads; ++l) {
      values[l] = cta.reg(in[1], 0, base + l);
      anyActive |= cta.active[base + l] != 0;
    }
    if (!anyActive)
      continue;
    uint32_t member = 0;
    for (uint32_t l = 0; l < 32 && base + l < cta.threads; ++l) {
      uint32_t t = base + l;
      if (!cta.active[t])
        continue;
      member = uint32_t(cta.reg(in[0], 0, t));
      for (uint32_t m = 0; m < 32; ++m)
        if (((member >> m) & 1) &&
            (base + m >= cta.threads || !cta.active[base + m])) {
          cta.report(inst, "divergence",
                     "shfl.sync with lane " + std::to_string(m) +
                         " in its member mask, which does not execute it");
          break;
        }
      uint32_t b = uint32_t(cta.reg(in[2], 0, t));
      uint32_t c = uint32_t(cta.reg(in[3], 0, t));
      uint32_t segmask = (c >> 8) & 0x1f, clamp = c & 0x1f;
      uint32_t minLane = l & segmask;
      uint32_t maxLane = minLane | (clamp & ~segmask);
      int64_t j = l;
      bool valid = true;
      switch (kind) {
      case mlir::NVVM::ShflKind::up:
        j = int64_t(l) - int64_t(b);
        valid = j >= int64_t(maxLane);
        break;
      case mlir::NVVM::ShflKind::down:
        j = int64_t(l) + b;
        valid = j <= int64_t(maxLane);
        break;
      case mlir::NVVM::ShflKind::bfly:
        j = l ^ b;
        valid = j <= int64_t(maxLane);
        break;
      case mlir::NVVM::ShflKind::idx:
        j = minLane | ((b & 0x1f) & ~segmask); // b[4:0]
        valid = j <= int64_t(maxLane);
        break;
      }
      if (!valid)
        j = l;
      if (j < 0 || j >= 32 || !((member >> j) & 1) || base + j >= cta.threads ||
          !cta.active[base + j]) {
        cta.report(inst, "divergence",
                   "shfl.sync in lane " + std::to_string(l) + " reads lane " +
                       std::to_string(j) +
                       ", which is not in the member mask (undefined)");
        j = l;
      }
      cta.reg(inst.result, 0, t) = values[j];
      if (inst.b)
        cta.reg(inst.result, 1, t) = valid;
    }
    reconverge(cta, w, member);
  }
}

void vote(CTA &cta, const Inst &inst) {
  auto kind = mlir::NVVM::VoteSyncKind(inst.a);
  for (uint32_t w = 0; w < cta.warps(); ++w) {
    uint32_t base = 32 * w, ballot = 0, member = 0;
    bool any = false;
    for (uint32_t l = 0; l < 32 && base + l < cta.threads; ++l)
      if (cta.active[base + l]) {
        any = true;
        member = uint32_t(cta.reg(inst.operands[0], 0, base + l));
        ballot |= uint32_t(cta.reg(inst.operands[1], 0, base + l) & 1) << l;
      }
    if (!any)
      continue;
    uint32_t activeMask = 0;
    for (uint32_t l = 0; l < 32 && base + l < cta.threads; ++l)
      activeMask |= uint32_t(cta.active[base + l] != 0) << l;
    if ((member & ~activeMask) != 0)
      cta.report(inst, "divergence",
                 "vote.sync with lanes in its member mask that do not "
                 "execute it");
    ballot &= member;
    for (uint32_t l = 0; l < 32 && base + l < cta.threads; ++l) {
      if (!cta.active[base + l])
        continue;
      uint64_t r = 0;
      switch (kind) {
      case mlir::NVVM::VoteSyncKind::ballot:
        r = ballot;
        break;
      case mlir::NVVM::VoteSyncKind::any:
        r = ballot != 0;
        break;
      case mlir::NVVM::VoteSyncKind::all:
        r = ballot == (member & activeMask);
        break;
      case mlir::NVVM::VoteSyncKind::uni:
        r = ballot == 0 || ballot == (member & activeMask);
        break;
      }
      cta.reg(inst.result, 0, base + l) = r;
    }
    reconverge(cta, w, member);
  }
}

//===----------------------------------------------------------------------===//
// mma.sync and ldmatrix
//===----------------------------------------------------------------------===//

void mmaSync(CTA &cta, const Inst &inst) {
  bool bf16 = inst.a != 0;
  const auto &in = inst.operands; // A[4], B[2], C[4]
  for (uint32_t w = 0; w < cta.warps(); ++w) {
    uint32_t base = 32 * w;
    if (!converged(cta, inst, base, 32, "mma.sync"))
      continue;
    float a[16][16], b[16][8], c[16][8];
    for (int l = 0; l < 32; ++l) {
      for (int i = 0; i < kMmaAElements; ++i) {
        Coord at = mmaM16N8K16A(l, i);
        uint32_t reg = word(cta, in[i / 2], base + l);
        a[at.row][at.col] = half16(reg >> (16 * (i & 1)), bf16);
      }
      for (int i = 0; i < kMmaBElements; ++i) {
        Coord at = mmaM16N8K16B(l, i);
        uint32_t reg = word(cta, in[4 + i / 2], base + l);
        b[at.row][at.col] = half16(reg >> (16 * (i & 1)), bf16);
      }
      for (int i = 0; i < kMmaCElements; ++i) {
        Coord at = mmaM16N8K16C(l, i);
        c[at.row][at.col] = asFloat(uint32_t(cta.reg(in[6 + i], 0, base + l)));
      }
    }
    for (int l = 0; l < 32; ++l)
      for (int i = 0; i < kMmaCElements; ++i) {
        Coord at = mmaM16N8K16C(l, i);
        double sum = 0;
        for (int k = 0; k < 16; ++k)
          sum += double(a[at.row][k]) * double(b[k][at.col]);
        cta.reg(inst.result, uint32_t(i), base + l) =
            floatBits(float(sum + double(c[at.row][at.col])));
      }
  }
}

void ldmatrix(CTA &cta, const Inst &inst) {
  int num = int(inst.a);
  bool trans = inst.b != 0;
  for (uint32_t w = 0; w < cta.warps(); ++w) {
    uint32_t base = 32 * w;
    if (!converged(cta, inst, base, 32, "ldmatrix"))
      continue;
    uint8_t rows[4][8][16] = {};
    for (int l = 0; l < 32; ++l) {
      std::optional<LdMatrixRow> row = ldmatrixAddressRow(l, num);
      if (!row)
        continue;
      uint64_t address = sharedAddress(cta.reg(inst.operands[0], 0, base + l));
      if (address % 16 != 0) {
        cta.report(inst, "misaligned",
                   "ldmatrix row address " + std::to_string(address) +
                       " of lane " + std::to_string(l) +
                       " is not 16-byte aligned");
        continue;
      }
      cta.readBytes(inst, 3, address, 16, rows[row->matrix][row->row],
                    int32_t(base + l));
    }
    for (int l = 0; l < 32; ++l)
      for (int j = 0; j < num; ++j) {
        uint32_t reg = 0;
        for (int half = 0; half < 2; ++half) {
          Coord e = ldmatrixElement(l, half, trans);
          uint16_t v;
          std::memcpy(&v, &rows[j][e.row][2 * e.col], 2);
          reg |= uint32_t(v) << (16 * half);
        }
        cta.reg(inst.result, uint32_t(j), base + l) = reg;
      }
  }
}

//===----------------------------------------------------------------------===//
// cp.async
//===----------------------------------------------------------------------===//

void cpAsync(CTA &cta, const Inst &inst) {
  uint32_t size = uint32_t(inst.a);
  for (uint32_t t = 0; t < cta.threads; ++t) {
    if (!cta.active[t])
      continue;
    CpAsyncCopy copy;
    copy.dst = sharedAddress(cta.reg(inst.operands[0], 0, t));
    copy.src = cta.reg(inst.operands[1], 0, t);
    copy.size = size;
    copy.srcSize = inst.operands.size() > 2
                       ? uint32_t(cta.reg(inst.operands[2], 0, t))
                       : size;
    copy.inst = inst.index;
    if (copy.dst % size != 0 || copy.src % size != 0) {
      cta.report(inst, "misaligned",
                 "cp.async of " + std::to_string(size) +
                     " bytes with a misaligned address (thread " +
                     std::to_string(t) + ")");
      continue;
    }
    if (copy.srcSize > size) {
      cta.report(inst, "out-of-bounds",
                 "cp.async source size " + std::to_string(copy.srcSize) +
                     " exceeds the copy size " + std::to_string(size));
      copy.srcSize = size;
    }
    if (copy.srcSize && !cta.globalOk(copy.src, copy.srcSize)) {
      cta.report(inst, "out-of-bounds",
                 "cp.async by thread " + std::to_string(t) + " reads " +
                     std::to_string(copy.srcSize) +
                     " bytes at global address 0x" + llvm::utohexstr(copy.src) +
                     ", outside every allocation");
      copy.srcSize = 0;
    }
    std::optional<uint64_t> offset = cta.sharedOffset(inst, copy.dst, size);
    if (!offset)
      continue;
    issueAsyncWrite(cta, inst, *offset, size, int32_t(t));
    cta.cpOpen[t].push_back(copy);
  }
}

} // namespace

void detail::retireCpAsync(CTA &cta, const Inst &inst, uint32_t t,
                           size_t keep) {
  auto &groups = cta.cpGroups[t];
  while (groups.size() > keep) {
    for (const CpAsyncCopy &copy : groups.front()) {
      uint8_t data[16] = {};
      if (copy.srcSize)
        std::memcpy(data, reinterpret_cast<const void *>(copy.src),
                    copy.srcSize);
      landAsyncWrite(cta, inst, copy.dst - kSharedBase, data, copy.size,
                     int32_t(t));
    }
    groups.pop_front();
  }
}

//===----------------------------------------------------------------------===//
// Inline assembly
//===----------------------------------------------------------------------===//

Opcode detail::classifyAsm(const std::string &raw, Inst &inst,
                           std::string &why) {
  // Whitespace-insensitive, otherwise exact.
  std::string text;
  for (char ch : raw) {
    bool space = std::isspace(static_cast<unsigned char>(ch));
    if (space && (text.empty() || text.back() == ' '))
      continue;
    text += space ? ' ' : ch;
  }
  while (!text.empty() && text.back() == ' ')
    text.pop_back();
  if (text == "fence.proxy.tensormap::generic.acquire.sys [$0], 128;")
    return Opcode::AsmFenceProxyTensormap;
  if (text == "fence.proxy.async.shared::cta;" || text == "fence.proxy.async;")
    return Opcode::AsmFenceProxyAsync;
  if (text == "wgmma.fence.sync.aligned;")
    return Opcode::AsmWgmmaFence;
  if (text == "wgmma.commit_group.sync.aligned;")
    return Opcode::AsmWgmmaCommit;
  std::smatch m;
  static const std::regex wait(
      R"(^wgmma\.wait_group\.sync\.aligned ([0-7]);$)");
  if (std::regex_match(text, m, wait)) {
    inst.a = std::stoi(m[1]);
    return Opcode::AsmWgmmaWait;
  }
  if (text == "{ .reg .pred P1; LAB_WAIT: mbarrier.try_wait.parity.shared.b64 "
              "P1, [$0], $1, $2; @P1 bra.uni DONE; bra.uni LAB_WAIT; DONE: }")
    return Opcode::AsmMBarrierWaitLoop;
  static const std::regex mma(
      R"(^\{ \.reg \.pred p; setp\.ne\.b32 p, \$(\d+), 0; )"
      R"(wgmma\.mma_async\.sync\.aligned\.m64n(\d+)k16\.f32\.(bf16|f16)\.(bf16|f16) )"
      R"(\{([^}]*)\}, \{\$(\d+), \$(\d+), \$(\d+), \$(\d+)\}, \$(\d+), p, (-?1), (-?1), ([01]); \}$)");
  if (!std::regex_match(text, m, mma))
    return Opcode::Nop;
  int n = std::stoi(m[2]);
  if (!isValidWgmmaN(n) || m[3] != m[4]) {
    why = "an unsupported wgmma shape or mixed multiplicand types";
    return Opcode::Nop;
  }
  // Operands are numbered outputs first: $0..$(n/2-1) must be D in order.
  std::string expected;
  for (int i = 0; i < n / 2; ++i)
    expected += (i ? ", $" : "$") + std::to_string(i);
  if (m[5] != expected) {
    why = "the accumulator list is not $0..$" + std::to_string(n / 2 - 1);
    return Opcode::Nop;
  }
  auto operand = [&](int group) {
    return uint64_t(std::stoi(m[group]) - n / 2);
  };
  inst.a = n;
  inst.b = m[3] == "bf16";
  inst.c = std::stoi(m[13]);
  inst.data = {operand(1),
               operand(6),
               operand(7),
               operand(8),
               operand(9),
               operand(10),
               uint64_t(int64_t(std::stoi(m[11]))),
               uint64_t(int64_t(std::stoi(m[12])))};
  for (int i = 0; i < 6; ++i)
    if (inst.data[i] >= inst.operands.size()) {
      why = "an operand number beyond the operands";
      return Opcode::Nop;
    }
  if (inst.result.leaves != unsigned(n / 2)) {
    why = "the result does not hold N/2 accumulators";
    return Opcode::Nop;
  }
  return Opcode::AsmWgmmaMma;
}

//===----------------------------------------------------------------------===//
// Dispatch
//===----------------------------------------------------------------------===//

void detail::executeCollective(CTA &cta, const Inst &inst) {
  switch (inst.op) {
  case Opcode::Barrier:
    return barrier(cta, inst);
  case Opcode::WarpSync:
    return warpSync(cta, inst);
  case Opcode::Shfl:
    return shuffle(cta, inst);
  case Opcode::Vote:
    return vote(cta, inst);
  case Opcode::MmaSync:
    return mmaSync(cta, inst);
  case Opcode::LdMatrix:
    return ldmatrix(cta, inst);
  case Opcode::CpAsync:
    return cpAsync(cta, inst);
  case Opcode::CpAsyncCommit:
    for (uint32_t t = 0; t < cta.threads; ++t)
      if (cta.active[t]) {
        cta.cpGroups[t].push_back(std::move(cta.cpOpen[t]));
        cta.cpOpen[t].clear();
      }
    return;
  case Opcode::CpAsyncWait:
    for (uint32_t t = 0; t < cta.threads; ++t)
      if (cta.active[t])
        retireCpAsync(cta, inst, t, size_t(inst.a));
    return;
  case Opcode::MBarrierInit:
    for (uint32_t t = 0; t < cta.threads; ++t) {
      if (!cta.active[t] || !cta.lanePredicate(inst, t))
        continue;
      uint64_t address = sharedAddress(cta.reg(inst.operands[0], 0, t));
      if (address % 8 != 0) {
        cta.report(inst, "misaligned", "mbarrier not 8-byte aligned");
        continue;
      }
      std::optional<uint64_t> offset = cta.sharedOffset(inst, address, 8);
      if (!offset)
        continue;
      cta.sharedWrite(inst, *offset, 8, int32_t(t));
      uint32_t count = uint32_t(cta.reg(inst.operands[1], 0, t));
      cta.mbarriers[address] = MBarrier{count, count, 0, 0, inst.index};
    }
    return;
  case Opcode::MBarrierArrive:
  case Opcode::MBarrierArriveExpectTx:
    for (uint32_t t = 0; t < cta.threads; ++t) {
      if (!cta.active[t] || !cta.lanePredicate(inst, t))
        continue;
      uint64_t address = sharedAddress(cta.reg(inst.operands[0], 0, t));
      MBarrier *b = findBarrier(cta, inst, address);
      if (!b)
        continue;
      if (inst.op == Opcode::MBarrierArriveExpectTx)
        b->tx += int64_t(uint32_t(cta.reg(inst.operands[1], 0, t)));
      if (inst.result.leaves)
        cta.reg(inst.result, 0, t) = b->phase;
      // mbarrier.arrive's optional count (1 when absent).
      uint32_t count =
          inst.op == Opcode::MBarrierArrive && inst.operands.size() > 1
              ? uint32_t(cta.reg(inst.operands[1], 0, t))
              : 1;
      arrive(cta, inst, *b, address, count);
    }
    return;
  case Opcode::MBarrierTryWait:
  case Opcode::AsmMBarrierWaitLoop:
    return mbarrierWait(cta, inst);
  case Opcode::Tma:
    return tmaLoad(cta, inst);
  case Opcode::AsmFenceProxyAsync:
    // Makes the fencing threads' generic writes visible to the async proxy.
    for (ShadowByte &s : cta.shadow)
      if (s.unfenced && s.writer.thread >= 0 && cta.active[s.writer.thread])
        s.unfenced = false;
    return;
  case Opcode::AsmFenceProxyTensormap:
  case Opcode::Nop:
    return;
  case Opcode::AsmWgmmaFence:
  case Opcode::AsmWgmmaCommit:
  case Opcode::AsmWgmmaWait:
    return wgmmaGroupOp(cta, inst);
  case Opcode::AsmWgmmaMma:
    return wgmmaMma(cta, inst);
  default:
    cta.error = "internal: not a collective op";
  }
}

void detail::finishAsync(CTA &cta) {
  for (uint32_t t = 0; t < cta.threads; ++t)
    if (!cta.cpOpen[t].empty() || !cta.cpGroups[t].empty()) {
      cta.reporter.add(nullptr, 0, "in-flight",
                       "thread " + std::to_string(t) +
                           " exits with cp.async copies never waited for");
      break;
    }
  if (!cta.tmaInFlight.empty())
    cta.reporter.add(nullptr, 0, "in-flight",
                     std::to_string(cta.tmaInFlight.size()) +
                         " TMA copies were never waited for when the CTA "
                         "exits (their mbarrier phase was not awaited)");
  for (uint32_t g = 0; g < cta.wgmmaGroups.size(); ++g)
    if (!cta.wgmmaGroups[g].empty() || cta.wgmmaOpen[g].used) {
      cta.reporter.add(nullptr, 0, "in-flight",
                       "warpgroup " + std::to_string(g) +
                           " exits with wgmma operations never waited for");
      break;
    }
}
