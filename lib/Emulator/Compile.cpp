//===- Compile.cpp - Kernels to instructions ------------------------------===//
//
// Compiles an llvm.func of the kernel module once into `Inst`s over value
// slots, recognising every op the emulator models (anything else fails here,
// naming the op), and the CFG's immediate post-dominators.
//
//===----------------------------------------------------------------------===//

#include "Machine.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dominance.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace attn::emu;
using namespace attn::emu::detail;

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
      .Case("llvm.intr.log2", Opcode::Log2)
      .Case("llvm.intr.tanh", Opcode::Tanh)
      .Case("llvm.intr.sin", Opcode::Sin)
      .Case("llvm.intr.cos", Opcode::Cos)
      .Case("llvm.intr.pow", Opcode::Pow)
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
      .Case("nvvm.barrier", Opcode::Barrier)
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
    // In the order of the values Execute.cpp's SReg computes.
    static const char *const kRegisters[] = {
        "tid.x",    "tid.y",    "tid.z",   "ntid.x",  "ntid.y",
        "ntid.z",   "ctaid.x",  "ctaid.y", "ctaid.z", "nctaid.x",
        "nctaid.y", "nctaid.z", "laneid",  "warpid"};
    const auto *found = llvm::find(kRegisters, reg);
    int which = found == std::end(kRegisters) ? -1 : int(found - kRegisters);
    if (which < 0)
      return fail(op, "special register " + reg.str() + " is not modelled");
    inst.a = which;
    return true;
  }
  if (isa<LLVM::ExtractValueOp, LLVM::InsertValueOp>(op)) {
    // The sub-value's leaves: [a, a + b) of the container (operand 0).
    auto extract = dyn_cast<LLVM::ExtractValueOp>(op);
    inst.op = extract ? Opcode::ExtractValue : Opcode::InsertValue;
    ArrayRef<int64_t> position =
        extract ? extract.getPosition()
                : cast<LLVM::InsertValueOp>(op).getPosition();
    uint32_t first, count;
    if (!subRange(op->getOperand(0).getType(), position, first, count))
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
      else {
        Type indexType = op->getOperand(dynamicIndex).getType();
        unsigned bits =
            indexType.isIndex() ? 64 : indexType.getIntOrFloatBitWidth();
        inst.terms.push_back({dynamicIndex++, bits, unit});
      }
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
  if (auto rmw = dyn_cast<LLVM::AtomicRMWOp>(op)) {
    using B = LLVM::AtomicBinOp;
    B kind = rmw.getBinOp();
    inst.op = Opcode::AtomicRMW;
    inst.layout = inst.resultLayout;
    inst.a = int64_t(kind);
    inst.addressSpace =
        cast<LLVM::LLVMPointerType>(rmw.getPtr().getType()).getAddressSpace();
    unsigned bits =
        inst.layout.leaves.size() == 1 ? inst.layout.leaves[0].bits : 0;
    bool integer = isa<IntegerType>(rmw.getVal().getType());
    if (!integer || (bits != 32 && bits != 64) ||
        !llvm::is_contained({B::xchg, B::add, B::max, B::min, B::umax, B::umin,
                             B::_and, B::_or, B::_xor},
                            kind))
      return fail(op, "atomicrmw " + LLVM::stringifyAtomicBinOp(kind).str() +
                          " on this type is not modelled (i32 and i64 "
                          "integer operations are)");
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
    // The LLVM intrinsic of the same meaning where there is one (libdevice
    // says fmax/fmin for maxnum/minnum); log1p and expm1 have none.
    StringRef intrinsic = llvm::StringSwitch<StringRef>(fn)
                              .Case("fmax", "maxnum")
                              .Case("fmin", "minnum")
                              .Default(fn);
    inst.op = !known          ? Opcode::Nop
              : fn == "log1p" ? Opcode::Log1p
              : fn == "expm1" ? Opcode::Expm1
                              : binaryOp(("llvm.intr." + intrinsic).str());
    if (inst.op < Opcode::FAdd || inst.op > Opcode::Log ||
        inst.op == Opcode::FCmp)
      inst.op = Opcode::Nop; // only float math
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
  if (auto bar = dyn_cast<NVVM::BarrierOp>(op)) {
    // bar.sync 0 of the whole CTA, or bar.red of a predicate (a = 1 + the
    // reduction; 0 for none).
    if (bar.getBarrierId() || bar.getNumberOfThreads())
      return fail(op, "only barrier 0 of the whole CTA is modelled");
    if (auto red = bar.getReductionOp())
      inst.a = 1 + int64_t(*red);
  }
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

bool attn::emu::detail::compileKernel(Operation *func, Kernel &kernel,
                                      std::string &error) {
  Compiler compiler(kernel, error);
  return compiler.compile(cast<LLVM::LLVMFuncOp>(func), {});
}
