//===- Interpreter.cpp - Lock-step interpreter of CUDA kernels ------------===//
//
// Runs the kernels of a gpu.module in the LLVM and NVVM dialects (what the
// CUDA pipeline serialises to PTX) on the CPU: every thread of a CTA in
// lock-step, one register per SSA value and thread, control flow through a
// SIMT stack that reconverges at immediate post-dominators. This file holds
// the control flow, modules (parsing, the mutation hook) and the launch over
// the grid with its global-store check; Compile.cpp turns a kernel into
// `Inst`s, Execute.cpp runs the scalar ones and Collectives.cpp the warp-level
// and asynchronous ones, over the values of Values.cpp and the memory of
// Memory.cpp.
//
//===----------------------------------------------------------------------===//

#include "Machine.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <atomic>
#include <cstring>
#include <regex>
#include <thread>

using namespace mlir;
using namespace attn::emu;
using namespace attn::emu::detail;

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
        for (uint32_t t = 0; t < cta.threads; t += 32) {
          bool a = false, b = false;
          for (uint32_t u = t; u < std::min(t + 32, cta.threads); ++u)
            a |= taken[u], b |= other[u];
          if (a && b)
            cta.divergedAt[t / 32] = code.terminatorOp;
        }
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
    if (!compileKernel(f, *kernel, error))
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
      cta.divergedAt.assign(cta.warps(), nullptr);
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
        // The launch-wide store check keeps at most kMaxCheckedStores
        // stores (about 200 MB); the CTAs past that go unchecked.
        constexpr size_t kMaxCheckedStores = size_t(1) << 22;
        std::lock_guard<std::mutex> lock(errorMutex);
        if (stores.size() + cta.globalStores.size() <= kMaxCheckedStores)
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
