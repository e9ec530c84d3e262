//===- Interpreter.cpp - Lock-step interpreter of CUDA kernels ------------===//
//
// Runs the kernels of a gpu.module in the LLVM and NVVM dialects (what the
// CUDA pipeline serialises to PTX) on the CPU: every thread of a CTA in
// lock-step, one register per SSA value and thread, control flow through a
// SIMT stack that reconverges at immediate post-dominators. This file holds
// the compilation of a kernel to `Inst`s, the scalar ops, memory with its
// shadow, control flow and the launch over the grid; Collectives.cpp the
// warp-level and asynchronous operations.
//
//===----------------------------------------------------------------------===//

#include "Machine.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <regex>
#include <thread>

using namespace mlir;
using namespace attn::emu;
using namespace attn::emu::detail;

//===----------------------------------------------------------------------===//
// Scalars and layouts
//===----------------------------------------------------------------------===//

float attn::emu::detail::asFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint32_t attn::emu::detail::floatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return bits;
}

float attn::emu::detail::halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  if (exponent == 0x1f)
    return asFloat(sign | 0x7f800000 | (mantissa << 13));
  if (exponent == 0) { // zero or subnormal: mantissa * 2^-24
    float magnitude = std::ldexp(float(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  return asFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t attn::emu::detail::floatToHalf(float value) {
  uint32_t x = floatBits(value);
  uint16_t sign = (x >> 16) & 0x8000;
  x &= 0x7fffffff;
  if (x >= 0x7f800000) // inf or NaN (quieted)
    return sign | (x > 0x7f800000 ? 0x7e00 : 0x7c00);
  if (x >= 0x477ff000) // rounds to infinity (>= 65520)
    return sign | 0x7c00;
  if (x < 0x38800000) // below the smallest normal: round value * 2^24
    return sign | uint16_t(std::nearbyint(std::fabs(value) * 16777216.0f));
  uint32_t rebased = x - 0x38000000;        // exponent 127 -> 15
  rebased += 0xfff + ((rebased >> 13) & 1); // round to nearest even
  return sign | uint16_t(rebased >> 13);
}

float attn::emu::detail::bf16ToFloat(uint16_t bits) {
  return asFloat(uint32_t(bits) << 16);
}

uint16_t attn::emu::detail::floatToBf16(float value) {
  uint32_t x = floatBits(value);
  if ((x & 0x7fffffff) > 0x7f800000)
    return uint16_t((x >> 16) | 0x40); // quiet NaN
  x += 0x7fff + ((x >> 16) & 1);
  return uint16_t(x >> 16);
}

static uint64_t widthMask(unsigned bits) {
  return bits >= 64 ? ~0ull : (1ull << bits) - 1;
}

static int64_t signExtend(uint64_t v, unsigned bits) {
  if (bits >= 64)
    return int64_t(v);
  uint64_t m = 1ull << (bits - 1);
  return int64_t(((v & widthMask(bits)) ^ m) - m);
}

/// A float register as a double (exact for every kind).
static double toDouble(Scalar kind, uint64_t v) {
  switch (kind) {
  case Scalar::F16:
    return halfToFloat(uint16_t(v));
  case Scalar::BF16:
    return bf16ToFloat(uint16_t(v));
  case Scalar::F32:
    return asFloat(uint32_t(v));
  case Scalar::F64: {
    double d;
    std::memcpy(&d, &v, 8);
    return d;
  }
  default:
    return 0;
  }
}

/// Rounds a float value (already rounded to f32 for f32 ops) to `kind`.
static uint64_t fromFloat(Scalar kind, float f) {
  switch (kind) {
  case Scalar::F16:
    return floatToHalf(f);
  case Scalar::BF16:
    return floatToBf16(f);
  default:
    return floatBits(f);
  }
}

static uint64_t fromDouble(Scalar kind, double d) {
  if (kind == Scalar::F64) {
    uint64_t v;
    std::memcpy(&v, &d, 8);
    return v;
  }
  return fromFloat(kind, float(d));
}

/// `x` rounded once to nearest even in `kind`. x86's long double holds
/// every double and every 64-bit integer exactly. f16 and bf16 go through
/// f32 rounded to odd, which has enough spare bits (24 >= 11 + 2) for the
/// second rounding to equal a single one.
static uint64_t roundTo(Scalar kind, long double x) {
  if (kind == Scalar::F64)
    return fromDouble(kind, double(x));
  float f = float(x);
  if (kind == Scalar::F32 || std::isnan(x) || (long double)f == x)
    return fromFloat(kind, f);
  if (std::fabs((long double)f) > std::fabs(x))
    f = std::nextafter(f, 0.0f);
  return fromFloat(kind, asFloat(floatBits(f) | 1));
}

bool attn::emu::detail::layoutOf(Type type, Layout &layout) {
  auto scalar = [&](Scalar kind, unsigned bits, uint64_t bytes) {
    layout.leaves.push_back({kind, uint8_t(bits), 0});
    layout.size = bytes;
    layout.align = bytes;
    return true;
  };
  if (auto i = dyn_cast<IntegerType>(type)) {
    unsigned bits = i.getWidth();
    if (bits > 64)
      return false;
    uint64_t bytes = bits <= 8 ? 1 : bits <= 16 ? 2 : bits <= 32 ? 4 : 8;
    return scalar(Scalar::Int, bits, bytes);
  }
  if (type.isF16())
    return scalar(Scalar::F16, 16, 2);
  if (type.isBF16())
    return scalar(Scalar::BF16, 16, 2);
  if (type.isF32())
    return scalar(Scalar::F32, 32, 4);
  if (type.isF64())
    return scalar(Scalar::F64, 64, 8);
  if (isa<LLVM::LLVMPointerType>(type) || isa<IndexType>(type))
    return scalar(isa<IndexType>(type) ? Scalar::Int : Scalar::Ptr, 64, 8);
  auto append = [&](Type element, uint64_t count) {
    Layout inner;
    if (!layoutOf(element, inner))
      return false;
    uint64_t stride =
        (inner.size + inner.align - 1) / inner.align * inner.align;
    for (uint64_t i = 0; i < count; ++i)
      for (Leaf leaf : inner.leaves) {
        leaf.offset += uint32_t(i * stride);
        layout.leaves.push_back(leaf);
      }
    layout.size = stride * count;
    layout.align = inner.align;
    return true;
  };
  if (auto v = dyn_cast<VectorType>(type);
      v && v.getRank() == 1 && v.getElementType().isInteger(1)) {
    // Vectors of i1 are bit-packed, element 0 in the lowest bit.
    for (int64_t i = 0; i < v.getNumElements(); ++i)
      layout.leaves.push_back({Scalar::Int, 1, uint32_t(i)});
    layout.size = (uint64_t(v.getNumElements()) + 7) / 8;
    layout.align = 1;
    layout.bitPacked = true;
    return true;
  }
  if (auto v = dyn_cast<VectorType>(type)) {
    if (v.getRank() != 1 || v.isScalable() ||
        !append(v.getElementType(), v.getNumElements()))
      return false;
    // Vectors are aligned to their size (a power of two for those used).
    uint64_t align = 1;
    while (align < layout.size && align < 16)
      align *= 2;
    layout.align = align;
    return true;
  }
  if (auto a = dyn_cast<LLVM::LLVMArrayType>(type))
    return append(a.getElementType(), a.getNumElements());
  if (auto s = dyn_cast<LLVM::LLVMStructType>(type)) {
    if (s.isPacked())
      return false;
    uint64_t offset = 0, align = 1;
    for (Type field : s.getBody()) {
      Layout inner;
      if (!layoutOf(field, inner))
        return false;
      offset = (offset + inner.align - 1) / inner.align * inner.align;
      for (Leaf leaf : inner.leaves) {
        leaf.offset += uint32_t(offset);
        layout.leaves.push_back(leaf);
      }
      offset += inner.size;
      align = std::max(align, inner.align);
    }
    layout.size = (offset + align - 1) / align * align;
    layout.align = align;
    return true;
  }
  return false;
}

/// The leaf range of the sub-value at `position` of an aggregate type.
static bool subRange(Type type, ArrayRef<int64_t> position, uint32_t &first,
                     uint32_t &count) {
  first = 0;
  for (int64_t index : position) {
    Layout before;
    if (auto a = dyn_cast<LLVM::LLVMArrayType>(type)) {
      Layout element;
      if (!layoutOf(a.getElementType(), element))
        return false;
      first += uint32_t(index * element.leaves.size());
      type = a.getElementType();
    } else if (auto s = dyn_cast<LLVM::LLVMStructType>(type)) {
      for (int64_t f = 0; f < index; ++f) {
        Layout field;
        if (!layoutOf(s.getBody()[f], field))
          return false;
        first += field.leaves.size();
      }
      type = s.getBody()[index];
    } else {
      return false;
    }
  }
  Layout sub;
  if (!layoutOf(type, sub))
    return false;
  count = sub.leaves.size();
  return true;
}

//===----------------------------------------------------------------------===//
// Reports
//===----------------------------------------------------------------------===//

std::string attn::emu::detail::describe(Operation *op, uint32_t index) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << op->getName() << " (instruction " << index << " of the kernel";
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
  std::string where = op ? describe(op, index) : "the kernel";
  std::lock_guard<std::mutex> lock(mutex);
  unsigned &n = seen[{kind, where}];
  if (n++ > 0 || reports.size() >= 64) {
    ++suppressed;
    return;
  }
  reports.push_back({kind, where, msg});
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

static void packLeaves(CTA &cta, const Ref &ref, const Layout &layout,
                       uint32_t t, uint8_t *out) {
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

static void unpackLeaves(CTA &cta, const Ref &ref, const Layout &layout,
                         uint32_t t, const uint8_t *in) {
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

//===----------------------------------------------------------------------===//
// Compilation
//===----------------------------------------------------------------------===//

namespace {

struct Compiler {
  Compiler(Kernel &kernel, std::string &error) : kernel(kernel), error(error) {}
  Kernel &kernel;
  std::string &error;
  llvm::DenseMap<Value, Ref> refs;

  Ref refOf(Value v) {
    auto it = refs.find(v);
    if (it != refs.end())
      return it->second;
    Layout layout;
    layoutOf(v.getType(), layout);
    Ref ref{kernel.numSlots, uint32_t(layout.leaves.size())};
    kernel.numSlots += ref.leaves;
    refs[v] = ref;
    return ref;
  }

  bool fail(Operation *op, const std::string &why) {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << "the emulator cannot run " << op->getName() << " (" << op->getLoc()
       << "): " << why;
    error = text;
    return false;
  }

  bool compile(LLVM::LLVMFuncOp func, ModuleOp module);
  bool compileOp(Operation *op, Inst &inst);
};

Opcode binaryOp(StringRef name) {
  return llvm::StringSwitch<Opcode>(name)
      .Case("llvm.add", Opcode::Add)
      .Case("llvm.sub", Opcode::Sub)
      .Case("llvm.mul", Opcode::Mul)
      .Case("llvm.udiv", Opcode::UDiv)
      .Case("llvm.sdiv", Opcode::SDiv)
      .Case("llvm.urem", Opcode::URem)
      .Case("llvm.srem", Opcode::SRem)
      .Case("llvm.and", Opcode::And)
      .Case("llvm.or", Opcode::Or)
      .Case("llvm.xor", Opcode::Xor)
      .Case("llvm.shl", Opcode::Shl)
      .Case("llvm.lshr", Opcode::LShr)
      .Case("llvm.ashr", Opcode::AShr)
      .Case("llvm.intr.smin", Opcode::SMin)
      .Case("llvm.intr.smax", Opcode::SMax)
      .Case("llvm.intr.umin", Opcode::UMin)
      .Case("llvm.intr.umax", Opcode::UMax)
      .Case("llvm.fadd", Opcode::FAdd)
      .Case("llvm.fsub", Opcode::FSub)
      .Case("llvm.fmul", Opcode::FMul)
      .Case("llvm.fdiv", Opcode::FDiv)
      .Case("llvm.frem", Opcode::FRem)
      .Case("llvm.intr.maximum", Opcode::Maximum)
      .Case("llvm.intr.minimum", Opcode::Minimum)
      .Case("llvm.intr.maxnum", Opcode::MaxNum)
      .Case("llvm.intr.minnum", Opcode::MinNum)
      .Case("llvm.fneg", Opcode::FNeg)
      .Case("llvm.intr.fabs", Opcode::FAbs)
      .Case("llvm.intr.floor", Opcode::Floor)
      .Case("llvm.intr.ceil", Opcode::Ceil)
      .Case("llvm.intr.sqrt", Opcode::Sqrt)
      .Case("llvm.intr.exp2", Opcode::Exp2)
      .Case("llvm.intr.exp", Opcode::Exp)
      .Case("llvm.intr.log", Opcode::Log)
      .Case("llvm.intr.fma", Opcode::Fma)
      .Case("llvm.intr.abs", Opcode::Abs)
      .Case("llvm.trunc", Opcode::Trunc)
      .Case("llvm.zext", Opcode::ZExt)
      .Case("llvm.sext", Opcode::SExt)
      .Case("llvm.fptrunc", Opcode::FPTrunc)
      .Case("llvm.fpext", Opcode::FPExt)
      .Case("llvm.sitofp", Opcode::SIToFP)
      .Case("llvm.uitofp", Opcode::UIToFP)
      .Case("llvm.fptosi", Opcode::FPToSI)
      .Case("llvm.fptoui", Opcode::FPToUI)
      .Case("llvm.bitcast", Opcode::Bitcast)
      .Case("llvm.ptrtoint", Opcode::PtrToInt)
      .Case("llvm.inttoptr", Opcode::IntToPtr)
      .Case("llvm.addrspacecast", Opcode::AddrSpaceCast)
      .Case("llvm.select", Opcode::Select)
      .Case("llvm.icmp", Opcode::ICmp)
      .Case("llvm.fcmp", Opcode::FCmp)
      .Case("builtin.unrealized_conversion_cast", Opcode::Copy)
      .Case("nvvm.barrier0", Opcode::Barrier)
      .Case("nvvm.bar.warp.sync", Opcode::WarpSync)
      .Case("nvvm.shfl.sync", Opcode::Shfl)
      .Case("nvvm.vote.sync", Opcode::Vote)
      .Case("nvvm.mma.sync", Opcode::MmaSync)
      .Case("nvvm.ldmatrix", Opcode::LdMatrix)
      .Case("nvvm.cp.async.shared.global", Opcode::CpAsync)
      .Case("nvvm.cp.async.commit.group", Opcode::CpAsyncCommit)
      .Case("nvvm.cp.async.wait.group", Opcode::CpAsyncWait)
      .Case("nvvm.mbarrier.init", Opcode::MBarrierInit)
      .Case("nvvm.mbarrier.arrive", Opcode::MBarrierArrive)
      .Case("nvvm.mbarrier.arrive.expect_tx", Opcode::MBarrierArriveExpectTx)
      .Case("nvvm.mbarrier.try_wait.parity", Opcode::MBarrierTryWait)
      .Case("nvvm.cp.async.bulk.tensor.shared.cluster.global", Opcode::Tma)
      .Case("nvvm.fence.mbarrier.init", Opcode::Nop)
      .Default(Opcode::Nop);
}

} // namespace

bool Compiler::compileOp(Operation *op, Inst &inst) {
  StringRef name = op->getName().getStringRef();
  inst.source = op;
  for (Value v : op->getOperands())
    inst.operands.push_back(refOf(v));
  if (op->getNumResults() == 1) {
    inst.result = refOf(op->getResult(0));
    if (!layoutOf(op->getResult(0).getType(), inst.resultLayout))
      return fail(op, "its result type is not modelled");
  } else if (op->getNumResults() > 1) {
    return fail(op, "ops with several results are not modelled");
  }
  if (op->getNumOperands() > 0) {
    if (!layoutOf(op->getOperand(0).getType(), inst.layout))
      return fail(op, "its operand type is not modelled");
    if (auto p = dyn_cast<LLVM::LLVMPointerType>(op->getOperand(0).getType()))
      inst.addressSpace = p.getAddressSpace();
  }
  if (op->getNumResults() == 1)
    if (auto p = dyn_cast<LLVM::LLVMPointerType>(op->getResult(0).getType()))
      inst.resultAddressSpace = p.getAddressSpace();

  if (auto c = dyn_cast<LLVM::ConstantOp>(op)) {
    inst.op = Opcode::Constant;
    const Layout &l = inst.resultLayout;
    auto bitsOf = [&](Attribute a,
                      const Leaf &leaf) -> std::optional<uint64_t> {
      if (auto i = dyn_cast<IntegerAttr>(a))
        return i.getValue().getZExtValue() & widthMask(leaf.bits);
      if (auto f = dyn_cast<FloatAttr>(a))
        return f.getValue().bitcastToAPInt().getZExtValue();
      return std::nullopt;
    };
    Attribute value = c.getValue();
    if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
      auto values = llvm::to_vector(dense.getValues<Attribute>());
      if (values.size() != l.leaves.size())
        return fail(op, "a constant of this shape is not modelled");
      for (size_t i = 0; i < values.size(); ++i) {
        auto bits = bitsOf(values[i], l.leaves[i]);
        if (!bits)
          return fail(op, "a constant of this kind is not modelled");
        inst.data.push_back(*bits);
      }
      return true;
    }
    if (l.leaves.size() != 1)
      return fail(op, "an aggregate constant is not modelled");
    auto bits = bitsOf(value, l.leaves[0]);
    if (!bits)
      return fail(op, "a constant of this kind is not modelled");
    inst.data.push_back(*bits);
    return true;
  }
  if (isa<LLVM::PoisonOp, LLVM::UndefOp, LLVM::ZeroOp>(op)) {
    inst.op = Opcode::Poison;
    return true;
  }
  if (auto a = dyn_cast<LLVM::AddressOfOp>(op)) {
    inst.op = Opcode::AddressOf;
    std::string global = a.getGlobalName().str();
    if (auto it = kernel.sharedGlobals.find(global);
        it != kernel.sharedGlobals.end()) {
      inst.a = int64_t(kSharedBase + it->second);
      if (inst.resultAddressSpace == 0)
        inst.a |= int64_t(kGenericSharedTag);
      return true;
    }
    if (auto it = kernel.constGlobals.find(global);
        it != kernel.constGlobals.end()) {
      inst.a = int64_t(it->second);
      return true;
    }
    return fail(op, "global @" + global + " is not modelled");
  }
  if (name.starts_with("nvvm.read.ptx.sreg.")) {
    inst.op = Opcode::SReg;
    StringRef reg = name.drop_front(strlen("nvvm.read.ptx.sreg."));
    int which = llvm::StringSwitch<int>(reg)
                    .Case("tid.x", 0)
                    .Case("tid.y", 1)
                    .Case("tid.z", 2)
                    .Case("ntid.x", 3)
                    .Case("ntid.y", 4)
                    .Case("ntid.z", 5)
                    .Case("ctaid.x", 6)
                    .Case("ctaid.y", 7)
                    .Case("ctaid.z", 8)
                    .Case("nctaid.x", 9)
                    .Case("nctaid.y", 10)
                    .Case("nctaid.z", 11)
                    .Case("laneid", 12)
                    .Case("warpid", 13)
                    .Default(-1);
    if (which < 0)
      return fail(op, "special register " + reg.str() + " is not modelled");
    inst.a = which;
    return true;
  }
  if (auto e = dyn_cast<LLVM::ExtractValueOp>(op)) {
    inst.op = Opcode::ExtractValue;
    uint32_t first, count;
    if (!subRange(e.getContainer().getType(), e.getPosition(), first, count))
      return fail(op, "position not modelled");
    inst.a = first;
    return true;
  }
  if (auto e = dyn_cast<LLVM::InsertValueOp>(op)) {
    inst.op = Opcode::InsertValue;
    uint32_t first, count;
    if (!subRange(e.getContainer().getType(), e.getPosition(), first, count))
      return fail(op, "position not modelled");
    inst.a = first;
    inst.b = count;
    return true;
  }
  if (isa<LLVM::ExtractElementOp>(op)) {
    inst.op = Opcode::ExtractElement;
    return true;
  }
  if (isa<LLVM::InsertElementOp>(op)) {
    inst.op = Opcode::InsertElement;
    return true;
  }
  if (auto s = dyn_cast<LLVM::ShuffleVectorOp>(op)) {
    inst.op = Opcode::ShuffleVector;
    for (int32_t m : s.getMask())
      inst.data.push_back(uint64_t(int64_t(m)));
    return true;
  }
  if (auto a = dyn_cast<LLVM::AllocaOp>(op)) {
    inst.op = Opcode::Alloca;
    Layout element;
    if (!layoutOf(a.getElemType(), element))
      return fail(op, "alloca of this type is not modelled");
    inst.a = int64_t(element.size);
    inst.b = int64_t(
        std::max<uint64_t>(element.align, a.getAlignment().value_or(1)));
    return true;
  }
  if (auto g = dyn_cast<LLVM::GEPOp>(op)) {
    inst.op = Opcode::GEP;
    Type type = g.getElemType();
    Layout element;
    if (!layoutOf(type, element))
      return fail(op, "gep over this type is not modelled");
    auto stride = [](const Layout &l) {
      return int64_t((l.size + l.align - 1) / l.align * l.align);
    };
    int64_t constant = 0;
    bool first = true;
    unsigned dynamicIndex = 1; // operand 0 is the base
    for (auto index : g.getIndices()) {
      int64_t unit = 0;
      Type next = type;
      if (first) {
        unit = stride(element);
      } else if (auto a = dyn_cast<LLVM::LLVMArrayType>(type)) {
        Layout inner;
        layoutOf(a.getElementType(), inner);
        unit = stride(inner);
        next = a.getElementType();
      } else if (auto v = dyn_cast<VectorType>(type)) {
        Layout inner;
        layoutOf(v.getElementType(), inner);
        unit = int64_t(inner.size);
        next = v.getElementType();
      } else if (auto s = dyn_cast<LLVM::LLVMStructType>(type)) {
        auto attr = dyn_cast<IntegerAttr>(index);
        if (!attr)
          return fail(op, "a dynamic struct index");
        int64_t field = attr.getInt();
        Layout whole;
        layoutOf(s, whole);
        uint32_t leafFirst, count;
        subRange(s, {field}, leafFirst, count);
        constant += count ? whole.leaves[leafFirst].offset : 0;
        type = s.getBody()[field];
        first = false;
        continue;
      } else {
        return fail(op, "gep into a scalar");
      }
      if (auto attr = dyn_cast<IntegerAttr>(index))
        constant += attr.getInt() * unit;
      else
        inst.terms.push_back({dynamicIndex++, unit});
      type = next;
      first = false;
    }
    inst.a = constant;
    return true;
  }
  if (auto l = dyn_cast<LLVM::LoadOp>(op)) {
    inst.op = Opcode::Load;
    inst.layout = inst.resultLayout;
    inst.b = int64_t(l.getAlignment().value_or(inst.layout.align));
    if (l.getVolatile_() || l.getOrdering() != LLVM::AtomicOrdering::not_atomic)
      return fail(op, "volatile or atomic loads are not modelled");
    return true;
  }
  if (auto s = dyn_cast<LLVM::StoreOp>(op)) {
    inst.op = Opcode::Store;
    inst.layout = Layout{};
    if (!layoutOf(s.getValue().getType(), inst.layout))
      return fail(op, "stored type not modelled");
    inst.b = int64_t(s.getAlignment().value_or(inst.layout.align));
    auto p = cast<LLVM::LLVMPointerType>(s.getAddr().getType());
    inst.addressSpace = p.getAddressSpace();
    if (s.getVolatile_() || s.getOrdering() != LLVM::AtomicOrdering::not_atomic)
      return fail(op, "volatile or atomic stores are not modelled");
    return true;
  }
  if (auto c = dyn_cast<LLVM::CallIntrinsicOp>(op)) {
    StringRef intrin = c.getIntrin();
    if (intrin == "llvm.nvvm.ex2.approx.f32" ||
        intrin == "llvm.nvvm.ex2.approx.ftz.f32")
      inst.op = Opcode::Exp2Approx;
    else if (intrin == "llvm.nvvm.lg2.approx.f" ||
             intrin == "llvm.nvvm.lg2.approx.ftz.f")
      inst.op = Opcode::Lg2Approx;
    else {
      // Generic LLVM intrinsics by name, the overload suffix dropped
      // ("llvm.fabs.f32" -> fabs), as the llvm.intr.* ops of the same name.
      StringRef base = intrin;
      if (base.consume_front("llvm.") && !base.starts_with("nvvm."))
        base = base.take_until([](char c) { return c == '.'; });
      inst.op = binaryOp(("llvm.intr." + base).str());
      if (inst.op == Opcode::Nop || inst.op >= Opcode::Barrier)
        return fail(op, "intrinsic " + intrin.str() + " is not modelled");
    }
    inst.a = intrin.contains(".ftz.");
    return true;
  }
  if (auto call = dyn_cast<LLVM::CallOp>(op)) {
    // libdevice functions (what convert-gpu-to-nvvm calls for math it does
    // not lower, linked from the CUDA toolkit when the module is
    // serialised), computed with the C library's function of the same
    // meaning: within libdevice's documented ulp bounds, not bit-exact.
    StringRef callee = call.getCallee().value_or("");
    StringRef fn = callee;
    bool known = fn.consume_front("__nv_") && op->getNumResults() == 1;
    if (known && inst.resultLayout.leaves.size() == 1 &&
        inst.resultLayout.leaves[0].kind == Scalar::F32)
      known = fn.consume_back("f");
    inst.op = !known ? Opcode::Nop
                     : llvm::StringSwitch<Opcode>(fn)
                           .Case("log", Opcode::Log)
                           .Case("log2", Opcode::Log2)
                           .Case("log1p", Opcode::Log1p)
                           .Case("exp", Opcode::Exp)
                           .Case("exp2", Opcode::Exp2)
                           .Case("expm1", Opcode::Expm1)
                           .Case("tanh", Opcode::Tanh)
                           .Case("sin", Opcode::Sin)
                           .Case("cos", Opcode::Cos)
                           .Case("pow", Opcode::Pow)
                           .Case("sqrt", Opcode::Sqrt)
                           .Case("floor", Opcode::Floor)
                           .Case("ceil", Opcode::Ceil)
                           .Case("fabs", Opcode::FAbs)
                           .Case("fmax", Opcode::MaxNum)
                           .Case("fmin", Opcode::MinNum)
                           .Default(Opcode::Nop);
    if (inst.op == Opcode::Nop)
      return fail(op, "a call of @" + callee.str() +
                          " (only libdevice math functions are modelled)");
    if (inst.layout.leaves.empty() ||
        inst.layout.leaves[0].kind != inst.resultLayout.leaves[0].kind)
      return fail(op, "a libdevice call of unexpected types");
    return true;
  }
  if (auto asmOp = dyn_cast<LLVM::InlineAsmOp>(op)) {
    std::string why;
    inst.op = classifyAsm(asmOp.getAsmString().str(), inst, why);
    if (inst.op == Opcode::Nop)
      return fail(op, "unknown inline assembly \"" +
                          asmOp.getAsmString().str() + "\"" +
                          (why.empty() ? "" : ": " + why));
    return true;
  }
  if (auto cmp = dyn_cast<LLVM::ICmpOp>(op)) {
    inst.op = Opcode::ICmp;
    inst.a = int64_t(cmp.getPredicate());
    return true;
  }
  if (auto cmp = dyn_cast<LLVM::FCmpOp>(op)) {
    inst.op = Opcode::FCmp;
    inst.a = int64_t(cmp.getPredicate());
    return true;
  }
  inst.op = binaryOp(name);
  if (inst.op == Opcode::Nop && name != "nvvm.fence.mbarrier.init")
    return fail(op, "this op is not modelled");
  // Op-specific attributes of the collectives.
  if (auto cp = dyn_cast<NVVM::CpAsyncOp>(op))
    inst.a = cp.getSize();
  if (auto w = dyn_cast<NVVM::CpAsyncWaitGroupOp>(op))
    inst.a = w.getN();
  if (auto l = dyn_cast<NVVM::LdMatrixOp>(op)) {
    inst.a = l.getNum();
    inst.b = l.getLayout() == NVVM::MMALayout::col;
    if (l.getShape().getM() != 8 || l.getShape().getN() != 8 ||
        l.getEltType() != NVVM::LdStMatrixEltType::B16)
      return fail(op, "only ldmatrix m8n8 .b16 is modelled");
  }
  if (auto s = dyn_cast<NVVM::ShflOp>(op)) {
    inst.a = int64_t(s.getKind());
    inst.b = s.getReturnValueAndIsValid().has_value();
  }
  if (auto v = dyn_cast<NVVM::VoteSyncOp>(op))
    inst.a = int64_t(v.getKind());
  if (auto m = dyn_cast<NVVM::MmaOp>(op)) {
    auto shape = m.getShape();
    if (shape.getM() != 16 || shape.getN() != 8 || shape.getK() != 16)
      return fail(op, "only mma.sync m16n8k16 is modelled");
    auto a = m.getMultiplicandAPtxType(), b = m.getMultiplicandBPtxType();
    bool bf16 = a == NVVM::MMATypes::bf16;
    if (!a || !b || a != b ||
        (*a != NVVM::MMATypes::bf16 && *a != NVVM::MMATypes::f16))
      return fail(op, "only f16 and bf16 multiplicands are modelled");
    if (m.getLayoutA() != NVVM::MMALayout::row ||
        m.getLayoutB() != NVVM::MMALayout::col)
      return fail(op, "only the .row.col layout is modelled");
    if (m.getOperandA().size() != 4 || m.getOperandB().size() != 2 ||
        m.getOperandC().size() != 4)
      return fail(op, "only f32 accumulators are modelled");
    Layout c;
    layoutOf(m.getOperandC()[0].getType(), c);
    if (c.leaves.size() != 1 || c.leaves[0].kind != Scalar::F32)
      return fail(op, "only f32 accumulators are modelled");
    inst.a = bf16;
  }
  if (auto t = dyn_cast<NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp>(op)) {
    if (t.getMode() != NVVM::TMALoadMode::TILE ||
        !t.getIm2colOffsets().empty() || t.getMulticastMask() || t.getGroup())
      return fail(op, "only the tile mode without multicast is modelled");
    inst.a = t.getCoordinates().size();
    if (t.getPredicate())
      inst.predicate = int(op->getNumOperands()) - 1;
  }
  if (auto m = dyn_cast<NVVM::MBarrierInitOp>(op))
    if (m.getPredicate())
      inst.predicate = 2;
  if (auto m = dyn_cast<NVVM::MBarrierArriveExpectTxOp>(op))
    if (m.getPredicate())
      inst.predicate = 2;
  return true;
}

bool Compiler::compile(LLVM::LLVMFuncOp func, ModuleOp) {
  kernel.name = func.getName().str();
  Region &body = func.getBody();
  llvm::DenseMap<Block *, int> index;
  for (Block &b : body)
    index[&b] = int(index.size());
  kernel.blocks.resize(index.size());
  for (BlockArgument arg : body.front().getArguments()) {
    kernel.params.push_back(refOf(arg));
    Layout l;
    if (!layoutOf(arg.getType(), l))
      return fail(func, "a kernel parameter type is not modelled");
    kernel.paramLayouts.push_back(l);
  }
  PostDominanceInfo postDom(func);
  uint32_t counter = 0;
  for (Block &b : body) {
    BlockCode &code = kernel.blocks[index[&b]];
    if (&b != &body.front())
      for (BlockArgument arg : b.getArguments())
        code.args.push_back(refOf(arg));
    for (Operation &op : b.without_terminator()) {
      Inst inst;
      inst.index = counter++;
      if (!compileOp(&op, inst))
        return false;
      code.insts.push_back(std::move(inst));
    }
    Operation *term = b.getTerminator();
    code.terminatorOp = term;
    if (auto br = dyn_cast<LLVM::BrOp>(term)) {
      code.terminator = BlockCode::Branch;
      code.succ[0] = index[br.getDest()];
      for (Value v : br.getDestOperands())
        code.succArgs[0].push_back(refOf(v));
    } else if (auto br = dyn_cast<LLVM::CondBrOp>(term)) {
      code.terminator = BlockCode::CondBranch;
      code.condSlot = refOf(br.getCondition()).slot;
      code.succ[0] = index[br.getTrueDest()];
      code.succ[1] = index[br.getFalseDest()];
      for (Value v : br.getTrueDestOperands())
        code.succArgs[0].push_back(refOf(v));
      for (Value v : br.getFalseDestOperands())
        code.succArgs[1].push_back(refOf(v));
      auto *node = postDom.getNode(&b);
      auto *idom = node ? node->getIDom() : nullptr;
      code.ipdom = idom && idom->getBlock() ? index[idom->getBlock()] : -1;
    } else if (isa<LLVM::ReturnOp>(term)) {
      code.terminator = BlockCode::Return;
    } else {
      return fail(term, "this terminator is not modelled");
    }
  }
  // Which blocks can reach a CTA barrier (a fixed point over the CFG).
  for (BlockCode &code : kernel.blocks)
    for (const Inst &inst : code.insts)
      code.reachesBarrier |= inst.op == Opcode::Barrier;
  for (bool changed = true; changed;) {
    changed = false;
    for (BlockCode &code : kernel.blocks)
      for (int succ : code.succ)
        if (succ >= 0 && !code.reachesBarrier &&
            kernel.blocks[succ].reachesBarrier)
          code.reachesBarrier = changed = true;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Scalar execution
//===----------------------------------------------------------------------===//

static bool icmp(int64_t predicate, uint64_t x, uint64_t y, unsigned bits) {
  int64_t sx = signExtend(x, bits), sy = signExtend(y, bits);
  switch (LLVM::ICmpPredicate(predicate)) {
  case LLVM::ICmpPredicate::eq:
    return x == y;
  case LLVM::ICmpPredicate::ne:
    return x != y;
  case LLVM::ICmpPredicate::slt:
    return sx < sy;
  case LLVM::ICmpPredicate::sle:
    return sx <= sy;
  case LLVM::ICmpPredicate::sgt:
    return sx > sy;
  case LLVM::ICmpPredicate::sge:
    return sx >= sy;
  case LLVM::ICmpPredicate::ult:
    return x < y;
  case LLVM::ICmpPredicate::ule:
    return x <= y;
  case LLVM::ICmpPredicate::ugt:
    return x > y;
  case LLVM::ICmpPredicate::uge:
    return x >= y;
  }
  return false;
}

static bool fcmp(int64_t predicate, double x, double y) {
  bool unordered = std::isnan(x) || std::isnan(y);
  using P = LLVM::FCmpPredicate;
  switch (P(predicate)) {
  case P::_false:
    return false;
  case P::oeq:
    return !unordered && x == y;
  case P::ogt:
    return !unordered && x > y;
  case P::oge:
    return !unordered && x >= y;
  case P::olt:
    return !unordered && x < y;
  case P::ole:
    return !unordered && x <= y;
  case P::one:
    return !unordered && x != y;
  case P::ord:
    return !unordered;
  case P::ueq:
    return unordered || x == y;
  case P::ugt:
    return unordered || x > y;
  case P::uge:
    return unordered || x >= y;
  case P::ult:
    return unordered || x < y;
  case P::ule:
    return unordered || x <= y;
  case P::une:
    return unordered || x != y;
  case P::uno:
    return unordered;
  case P::_true:
    return true;
  }
  return false;
}

/// An arithmetic float op on values of type T (double for f64, float for
/// f32, f16 and bf16, which compute in f32 and round to their type).
template <typename T> static T floatOpIn(Opcode op, T x, T y, T z, bool ftz) {
  auto flush = [&](T v) {
    return ftz && std::fpclassify(v) == FP_SUBNORMAL ? std::copysign(T(0), v)
                                                     : v;
  };
  switch (op) {
  case Opcode::FAdd:
    return x + y;
  case Opcode::FSub:
    return x - y;
  case Opcode::FMul:
    return x * y;
  case Opcode::FDiv:
    return x / y;
  case Opcode::FRem:
    return std::fmod(x, y);
  case Opcode::FNeg:
    return -x;
  case Opcode::FAbs:
    return std::fabs(x);
  case Opcode::Fma:
    return std::fma(x, y, z);
  case Opcode::Sqrt:
    return std::sqrt(x);
  case Opcode::Floor:
    return std::floor(x);
  case Opcode::Ceil:
    return std::ceil(x);
  case Opcode::Maximum: // NaN-propagating, -0 < +0
    if (std::isnan(x) || std::isnan(y))
      return T(NAN);
    return x == y ? (std::signbit(x) ? y : x) : std::max(x, y);
  case Opcode::Minimum:
    if (std::isnan(x) || std::isnan(y))
      return T(NAN);
    return x == y ? (std::signbit(x) ? x : y) : std::min(x, y);
  case Opcode::MaxNum:
    return std::fmax(x, y);
  case Opcode::MinNum:
    return std::fmin(x, y);
  case Opcode::Exp2:
    return std::exp2(x);
  case Opcode::Exp:
    return std::exp(x);
  case Opcode::Log:
    return std::log(x);
  case Opcode::Log2:
    return std::log2(x);
  case Opcode::Log1p:
    return std::log1p(x);
  case Opcode::Expm1:
    return std::expm1(x);
  case Opcode::Tanh:
    return std::tanh(x);
  case Opcode::Sin:
    return std::sin(x);
  case Opcode::Cos:
    return std::cos(x);
  case Opcode::Pow:
    return std::pow(x, y);
  // ex2.approx / lg2.approx: the exact function; the hardware's is within
  // 2 ulp (not modelled).
  case Opcode::Exp2Approx:
    return flush(std::exp2(flush(x)));
  case Opcode::Lg2Approx:
    return flush(std::log2(flush(x)));
  default:
    return T(0);
  }
}

/// An arithmetic float op on one element, rounded as the type's op would.
static uint64_t floatOp(Opcode op, Scalar kind, uint64_t xa, uint64_t ya,
                        uint64_t za, bool ftz) {
  if (kind == Scalar::F64)
    return fromDouble(kind, floatOpIn<double>(op, toDouble(kind, xa),
                                              toDouble(kind, ya),
                                              toDouble(kind, za), ftz));
  return fromFloat(kind, floatOpIn<float>(op, float(toDouble(kind, xa)),
                                          float(toDouble(kind, ya)),
                                          float(toDouble(kind, za)), ftz));
}

static uint64_t intOp(Opcode op, uint64_t x, uint64_t y, unsigned bits,
                      bool &ub) {
  uint64_t m = widthMask(bits);
  int64_t sx = signExtend(x, bits), sy = signExtend(y, bits);
  switch (op) {
  case Opcode::Add:
    return (x + y) & m;
  case Opcode::Sub:
    return (x - y) & m;
  case Opcode::Mul:
    return (x * y) & m;
  case Opcode::UDiv:
    if (!y) {
      ub = true;
      return 0;
    }
    return (x / y) & m;
  case Opcode::URem:
    if (!y) {
      ub = true;
      return 0;
    }
    return (x % y) & m;
  case Opcode::SDiv:
    if (!y || (sy == -1 && sx == signExtend(1ull << (bits - 1), bits))) {
      ub = true;
      return 0;
    }
    return uint64_t(sx / sy) & m;
  case Opcode::SRem:
    if (!y || sy == -1) {
      if (!y)
        ub = true;
      return 0;
    }
    return uint64_t(sx % sy) & m;
  case Opcode::And:
    return x & y;
  case Opcode::Or:
    return x | y;
  case Opcode::Xor:
    return x ^ y;
  case Opcode::Shl:
    if (y >= bits) {
      ub = true;
      return 0;
    }
    return (x << y) & m;
  case Opcode::LShr:
    if (y >= bits) {
      ub = true;
      return 0;
    }
    return (x >> y) & m;
  case Opcode::AShr:
    if (y >= bits) {
      ub = true;
      return 0;
    }
    return uint64_t(sx >> y) & m;
  case Opcode::SMin:
    return sx < sy ? x : y;
  case Opcode::SMax:
    return sx > sy ? x : y;
  case Opcode::UMin:
    return std::min(x, y);
  case Opcode::UMax:
    return std::max(x, y);
  case Opcode::Abs:
    return uint64_t(sx < 0 ? -sx : sx) & m;
  default:
    return 0;
  }
}

/// A load or store must be aligned as its `alignment` (or its type's ABI
/// alignment) says: NVPTX emits the access at that width.
static void checkAlignment(CTA &cta, const Inst &inst, uint64_t address,
                           uint32_t t) {
  uint64_t align = uint64_t(inst.b);
  if (align > 1 && (address & ~kTagMask) % align != 0)
    cta.report(inst, "misaligned",
               "thread " + std::to_string(t) + " accesses address 0x" +
                   llvm::utohexstr(address) + ", which is not " +
                   std::to_string(align) + "-byte aligned");
}

static bool isFloatOp(Opcode op) {
  return (op >= Opcode::FAdd && op <= Opcode::Log) && op != Opcode::FCmp;
}

static void executeScalar(CTA &cta, const Inst &inst) {
  const uint32_t T = cta.threads;
  auto lanes = [&](auto &&body) {
    for (uint32_t t = 0; t < T; ++t)
      if (cta.active[t])
        body(t);
  };
  const auto &in = inst.operands;
  const Ref &out = inst.result;
  Scalar kind =
      inst.layout.leaves.empty() ? Scalar::Int : inst.layout.leaves[0].kind;
  unsigned bits = inst.layout.leaves.empty() ? 64 : inst.layout.leaves[0].bits;
  switch (inst.op) {
  case Opcode::Constant:
    lanes([&](uint32_t t) {
      for (uint32_t i = 0; i < out.leaves; ++i)
        cta.reg(out, i, t) = inst.data[i];
    });
    return;
  case Opcode::Poison:
    lanes([&](uint32_t t) {
      for (uint32_t i = 0; i < out.leaves; ++i)
        cta.reg(out, i, t) = 0;
    });
    return;
  case Opcode::Copy:
    if (in[0].leaves != out.leaves) {
      cta.error = "a conversion cast changes the number of scalars";
      return;
    }
    lanes([&](uint32_t t) {
      for (uint32_t i = 0; i < out.leaves; ++i)
        cta.reg(out, i, t) = cta.reg(in[0], i, t);
    });
    return;
  case Opcode::AddressOf:
    lanes([&](uint32_t t) { cta.reg(out, 0, t) = uint64_t(inst.a); });
    return;
  case Opcode::SReg:
    lanes([&](uint32_t t) {
      uint32_t x = t % cta.block[0], y = t / cta.block[0] % cta.block[1],
               z = t / (cta.block[0] * cta.block[1]);
      uint32_t values[] = {x,
                           y,
                           z,
                           cta.block[0],
                           cta.block[1],
                           cta.block[2],
                           cta.ctaid[0],
                           cta.ctaid[1],
                           cta.ctaid[2],
                           cta.grid[0],
                           cta.grid[1],
                           cta.grid[2],
                           t % 32,
                           t / 32};
      cta.reg(out, 0, t) = values[inst.a];
    });
    return;
  case Opcode::ICmp:
    lanes([&](uint32_t t) {
      for (uint32_t i = 0; i < out.leaves; ++i)
        cta.reg(out, i, t) =
            icmp(inst.a, cta.reg(in[0], i, t), cta.reg(in[1], i, t),
                 inst.layout.leaves[i].bits);
    });
    return;
  case Opcode::FCmp:
    lanes([&](uint32_t t) {
      for (uint32_t i = 0; i < out.leaves; ++i)
        cta.reg(out, i, t) = fcmp(inst.a, toDouble(kind, cta.reg(in[0], i, t)),
                                  toDouble(kind, cta.reg(in[1], i, t)));
    });
    return;
  case Opcode::Select: {
    bool vectorCondition = in[0].leaves > 1;
    lanes([&](uint32_t t) {
      for (uint32_t i = 0; i < out.leaves; ++i) {
        bool c = cta.reg(in[0], vectorCondition ? i : 0, t) & 1;
        cta.reg(out, i, t) = cta.reg(in[c ? 1 : 2], i, t);
      }
    });
    return;
  }
  case Opcode::Trunc:
  case Opcode::ZExt:
  case Opcode::SExt:
  case Opcode::PtrToInt:
  case Opcode::IntToPtr:
    lanes([&](uint32_t t) {
      for (uint32_t i = 0; i < out.leaves; ++i) {
        uint64_t v = cta.reg(in[0], i, t);
        unsigned toBits = inst.resultLayout.leaves[i].bits;
        if (inst.op == Opcode::SExt)
          v = uint64_t(signExtend(v, inst.layout.leaves[i].bits));
        cta.reg(out, i, t) = v & widthMask(toBits);
      }
    });
    return;
  case Opcode::AddrSpaceCast: {
    unsigned from = inst.addressSpace, to = inst.resultAddressSpace;
    lanes([&](uint32_t t) {
      uint64_t v = cta.reg(in[0], 0, t);
      if ((from == 3 || from == 7) && to == 0)
        v |= kGenericSharedTag;
      else if (from == 0 && (to == 3 || to == 7)) {
        if ((v & kTagMask) != kGenericSharedTag && v != 0)
          cta.report(inst, "out-of-bounds",
                     "a generic address that is not in shared memory is "
                     "cast to the shared address space");
        v &= ~kTagMask;
      } else if (from == 0 && to == 1) {
        if ((v & kTagMask) != 0)
          cta.report(inst, "out-of-bounds",
                     "a shared or local address is cast to the global "
                     "address space");
      }
      cta.reg(out, 0, t) = v;
    });
    return;
  }
  case Opcode::FPTrunc:
  case Opcode::FPExt:
  case Opcode::SIToFP:
  case Opcode::UIToFP:
  case Opcode::FPToSI:
  case Opcode::FPToUI:
    lanes([&](uint32_t t) {
      for (uint32_t i = 0; i < out.leaves; ++i) {
        const Leaf &from = inst.layout.leaves[i];
        const Leaf &to = inst.resultLayout.leaves[i];
        uint64_t v = cta.reg(in[0], i, t), r = 0;
        switch (inst.op) {
        case Opcode::FPTrunc:
        case Opcode::FPExt:
          r = roundTo(to.kind, (long double)toDouble(from.kind, v));
          break;
        case Opcode::SIToFP:
          r = roundTo(to.kind, (long double)signExtend(v, from.bits));
          break;
        case Opcode::UIToFP:
          r = roundTo(to.kind, (long double)v);
          break;
        case Opcode::FPToSI: {
          double d = std::trunc(toDouble(from.kind, v));
          r = std::isnan(d) ? 0 : uint64_t(int64_t(d)) & widthMask(to.bits);
          break;
        }
        default: {
          double d = std::trunc(toDouble(from.kind, v));
          r = std::isnan(d) || d < 0 ? 0 : uint64_t(d) & widthMask(to.bits);
          break;
        }
        }
        cta.reg(out, i, t) = r;
      }
    });
    return;
  case Opcode::Bitcast: {
    std::vector<uint8_t> bytes(
        std::max(inst.layout.size, inst.resultLayout.size));
    lanes([&](uint32_t t) {
      packLeaves(cta, in[0], inst.layout, t, bytes.data());
      unpackLeaves(cta, out, inst.resultLayout, t, bytes.data());
    });
    return;
  }
  case Opcode::ExtractValue:
    lanes([&](uint32_t t) {
      for (uint32_t i = 0; i < out.leaves; ++i)
        cta.reg(out, i, t) = cta.reg(in[0], uint32_t(inst.a) + i, t);
    });
    return;
  case Opcode::InsertValue:
    lanes([&](uint32_t t) {
      for (uint32_t i = 0; i < out.leaves; ++i)
        cta.reg(out, i, t) = cta.reg(in[0], i, t);
      for (uint32_t i = 0; i < uint32_t(inst.b); ++i)
        cta.reg(out, uint32_t(inst.a) + i, t) = cta.reg(in[1], i, t);
    });
    return;
  case Opcode::ExtractElement:
    lanes([&](uint32_t t) {
      uint64_t p = cta.reg(in[1], 0, t);
      if (p >= in[0].leaves) {
        cta.reg(out, 0, t) = 0;
        return;
      }
      cta.reg(out, 0, t) = cta.reg(in[0], uint32_t(p), t);
    });
    return;
  case Opcode::InsertElement:
    lanes([&](uint32_t t) {
      for (uint32_t i = 0; i < out.leaves; ++i)
        cta.reg(out, i, t) = cta.reg(in[0], i, t);
      uint64_t p = cta.reg(in[2], 0, t);
      if (p < out.leaves)
        cta.reg(out, uint32_t(p), t) = cta.reg(in[1], 0, t);
    });
    return;
  case Opcode::ShuffleVector:
    lanes([&](uint32_t t) {
      uint64_t tmp[64];
      uint32_t n = in[0].leaves;
      for (uint32_t i = 0; i < out.leaves && i < 64; ++i) {
        int64_t m = int64_t(inst.data[i]);
        tmp[i] = m < 0             ? 0
                 : uint64_t(m) < n ? cta.reg(in[0], uint32_t(m), t)
                                   : cta.reg(in[1], uint32_t(m - n), t);
      }
      for (uint32_t i = 0; i < out.leaves && i < 64; ++i)
        cta.reg(out, i, t) = tmp[i];
    });
    return;
  case Opcode::Alloca:
    lanes([&](uint32_t t) {
      std::vector<uint8_t> &mem = cta.local[t];
      uint64_t align = uint64_t(inst.b);
      uint64_t start = (mem.size() + align - 1) / align * align;
      uint64_t count = cta.reg(in[0], 0, t);
      mem.resize(start + count * uint64_t(inst.a));
      cta.reg(out, 0, t) = kLocalTag | (uint64_t(t) << kLocalShift) | start;
    });
    return;
  case Opcode::GEP:
    lanes([&](uint32_t t) {
      int64_t offset = inst.a;
      for (auto [operand, unit] : inst.terms) {
        const Leaf &leaf = inst.source->getOperand(operand).getType().isIndex()
                               ? Leaf{Scalar::Int, 64, 0}
                               : Leaf{Scalar::Int,
                                      uint8_t(inst.source->getOperand(operand)
                                                  .getType()
                                                  .getIntOrFloatBitWidth()),
                                      0};
        offset += signExtend(cta.reg(in[operand], 0, t), leaf.bits) * unit;
      }
      cta.reg(out, 0, t) = cta.reg(in[0], 0, t) + uint64_t(offset);
    });
    return;
  case Opcode::Load: {
    std::vector<uint8_t> bytes(inst.layout.size);
    lanes([&](uint32_t t) {
      uint64_t address = cta.reg(in[0], 0, t);
      checkAlignment(cta, inst, address, t);
      cta.readBytes(inst, inst.addressSpace, address, inst.layout.size,
                    bytes.data(), int32_t(t));
      unpackLeaves(cta, out, inst.layout, t, bytes.data());
    });
    return;
  }
  case Opcode::Store: {
    std::vector<uint8_t> bytes(inst.layout.size);
    lanes([&](uint32_t t) {
      packLeaves(cta, in[0], inst.layout, t, bytes.data());
      checkAlignment(cta, inst, cta.reg(in[1], 0, t), t);
      cta.writeBytes(inst, inst.addressSpace, cta.reg(in[1], 0, t),
                     inst.layout.size, bytes.data(), int32_t(t));
    });
    return;
  }
  default:
    break;
  }
  if (isFloatOp(inst.op) || inst.op == Opcode::Exp2Approx ||
      inst.op == Opcode::Lg2Approx) {
    lanes([&](uint32_t t) {
      for (uint32_t i = 0; i < out.leaves; ++i) {
        uint64_t x = cta.reg(in[0], i, t);
        uint64_t y = in.size() > 1 ? cta.reg(in[1], i, t) : 0;
        uint64_t z = in.size() > 2 ? cta.reg(in[2], i, t) : 0;
        cta.reg(out, i, t) = floatOp(inst.op, kind, x, y, z, inst.a != 0);
      }
    });
    return;
  }
  bool ub = false;
  lanes([&](uint32_t t) {
    for (uint32_t i = 0; i < out.leaves; ++i) {
      uint64_t x = cta.reg(in[0], i, t);
      uint64_t y = in.size() > 1 ? cta.reg(in[1], i, t) : 0;
      cta.reg(out, i, t) = intOp(inst.op, x, y, inst.layout.leaves[i].bits, ub);
    }
  });
  (void)bits;
  if (ub)
    cta.report(inst, "undefined",
               "integer division by zero or an out-of-range shift");
}

bool CTA::lanePredicate(const Inst &inst, uint32_t t) {
  return inst.predicate < 0 || (reg(inst.operands[inst.predicate], 0, t) & 1);
}

//===----------------------------------------------------------------------===//
// Control flow: a SIMT stack reconverging at immediate post-dominators
//===----------------------------------------------------------------------===//

namespace {
struct StackEntry {
  int block;
  std::vector<uint8_t> mask;
  int reconverge; // -1: the exit
};
} // namespace

static void passArguments(CTA &cta, const BlockCode &from, int which,
                          const BlockCode &to,
                          const std::vector<uint8_t> &mask) {
  const std::vector<Ref> &src = from.succArgs[which];
  std::vector<uint64_t> tmp;
  std::vector<uint32_t> seqs;
  for (uint32_t t = 0; t < cta.threads; ++t) {
    if (!mask[t])
      continue;
    tmp.clear();
    seqs.clear();
    for (const Ref &r : src)
      for (uint32_t i = 0; i < r.leaves; ++i) {
        tmp.push_back(cta.reg(r, i, t));
        seqs.push_back(cta.pendingSeq[(r.slot + i) * cta.threads + t]);
      }
    size_t k = 0;
    for (const Ref &r : to.args)
      for (uint32_t i = 0; i < r.leaves; ++i, ++k) {
        cta.reg(r, i, t) = tmp[k];
        cta.pendingSeq[(r.slot + i) * cta.threads + t] = seqs[k];
      }
  }
}

/// While wgmma groups are in flight: reports an op that computes with a
/// pending accumulator, and carries the pending tags through the ops that
/// only move values (what register allocation makes free).
static void trackPending(CTA &cta, const Inst &inst) {
  const uint32_t T = cta.threads;
  auto seqOf = [&](const Ref &r, uint32_t i, uint32_t t) -> uint32_t & {
    return cta.pendingSeq[(r.slot + i) * T + t];
  };
  switch (inst.op) {
  case Opcode::ExtractValue:
  case Opcode::InsertValue:
  case Opcode::Copy:
    for (uint32_t t = 0; t < T; ++t) {
      if (!cta.active[t])
        continue;
      for (uint32_t i = 0; i < inst.result.leaves; ++i) {
        uint32_t seq;
        if (inst.op == Opcode::ExtractValue)
          seq = seqOf(inst.operands[0], uint32_t(inst.a) + i, t);
        else if (inst.op == Opcode::InsertValue && i >= uint32_t(inst.a) &&
                 i < uint32_t(inst.a + inst.b))
          seq = seqOf(inst.operands[1], i - uint32_t(inst.a), t);
        else
          seq = seqOf(inst.operands[0], i, t);
        seqOf(inst.result, i, t) = seq;
      }
    }
    return;
  default:
    break;
  }
  for (const Ref &r : inst.operands)
    for (uint32_t i = 0; i < r.leaves; ++i)
      for (uint32_t t = 0; t < T; ++t)
        if (cta.active[t] && cta.pendingLive(r.slot + i, t)) {
          cta.report(inst, "in-flight",
                     "computes with a wgmma accumulator before "
                     "wgmma.wait_group retired the wgmma that writes it");
          goto clear;
        }
clear:
  for (uint32_t i = 0; i < inst.result.leaves; ++i)
    for (uint32_t t = 0; t < T; ++t)
      if (cta.active[t])
        seqOf(inst.result, i, t) = 0;
}

static bool isCollective(Opcode op) { return op >= Opcode::Barrier; }

static void runCTA(CTA &cta) {
  static const bool trace = getenv("ATTN_EMULATOR_TRACE") != nullptr;
  const Kernel &k = cta.kernel;
  std::vector<StackEntry> stack;
  stack.push_back({0, std::vector<uint8_t>(cta.threads, 1), -1});
  uint64_t steps = 0;
  while (!stack.empty() && cta.error.empty()) {
    StackEntry &top = stack.back();
    if (top.block < 0 || top.block == top.reconverge) {
      stack.pop_back();
      continue;
    }
    for (uint32_t t = 0; t < cta.threads; ++t)
      top.mask[t] = top.mask[t] && !cta.exited[t];
    if (std::find(top.mask.begin(), top.mask.end(), 1) == top.mask.end()) {
      stack.pop_back();
      continue;
    }
    if (++steps > (uint64_t(1) << 26)) {
      cta.error = "the kernel ran more than 2^26 blocks in one CTA "
                  "(an endless loop?)";
      return;
    }
    const BlockCode &code = k.blocks[top.block];
    cta.active = top.mask;
    uint64_t lanes = std::count(top.mask.begin(), top.mask.end(), 1);
    for (const Inst &inst : code.insts) {
      if (cta.liveWgmmaGroups && !isCollective(inst.op))
        trackPending(cta, inst);
      if (isCollective(inst.op))
        executeCollective(cta, inst);
      else
        executeScalar(cta, inst);
      if (trace && cta.ctaid[0] == 0 && cta.ctaid[1] == 0 &&
          inst.result.leaves) {
        llvm::errs() << inst.index << " " << inst.source->getName() << " t0:";
        for (uint32_t i = 0; i < std::min(inst.result.leaves, 4u); ++i)
          llvm::errs() << " " << llvm::utohexstr(cta.reg(inst.result, i, 0));
        llvm::errs() << "\n";
      }
      cta.instructions += lanes;
      if (!cta.error.empty())
        return;
    }
    switch (code.terminator) {
    case BlockCode::Return:
      for (uint32_t t = 0; t < cta.threads; ++t)
        if (top.mask[t])
          cta.exited[t] = 1;
      top.block = -1;
      break;
    case BlockCode::Branch:
      passArguments(cta, code, 0, k.blocks[code.succ[0]], top.mask);
      top.block = code.succ[0];
      break;
    case BlockCode::CondBranch: {
      std::vector<uint8_t> taken(cta.threads, 0), other(cta.threads, 0);
      bool anyTaken = false, anyOther = false;
      for (uint32_t t = 0; t < cta.threads; ++t) {
        if (!top.mask[t])
          continue;
        bool c = cta.reg(code.condSlot, t) & 1;
        (c ? taken : other)[t] = 1;
        (c ? anyTaken : anyOther) = true;
      }
      if (anyTaken)
        passArguments(cta, code, 0, k.blocks[code.succ[0]], taken);
      if (anyOther)
        passArguments(cta, code, 1, k.blocks[code.succ[1]], other);
      if (!anyOther) {
        top.block = code.succ[0];
      } else if (!anyTaken) {
        top.block = code.succ[1];
      } else {
        // Diverged: the entry waits at the reconvergence point while each
        // side runs there on its own.
        // Where some paths return, the sides meet again at the enclosing
        // entry's point at the latest.
        int join = code.ipdom >= 0 ? code.ipdom : top.reconverge;
        top.block = join;
        // The side that cannot reach a CTA barrier runs first, so that
        // lanes which exit early have exited when the others arrive at one
        // (the lock-step order stands in for the hardware's scheduling).
        bool otherFirst = k.blocks[code.succ[0]].reachesBarrier &&
                          !k.blocks[code.succ[1]].reachesBarrier;
        if (otherFirst) {
          stack.push_back({code.succ[0], taken, join});
          stack.push_back({code.succ[1], other, join});
        } else {
          stack.push_back({code.succ[1], other, join});
          stack.push_back({code.succ[0], taken, join});
        }
      }
      break;
    }
    }
  }
}

//===----------------------------------------------------------------------===//
// Modules and launches
//===----------------------------------------------------------------------===//

/// Reports overlapping global stores of two CTAs (nothing orders CTAs), or
/// of two threads of one CTA with no barrier between them.
static void checkGlobalStores(std::vector<GlobalStore> &stores,
                              Reporter &reporter) {
  std::sort(stores.begin(), stores.end(),
            [](const GlobalStore &a, const GlobalStore &b) {
              return a.begin < b.begin;
            });
  std::vector<const GlobalStore *> open; // stores that may overlap the next
  for (const GlobalStore &s : stores) {
    llvm::erase_if(open,
                   [&](const GlobalStore *o) { return o->end <= s.begin; });
    for (const GlobalStore *o : open) {
      std::string what;
      if (o->cta != s.cta)
        what = "CTAs " + std::to_string(o->cta) + " and " +
               std::to_string(s.cta) + " (linear ids) both write";
      else if (o->access.thread != s.access.thread &&
               o->access.epoch == s.access.epoch &&
               (o->access.thread / 32 != s.access.thread / 32 ||
                o->access.warpEpoch == s.access.warpEpoch))
        what = "threads " + std::to_string(o->access.thread) + " and " +
               std::to_string(s.access.thread) +
               " of one CTA write, with no barrier in between,";
      if (!what.empty())
        reporter.add(s.inst, "race",
                     what + " global address 0x" + llvm::utohexstr(s.begin) +
                         " (the other store: instruction " +
                         std::to_string(o->inst->index) + ")");
    }
    if (open.size() < 64)
      open.push_back(&s);
  }
}

Module::~Module() = default;

namespace {

class InterpretedModule : public Module {
public:
  // No thread pool: the runtime may parse from a global constructor (an
  // attn-aot library's), under the dynamic loader's lock.
  MLIRContext context{MLIRContext::Threading::DISABLED};
  uint64_t maxSharedBytes = 227 * 1024; // per CTA, from the module's chip
  OwningOpRef<ModuleOp> module;
  std::map<std::string, std::unique_ptr<Kernel>> kernels;
  std::vector<std::vector<uint8_t>> constants;
  std::vector<GlobalRange> constantRanges;

  bool hasKernel(const std::string &name) const override {
    return kernels.count(name);
  }

  LaunchResult launch(const std::string &name, const LaunchConfig &config,
                      void **args,
                      const std::vector<GlobalRange> &global) override;
};

} // namespace

/// The mutation suite's hook (test/python/test_emulator_mutations.py):
/// $ATTN_EMULATOR_MUTATION, a JSON list of {"pattern": regex, "replace":
/// text with $1.., "nth": which match (0-based, -1 the last; all if
/// absent)}, edits the kernel module's text before it is parsed, so that a
/// deliberately broken kernel runs through the real host path. A pattern
/// that matches nothing is an error: a mutation must change something.
static bool applyMutations(std::string &text, std::string &error) {
  const char *spec = getenv("ATTN_EMULATOR_MUTATION");
  if (!spec || !*spec)
    return true;
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(spec);
  const llvm::json::Array *list = parsed ? parsed->getAsArray() : nullptr;
  if (!list) {
    if (!parsed)
      llvm::consumeError(parsed.takeError());
    error = "ATTN_EMULATOR_MUTATION is not a JSON list of mutations";
    return false;
  }
  for (const llvm::json::Value &entry : *list) {
    const llvm::json::Object *m = entry.getAsObject();
    std::optional<llvm::StringRef> pattern =
        m ? m->getString("pattern") : std::nullopt;
    std::optional<llvm::StringRef> replace =
        m ? m->getString("replace") : std::nullopt;
    if (!pattern || !replace) {
      error = "a mutation needs \"pattern\" and \"replace\"";
      return false;
    }
    std::optional<int64_t> nth = m->getInteger("nth");
    std::regex re(pattern->str());
    std::vector<std::smatch> matches;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re);
         it != std::sregex_iterator(); ++it)
      matches.push_back(*it);
    if (matches.empty()) {
      error = "mutation pattern '" + pattern->str() + "' matches nothing";
      return false;
    }
    std::string out;
    size_t done = 0;
    for (size_t i = 0; i < matches.size(); ++i) {
      bool chosen =
          !nth || (*nth >= 0 ? size_t(*nth) == i : i + 1 == matches.size());
      if (!chosen)
        continue;
      size_t at = size_t(matches[i].position(0));
      out += text.substr(done, at - done);
      out += matches[i].format(replace->str());
      done = at + size_t(matches[i].length(0));
    }
    if (done == 0) {
      error = "mutation pattern '" + pattern->str() + "' has no match " +
              std::to_string(*nth);
      return false;
    }
    text = out + text.substr(done);
  }
  return true;
}

std::unique_ptr<Module> Module::parse(const std::string &original,
                                      std::string &error) {
  std::string text = original;
  if (!applyMutations(text, error))
    return nullptr;
  // $ATTN_EMULATOR_DUMP names a file to write the module text into, as
  // parsed (after mutations): what the emulator runs, for debugging.
  if (const char *dump = getenv("ATTN_EMULATOR_DUMP"); dump && *dump) {
    std::error_code ec;
    llvm::raw_fd_ostream os(dump, ec);
    if (!ec)
      os << text;
  }
  auto result = std::make_unique<InterpretedModule>();
  DialectRegistry registry;
  registry.insert<LLVM::LLVMDialect, NVVM::NVVMDialect, gpu::GPUDialect>();
  result->context.appendDialectRegistry(registry);
  result->context.loadAllAvailableDialects();
  std::string diagnostics;
  {
    ScopedDiagnosticHandler handler(&result->context, [&](Diagnostic &d) {
      diagnostics += d.str() + "\n";
      return success();
    });
    result->module = parseSourceString<ModuleOp>(text, &result->context);
  }
  if (!result->module) {
    error = "the emulator could not parse the kernel module: " + diagnostics;
    return nullptr;
  }
  // Globals: shared arrays get offsets (static ones first, the dynamic
  // array<0 x i8> at the end), constant ones host copies.
  std::vector<LLVM::LLVMFuncOp> funcs;
  std::map<std::string, uint32_t> sharedGlobals;
  std::map<std::string, uint64_t> constGlobals;
  uint32_t staticShared = 0;
  std::vector<std::string> dynamicShared;
  std::string failure;
  result->module->walk([&](Operation *op) {
    if (auto m = dyn_cast<gpu::GPUModuleOp>(op))
      if (ArrayAttr targets = m.getTargetsAttr())
        for (Attribute target : targets)
          if (auto nvvm = dyn_cast<NVVM::NVVMTargetAttr>(target)) {
            // Shared memory per CTA (CUDA C Programming Guide, compute
            // capabilities): 8.0 163 KiB, 8.6/8.9 99 KiB, 9.0 227 KiB.
            StringRef chip = nvvm.getChip();
            result->maxSharedBytes = chip == "sm_80"   ? 163 * 1024
                                     : chip == "sm_86" ? 99 * 1024
                                     : chip == "sm_89" ? 99 * 1024
                                                       : 227 * 1024;
          }
    if (auto g = dyn_cast<LLVM::GlobalOp>(op)) {
      Layout l;
      if (!layoutOf(g.getGlobalType(), l) &&
          !isa<LLVM::LLVMArrayType>(g.getGlobalType())) {
        failure = "global @" + g.getSymName().str() + " has an unmodelled type";
        return;
      }
      if (g.getAddrSpace() == 3) {
        if (l.size == 0) {
          dynamicShared.push_back(g.getSymName().str());
          return;
        }
        uint64_t align =
            std::max<uint64_t>(g.getAlignment().value_or(1), l.align);
        staticShared = uint32_t((staticShared + align - 1) / align * align);
        sharedGlobals[g.getSymName().str()] = staticShared;
        staticShared += uint32_t(l.size);
        return;
      }
      auto dense = dyn_cast_or_null<DenseElementsAttr>(g.getValueOrNull());
      if (!g.getConstant() || !dense) {
        failure = "global @" + g.getSymName().str() +
                  " is neither shared memory nor a dense constant";
        return;
      }
      std::vector<uint8_t> bytes(l.size);
      auto values = llvm::to_vector(dense.getValues<Attribute>());
      for (size_t i = 0; i < values.size() && i < l.leaves.size(); ++i) {
        uint64_t v = 0;
        if (auto a = dyn_cast<IntegerAttr>(values[i]))
          v = a.getValue().getZExtValue();
        else if (auto f = dyn_cast<FloatAttr>(values[i]))
          v = f.getValue().bitcastToAPInt().getZExtValue();
        std::memcpy(bytes.data() + l.leaves[i].offset, &v,
                    (l.leaves[i].bits + 7) / 8);
      }
      result->constants.push_back(std::move(bytes));
      auto &stored = result->constants.back();
      constGlobals[g.getSymName().str()] = uint64_t(uintptr_t(stored.data()));
      result->constantRanges.push_back(
          {uint64_t(uintptr_t(stored.data())), stored.size()});
    } else if (auto f = dyn_cast<LLVM::LLVMFuncOp>(op)) {
      if (!f.isExternal())
        funcs.push_back(f);
    }
  });
  if (!failure.empty()) {
    error = "the emulator cannot run this module: " + failure;
    return nullptr;
  }
  uint32_t dynamicStart = (staticShared + 15) / 16 * 16;
  for (const std::string &name : dynamicShared)
    sharedGlobals[name] = dynamicStart;
  for (LLVM::LLVMFuncOp f : funcs) {
    auto kernel = std::make_unique<Kernel>();
    kernel->staticShared = dynamicStart;
    kernel->sharedGlobals = sharedGlobals;
    kernel->constGlobals = constGlobals;
    Compiler compiler(*kernel, error);
    if (!compiler.compile(f, *result->module))
      return nullptr;
    result->kernels[kernel->name] = std::move(kernel);
  }
  return result;
}

LaunchResult InterpretedModule::launch(const std::string &name,
                                       const LaunchConfig &config, void **args,
                                       const std::vector<GlobalRange> &global) {
  LaunchResult result;
  auto it = kernels.find(name);
  if (it == kernels.end()) {
    result.error = "the emulated module has no kernel '" + name + "'";
    return result;
  }
  const Kernel &kernel = *it->second;
  if (config.argCount != SIZE_MAX && config.argCount != kernel.params.size()) {
    result.error =
        "kernel '" + name + "' takes " + std::to_string(kernel.params.size()) +
        " arguments, the launch passes " + std::to_string(config.argCount);
    return result;
  }
  uint64_t threads =
      uint64_t(config.block[0]) * config.block[1] * config.block[2];
  if (threads == 0 || threads > 1024) {
    result.error = "a CTA of " + std::to_string(threads) +
                   " threads (CUDA allows 1 to 1024)";
    return result;
  }
  uint64_t sharedBytes = kernel.staticShared + config.dynamicSharedBytes;
  if (sharedBytes > maxSharedBytes) {
    result.error = std::to_string(sharedBytes) +
                   " bytes of shared memory per CTA, more than the module's "
                   "chip allows (" +
                   std::to_string(maxSharedBytes) + ")";
    return result;
  }
  std::vector<GlobalRange> ranges = global;
  if (!ranges.empty())
    ranges.insert(ranges.end(), constantRanges.begin(), constantRanges.end());
  uint64_t ctas = uint64_t(config.grid[0]) * config.grid[1] * config.grid[2];
  Reporter reporter;
  std::atomic<uint64_t> next{0}, instructions{0};
  std::mutex errorMutex;
  std::vector<GlobalStore> stores;
  auto worker = [&]() {
    for (uint64_t c = next++; c < ctas; c = next++) {
      CTA cta(kernel, reporter, ranges);
      cta.threads = uint32_t(threads);
      for (int d = 0; d < 3; ++d) {
        cta.block[d] = config.block[d];
        cta.grid[d] = config.grid[d];
      }
      cta.ctaid[0] = uint32_t(c % config.grid[0]);
      cta.ctaid[1] = uint32_t(c / config.grid[0] % config.grid[1]);
      cta.ctaid[2] = uint32_t(c / (uint64_t(config.grid[0]) * config.grid[1]));
      cta.regs.assign(uint64_t(kernel.numSlots) * threads, 0);
      cta.pendingSeq.assign(cta.regs.size(), 0);
      cta.exited.assign(threads, 0);
      cta.shared.assign(sharedBytes, 0);
      cta.shadow.assign(sharedBytes, ShadowByte{});
      cta.local.assign(threads, {});
      cta.warpEpoch.assign(cta.warps(), 0);
      cta.cpOpen.assign(threads, {});
      cta.cpGroups.assign(threads, {});
      cta.wgmmaOpen.assign((threads + 127) / 128, {});
      cta.wgmmaGroups.assign((threads + 127) / 128, {});
      cta.wgmmaRetired.assign((threads + 127) / 128, 0);
      for (WgmmaGroup &open : cta.wgmmaOpen)
        open.seq = 1;
      for (size_t p = 0; p < kernel.params.size(); ++p) {
        std::vector<uint8_t> bytes(kernel.paramLayouts[p].size);
        std::memcpy(bytes.data(), args[p], bytes.size());
        for (uint32_t t = 0; t < threads; ++t)
          unpackLeaves(cta, kernel.params[p], kernel.paramLayouts[p], t,
                       bytes.data());
      }
      cta.linearCta = c;
      runCTA(cta);
      {
        std::lock_guard<std::mutex> lock(errorMutex);
        stores.insert(stores.end(), cta.globalStores.begin(),
                      cta.globalStores.end());
      }
      if (cta.error.empty())
        finishAsync(cta);
      instructions += cta.instructions;
      if (!cta.error.empty()) {
        std::lock_guard<std::mutex> lock(errorMutex);
        if (result.error.empty())
          result.error = "CTA (" + std::to_string(cta.ctaid[0]) + ", " +
                         std::to_string(cta.ctaid[1]) + ", " +
                         std::to_string(cta.ctaid[2]) + "): " + cta.error;
        next = ctas; // stop the others
      }
    }
  };
  unsigned workers =
      std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(),
                                      unsigned(std::min<uint64_t>(ctas, 64))));
  std::vector<std::thread> pool;
  for (unsigned w = 1; w < workers; ++w)
    pool.emplace_back(worker);
  worker();
  for (std::thread &t : pool)
    t.join();
  checkGlobalStores(stores, reporter);
  reporter.moveTo(result);
  result.threadInstructions = instructions;
  return result;
}
