//===- Machine.h - The emulator's compiled kernels and CTA state -*- C++
//-*-===//
//
// Private to lib/Emulator. A kernel (an llvm.func of a gpu.module) is
// compiled once into `Inst`s over value slots (Compile.cpp); a CTA runs them
// with one 64-bit register per (slot, thread): Interpreter.cpp the control
// flow and launches, Execute.cpp the scalar ops, Collectives.cpp the warp-
// and CTA-level operations (mma.sync, ldmatrix, shuffles, barriers,
// cp.async) and Hopper.cpp sm_90's (mbarriers, TMA, wgmma), over Values.cpp's
// scalars and Memory.cpp's memory.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_EMULATOR_MACHINE_H
#define ATTN_LIB_EMULATOR_MACHINE_H

#include "attn/Emulator/Emulator.h"

#include "mlir/IR/Operation.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"

#include <deque>
#include <map>
#include <mutex>

namespace attn::emu::detail {

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

/// The scalar kinds a register can hold. Integers of `bits` <= 64 are kept
/// zero-extended; floats as their bit patterns; pointers as addresses.
enum class Scalar : uint8_t { Int, F16, BF16, F32, F64, Ptr };

/// One scalar of a flattened value, with its byte offset in memory.
struct Leaf {
  Scalar kind = Scalar::Int;
  uint8_t bits = 0;
  uint32_t offset = 0;
};

/// A type flattened to scalars (structs, arrays and vectors in order), with
/// its in-memory size and alignment (natural layout, as NVPTX's).
struct Layout {
  llvm::SmallVector<Leaf, 4> leaves;
  uint64_t size = 0;
  uint64_t align = 1;
  bool bitPacked = false; // a vector of i1: leaf offsets count bits
};

/// The layout of an LLVM-dialect or builtin type; false if unsupported.
bool layoutOf(mlir::Type type, Layout &layout);
/// The leaves [first, first + count) of the sub-value at `position` of an
/// aggregate type.
bool subRange(mlir::Type type, llvm::ArrayRef<int64_t> position,
              uint32_t &first, uint32_t &count);

uint64_t widthMask(unsigned bits);
int64_t signExtend(uint64_t v, unsigned bits);
/// A float register of `kind` as a double (exact for every kind).
double toDouble(Scalar kind, uint64_t bits);
/// `f` (already an f32 result) rounded to `kind`.
uint64_t fromFloat(Scalar kind, float f);
uint64_t fromDouble(Scalar kind, double d);
/// `x` rounded once, to nearest even, to `kind`.
uint64_t roundTo(Scalar kind, long double x);

float halfToFloat(uint16_t bits);
uint16_t floatToHalf(float value);
float bf16ToFloat(uint16_t bits);
uint16_t floatToBf16(float value);
float asFloat(uint32_t bits);
uint32_t floatBits(float value);

//===----------------------------------------------------------------------===//
// Addresses
//===----------------------------------------------------------------------===//

/// Shared-memory (addrspace 3) addresses start here, as on sm_80+ where the
/// first KiB of the CTA's window is reserved.
constexpr uint64_t kSharedBase = 1024;
/// Generic addresses of shared memory and of a thread's local memory
/// (allocas) carry these tags; global addresses are host addresses.
constexpr uint64_t kGenericSharedTag = 0x7f00000000000000ull;
constexpr uint64_t kLocalTag = 0x7e00000000000000ull;
constexpr uint64_t kTagMask = 0xff00000000000000ull;
constexpr unsigned kLocalShift = 24; // thread id above, offset below

//===----------------------------------------------------------------------===//
// Compiled kernels
//===----------------------------------------------------------------------===//

enum class Opcode : uint16_t {
  // values
  Constant,
  Copy,
  Poison,
  // integer
  Add,
  Sub,
  Mul,
  UDiv,
  SDiv,
  URem,
  SRem,
  And,
  Or,
  Xor,
  Shl,
  LShr,
  AShr,
  ICmp,
  SMin,
  SMax,
  UMin,
  UMax,
  Abs,
  // float
  FAdd,
  FSub,
  FMul,
  FDiv,
  FRem,
  FNeg,
  FCmp,
  Maximum,
  Minimum,
  MaxNum,
  MinNum,
  Fma,
  FAbs,
  Floor,
  Ceil,
  Sqrt,
  Exp2Approx,
  Lg2Approx,
  Exp2,
  Exp,
  Log2,
  Log1p,
  Expm1,
  Tanh,
  Sin,
  Cos,
  Pow,
  Log,
  // conversions
  Trunc,
  ZExt,
  SExt,
  FPTrunc,
  FPExt,
  SIToFP,
  UIToFP,
  FPToSI,
  FPToUI,
  Bitcast,
  PtrToInt,
  IntToPtr,
  AddrSpaceCast,
  Select,
  // aggregates
  ExtractValue,
  InsertValue,
  ExtractElement,
  InsertElement,
  ShuffleVector,
  // memory
  Alloca,
  GEP,
  Load,
  Store,
  /// llvm.atomicrmw on global memory: inst.a holds the LLVM::AtomicBinOp.
  AtomicRMW,
  AddressOf,
  // special registers
  SReg,
  // collectives and asynchrony (Collectives.cpp)
  Barrier,
  WarpSync,
  Shfl,
  Vote,
  MmaSync,
  LdMatrix,
  CpAsync,
  CpAsyncCommit,
  CpAsyncWait,
  MBarrierInit,
  MBarrierArrive,
  MBarrierArriveExpectTx,
  MBarrierTryWait,
  Tma,
  Nop,
  // recognised inline assembly
  AsmFenceProxyTensormap,
  AsmFenceProxyAsync,
  AsmWgmmaFence,
  AsmWgmmaCommit,
  AsmWgmmaWait,
  AsmWgmmaMma,
  AsmMBarrierWaitLoop,
};

/// A value's place in the register file: `leaves` consecutive slots.
struct Ref {
  uint32_t slot = 0;
  uint32_t leaves = 0;
};

struct Inst {
  Opcode op = Opcode::Nop;
  mlir::Operation *source = nullptr;
  uint32_t index = 0; // position in the kernel, for reports
  Ref result;         // result 0 (if any)
  llvm::SmallVector<Ref, 4> operands;
  Layout layout;       // operand 0's type (or the loaded/stored value's)
  Layout resultLayout; // the result's type
  int64_t a = 0, b = 0, c = 0; // op-specific immediates
  std::vector<uint64_t> data;  // constants, positions, masks
  // GEP: a constant byte offset (`a`) plus, per dynamic index, its operand,
  // its width in bits and the bytes one step of it moves.
  struct GepTerm {
    uint32_t operand;
    unsigned bits;
    int64_t unit;
  };
  std::vector<GepTerm> terms;
  unsigned addressSpace = 0; // of the pointer operand
  unsigned resultAddressSpace = 0;
  int predicate = -1; // operand index of a PTX predicate, or -1
};

struct BlockCode {
  std::vector<Inst> insts;
  enum Terminator { Branch, CondBranch, Return } terminator = Return;
  uint32_t condSlot = 0;
  int succ[2] = {-1, -1};
  std::vector<Ref> succArgs[2];
  int ipdom = -1;              // immediate post-dominator; -1 is the exit
  bool reachesBarrier = false; // a CTA barrier is reachable from here
  std::vector<Ref> args;
  mlir::Operation *terminatorOp = nullptr;
};

struct Kernel {
  std::string name;
  std::vector<BlockCode> blocks;
  std::vector<Ref> params;
  std::vector<Layout> paramLayouts;
  uint32_t numSlots = 0;
  uint32_t staticShared = 0; // bytes of static shared memory before dynamic
  std::map<std::string, uint32_t> sharedGlobals; // name -> shared offset
  std::map<std::string, uint64_t> constGlobals;  // name -> host address
};

//===----------------------------------------------------------------------===//
// CTA state
//===----------------------------------------------------------------------===//

/// Who last touched a byte of shared memory, to find races: the thread, the
/// instruction, and the barrier counts at the time (CTA-wide and of the
/// thread's warp).
struct Access {
  int32_t thread = -1;
  uint32_t inst = 0;
  uint32_t epoch = 0;
  uint32_t warpEpoch = 0;
};

struct ShadowByte {
  Access writer;
  Access readers[2];
  uint16_t inFlight = 0;   // asynchronous writes not yet landed
  uint16_t asyncReads = 0; // wgmma operand reads not yet retired
  bool unfenced = false;   // a thread wrote it; no fence.proxy.async since
};

/// A thread's store to global memory, kept for the launch-wide check that
/// no two CTAs, and no two unsynchronised threads of one CTA, write the
/// same bytes.
struct GlobalStore {
  uint64_t begin = 0, end = 0;
  uint64_t cta = 0;
  Access access;
  const struct Inst *inst = nullptr;
};

struct CpAsyncCopy {
  uint64_t dst = 0; // shared address
  uint64_t src = 0; // global address
  uint32_t size = 0, srcSize = 0;
  uint32_t inst = 0;
};

struct TmaCopy {
  uint64_t mbarrier = 0; // shared address
  uint64_t dst = 0;
  TensorMap map;
  int64_t coords[5] = {};
  uint32_t inst = 0;
  int32_t thread = 0;
};

struct MBarrier {
  uint32_t count = 0;   // expected arrivals per phase
  uint32_t pending = 0; // arrivals still missing in this phase
  int64_t tx = 0;       // transaction bytes still expected
  uint32_t phase = 0;
  uint32_t initInst = 0;
};

/// The wgmma operations between two commits of a warpgroup. Groups are
/// numbered from 1 in commit order and retire in that order, so a register
/// tagged with group `seq` is pending while `seq` > the warpgroup's retired
/// count.
struct WgmmaGroup {
  std::vector<uint64_t> sharedBytes; // operand bytes read asynchronously
  uint32_t seq = 0;
  bool used = false;
};

class Reporter {
public:
  void add(const Inst *inst, const std::string &kind, const std::string &msg);
  void add(mlir::Operation *op, uint32_t index, const std::string &kind,
           const std::string &msg);
  void moveTo(LaunchResult &result);
  bool full() const;

private:
  std::mutex mutex;
  std::vector<Report> reports;
  std::map<std::pair<std::string, mlir::Operation *>, unsigned> seen;
  uint64_t suppressed = 0;
};

constexpr uint32_t kNoIndex = ~0u; // an op that is no instruction
std::string describe(mlir::Operation *op, uint32_t index = kNoIndex);

struct CTA {
  const Kernel &kernel;
  Reporter &reporter;
  const std::vector<GlobalRange> &global;
  std::string error; // fatal, stops the CTA
  uint32_t block[3], grid[3], ctaid[3];
  uint32_t threads = 0;
  std::vector<uint64_t> regs; // slot * threads + thread
  /// Like regs: the wgmma group whose result the register holds (0: none).
  std::vector<uint32_t> pendingSeq;
  uint32_t liveWgmmaGroups = 0; // groups issued and not yet retired
  std::vector<uint8_t> active;  // this instruction's lanes
  std::vector<uint8_t> exited;
  uint64_t instructions = 0;

