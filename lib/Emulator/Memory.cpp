//===- Memory.cpp - Memory and its shadow ---------------------------------===//
//
// Reports, and the memory of a CTA: global (the runtime's allocations),
// shared with a shadow per byte for the race detector, and local (allocas).
//
//===----------------------------------------------------------------------===//

#include "Machine.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace mlir;
using namespace attn::emu;
using namespace attn::emu::detail;

//===----------------------------------------------------------------------===//
// Reports
//===----------------------------------------------------------------------===//

std::string attn::emu::detail::describe(Operation *op, uint32_t index) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << op->getName() << " (";
  if (index != kNoIndex)
    os << "instruction " << index << " of ";
  os << "the kernel";
  if (auto loc = dyn_cast<FileLineColLoc>(op->getLoc()))
    os << ", " << loc.getFilename() << ":" << loc.getLine() << ":"
       << loc.getColumn();
  else if (!isa<UnknownLoc>(op->getLoc()))
    os << ", " << op->getLoc();
  os << ")";
  return text;
}

void Reporter::add(const Inst *inst, const std::string &kind,
                   const std::string &msg) {
  add(inst->source, inst->index, kind, msg);
}

void Reporter::add(Operation *op, uint32_t index, const std::string &kind,
                   const std::string &msg) {
  // One report per kind and op; the op is described only for the first.
  std::lock_guard<std::mutex> lock(mutex);
  unsigned &n = seen[{kind, op}];
  if (n++ > 0 || reports.size() >= 64) {
    ++suppressed;
    return;
  }
  reports.push_back({kind, op ? describe(op, index) : "the kernel", msg});
}

bool Reporter::full() const { return reports.size() >= 64; }

void Reporter::moveTo(LaunchResult &result) {
  std::lock_guard<std::mutex> lock(mutex);
  result.reports = std::move(reports);
  result.suppressed = suppressed;
}

//===----------------------------------------------------------------------===//
// Memory
//===----------------------------------------------------------------------===//

bool CTA::globalOk(uint64_t address, uint64_t bytes) const {
  if (global.empty())
    return true;
  for (const GlobalRange &r : global)
    if (address >= r.begin && address + bytes <= r.begin + r.bytes &&
        address + bytes >= address)
      return true;
  return false;
}

std::optional<uint64_t> CTA::sharedOffset(const Inst &inst, uint64_t address,
                                          uint64_t bytes) {
  if (address < kSharedBase || address - kSharedBase + bytes > shared.size()) {
    report(inst, "out-of-bounds",
           "shared-memory access of " + std::to_string(bytes) +
               " bytes at address " + std::to_string(address) +
               ", outside the CTA's " + std::to_string(shared.size()) +
               " bytes (which start at " + std::to_string(kSharedBase) + ")");
    return std::nullopt;
  }
  return address - kSharedBase;
}

bool CTA::ordered(const Access &before, int32_t thread) const {
  if (before.thread < 0 || before.thread == thread || thread < 0)
    return true;
  if (before.epoch != epoch)
    return true; // a CTA barrier in between
  return before.thread / 32 == thread / 32 &&
         before.warpEpoch != warpEpoch[thread / 32];
}

static std::string who(int32_t thread) {
  return thread < 0 ? std::string("an asynchronous copy")
                    : "thread " + std::to_string(thread);
}

void CTA::sharedRead(const Inst &inst, uint64_t offset, uint64_t bytes,
                     int32_t thread) {
  for (uint64_t i = offset; i < offset + bytes; ++i) {
    ShadowByte &s = shadow[i];
    if (s.inFlight) {
      report(inst, "in-flight",
             who(thread) + " reads shared byte " + std::to_string(i) +
                 " while an asynchronous copy into it has not completed "
                 "(no wait on its group or mbarrier before the read)");
      continue;
    }
    if (!ordered(s.writer, thread))
      report(inst, "race",
             "read-after-write race on shared byte " + std::to_string(i) +
                 ": " + who(thread) + " reads what thread " +
                 std::to_string(s.writer.thread) + " wrote at instruction " +
                 std::to_string(s.writer.inst) + " with no barrier in between");
    if (thread < 0)
      continue;
    Access now{thread, inst.index, epoch, warpEpoch[thread / 32]};
    if (s.readers[0].thread == thread || s.readers[0].thread < 0)
      s.readers[0] = now;
    else
      s.readers[1] = now;
  }
}

void CTA::sharedWrite(const Inst &inst, uint64_t offset, uint64_t bytes,
                      int32_t thread) {
  for (uint64_t i = offset; i < offset + bytes; ++i) {
    ShadowByte &s = shadow[i];
    if (s.inFlight && thread >= 0)
      report(inst, "race",
             who(thread) + " writes shared byte " + std::to_string(i) +
                 " while an asynchronous copy into it is in flight");
    if (s.asyncReads)
      report(inst, "race",
             who(thread) + " writes shared byte " + std::to_string(i) +
                 " that an unretired wgmma still reads (no "
                 "wgmma.wait_group before the write)");
    if (!ordered(s.writer, thread))
      report(inst, "race",
             "write-after-write race on shared byte " + std::to_string(i) +
                 ": " + who(thread) + " and thread " +
                 std::to_string(s.writer.thread) + " (instruction " +
                 std::to_string(s.writer.inst) +
                 ") with no barrier in between");
    for (const Access &r : s.readers)
      if (!ordered(r, thread))
        report(inst, "race",
               "write-after-read race on shared byte " + std::to_string(i) +
                   ": " + who(thread) + " overwrites what thread " +
                   std::to_string(r.thread) + " read at instruction " +
                   std::to_string(r.inst) + " with no barrier in between");
    s.writer = thread < 0
                   ? Access{}
                   : Access{thread, inst.index, epoch, warpEpoch[thread / 32]};
    s.readers[0] = s.readers[1] = Access{};
    s.unfenced = thread >= 0;
  }
}

