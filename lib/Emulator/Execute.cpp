//===- Execute.cpp - The scalar ops ---------------------------------------===//
//
// Executes one scalar instruction (arithmetic, conversions, aggregates,
// loads and stores) for the CTA's active lanes.
//
//===----------------------------------------------------------------------===//

#include "Machine.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "llvm/ADT/StringExtras.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

using namespace mlir;
using namespace attn::emu;
using namespace attn::emu::detail;

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

/// One atomic read-modify-write of the T at `p` with LLVM::AtomicBinOp
/// `kind`; returns the old value.
template <typename T>
static uint64_t atomicUpdate(uint8_t *p, int64_t kind, uint64_t operand) {
  using B = LLVM::AtomicBinOp;
  using S = std::make_signed_t<T>;
  T *word = reinterpret_cast<T *>(p);
  T value = T(operand);
  T old = __atomic_load_n(word, __ATOMIC_SEQ_CST);
  while (true) {
    T next = old;
    switch (B(kind)) {
    case B::xchg:
      next = value;
      break;
    case B::add:
      next = T(old + value);
      break;
    case B::_and:
      next = old & value;
      break;
    case B::_or:
      next = old | value;
      break;
    case B::_xor:
      next = old ^ value;
      break;
    case B::max:
      next = S(old) > S(value) ? old : value;
      break;
    case B::min:
      next = S(old) < S(value) ? old : value;
      break;
    case B::umax:
      next = std::max(old, value);
      break;
    case B::umin:
      next = std::min(old, value);
      break;
    default:
      break;
    }
    if (__atomic_compare_exchange_n(word, &old, next, /*weak=*/false,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
      return uint64_t(old);
  }
}

void attn::emu::detail::executeScalar(CTA &cta, const Inst &inst) {
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
    SmallVector<uint8_t, 64> bytes(
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
      for (const Inst::GepTerm &term : inst.terms)
        offset +=
            signExtend(cta.reg(in[term.operand], 0, t), term.bits) * term.unit;
      cta.reg(out, 0, t) = cta.reg(in[0], 0, t) + uint64_t(offset);
    });
    return;
  case Opcode::Load: {
    SmallVector<uint8_t, 64> bytes(inst.layout.size);
    lanes([&](uint32_t t) {
      uint64_t address = cta.reg(in[0], 0, t);
      checkAlignment(cta, inst, address, t);
      cta.readBytes(inst, inst.addressSpace, address, inst.layout.size,
                    bytes.data(), int32_t(t));
      unpackLeaves(cta, out, inst.layout, t, bytes.data());
    });
    return;
  }
  case Opcode::AtomicRMW: {
    // Lanes in order, each atomically: CTAs run on several host threads.
    unsigned bits = inst.layout.leaves[0].bits;
    lanes([&](uint32_t t) {
      uint64_t address = cta.reg(in[0], 0, t);
      checkAlignment(cta, inst, address, t);
      uint8_t *p = cta.atomicAddress(inst, inst.addressSpace, address, bits / 8,
                                     int32_t(t));
      uint64_t value = cta.reg(in[1], 0, t);
      cta.reg(out, 0, t) =
          p ? (bits == 32 ? atomicUpdate<uint32_t>(p, inst.a, value)
                          : atomicUpdate<uint64_t>(p, inst.a, value))
            : 0;
    });
    return;
  }
  case Opcode::Store: {
    SmallVector<uint8_t, 64> bytes(inst.layout.size);
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
  if (isFloatOp(inst.op)) {
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