  // memory
  uint64_t linearCta = 0;
  std::vector<GlobalStore> globalStores;
  std::vector<uint8_t> shared;
  std::vector<ShadowByte> shadow;
  std::vector<std::vector<uint8_t>> local;
  uint32_t epoch = 0;
  std::vector<uint32_t> warpEpoch;
  /// Per warp: the branch at which it last split, while no synchronising
  /// instruction has re-converged it since (nullptr: known converged).
  /// Independent thread scheduling guarantees no reconvergence at the join
  /// point; only bar.warp.sync, a CTA barrier or a full-mask shfl/vote.sync
  /// re-converge a warp, and `.aligned` ops need a converged warp.
  std::vector<mlir::Operation *> divergedAt;

  // asynchrony
  std::vector<std::vector<CpAsyncCopy>> cpOpen;
  std::vector<std::deque<std::vector<CpAsyncCopy>>> cpGroups;
  std::map<uint64_t, MBarrier> mbarriers;
  std::vector<TmaCopy> tmaInFlight;
  std::vector<WgmmaGroup> wgmmaOpen;               // per warpgroup
  std::vector<std::deque<WgmmaGroup>> wgmmaGroups; // per warpgroup
  std::vector<uint32_t> wgmmaRetired;              // per warpgroup

  bool pendingLive(uint32_t slot, uint32_t t) const {
    uint32_t seq = pendingSeq[slot * threads + t];
    return seq && seq > wgmmaRetired[t / 128];
  }