/// Resolves an address of `space` to host memory; reports and returns null
/// when it is outside what the kernel may touch.
static uint8_t *resolve(CTA &cta, const Inst &inst, unsigned space,
                        uint64_t address, uint64_t bytes, int32_t thread,
                        bool write) {
  bool isShared = space == 3 || space == 7;
  if (space == 0 && (address & kTagMask) == kGenericSharedTag) {
    isShared = true;
    address &= ~kTagMask;
  }
  if (isShared) {
    std::optional<uint64_t> offset = cta.sharedOffset(inst, address, bytes);
    if (!offset)
      return nullptr;
    if (write)
      cta.sharedWrite(inst, *offset, bytes, thread);
    else
      cta.sharedRead(inst, *offset, bytes, thread);
    return cta.shared.data() + *offset;
  }
  if (space == 0 && (address & kTagMask) == kLocalTag) {
    uint64_t owner = (address & ~kTagMask) >> kLocalShift;
    uint64_t offset = address & ((1ull << kLocalShift) - 1);
    if (owner >= cta.local.size() || int64_t(owner) != thread ||
        offset + bytes > cta.local[owner].size()) {
      cta.report(inst, "out-of-bounds",
                 "local-memory access outside thread " +
                     std::to_string(thread) + "'s allocas");
      return nullptr;
    }
    return cta.local[owner].data() + offset;
  }
  if (space != 0 && space != 1) {
    cta.error = "address space " + std::to_string(space) + " is not modelled";
    return nullptr;
  }
  if ((address & kTagMask) != 0 || !cta.globalOk(address, bytes)) {
    cta.report(inst, "out-of-bounds",
               std::string(write ? "store of " : "load of ") +
                   std::to_string(bytes) + " bytes at global address 0x" +
                   llvm::utohexstr(address) + " by " + who(thread) +
                   ", outside every allocation");
    return nullptr;
  }
  if (write && thread >= 0)
    cta.globalStores.push_back(
        {address, address + bytes, cta.linearCta,
         Access{thread, inst.index, cta.epoch, cta.warpEpoch[thread / 32]},
         &inst});
  return reinterpret_cast<uint8_t *>(address);
}

uint8_t *CTA::atomicAddress(const Inst &inst, unsigned space, uint64_t address,
                            uint64_t bytes, int32_t thread) {
  bool generic = space == 0 && (address & kTagMask) == 0;
  if (space != 1 && !generic) {
    error = "atomics outside global memory are not modelled";
    return nullptr;
  }
  return resolve(*this, inst, 1, address, bytes, thread, /*write=*/false);
}

bool CTA::readBytes(const Inst &inst, unsigned space, uint64_t address,
                    uint64_t bytes, uint8_t *out, int32_t thread) {
  uint8_t *p = resolve(*this, inst, space, address, bytes, thread, false);
  if (!p) {
    std::memset(out, 0, bytes);
    return false;
  }
  std::memcpy(out, p, bytes);
  return true;
}

bool CTA::writeBytes(const Inst &inst, unsigned space, uint64_t address,
                     uint64_t bytes, const uint8_t *in, int32_t thread) {
  uint8_t *p = resolve(*this, inst, space, address, bytes, thread, true);
  if (!p)
    return false;
  std::memcpy(p, in, bytes);
  return true;
}

void attn::emu::detail::packLeaves(CTA &cta, const Ref &ref,
                                   const Layout &layout, uint32_t t,
                                   uint8_t *out) {
  std::memset(out, 0, layout.size);
  if (layout.bitPacked) {
    for (uint32_t i = 0; i < layout.leaves.size(); ++i)
      out[i / 8] |= uint8_t((cta.reg(ref, i, t) & 1) << (i % 8));
    return;
  }
  for (uint32_t i = 0; i < layout.leaves.size(); ++i) {
    const Leaf &leaf = layout.leaves[i];
    uint64_t v = cta.reg(ref, i, t);
    unsigned bytes = leaf.bits <= 8 ? 1 : (leaf.bits + 7) / 8;
    std::memcpy(out + leaf.offset, &v, bytes); // little-endian
  }
}

void attn::emu::detail::unpackLeaves(CTA &cta, const Ref &ref,
                                     const Layout &layout, uint32_t t,
                                     const uint8_t *in) {
  if (layout.bitPacked) {
    for (uint32_t i = 0; i < layout.leaves.size(); ++i)
      cta.reg(ref, i, t) = (in[i / 8] >> (i % 8)) & 1;
    return;
  }
  for (uint32_t i = 0; i < layout.leaves.size(); ++i) {
    const Leaf &leaf = layout.leaves[i];
    uint64_t v = 0;
    unsigned bytes = leaf.bits <= 8 ? 1 : (leaf.bits + 7) / 8;
    std::memcpy(&v, in + leaf.offset, bytes);
    cta.reg(ref, i, t) = v & widthMask(leaf.bits);
  }
}