  CTA(const Kernel &kernel, Reporter &reporter,
      const std::vector<GlobalRange> &global)
      : kernel(kernel), reporter(reporter), global(global) {}

  uint64_t &reg(uint32_t slot, uint32_t t) { return regs[slot * threads + t]; }
  uint64_t &reg(const Ref &ref, uint32_t leaf, uint32_t t) {
    return regs[(ref.slot + leaf) * threads + t];
  }
  unsigned warps() const { return (threads + 31) / 32; }
  bool lanePredicate(const Inst &inst, uint32_t t);

  void report(const Inst &inst, const std::string &kind,
              const std::string &msg) {
    reporter.add(&inst, kind, msg);
  }

  // Memory (Interpreter.cpp). `thread` < 0: an asynchronous unit.
  bool globalOk(uint64_t address, uint64_t bytes) const;
  /// Shared offset of [address, +bytes), or nullopt after reporting.
  std::optional<uint64_t> sharedOffset(const Inst &inst, uint64_t address,
                                       uint64_t bytes);
  bool readBytes(const Inst &inst, unsigned space, uint64_t address,
                 uint64_t bytes, uint8_t *out, int32_t thread);
  bool writeBytes(const Inst &inst, unsigned space, uint64_t address,
                  uint64_t bytes, const uint8_t *in, int32_t thread);
  /// Host memory of the global word(s) [address, +bytes) for an atomic
  /// read-modify-write, or null after reporting. Atomics are not recorded
  /// as stores: unsynchronised threads may update one word atomically.
  uint8_t *atomicAddress(const Inst &inst, unsigned space, uint64_t address,
                         uint64_t bytes, int32_t thread);
  void sharedRead(const Inst &inst, uint64_t offset, uint64_t bytes,
                  int32_t thread);
  void sharedWrite(const Inst &inst, uint64_t offset, uint64_t bytes,
                   int32_t thread);
  bool ordered(const Access &before, int32_t thread) const;
};

/// A register value to and from its bytes in memory (Memory.cpp).
void packLeaves(CTA &cta, const Ref &ref, const Layout &layout, uint32_t t,
                uint8_t *out);
void unpackLeaves(CTA &cta, const Ref &ref, const Layout &layout, uint32_t t,
                  const uint8_t *in);
/// Compiles an llvm.func into `kernel` (Compile.cpp); false with `error`
/// naming the first op the emulator does not model.
bool compileKernel(mlir::Operation *func, Kernel &kernel, std::string &error);
/// Executes one scalar instruction for the active lanes (Execute.cpp).
void executeScalar(CTA &cta, const Inst &inst);
// Shared by Collectives.cpp and Hopper.cpp.
/// The 32-bit register a value of one i32 or two 16-bit scalars forms.
uint32_t word(CTA &cta, const Ref &ref, uint32_t t);
float half16(uint32_t bits, bool bf16);
/// Whether every lane of [first, first + width) is active; reports `what`
/// as divergent otherwise.
bool converged(CTA &cta, const Inst &inst, uint32_t first, uint32_t width,
               const char *what);
uint64_t sharedAddress(uint64_t v);
void issueAsyncWrite(CTA &cta, const Inst &inst, uint64_t offset,
                     uint64_t bytes, int32_t thread);
void landAsyncWrite(CTA &cta, const Inst &inst, uint64_t offset,
                    const uint8_t *data, uint64_t bytes, int32_t thread);

// Hopper.cpp: mbarriers, TMA, wgmma.
MBarrier *findBarrier(CTA &cta, const Inst &inst, uint64_t address);
void arrive(CTA &cta, const Inst &inst, MBarrier &b, uint64_t address,
            uint32_t count);
void tmaLoad(CTA &cta, const Inst &inst);
void mbarrierWait(CTA &cta, const Inst &inst);
void wgmmaMma(CTA &cta, const Inst &inst);
void wgmmaGroupOp(CTA &cta, const Inst &inst);

/// Executes one collective or asynchronous instruction (Collectives.cpp)
/// over the CTA's active lanes.
void executeCollective(CTA &cta, const Inst &inst);
/// Completes the cp.async groups of `thread` until `keep` remain.
void retireCpAsync(CTA &cta, const Inst &inst, uint32_t thread, size_t keep);
/// Reports what is still in flight when the CTA ends.
void finishAsync(CTA &cta);
/// Classifies an inline-asm string the emulator knows; Opcode::Nop if unknown.
Opcode classifyAsm(const std::string &text, Inst &inst, std::string &why);

} // namespace attn::emu::detail

#endif // ATTN_LIB_EMULATOR_MACHINE_H
