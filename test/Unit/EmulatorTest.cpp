//===- EmulatorTest.cpp - Tests of the emulator's interpreter -------------===//
//
// Small hand-written gpu.module kernels (LLVM and NVVM dialect ops, the
// inline assembly the generated kernels use) run through attn::emu::Module
// over one CTA, their outputs compared with values worked out by hand or from
// the PTX ISA. The fragment layouts, the shuffle rule and the swizzle are
// transcribed here from the ISA, not taken from Fragments.h or the
// interpreter, so these tests check the interpreter independently:
//  - scalar semantics (wrap-around, signedness, NaN and signed zeros,
//    round-to-nearest-even conversions, aggregates and vectors, gep);
//  - control flow (divergent if/else, per-lane loop trip counts, early
//    return), each lane's result and the reconvergence that follows;
//  - collectives (shfl.sync, vote.sync, mma.sync, ldmatrix, cp.async);
//  - reports: each kind produced by one kernel and absent from its fix;
//  - TMA (swizzle, zero fill, mbarrier) and wgmma (registers A, descriptor
//    B, commit/wait groups).
// Eight of these cases found bugs in the interpreter when written (double
// roundings in conversions, i1 vectors, early exits before a barrier, the
// shfl lane operand, mbarrier.arrive's count); they stay as regressions.
//
// Over the project's ~800 lines: the kernels are short texts read beside
// their expected values, and most of the length is the tables of cases; the
// six parts share the module builders and the one-CTA launch helper.
//
//===----------------------------------------------------------------------===//

#include "attn/Emulator/Emulator.h"

#include <algorithm>
#include <gtest/gtest.h>

#include <cstring>
#include <ostream>
#include <set>
#include <string>
#include <vector>

using namespace attn::emu;

namespace {

//===----------------------------------------------------------------------===//
// Harness
//===----------------------------------------------------------------------===//

/// A gpu.module with the dynamic shared array @smem and one kernel @k whose
/// entry block starts with %tid32 / %tid (tid.x as i32 / i64) and %smem
/// (!llvm.ptr<3>); `body` may open further blocks, the last one falls
/// through to the appended llvm.return.
std::string kernel(const std::string &params, const std::string &body) {
  return "gpu.module @m {\n"
         "  llvm.mlir.global internal @smem() {addr_space = 3 : i32, "
         "alignment = 16 : i64} : !llvm.array<0 x i8>\n"
         "  llvm.func @k(" +
         params +
         ") attributes {nvvm.kernel} {\n"
         "    %tid32 = nvvm.read.ptx.sreg.tid.x : i32\n"
         "    %tid = llvm.zext %tid32 : i32 to i64\n"
         "    %smem = llvm.mlir.addressof @smem : !llvm.ptr<3>\n" +
         body +
         "\n    llvm.return\n"
         "  }\n"
         "}\n";
}

/// Parses `text` and launches @k over one CTA of `threads` threads whose
/// parameters are all !llvm.ptr (`pointers`). A module that does not parse
/// or compile comes back as `error`, prefixed "parse: ".
LaunchResult run(const std::string &text, uint32_t threads,
                 std::vector<void *> pointers, uint32_t dynamicShared = 0,
                 const std::vector<GlobalRange> &ranges = {}) {
  std::string error;
  std::unique_ptr<Module> module = Module::parse(text, error);
  if (!module) {
    LaunchResult failed;
    failed.error = "parse: " + error;
    return failed;
  }
  LaunchConfig config;
  config.block[0] = threads;
  config.dynamicSharedBytes = dynamicShared;
  std::vector<void *> args;
  for (void *&p : pointers)
    args.push_back(&p);
  return module->launch("k", config, args.data(), ranges);
}

std::set<std::string> kinds(const LaunchResult &r) {
  std::set<std::string> result;
  for (const Report &report : r.reports)
    result.insert(report.kind);
  return result;
}

/// The launch's error and reports, for failure messages.
std::string show(const LaunchResult &r) {
  std::string text = r.error.empty() ? "" : "error: " + r.error + "\n";
  for (const Report &report : r.reports)
    text += report.kind + " at " + report.where + ": " + report.message + "\n";
  return text;
}

template <typename T> GlobalRange range(const std::vector<T> &v) {
  return {uint64_t(uintptr_t(v.data())), v.size() * sizeof(T)};
}

std::string constant(const std::string &name, const std::string &value,
                     const std::string &type) {
  return "%" + name + " = llvm.mlir.constant(" + value + " : " + type +
         ") : " + type + "\n";
}

/// Thread tid's `count` consecutive elements of `type` at `base` (elements
/// tid * count + i) loaded into %<name>0..%<name>(count-1), or with `store`
/// stored from them.
std::string laneElements(bool store, const std::string &name,
                         const std::string &base, int count,
                         const std::string &type) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    std::string value = "%" + name + std::to_string(i);
    std::string at = value + (store ? "_to" : "_from");
    text += at + " = llvm.getelementptr %" + base + "[%tid, " +
            std::to_string(i) + "] : (!llvm.ptr, i64) -> !llvm.ptr, " +
            "!llvm.array<" + std::to_string(count) + " x " + type + ">\n" +
            (store ? "llvm.store " + value + ", " + at + " : " + type +
                         ", !llvm.ptr\n"
                   : value + " = llvm.load " + at + " : !llvm.ptr -> " + type +
                         "\n");
  }
  return text;
}

std::string loadLane(const std::string &name, const std::string &base,
                     int count, const std::string &type) {
  return laneElements(false, name, base, count, type);
}

std::string storeLane(const std::string &name, const std::string &base,
                      int count, const std::string &type) {
  return laneElements(true, name, base, count, type);
}

/// %<name>0..%<name>(count-1) = the fields of the struct %<from>.
std::string unpack(const std::string &name, const std::string &from, int count,
                   const std::string &type) {
  std::string structType = "!llvm.struct<(";
  for (int i = 0; i < count; ++i)
    structType += (i ? ", " : "") + type;
  structType += ")>";
  std::string text;
  for (int i = 0; i < count; ++i)
    text += "%" + name + std::to_string(i) + " = llvm.extractvalue %" + from +
            "[" + std::to_string(i) + "] : " + structType + "\n";
  return text;
}

/// `llvm.store %value, out[tid]` of `type`.
std::string storeAtTid(const std::string &value, const std::string &out,
                       const std::string &type) {
  return "%" + value + "_at = llvm.getelementptr %" + out +
         "[%tid] : (!llvm.ptr, i64) -> !llvm.ptr, " + type + "\n" +
         "llvm.store %" + value + ", %" + value + "_at : " + type +
         ", !llvm.ptr\n";
}

/// %buf: a 1024-byte aligned !llvm.ptr<3> inside the dynamic shared memory
/// (the 128-byte swizzle pattern repeats every 1024 bytes of address), and
/// %bufAddr its address.
const char *kAlignedShared = R"(
    %smemAddr = llvm.ptrtoint %smem : !llvm.ptr<3> to i64
    %k1023 = llvm.mlir.constant(1023 : i64) : i64
    %kNot1023 = llvm.mlir.constant(-1024 : i64) : i64
    %smemUp = llvm.add %smemAddr, %k1023 : i64
    %bufAddr = llvm.and %smemUp, %kNot1023 : i64
    %buf = llvm.inttoptr %bufAddr : i64 to !llvm.ptr<3>
)";

/// The bf16 bit pattern of `f`, which must be exactly representable.
uint16_t bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  EXPECT_EQ(u & 0xffff, 0u) << f << " is not exact in bf16";
  return uint16_t(u >> 16);
}

/// A parametrised case's name, for gtest's test names.
template <typename Case>
std::string caseName(const testing::TestParamInfo<Case> &info) {
  return info.param.name;
}

//===----------------------------------------------------------------------===//
// 1. Scalar semantics
//===----------------------------------------------------------------------===//

/// One thread computes %r of `type` from constants; its bits are stored.
struct ScalarCase {
  std::string name;
  std::string ops;
  std::string type;
  uint64_t expected = 0; // bit pattern, zero-extended
  bool nan = false;      // any NaN of `type` (then `expected` is unused)
};
void PrintTo(const ScalarCase &c, std::ostream *os) { *os << c.name; }

ScalarCase binary(const std::string &name, const std::string &op,
                  const std::string &type, const std::string &a,
                  const std::string &b, uint64_t expected) {
  return {name,
          constant("a", a, type) + constant("b", b, type) + "%r = llvm." + op +
              " %a, %b : " + type + "\n",
          type, expected};
}

/// llvm.intr.<op>(a, b) on f32 bit patterns.
ScalarCase intrinsic(const std::string &name, const std::string &op,
                     const std::string &a, const std::string &b,
                     uint64_t expected, bool nan = false) {
  return {name,
          constant("a", a, "f32") + constant("b", b, "f32") +
              "%r = llvm.intr." + op + "(%a, %b) : (f32, f32) -> f32\n",
          "f32", expected, nan};
}

/// icmp/fcmp `predicate` of a and b, zero-extended to i32.
ScalarCase compare(const std::string &name, const std::string &op,
                   const std::string &predicate, const std::string &type,
                   const std::string &a, const std::string &b, bool expected) {
  return {name,
          constant("a", a, type) + constant("b", b, type) + "%c = llvm." + op +
              " \"" + predicate + "\" %a, %b : " + type +
              "\n%r = llvm.zext %c : i1 to i32\n",
          "i32", uint64_t(expected)};
}

/// A conversion `op` of `value` : from -> to; a float result as its bits
/// (bitcast to an integer of its width).
ScalarCase convert(const std::string &name, const std::string &op,
                   const std::string &from, const std::string &to,
                   const std::string &value, uint64_t expected,
                   bool nan = false) {
  std::string bits = to == "f32"                    ? "i32"
                     : to[0] == 'f' || to[0] == 'b' ? "i16"
                                                    : "";
  std::string ops = constant("a", value, from) + "%" +
                    (bits.empty() ? "r" : "v") + " = llvm." + op +
                    " %a : " + from + " to " + to + "\n";
  if (!bits.empty())
    ops += "%r = llvm.bitcast %v : " + to + " to " + bits + "\n";
  return {name, ops, bits.empty() ? to : bits, expected, nan};
}

/// fptrunc of the f32 bit pattern `value` to f16 / bf16.
ScalarCase toF16(const std::string &name, const std::string &value,
                 uint64_t expected) {
  return convert(name, "fptrunc", "f32", "f16", value, expected);
}
ScalarCase toBf16(const std::string &name, const std::string &value,
                  uint64_t expected) {
  return convert(name, "fptrunc", "f32", "bf16", value, expected);
}

std::vector<ScalarCase> scalarCases() {
  const char *nan = "0x7FC00000", *one = "0x3F800000", *two = "0x40000000",
             *negTwo = "0xC0000000", *posZero = "0x00000000",
             *negZero = "0x80000000";
  std::vector<ScalarCase> cases = {
      // Integers: two's complement wrap-around at the type's width.
      binary("AddWrapsI32", "add", "i32", "2147483647", "1", 0x80000000),
      binary("SubWrapsI32", "sub", "i32", "0", "1", 0xffffffff),
      binary("MulWrapsI8", "mul", "i8", "16", "17", 0x10),
      binary("ShlDropsHighBitI8", "shl", "i8", "-127", "1", 0x02),
      // Signed division truncates towards zero; the remainder takes the
      // dividend's sign.
      binary("SDivNegative", "sdiv", "i32", "-7", "2", 0xfffffffd),
      binary("SRemNegative", "srem", "i32", "-7", "2", 0xffffffff),
      binary("SDivByNegative", "sdiv", "i32", "7", "-2", 0xfffffffd),
      binary("SRemByNegative", "srem", "i32", "7", "-2", 1),
      binary("UDivOfNegative", "udiv", "i32", "-7", "2", 0x7ffffffc),
      binary("URemOfNegative", "urem", "i32", "-7", "2", 1),
      binary("AShrNegative", "ashr", "i32", "-8", "1", 0xfffffffc),
      binary("LShrNegative", "lshr", "i32", "-8", "1", 0x7ffffffc),
      binary("AShrI64By63", "ashr", "i64", "-2", "63", ~0ull),
      {"SMax",
       constant("a", "-1", "i32") + constant("b", "1", "i32") +
           "%r = llvm.intr.smax(%a, %b) : (i32, i32) -> i32\n",
       "i32", 1},
      {"UMax",
       constant("a", "-1", "i32") + constant("b", "1", "i32") +
           "%r = llvm.intr.umax(%a, %b) : (i32, i32) -> i32\n",
       "i32", 0xffffffff},
      convert("SExtI8", "sext", "i8", "i32", "-128", 0xffffff80),
      convert("ZExtI8", "zext", "i8", "i32", "-128", 0x80),
      convert("TruncI32", "trunc", "i32", "i8", "74565", 0x45),
      // icmp: signed and unsigned orders differ on negative values.
      compare("IcmpSlt", "icmp", "slt", "i32", "-1", "1", true),
      compare("IcmpUlt", "icmp", "ult", "i32", "-1", "1", false),
      compare("IcmpSgt", "icmp", "sgt", "i32", "-1", "1", false),
      compare("IcmpUgt", "icmp", "ugt", "i32", "-1", "1", true),
      compare("IcmpSle", "icmp", "sle", "i32", "5", "5", true),
      compare("IcmpUge", "icmp", "uge", "i32", "0", "-1", false),
      compare("IcmpNe", "icmp", "ne", "i32", "3", "3", false),
      compare("IcmpEq", "icmp", "eq", "i32", "-1", "-1", true),
      compare("IcmpSltI8", "icmp", "slt", "i8", "-128", "127", true),
      compare("IcmpUltI8", "icmp", "ult", "i8", "-128", "127", false),
      // fcmp: ordered predicates are false on NaN, unordered ones true.
      compare("FcmpOeqNaNs", "fcmp", "oeq", "f32", nan, nan, false),
      compare("FcmpUneNaNs", "fcmp", "une", "f32", nan, nan, true),
      compare("FcmpUno", "fcmp", "uno", "f32", nan, one, true),
      compare("FcmpOrd", "fcmp", "ord", "f32", nan, one, false),
      compare("FcmpOltNaN", "fcmp", "olt", "f32", nan, one, false),
      compare("FcmpUltNaN", "fcmp", "ult", "f32", nan, one, true),
      compare("FcmpOgtNaN", "fcmp", "ogt", "f32", one, nan, false),
      compare("FcmpUgeNaN", "fcmp", "uge", "f32", one, nan, true),
      compare("FcmpOneNaN", "fcmp", "one", "f32", nan, one, false),
      compare("FcmpUeqNaN", "fcmp", "ueq", "f32", nan, one, true),
      compare("FcmpOne", "fcmp", "one", "f32", one, two, true),
      compare("FcmpUeq", "fcmp", "ueq", "f32", one, two, false),
      compare("FcmpOeqSignedZeros", "fcmp", "oeq", "f32", negZero, posZero,
              true),
      compare("FcmpOltSignedZeros", "fcmp", "olt", "f32", negZero, posZero,
              false),
      // maximum/minimum propagate NaN and order -0 < +0; maxnum/minnum
      // return the number.
      intrinsic("MaximumNaNFirst", "maximum", nan, one, 0, true),
      intrinsic("MaximumNaNSecond", "maximum", one, nan, 0, true),
      intrinsic("MinimumNaN", "minimum", nan, negTwo, 0, true),
      intrinsic("MaxnumNaNFirst", "maxnum", nan, one, 0x3F800000),
      intrinsic("MaxnumNaNSecond", "maxnum", one, nan, 0x3F800000),
      intrinsic("MinnumNaN", "minnum", nan, negTwo, 0xC0000000),
      intrinsic("MaximumZeros", "maximum", negZero, posZero, 0),
      intrinsic("MaximumZerosSwapped", "maximum", posZero, negZero, 0),
      intrinsic("MinimumZeros", "minimum", posZero, negZero, 0x80000000),
      intrinsic("MinimumZerosSwapped", "minimum", negZero, posZero, 0x80000000),
      intrinsic("MaximumNegatives", "maximum", "0xBF800000", negTwo,
                0xBF800000),
      // f32 -> bf16, round to nearest even: 1 + 2^-8 is a tie between 1 and
      // 1 + 2^-7, 1 + 3 * 2^-8 a tie between 1 + 2^-7 and 1 + 2^-6.
      toBf16("Bf16TieToEvenDown", "0x3F808000", 0x3F80),
      toBf16("Bf16TieToEvenUp", "0x3F818000", 0x3F82),
      toBf16("Bf16AboveTie", "0x3F808001", 0x3F81),
      toBf16("Bf16NegativeTie", "0xBF808000", 0xBF80),
      toBf16("Bf16MaxFloatOverflows", "0x7F7FFFFF", 0x7F80),
      toBf16("Bf16TieAtMaxOverflows", "0x7F7F8000", 0x7F80),
      toBf16("Bf16BelowTieAtMax", "0x7F7F7FFF", 0x7F7F),
      toBf16("Bf16SubnormalTie", "0x00018000", 0x0002),
      convert("Bf16NaN", "fptrunc", "f32", "bf16", "0x7FC00001", 0, true),
      // f32 -> f16: ties at 1 + 2^-11 and 1 + 3 * 2^-11; 65504 is the largest
      // f16, 65520 the tie with 2^16 that rounds (to even) to infinity;
      // subnormals are multiples of 2^-24.
      toF16("F16TieToEvenDown", "0x3F801000", 0x3C00),
      toF16("F16TieToEvenUp", "0x3F803000", 0x3C02),
      toF16("F16AboveTie", "0x3F801001", 0x3C01),
      toF16("F16Max", "0x477FE000", 0x7BFF),
      toF16("F16BelowOverflow", "0x477FEFFF", 0x7BFF),
      toF16("F16Overflows", "0x477FF000", 0x7C00),
      toF16("F16OverflowsNegative", "0xC77FF000", 0xFC00),
      toF16("F16SmallestSubnormal", "0x33800000", 0x0001),
      toF16("F16HalfSubnormalTiesToZero", "0x33000000", 0x0000),
      toF16("F16AboveHalfSubnormal", "0x33000001", 0x0001),
      toF16("F16SubnormalTieUp", "0x33C00000", 0x0002),
      toF16("F16SubnormalTieDown", "0x34200000", 0x0002),
      toF16("F16SubnormalRoundsToNormal", "0x387FE000", 0x0400),
      toF16("F16NegativeSubnormal", "0xB3800000", 0x8001),
      toF16("F16ExactSubnormal", "0x38000000", 0x0200),
      // One rounding, not two (via f32): 1 + 2^-11 + 2^-40 is above the
      // tie between 1 and 1 + 2^-10; rounded to f32 first it would become
      // the tie itself and round to even, 1.0 (0x3C00).
      convert("F64ToF16RoundsOnce", "fptrunc", "f64", "f16",
              "0x3FF0020000001000", 0x3C01),
      // The same for f64 -> bf16 (twice rounded: 0x3F80).
      convert("F64ToBf16RoundsOnce", "fptrunc", "f64", "bf16",
              "0x3FF0100000001000", 0x3F81),
      // Integer <-> float conversions.
      convert("SIToFPNegative", "sitofp", "i32", "f32", "-3", 0xC0400000),
      convert("SIToFPTieToEven", "sitofp", "i32", "f32", "16777217",
              0x4B800000),
      convert("UIToFPAllOnes", "uitofp", "i32", "f32", "-1", 0x4F800000),
      convert("FPToSITruncates", "fptosi", "f32", "i32", "0xC0200000",
              0xfffffffe),
      convert("FPToUITruncates", "fptoui", "f32", "i32", "0x40700000", 3),
      // One rounding: through double, 2^60 + 2^36 + 1 would become the
      // f32 tie 2^60 + 2^36 and round to even 2^60 (0x5D800000).
      convert("SIToFPI64RoundsOnce", "sitofp", "i64", "f32",
              "1152921573326323713", 0x5D800001),
      // One rounding: through f32, 2^24 + 2^16 + 1 would become the bf16
      // tie 2^24 + 2^16 and round to even 2^24 (0x4B80).
      convert("SIToBf16RoundsOnce", "sitofp", "i32", "bf16", "16842753",
              0x4B81),
      // Bitcasts: element 0 of a vector is its lowest-addressed, so the low
      // bits of the integer (little-endian).
      {"BitcastBf16PairToI32",
       "%v = llvm.mlir.constant(dense<[1.0, 2.0]> : vector<2xbf16>) : "
       "vector<2xbf16>\n%r = llvm.bitcast %v : vector<2xbf16> to i32\n",
       "i32", 0x40003F80},
      {"BitcastI32ToBf16Pair",
       constant("a", "1077952384", "i32") + constant("one", "1", "i32") +
           "%v = llvm.bitcast %a : i32 to vector<2xbf16>\n"
           "%e = llvm.extractelement %v[%one : i32] : vector<2xbf16>\n"
           "%r = llvm.bitcast %e : bf16 to i16\n",
       "i16", 0x4040},
      // Vectors of i1 are bit-packed, element 0 in the lowest bit (one byte
      // per element would give 0x01).
      {"BitcastBoolVectorPacksBits",
       "%v = llvm.mlir.constant(dense<[true, false, true, true, false, false, "
       "false, true]> : vector<8xi1>) : vector<8xi1>\n"
       "%r = llvm.bitcast %v : vector<8xi1> to i8\n",
       "i8", 0x8D, false},
      // Aggregates.
      {"InsertExtractValue",
       "%u = llvm.mlir.undef : !llvm.struct<(i8, array<2 x i16>, i64)>\n" +
           constant("a", "7", "i8") + constant("b", "4660", "i16") +
           constant("c", "-1", "i64") + constant("sixteen", "16", "i64") +
           "%s1 = llvm.insertvalue %a, %u[0] : "
           "!llvm.struct<(i8, array<2 x i16>, i64)>\n"
           "%s2 = llvm.insertvalue %b, %s1[1, 1] : "
           "!llvm.struct<(i8, array<2 x i16>, i64)>\n"
           "%s3 = llvm.insertvalue %c, %s2[2] : "
           "!llvm.struct<(i8, array<2 x i16>, i64)>\n"
           "%arr = llvm.extractvalue %s3[1] : "
           "!llvm.struct<(i8, array<2 x i16>, i64)>\n"
           "%x = llvm.extractvalue %arr[1] : !llvm.array<2 x i16>\n"
           "%y = llvm.extractvalue %s3[0] : "
           "!llvm.struct<(i8, array<2 x i16>, i64)>\n"
           "%z = llvm.extractvalue %s3[2] : "
           "!llvm.struct<(i8, array<2 x i16>, i64)>\n"
           "%xz = llvm.zext %x : i16 to i64\n"
           "%yz = llvm.zext %y : i8 to i64\n"
           "%ys = llvm.shl %yz, %sixteen : i64\n"
           "%xy = llvm.or %xz, %ys : i64\n"
           "%r = llvm.xor %xy, %z : i64\n",
       "i64", ~uint64_t(0x071234)},
      {"ShuffleVector",
       "%v = llvm.mlir.constant(dense<[1, 2, 3, 4]> : vector<4xi16>) : "
       "vector<4xi16>\n"
       "%w = llvm.mlir.constant(dense<[5, 6, 7, 8]> : vector<4xi16>) : "
       "vector<4xi16>\n"
       "%r = llvm.shufflevector %v, %w [7, 0, 5, 2] : vector<4xi16>\n",
       "vector<4xi16>", 0x0003000600010008},
      {"SelectScalar",
       constant("a", "-1", "i32") + constant("b", "0", "i32") +
           constant("x", "11", "i32") + constant("y", "22", "i32") +
           "%c = llvm.icmp \"slt\" %a, %b : i32\n"
           "%r = llvm.select %c, %x, %y : i1, i32\n",
       "i32", 11},
      {"SelectVector",
       "%m = llvm.mlir.constant(dense<[true, false]> : vector<2xi1>) : "
       "vector<2xi1>\n"
       "%v = llvm.mlir.constant(dense<[1, 2]> : vector<2xi16>) : "
       "vector<2xi16>\n"
       "%w = llvm.mlir.constant(dense<[5, 6]> : vector<2xi16>) : "
       "vector<2xi16>\n"
       "%r = llvm.select %m, %v, %w : vector<2xi1>, vector<2xi16>\n",
       "vector<2xi16>", 0x00060001},
      // gep: struct<(i8, array<3 x struct<(i16, i32)>>)> has the array at
      // offset 4 (i32 alignment), elements of 8 bytes, size 28; element
      // [1].1[2].1 is at 28 + 4 + 2 * 8 + 4 = 52.
      {"GepStructArray",
       constant("i", "2", "i32") +
           "%g = llvm.getelementptr %out[1, 1, %i, 1] : (!llvm.ptr, i32) -> "
           "!llvm.ptr, !llvm.struct<(i8, array<3 x struct<(i16, i32)>>)>\n"
           "%gi = llvm.ptrtoint %g : !llvm.ptr to i64\n"
           "%oi = llvm.ptrtoint %out : !llvm.ptr to i64\n"
           "%r = llvm.sub %gi, %oi : i64\n",
       "i64", 52},
      // A negative i64 index and field 1: -28 + 4.
      {"GepNegativeIndex",
       constant("i", "-1", "i64") +
           "%g = llvm.getelementptr %out[%i, 1] : (!llvm.ptr, i64) -> "
           "!llvm.ptr, !llvm.struct<(i8, array<3 x struct<(i16, i32)>>)>\n"
           "%gi = llvm.ptrtoint %g : !llvm.ptr to i64\n"
           "%oi = llvm.ptrtoint %out : !llvm.ptr to i64\n"
           "%r = llvm.sub %gi, %oi : i64\n",
       "i64", uint64_t(-24)},
      // A negative i32 index is sign-extended: -3 i16 elements.
      {"GepNegativeI32Index",
       constant("i", "-3", "i32") +
           "%g = llvm.getelementptr %out[%i] : (!llvm.ptr, i32) -> "
           "!llvm.ptr, i16\n"
           "%gi = llvm.ptrtoint %g : !llvm.ptr to i64\n"
           "%oi = llvm.ptrtoint %out : !llvm.ptr to i64\n"
           "%r = llvm.sub %gi, %oi : i64\n",
       "i64", uint64_t(-6)},
  };
  return cases;
}

/// Whether `bits`, a float stored as `type` (i32: f32, i16: f16 or bf16), is
/// a NaN.
bool isNaN(uint64_t bits, const std::string &type) {
  if (type == "i16")
    return ((bits & 0x7c00) == 0x7c00 && (bits & 0x3ff)) ||
           ((bits & 0x7f80) == 0x7f80 && (bits & 0x7f));
  return (bits & 0x7f800000) == 0x7f800000 && (bits & 0x7fffff);
}

class EmulatorScalar : public testing::TestWithParam<ScalarCase> {};

TEST_P(EmulatorScalar, ComputesBits) {
  const ScalarCase &c = GetParam();
  uint64_t out[2] = {0, 0};
  LaunchResult r =
      run(kernel("%out: !llvm.ptr",
                 c.ops + "llvm.store %r, %out : " + c.type + ", !llvm.ptr\n"),
          1, {out});
  ASSERT_TRUE(r.error.empty() && r.reports.empty()) << show(r);
  if (c.nan)
    EXPECT_TRUE(isNaN(out[0], c.type)) << std::hex << out[0];
  else
    EXPECT_EQ(out[0], c.expected) << std::hex << out[0];
}

INSTANTIATE_TEST_SUITE_P(Emulator, EmulatorScalar,
                         testing::ValuesIn(scalarCases()),
                         caseName<ScalarCase>);

//===----------------------------------------------------------------------===//
// 2. Control flow
//===----------------------------------------------------------------------===//

/// A ballot over the full mask after the branches joined: 0xffffffff in
/// every lane only if the warp reconverged (else also a divergence report).
const char *kReconvergedBallot = R"(
    %full = llvm.mlir.constant(-1 : i32) : i32
    %true = llvm.mlir.constant(true) : i1
    %ballot = nvvm.vote.sync ballot %full, %true -> i32
)";

TEST(EmulatorControlFlow, DivergentIfElseReconverges) {
  // Lanes with tid % 3 == 0 take ^then (10 * tid); the others ^else
  // (tid + 1000), negated on a nested branch for tid < 16; all add 1 at
  // the join.
  std::string body = R"(
    %c3 = llvm.mlir.constant(3 : i32) : i32
    %c0 = llvm.mlir.constant(0 : i32) : i32
    %rem = llvm.urem %tid32, %c3 : i32
    %isZero = llvm.icmp "eq" %rem, %c0 : i32
    llvm.cond_br %isZero, ^then, ^else
  ^then:
    %c10 = llvm.mlir.constant(10 : i32) : i32
    %x = llvm.mul %tid32, %c10 : i32
    llvm.br ^join(%x : i32)
  ^else:
    %c1000 = llvm.mlir.constant(1000 : i32) : i32
    %y = llvm.add %tid32, %c1000 : i32
    %c16 = llvm.mlir.constant(16 : i32) : i32
    %low = llvm.icmp "ult" %tid32, %c16 : i32
    llvm.cond_br %low, ^negate, ^join(%y : i32)
  ^negate:
    %neg = llvm.sub %c0, %y : i32
    llvm.br ^join(%neg : i32)
  ^join(%v: i32):
    %c1 = llvm.mlir.constant(1 : i32) : i32
    %w = llvm.add %v, %c1 : i32
)" + std::string(kReconvergedBallot) +
                     storeAtTid("w", "out", "i32") +
                     storeAtTid("ballot", "mask", "i32");
  std::vector<int32_t> out(64), mask(64);
  LaunchResult r = run(kernel("%out: !llvm.ptr, %mask: !llvm.ptr", body), 64,
                       {out.data(), mask.data()}, 0, {range(out), range(mask)});
  ASSERT_TRUE(r.error.empty() && r.reports.empty()) << show(r);
  for (int t = 0; t < 64; ++t) {
    int expected = t % 3 == 0 ? 10 * t + 1
                   : t < 16   ? -(t + 1000) + 1
                              : t + 1001;
    EXPECT_EQ(out[t], expected) << "thread " << t;
    EXPECT_EQ(uint32_t(mask[t]), 0xffffffffu) << "thread " << t;
  }
}

TEST(EmulatorMemory, AtomicRmwFromEveryLaneIsNoRace) {
  // 96 lanes raise one global word to their tid (atomic max) and add 1 to
  // another; each gets the old value back. A plain store by every lane
  // would be a race; atomics are not.
  std::string body = R"(
    %one = llvm.mlir.constant(1 : i32) : i32
    %oldMax = llvm.atomicrmw max %word, %tid32 seq_cst : !llvm.ptr, i32
    %count = llvm.getelementptr %word[1] : (!llvm.ptr) -> !llvm.ptr, i32
    %oldAdd = llvm.atomicrmw add %count, %one seq_cst : !llvm.ptr, i32
)" + storeAtTid("oldAdd", "out", "i32");
  std::vector<int32_t> word = {-5, 0}, out(96);
  LaunchResult r = run(kernel("%word: !llvm.ptr, %out: !llvm.ptr", body), 96,
                       {word.data(), out.data()}, 0, {range(word), range(out)});
  ASSERT_TRUE(r.error.empty() && r.reports.empty()) << show(r);
  EXPECT_EQ(word[0], 95);
  EXPECT_EQ(word[1], 96);
  std::vector<int32_t> sorted(out);
  std::sort(sorted.begin(), sorted.end());
  for (int t = 0; t < 96; ++t)
    EXPECT_EQ(sorted[t], t) << "every lane saw a distinct count";
}

TEST(EmulatorControlFlow, LoopTripCountPerLane) {
  // Thread t runs t iterations summing 0..t-1.
  std::string body = R"(
    %c0 = llvm.mlir.constant(0 : i32) : i32
    %c1 = llvm.mlir.constant(1 : i32) : i32
    llvm.br ^head(%c0, %c0 : i32, i32)
  ^head(%i: i32, %acc: i32):
    %more = llvm.icmp "ult" %i, %tid32 : i32
    llvm.cond_br %more, ^body, ^exit
  ^body:
    %acc2 = llvm.add %acc, %i : i32
    %i2 = llvm.add %i, %c1 : i32
    llvm.br ^head(%i2, %acc2 : i32, i32)
  ^exit:
)" + std::string(kReconvergedBallot) +
                     storeAtTid("acc", "out", "i32") +
                     storeAtTid("ballot", "mask", "i32");
  std::vector<int32_t> out(64), mask(64);
  LaunchResult r = run(kernel("%out: !llvm.ptr, %mask: !llvm.ptr", body), 64,
                       {out.data(), mask.data()});
  ASSERT_TRUE(r.error.empty() && r.reports.empty()) << show(r);
  for (int t = 0; t < 64; ++t) {
    EXPECT_EQ(out[t], t * (t - 1) / 2) << "thread " << t;
    EXPECT_EQ(uint32_t(mask[t]), 0xffffffffu) << "thread " << t;
  }
}

/// Some lanes return early; the others write 2 * tid. `condition` defines
/// %ret (the lanes that return); `returnOnTrue` puts the return on the true
/// successor; `barrier` puts a bar.sync before the write, legal when the
/// returning lanes are whole warps (exited threads do not take part).
struct EarlyReturnCase {
  std::string name;
  std::string condition;
  bool returnOnTrue;
  bool barrier;
  bool (*returns)(int t);
};
void PrintTo(const EarlyReturnCase &c, std::ostream *os) { *os << c.name; }

class EmulatorEarlyReturn : public testing::TestWithParam<EarlyReturnCase> {};

TEST_P(EmulatorEarlyReturn, OtherLanesContinue) {
  const EarlyReturnCase &c = GetParam();
  std::string branch = c.returnOnTrue ? "llvm.cond_br %ret, ^ret, ^cont\n"
                                      : "%stay = llvm.xor %ret, %true : i1\n"
                                        "llvm.cond_br %stay, ^cont, ^ret\n";
  std::string body =
      "%true = llvm.mlir.constant(true) : i1\n" + c.condition + branch +
      "^ret:\nllvm.return\n^cont:\n" + (c.barrier ? "nvvm.barrier0\n" : "") +
      constant("two", "2", "i32") + "%x = llvm.mul %tid32, %two : i32\n" +
      storeAtTid("x", "out", "i32");
  std::vector<int32_t> out(64, -1);
  LaunchResult r = run(kernel("%out: !llvm.ptr", body), 64, {out.data()});
  ASSERT_TRUE(r.error.empty() && r.reports.empty()) << show(r);
  for (int t = 0; t < 64; ++t)
    EXPECT_EQ(out[t], c.returns(t) ? -1 : 2 * t) << "thread " << t;
}

const char *kSecondWarp = "%c32 = llvm.mlir.constant(32 : i32) : i32\n"
                          "%ret = llvm.icmp \"uge\" %tid32, %c32 : i32\n";
const char *kEveryFourthLane = "%c3 = llvm.mlir.constant(3 : i32) : i32\n"
                               "%low = llvm.and %tid32, %c3 : i32\n"
                               "%ret = llvm.icmp \"eq\" %low, %c3 : i32\n";

INSTANTIATE_TEST_SUITE_P(
    Emulator, EmulatorEarlyReturn,
    testing::Values(
        EarlyReturnCase{"PartialWarpOnTrue", kEveryFourthLane, true, false,
                        [](int t) { return t % 4 == 3; }},
        EarlyReturnCase{"PartialWarpOnFalse", kEveryFourthLane, false, false,
                        [](int t) { return t % 4 == 3; }},
        EarlyReturnCase{"WarpOnTrueThenBarrier", kSecondWarp, true, true,
                        [](int t) { return t >= 32; }},
        // The returning side must run before the other reaches bar.sync,
        // whichever successor it is; else the barrier would count warp 1,
        // not yet exited, among the live threads and report divergence.
        EarlyReturnCase{"WarpOnFalseThenBarrier", kSecondWarp, false, true,
                        [](int t) { return t >= 32; }}),
    caseName<EarlyReturnCase>);

//===----------------------------------------------------------------------===//
// 3. Collectives
//===----------------------------------------------------------------------===//

enum class Shfl { Up, Down, Bfly, Idx };

/// The source lane and validity of shfl.sync for `lane`, transcribed from the
/// pseudo-code of PTX ISA 9.7.9.6 "shfl.sync".
std::pair<int, bool> shflSource(Shfl mode, int lane, uint32_t b, uint32_t c) {
  int bval = int(b & 31), cval = int(c & 31), segmask = int((c >> 8) & 31);
  int maxLane = (lane & segmask) | (cval & ~segmask);
  int minLane = lane & segmask;
  int j = lane;
  bool pval = false;
  switch (mode) {
  case Shfl::Up:
    j = lane - bval;
    pval = j >= maxLane;
    break;
  case Shfl::Down:
    j = lane + bval;
    pval = j <= maxLane;
    break;
  case Shfl::Bfly:
    j = lane ^ bval;
    pval = j <= maxLane;
    break;
  case Shfl::Idx:
    j = minLane | (bval & ~segmask);
    pval = j <= maxLane;
    break;
  }
  return {pval ? j : lane, pval};
}

struct ShflCase {
  std::string name;
  Shfl mode;
  uint32_t b, c;
};
void PrintTo(const ShflCase &c, std::ostream *os) { *os << c.name; }

class EmulatorShfl : public testing::TestWithParam<ShflCase> {};

TEST_P(EmulatorShfl, ReadsTheIsaSourceLane) {
  const ShflCase &c = GetParam();
  const char *modes[] = {"up", "down", "bfly", "idx"};
  std::string body =
      constant("c100", "100", "i32") + constant("full", "-1", "i32") +
      constant("b", std::to_string(c.b), "i32") +
      constant("clamp", std::to_string(c.c), "i32") +
      "%v = llvm.add %tid32, %c100 : i32\n"
      "%s = nvvm.shfl.sync " +
      modes[int(c.mode)] +
      " %full, %v, %b, %clamp {return_value_and_is_valid} : "
      "i32 -> !llvm.struct<(i32, i1)>\n" +
      "%x = llvm.extractvalue %s[0] : !llvm.struct<(i32, i1)>\n"
      "%p = llvm.extractvalue %s[1] : !llvm.struct<(i32, i1)>\n"
      "%pz = llvm.zext %p : i1 to i32\n" +
      storeAtTid("x", "out", "i32") + storeAtTid("pz", "valid", "i32");
  std::vector<int32_t> out(32), valid(32);
  LaunchResult r = run(kernel("%out: !llvm.ptr, %valid: !llvm.ptr", body), 32,
                       {out.data(), valid.data()});
  ASSERT_TRUE(r.error.empty() && r.reports.empty()) << show(r);
  for (int lane = 0; lane < 32; ++lane) {
    auto [j, pval] = shflSource(c.mode, lane, c.b, c.c);
    EXPECT_EQ(out[lane], 100 + j) << "lane " << lane;
    EXPECT_EQ(valid[lane], int(pval)) << "lane " << lane;
  }
}

// c = ((32 - width) << 8) | clamp, as CUDA's __shfl*_sync encode a width:
// clamp 31 for down/bfly/idx, 0 for up.
INSTANTIATE_TEST_SUITE_P(
    Emulator, EmulatorShfl,
    testing::Values(
        ShflCase{"Bfly1", Shfl::Bfly, 1, 0x1f},
        ShflCase{"Bfly16", Shfl::Bfly, 16, 0x1f},
        ShflCase{"Bfly4Width8", Shfl::Bfly, 4, 0x181f},
        ShflCase{"Up3", Shfl::Up, 3, 0},
        ShflCase{"Up1Width16", Shfl::Up, 1, 0x1000},
        ShflCase{"Down3", Shfl::Down, 3, 0x1f},
        ShflCase{"Down1Width16", Shfl::Down, 1, 0x101f},
        ShflCase{"Down3Clamp7", Shfl::Down, 3, 0x07},
        ShflCase{"Idx5", Shfl::Idx, 5, 0x1f},
        ShflCase{"Idx3Width8", Shfl::Idx, 3, 0x181f},
        // The ISA uses b[4:0] (CUDA: "srcLane modulo width"): idx 33 reads
        // lane 1, valid (all of b would read lane 33, invalid).
        ShflCase{"Idx33UsesLowFiveBits", Shfl::Idx, 33, 0x1f}),
    caseName<ShflCase>);

TEST(EmulatorCollectives, VoteBallot) {
  // Full warp: lanes with tid % 3 == 0. Lanes 0..15 only, with member mask
  // 0xffff: the odd lanes.
  std::string body = R"(
    %c3 = llvm.mlir.constant(3 : i32) : i32
    %c0 = llvm.mlir.constant(0 : i32) : i32
    %full = llvm.mlir.constant(-1 : i32) : i32
    %rem = llvm.urem %tid32, %c3 : i32
    %p = llvm.icmp "eq" %rem, %c0 : i32
    %all = nvvm.vote.sync ballot %full, %p -> i32
)" + storeAtTid("all", "out", "i32") +
                     R"(
    %c16 = llvm.mlir.constant(16 : i32) : i32
    %low = llvm.icmp "ult" %tid32, %c16 : i32
    llvm.cond_br %low, ^half, ^done
  ^half:
    %c1 = llvm.mlir.constant(1 : i32) : i32
    %lowMask = llvm.mlir.constant(65535 : i32) : i32
    %odd = llvm.and %tid32, %c1 : i32
    %isOdd = llvm.trunc %odd : i32 to i1
    %some = nvvm.vote.sync ballot %lowMask, %isOdd -> i32
)" + storeAtTid("some", "half", "i32") +
                     "llvm.br ^done\n^done:\n";
  std::vector<int32_t> out(32), half(32, -1);
  LaunchResult r = run(kernel("%out: !llvm.ptr, %half: !llvm.ptr", body), 32,
                       {out.data(), half.data()});
  ASSERT_TRUE(r.error.empty() && r.reports.empty()) << show(r);
  for (int lane = 0; lane < 32; ++lane) {
    EXPECT_EQ(uint32_t(out[lane]), 0x49249249u) << "lane " << lane;
    EXPECT_EQ(half[lane], lane < 16 ? 0xAAAA : -1) << "lane " << lane;
  }
}

TEST(EmulatorCollectives, BarrierReductions) {
  // bar.red over two warps: or of "tid == 37" and of 0, popc of
  // "tid % 3 == 0" (22 of 0..63), and of "tid != 64" and of "tid != 5".
  std::string body = R"(
    %c0 = llvm.mlir.constant(0 : i32) : i32
    %c3 = llvm.mlir.constant(3 : i32) : i32
    %c5 = llvm.mlir.constant(5 : i32) : i32
    %c37 = llvm.mlir.constant(37 : i32) : i32
    %c64 = llvm.mlir.constant(64 : i32) : i32
    %is37 = llvm.icmp "eq" %tid32, %c37 : i32
    %p37 = llvm.zext %is37 : i1 to i32
    %or = nvvm.barrier #nvvm.reduction<or> %p37 -> i32
    %none = nvvm.barrier #nvvm.reduction<or> %c0 -> i32
    %rem = llvm.urem %tid32, %c3 : i32
    %is3 = llvm.icmp "eq" %rem, %c0 : i32
    %p3 = llvm.zext %is3 : i1 to i32
    %popc = nvvm.barrier #nvvm.reduction<popc> %p3 -> i32
    %n64 = llvm.icmp "ne" %tid32, %c64 : i32
    %pAll = llvm.zext %n64 : i1 to i32
    %all = nvvm.barrier #nvvm.reduction<and> %pAll -> i32
    %n5 = llvm.icmp "ne" %tid32, %c5 : i32
    %pNot5 = llvm.zext %n5 : i1 to i32
    %not5 = nvvm.barrier #nvvm.reduction<and> %pNot5 -> i32
    %a = llvm.add %or, %none : i32
    %b = llvm.mul %popc, %c64 : i32
    %c = llvm.add %a, %b : i32
    %d = llvm.mul %all, %c3 : i32
    %e = llvm.mul %not5, %c5 : i32
    %f = llvm.add %c, %d : i32
    %sum = llvm.add %f, %e : i32
)" + storeAtTid("sum", "out", "i32");
  std::vector<int32_t> out(64, -1);
  LaunchResult r =
      run(kernel("%out: !llvm.ptr", body), 64, {out.data()});
  ASSERT_TRUE(r.error.empty() && r.reports.empty()) << show(r);
  // or 1 + none 0 + popc 22 * 64 + all 1 * 3 + not5 0 * 5.
  for (int t = 0; t < 64; ++t)
    EXPECT_EQ(out[t], 1 + 22 * 64 + 3) << "thread " << t;
}

// mma.sync.m16n8k16 fragments, PTX ISA 9.7.14.5.8 (Figures "MMA .m16n8k16
// fragment layout" for A, B and C/D, .bf16): groupID g = lane / 4,
// threadID_in_group q = lane % 4; register r of A holds a_{2r} (low half)
// and a_{2r+1}.
struct RowCol {
  int row, col;
};
/// A element (register r, half h): rows g, g+8 for a0..a3 then again for
/// a4..a7 eight columns further.
RowCol mmaA(int lane, int r, int h) {
  return {lane / 4 + 8 * (r & 1), 2 * (lane % 4) + h + 8 * (r >> 1)};
}
/// B element (register r, half h) as (k, n): k = 2q + h (+ 8 for b2, b3).
RowCol mmaB(int lane, int r, int h) {
  return {2 * (lane % 4) + h + 8 * r, lane / 4};
}
/// C/D element i: row g (+ 8 for c2, c3), column 2q + (i & 1).
RowCol mmaC(int lane, int i) {
  return {lane / 4 + 8 * (i >> 1), 2 * (lane % 4) + (i & 1)};
}

TEST(EmulatorCollectives, MmaSyncBf16) {
  // A[m][k] = 16m + k (every value exact in bf16); B one-hot: B[k][n] = 1
  // where k = perm(n); C[m][n] = 1024 (8m + n). So D[m][n] = A[m][perm(n)]
  // + C[m][n] = 16m + perm(n) + 1024 (8m + n).
  auto perm = [](int n) { return (3 * n + 5) % 16; };
  std::vector<uint32_t> a(32 * 4), b(32 * 2);
  std::vector<float> c(32 * 4), d(32 * 4, -1.0f);
  for (int lane = 0; lane < 32; ++lane) {
    for (int r = 0; r < 4; ++r)
      for (int h = 0; h < 2; ++h) {
        RowCol e = mmaA(lane, r, h);
        a[lane * 4 + r] |= uint32_t(bf16(float(16 * e.row + e.col))) << 16 * h;
      }
    for (int r = 0; r < 2; ++r)
      for (int h = 0; h < 2; ++h) {
        RowCol e = mmaB(lane, r, h);
        b[lane * 2 + r] |= uint32_t(bf16(e.row == perm(e.col) ? 1.0f : 0.0f))
                           << 16 * h;
      }
    for (int i = 0; i < 4; ++i) {
      RowCol e = mmaC(lane, i);
      c[lane * 4 + i] = float(1024 * (8 * e.row + e.col));
    }
  }
  std::string body =
      loadLane("a", "a", 4, "i32") + loadLane("b", "b", 2, "i32") +
      loadLane("c", "c", 4, "f32") +
      "%mma = nvvm.mma.sync A[%a0, %a1, %a2, %a3] B[%b0, %b1] "
      "C[%c0, %c1, %c2, %c3] {layoutA = #nvvm.mma_layout<row>, "
      "layoutB = #nvvm.mma_layout<col>, "
      "multiplicandAPtxType = #nvvm.mma_type<bf16>, "
      "multiplicandBPtxType = #nvvm.mma_type<bf16>, "
      "shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (i32, i32, f32) -> "
      "!llvm.struct<(f32, f32, f32, f32)>\n" +
      unpack("d", "mma", 4, "f32") + storeLane("d", "out", 4, "f32");
  LaunchResult r = run(kernel("%a: !llvm.ptr, %b: !llvm.ptr, %c: !llvm.ptr, "
                              "%out: !llvm.ptr",
                              body),
                       32, {a.data(), b.data(), c.data(), d.data()});
  ASSERT_TRUE(r.error.empty() && r.reports.empty()) << show(r);
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 4; ++i) {
      RowCol e = mmaC(lane, i);
      EXPECT_EQ(d[lane * 4 + i],
                float(16 * e.row + perm(e.col) + 1024 * (8 * e.row + e.col)))
          << "lane " << lane << " d" << i;
    }
}

/// Stages a 16-byte row per thread from global `image` into %smem (thread t
/// writes bytes 16t..16t+15), then a CTA barrier.
const char *kStageRows = R"(
    %src0 = llvm.getelementptr %image[%tid, 0] : (!llvm.ptr, i64) -> !llvm.ptr, !llvm.array<2 x i64>
    %src1 = llvm.getelementptr %image[%tid, 1] : (!llvm.ptr, i64) -> !llvm.ptr, !llvm.array<2 x i64>
    %lo = llvm.load %src0 : !llvm.ptr -> i64
    %hi = llvm.load %src1 : !llvm.ptr -> i64
    %dst0 = llvm.getelementptr %smem[%tid, 0] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, !llvm.array<2 x i64>
    %dst1 = llvm.getelementptr %smem[%tid, 1] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, !llvm.array<2 x i64>
    llvm.store %lo, %dst0 : i64, !llvm.ptr<3>
    llvm.store %hi, %dst1 : i64, !llvm.ptr<3>
    nvvm.barrier0
)";

struct LdMatrixCase {
  int num;
  bool trans;
  std::string name;
};
void PrintTo(const LdMatrixCase &c, std::ostream *os) { *os << c.name; }

class EmulatorLdMatrix : public testing::TestWithParam<LdMatrixCase> {};

TEST_P(EmulatorLdMatrix, DistributesRows) {
  // Row r of matrix j holds (j << 8) | (r << 4) | c at element c; the 32
  // rows lie scrambled in shared memory: row q = 8j + r in slot 5q mod 32
  // (slot s holds row 13s mod 32, 13 = 5^-1 mod 32). Lane l supplies row l
  // (PTX ISA 9.7.14.5.15: threads 8j..8j+7 address the rows of matrix j);
  // only the first 8 * num lanes' addresses are read.
  const LdMatrixCase &c = GetParam();
  auto element = [](int j, int r, int col) {
    return uint16_t((j << 8) | (r << 4) | col);
  };
  std::vector<uint16_t> image(32 * 8);
  for (int s = 0; s < 32; ++s) {
    int q = 13 * s % 32;
    for (int col = 0; col < 8; ++col)
      image[s * 8 + col] = element(q / 8, q % 8, col);
  }
  std::string result = c.num == 1   ? "i32"
                       : c.num == 2 ? "!llvm.struct<(i32, i32)>"
                                    : "!llvm.struct<(i32, i32, i32, i32)>";
  std::string body =
      std::string(kStageRows) + constant("c5", "5", "i64") +
      constant("c31", "31", "i64") +
      "%q5 = llvm.mul %tid, %c5 : i64\n"
      "%slot = llvm.and %q5, %c31 : i64\n"
      "%row = llvm.getelementptr %smem[%slot] : (!llvm.ptr<3>, i64) -> "
      "!llvm.ptr<3>, !llvm.array<16 x i8>\n"
      "%ld = nvvm.ldmatrix %row {eltType = #nvvm.ld_st_matrix_elt_type<b16>, "
      "layout = #nvvm.mma_layout<" +
      (c.trans ? "col" : "row") + ">, num = " + std::to_string(c.num) +
      " : i32, shape = #nvvm.ld_st_matrix_shape<m = 8, n = 8>} : "
      "(!llvm.ptr<3>) -> " +
      result + "\n" +
      (c.num == 1 ? "%r0 = llvm.add %ld, %c0 : i32\n"
                  : unpack("r", "ld", c.num, "i32")) +
      storeLane("r", "out", c.num, "i32");
  std::vector<uint32_t> out(32 * c.num);
  LaunchResult r = run(kernel("%image: !llvm.ptr, %out: !llvm.ptr",
                              constant("c0", "0", "i32") + body),
                       32, {image.data(), out.data()}, 32 * 16);
  ASSERT_TRUE(r.error.empty() && r.reports.empty()) << show(r);
  // PTX ISA Figure "ldmatrix fragment layout for one 8x8 matrix with 16-bit
  // elements": lane l holds row l/4, elements 2(l%4) and 2(l%4)+1; with
  // .trans it holds column l/4 of rows 2(l%4) and 2(l%4)+1.
  for (int l = 0; l < 32; ++l)
    for (int j = 0; j < c.num; ++j) {
      uint32_t lo = c.trans ? element(j, 2 * (l % 4), l / 4)
                            : element(j, l / 4, 2 * (l % 4));
      uint32_t hi = c.trans ? element(j, 2 * (l % 4) + 1, l / 4)
                            : element(j, l / 4, 2 * (l % 4) + 1);
      EXPECT_EQ(out[l * c.num + j], lo | hi << 16)
          << "lane " << l << " register " << j;
    }
}

INSTANTIATE_TEST_SUITE_P(Emulator, EmulatorLdMatrix,
                         testing::Values(LdMatrixCase{1, false, "X1"},
                                         LdMatrixCase{1, true, "X1Trans"},
                                         LdMatrixCase{2, false, "X2"},
                                         LdMatrixCase{2, true, "X2Trans"},
                                         LdMatrixCase{4, false, "X4"},
                                         LdMatrixCase{4, true, "X4Trans"}),
                         caseName<LdMatrixCase>);

/// Eight threads: thread t fills its 16-byte shared slot with 0x5A, issues a
/// 16-byte cp.async of global src[t] with src-size 2t (the rest zero
/// filled), commits, optionally reads the slot before the wait (into
/// early[t]), waits for group 0 and reads it (into final[t]).
std::string cpAsyncKernel(bool readEarly) {
  auto read = [](const std::string &name, const std::string &to) {
    return "%" + name + "0 = llvm.load %dst0 : !llvm.ptr<3> -> i64\n%" + name +
           "1 = llvm.load %dst1 : !llvm.ptr<3> -> i64\n" +
           storeLane(name, to, 2, "i64");
  };
  std::string body = R"(
    // 0x5A5A5A5A5A5A5A5A
    %fill = llvm.mlir.constant(6510615555426900570 : i64) : i64
    %dst0 = llvm.getelementptr %smem[%tid, 0] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, !llvm.array<2 x i64>
    %dst1 = llvm.getelementptr %smem[%tid, 1] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, !llvm.array<2 x i64>
    llvm.store %fill, %dst0 : i64, !llvm.ptr<3>
    llvm.store %fill, %dst1 : i64, !llvm.ptr<3>
    %g = llvm.getelementptr %src[%tid] : (!llvm.ptr, i64) -> !llvm.ptr, !llvm.array<16 x i8>
    %g1 = llvm.addrspacecast %g : !llvm.ptr to !llvm.ptr<1>
    %two = llvm.mlir.constant(2 : i32) : i32
    %size = llvm.mul %tid32, %two : i32
    nvvm.cp.async.shared.global %dst0, %g1, 16, cache = cg, %size : !llvm.ptr<3>, !llvm.ptr<1>, i32
    nvvm.cp.async.commit.group
)";
  if (readEarly)
    body += read("e", "early");
  body += "nvvm.cp.async.wait.group 0\n" + read("f", "final");
  return kernel("%src: !llvm.ptr, %early: !llvm.ptr, %final: !llvm.ptr", body);
}

/// Names the cases of the tests whose parameter adds a read before the wait.
std::string readEarlyName(const testing::TestParamInfo<bool> &info) {
  return info.param ? "ReadBeforeWait" : "WaitFirst";
}

class EmulatorCpAsync : public testing::TestWithParam<bool> {};

TEST_P(EmulatorCpAsync, ZeroFillLandsAtWaitGroup) {
  bool readEarly = GetParam();
  std::vector<uint8_t> src(8 * 16), early(8 * 16), final(8 * 16);
  for (int t = 0; t < 8; ++t)
    for (int i = 0; i < 16; ++i)
      src[t * 16 + i] = uint8_t(0x80 | t << 4 | i);
  LaunchResult r =
      run(cpAsyncKernel(readEarly), 8, {src.data(), early.data(), final.data()},
          8 * 16, {range(src), range(early), range(final)});
  ASSERT_TRUE(r.error.empty()) << show(r);
  // Before the wait the slot still holds what the thread stored, and the
  // read is reported; after it, src-size bytes of the source, then zeros.
  EXPECT_EQ(kinds(r), readEarly ? std::set<std::string>{"in-flight"}
                                : std::set<std::string>{})
      << show(r);
  for (int t = 0; t < 8; ++t)
    for (int i = 0; i < 16; ++i) {
      if (readEarly)
        EXPECT_EQ(early[t * 16 + i], 0x5A) << "thread " << t << " byte " << i;
      EXPECT_EQ(final[t * 16 + i], i < 2 * t ? src[t * 16 + i] : 0)
          << "thread " << t << " byte " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(Emulator, EmulatorCpAsync, testing::Bool(),
                         readEarlyName);

TEST(EmulatorCollectives, CpAsyncWaitGroupKeepsNewestGroups) {
  // Group 1 copies into slot 0, group 2 into slot 1 (4 bytes each);
  // wait_group 1 lands group 1 only: slot 0 is readable, slot 1 still in
  // flight (reported, old value 0), and lands at wait_group 0.
  std::string body = R"(
    %s1 = llvm.getelementptr %smem[1] : (!llvm.ptr<3>) -> !llvm.ptr<3>, i32
    %g0 = llvm.addrspacecast %src : !llvm.ptr to !llvm.ptr<1>
    %g1 = llvm.getelementptr %g0[1] : (!llvm.ptr<1>) -> !llvm.ptr<1>, i32
    nvvm.cp.async.shared.global %smem, %g0, 4, cache = ca : !llvm.ptr<3>, !llvm.ptr<1>
    nvvm.cp.async.commit.group
    nvvm.cp.async.shared.global %s1, %g1, 4, cache = ca : !llvm.ptr<3>, !llvm.ptr<1>
    nvvm.cp.async.commit.group
    nvvm.cp.async.wait.group 1
    %v0 = llvm.load %smem : !llvm.ptr<3> -> i32
    %v1 = llvm.load %s1 : !llvm.ptr<3> -> i32
    nvvm.cp.async.wait.group 0
    %v2 = llvm.load %s1 : !llvm.ptr<3> -> i32
)" + storeLane("v", "out", 3, "i32");
  std::vector<int32_t> src = {111, 222}, out(3, -1);
  LaunchResult r = run(kernel("%src: !llvm.ptr, %out: !llvm.ptr", body), 1,
                       {src.data(), out.data()}, 16);
  ASSERT_TRUE(r.error.empty()) << show(r);
  EXPECT_EQ(kinds(r), std::set<std::string>{"in-flight"}) << show(r);
  EXPECT_EQ(out, (std::vector<int32_t>{111, 0, 222}));
}

TEST(EmulatorCollectives, MBarrierArriveWithCount) {
  // nvvm.mbarrier.arrive's optional count operand (PTX mbarrier.arrive
  // ... count): one arrive of count 2 completes a barrier initialised for 2
  // (counting it as one would leave the phase open: "deadlock").
  std::string body = R"(
    %c0 = llvm.mlir.constant(0 : i32) : i32
    %c2 = llvm.mlir.constant(2 : i32) : i32
    %ticks = llvm.mlir.constant(1000000 : i32) : i32
    nvvm.mbarrier.init %smem, %c2 : !llvm.ptr<3>, i32
    %state = nvvm.mbarrier.arrive %smem, %c2 : !llvm.ptr<3> -> i64
    nvvm.mbarrier.try_wait.parity %smem, %c0, %ticks : !llvm.ptr<3>, i32, i32
  )";
  LaunchResult r = run(kernel("", body), 1, {}, 16);
  EXPECT_TRUE(r.error.empty() && r.reports.empty()) << show(r);
}

//===----------------------------------------------------------------------===//
// 4. Reports
//===----------------------------------------------------------------------===//

/// A kernel (parameter %out, 64 i32) that must produce reports of exactly
/// `kind` and its fixed version, which must produce none. Kind "error": the
/// emulator refuses the kernel (Module::parse fails, which run() returns as
/// `error`). Out-of-bounds checks see %out as the only allocation.
struct ReportCase {
  std::string name;
  std::string kind;
  std::string where; // in each report's location, or in the error
  uint32_t threads;
  uint32_t dynamicShared;
  std::string bad, fixed;
};
void PrintTo(const ReportCase &c, std::ostream *os) { *os << c.name; }

/// `body` with "$" replaced by `piece`.
std::string with(std::string body, const std::string &piece) {
  size_t at = body.find('$');
  return body.replace(at, 1, piece);
}

std::vector<ReportCase> reportCases() {
  // Thread 0 writes shared byte 0..3, thread 32 (another warp) reads it.
  std::string race = R"(
    %c0 = llvm.mlir.constant(0 : i32) : i32
    %c1 = llvm.mlir.constant(1 : i32) : i32
    %c32 = llvm.mlir.constant(32 : i32) : i32
    %is0 = llvm.icmp "eq" %tid32, %c0 : i32
    llvm.cond_br %is0, ^write, ^between
  ^write:
    llvm.store %c1, %smem : i32, !llvm.ptr<3>
    llvm.br ^between
  ^between:
    $
    %is32 = llvm.icmp "eq" %tid32, %c32 : i32
    llvm.cond_br %is32, ^read, ^end
  ^read:
    %v = llvm.load %smem : !llvm.ptr<3> -> i32
    llvm.store %v, %out : i32, !llvm.ptr
    llvm.br ^end
  ^end:
)";
  // A cp.async of 4 bytes read back with the wait before or after the read.
  std::string inFlight = R"(
    %dst = llvm.getelementptr %smem[%tid] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, i32
    %g = llvm.getelementptr %out[%tid] : (!llvm.ptr, i64) -> !llvm.ptr, i32
    %g1 = llvm.addrspacecast %g : !llvm.ptr to !llvm.ptr<1>
    nvvm.cp.async.shared.global %dst, %g1, 4, cache = ca : !llvm.ptr<3>, !llvm.ptr<1>
    nvvm.cp.async.commit.group
    $
    %v = llvm.load %dst : !llvm.ptr<3> -> i32
    nvvm.cp.async.wait.group 0
    llvm.store %v, %g : i32, !llvm.ptr
)";
  // Thread t stores to element t + offset of global %out (64 elements) or
  // of 32 * 4 bytes of shared memory.
  std::string globalStore = R"(
    %off = llvm.mlir.constant($ : i64) : i64
    %i = llvm.add %tid, %off : i64
    %p = llvm.getelementptr %out[%i] : (!llvm.ptr, i64) -> !llvm.ptr, i32
    llvm.store %tid32, %p : i32, !llvm.ptr
)";
  std::string sharedStore = R"(
    %off = llvm.mlir.constant($ : i64) : i64
    %i = llvm.add %tid, %off : i64
    %p = llvm.getelementptr %smem[%i] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, i32
    llvm.store %tid32, %p : i32, !llvm.ptr<3>
)";
  // bar.sync in a branch taken by threads below a bound.
  std::string barrier = R"(
    %bound = llvm.mlir.constant($ : i32) : i32
    %low = llvm.icmp "ult" %tid32, %bound : i32
    llvm.cond_br %low, ^sync, ^end
  ^sync:
    nvvm.barrier0
    llvm.br ^end
  ^end:
)";
  // shfl.sync by lanes 0..15 with a given member mask.
  std::string shuffle = R"(
    %c16 = llvm.mlir.constant(16 : i32) : i32
    %low = llvm.icmp "ult" %tid32, %c16 : i32
    llvm.cond_br %low, ^shuffle, ^end
  ^shuffle:
    %member = llvm.mlir.constant($ : i32) : i32
    %c1 = llvm.mlir.constant(1 : i32) : i32
    %c31 = llvm.mlir.constant(31 : i32) : i32
    %v = nvvm.shfl.sync bfly %member, %tid32, %c1, %c31 : i32 -> i32
)" + storeAtTid("v", "out", "i32") +
                        "llvm.br ^end\n^end:\n";
  // Thread 0 initialises an mbarrier for one arrival (and arrives or not);
  // every thread waits for phase 0.
  std::string mbarrier = R"(
    %c0 = llvm.mlir.constant(0 : i32) : i32
    %c1 = llvm.mlir.constant(1 : i32) : i32
    %ticks = llvm.mlir.constant(1000000 : i32) : i32
    %is0 = llvm.icmp "eq" %tid32, %c0 : i32
    llvm.cond_br %is0, ^init, ^wait
  ^init:
    nvvm.mbarrier.init %smem, %c1 : !llvm.ptr<3>, i32
    $
    llvm.br ^wait
  ^wait:
    nvvm.barrier0
    nvvm.mbarrier.try_wait.parity %smem, %c0, %ticks : !llvm.ptr<3>, i32, i32
)";
  // ldmatrix.x4 whose row addresses are 16 t + offset.
  std::string ldmatrix = R"(
    %off = llvm.mlir.constant($ : i64) : i64
    %rows = llvm.getelementptr %smem[%tid] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, !llvm.array<16 x i8>
    %row = llvm.getelementptr %rows[%off] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, i8
    %ld = nvvm.ldmatrix %row {eltType = #nvvm.ld_st_matrix_elt_type<b16>, layout = #nvvm.mma_layout<row>, num = 4 : i32, shape = #nvvm.ld_st_matrix_shape<m = 8, n = 8>} : (!llvm.ptr<3>) -> !llvm.struct<(i32, i32, i32, i32)>
)";
  // Even lanes branch off and join the others again, then the warp runs a
  // .aligned ldmatrix, with `$` (a re-converging instruction or nothing)
  // between the join and the ldmatrix.
  std::string unconverged = R"(
    %c0i = llvm.mlir.constant(0 : i32) : i32
    %c1i = llvm.mlir.constant(1 : i32) : i32
    %full = llvm.mlir.constant(-1 : i32) : i32
    %c31 = llvm.mlir.constant(31 : i32) : i32
    %odd = llvm.and %tid32, %c1i : i32
    %even = llvm.icmp "eq" %odd, %c0i : i32
    llvm.cond_br %even, ^even, ^join
  ^even:
    llvm.br ^join
  ^join:
    $
    %rows = llvm.getelementptr %smem[%tid] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, !llvm.array<16 x i8>
    %ld = nvvm.ldmatrix %rows {eltType = #nvvm.ld_st_matrix_elt_type<b16>, layout = #nvvm.mma_layout<row>, num = 4 : i32, shape = #nvvm.ld_st_matrix_shape<m = 8, n = 8>} : (!llvm.ptr<3>) -> !llvm.struct<(i32, i32, i32, i32)>
)";
  std::string asmOp =
      "llvm.inline_asm has_side_effects asm_dialect = att \"$\", \"l\" %out : "
      "(!llvm.ptr) -> ()\n";
  std::string unaryOp = constant("x", "2.0", "f32") +
                        "%y = llvm.intr.$(%x) : (f32) -> f32\n" +
                        storeAtTid("y", "out", "f32");
  const char *fenceTensormap =
      "fence.proxy.tensormap::generic.acquire.sys [$0], 128;";
  return {
      {"RaceBetweenWarps", "race", "llvm.load", 64, 16, with(race, ""),
       with(race, "nvvm.barrier0")},
      {"InFlightCpAsyncRead", "in-flight", "llvm.load", 32, 128,
       with(inFlight, ""), with(inFlight, "nvvm.cp.async.wait.group 0")},
      {"OutOfBoundsGlobalStore", "out-of-bounds", "llvm.store", 64, 0,
       with(globalStore, "1"), with(globalStore, "0")},
      {"OutOfBoundsSharedStore", "out-of-bounds", "llvm.store", 32, 128,
       with(sharedStore, "1"), with(sharedStore, "0")},
      {"DivergentBarrier", "divergence", "nvvm.barrier0", 64, 0,
       with(barrier, "32"), with(barrier, "64")},
      {"DivergentShfl", "divergence", "nvvm.shfl.sync", 32, 0,
       with(shuffle, "-1"), with(shuffle, "65535")},
      {"DeadlockedMBarrier", "deadlock", "nvvm.mbarrier.try_wait.parity", 32,
       16, with(mbarrier, ""),
       with(mbarrier, "nvvm.mbarrier.arrive %smem : !llvm.ptr<3>")},
      {"MisalignedLdMatrix", "misaligned", "nvvm.ldmatrix", 32, 32 * 16 + 16,
       with(ldmatrix, "8"), with(ldmatrix, "0")},
      // Independent thread scheduling: the join point does not re-converge
      // a warp; bar.warp.sync, a CTA barrier or a full-mask shfl.sync do.
      {"UnconvergedLdMatrixWarpSync", "divergence", "nvvm.ldmatrix", 32,
       32 * 16, with(unconverged, ""),
       with(unconverged, "nvvm.bar.warp.sync %full : i32")},
      {"UnconvergedLdMatrixBarrier", "divergence", "nvvm.ldmatrix", 32, 32 * 16,
       with(unconverged, ""), with(unconverged, "nvvm.barrier0")},
      {"UnconvergedLdMatrixShfl", "divergence", "nvvm.ldmatrix", 32, 32 * 16,
       with(unconverged, ""),
       with(unconverged, "%s = nvvm.shfl.sync bfly %full, %tid32, %c1i, "
                         "%c31 : i32 -> i32")},
      // Inline assembly is recognised by its exact text: another
      // instruction, or a near miss (.gpu for .sys), is an error.
      {"UnknownInlineAsm", "error", "bar.sync 1;", 1, 0,
       with(asmOp, "bar.sync 1;"), with(asmOp, fenceTensormap)},
      {"NearMissInlineAsm", "error", "acquire.gpu", 1, 0,
       with(asmOp, "fence.proxy.tensormap::generic.acquire.gpu [$0], 128;"),
       with(asmOp, fenceTensormap)},
      {"UnknownOp", "error", "llvm.intr.tan", 1, 0, with(unaryOp, "tan"),
       with(unaryOp, "sqrt")},
  };
}

class EmulatorReports : public testing::TestWithParam<ReportCase> {};

TEST_P(EmulatorReports, OnlyTheBadKernel) {
  const ReportCase &c = GetParam();
  for (bool bad : {true, false}) {
    SCOPED_TRACE(bad ? "the bad kernel" : "the fixed kernel");
    std::vector<int32_t> out(64);
    LaunchResult r =
        run(kernel("%out: !llvm.ptr", bad ? c.bad : c.fixed), c.threads,
            {out.data()}, c.dynamicShared, {range(out)});
    if (!bad) {
      EXPECT_TRUE(r.error.empty() && r.reports.empty()) << show(r);
    } else if (c.kind == "error") {
      EXPECT_NE(r.error.find(c.where), std::string::npos) << show(r);
      EXPECT_TRUE(r.reports.empty()) << show(r);
    } else {
      EXPECT_TRUE(r.error.empty()) << show(r);
      EXPECT_EQ(kinds(r), std::set<std::string>{c.kind}) << show(r);
      for (const Report &report : r.reports)
        EXPECT_NE(report.where.find(c.where), std::string::npos) << show(r);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Emulator, EmulatorReports,
                         testing::ValuesIn(reportCases()),
                         caseName<ReportCase>);

//===----------------------------------------------------------------------===//
// 5. TMA
//===----------------------------------------------------------------------===//

/// The inline assembly of the kernels' blocking mbarrier wait.
const char *kWaitLoop =
    R"(llvm.inline_asm has_side_effects asm_dialect = att "{\0A\09.reg .pred       P1; \0A\09LAB_WAIT: \0A\09mbarrier.try_wait.parity.shared.b64 P1, [$0], $1, $2; \0A\09@P1 bra.uni DONE; \0A\09bra.uni     LAB_WAIT; \0A\09DONE: \0A\09}", "r,r,r" %bar, %c0, %ticks : (!llvm.ptr<3>, i32, i32) -> ()
)";

class EmulatorTma : public testing::TestWithParam<bool> {};

TEST_P(EmulatorTma, SwizzledBoxWithZeroFill) {
  // A 12 x 64 bf16 tensor G[y][x] = 64y + x + 1 (as raw 16-bit values); a
  // box of 8 rows x 64 elements (128 bytes, the 128-byte swizzle's width)
  // at (x, y) = (-8, 8): elements left of x = 0 and rows from y = 12 on are
  // out of bounds, filled with zeros. 128 threads read the 1024-byte box
  // back 8 bytes each after the mbarrier wait (and, when the parameter is
  // set, once before it too).
  bool readEarly = GetParam();
  const int rows = 12, cols = 64, boxRows = 8, x0 = -8, y0 = 8;
  std::vector<uint16_t> tensor(rows * cols);
  for (int y = 0; y < rows; ++y)
    for (int x = 0; x < cols; ++x)
      tensor[y * cols + x] = uint16_t(64 * y + x + 1);
  std::vector<TensorMap> map(1);
  map[0].base = uint64_t(uintptr_t(tensor.data()));
  map[0].elementBytes = 2;
  map[0].rank = 2;
  map[0].dims[0] = cols;
  map[0].dims[1] = rows;
  map[0].strides[0] = cols * 2;
  map[0].box[0] = cols;
  map[0].box[1] = boxRows;
  map[0].swizzle = 3; // CU_TENSOR_MAP_SWIZZLE_128B
  std::string body = kAlignedShared + std::string(R"(
    %c0 = llvm.mlir.constant(0 : i32) : i32
    %c1 = llvm.mlir.constant(1 : i32) : i32
    %ticks = llvm.mlir.constant(1000000 : i32) : i32
    %c1024 = llvm.mlir.constant(1024 : i64) : i64
    %barAddr = llvm.add %bufAddr, %c1024 : i64
    %bar = llvm.inttoptr %barAddr : i64 to !llvm.ptr<3>
    %is0 = llvm.icmp "eq" %tid32, %c0 : i32
    llvm.cond_br %is0, ^init, ^initialised
  ^init:
    nvvm.mbarrier.init %bar, %c1 : !llvm.ptr<3>, i32
    nvvm.fence.mbarrier.init
    llvm.br ^initialised
  ^initialised:
    nvvm.barrier0
    llvm.cond_br %is0, ^issue, ^issued
  ^issue:
    %tx = llvm.mlir.constant(1024 : i32) : i32
    nvvm.mbarrier.arrive.expect_tx %bar, %tx : !llvm.ptr<3>, i32
    %dst = llvm.addrspacecast %buf : !llvm.ptr<3> to !llvm.ptr<7>
    %x = llvm.mlir.constant()") +
                     std::to_string(x0) + R"( : i32) : i32
    %y = llvm.mlir.constant()" +
                     std::to_string(y0) + R"( : i32) : i32
    nvvm.cp.async.bulk.tensor.shared.cluster.global %dst, %map, %bar, box[%x, %y] : !llvm.ptr<7>, !llvm.ptr
    llvm.br ^issued
  ^issued:
    %p = llvm.getelementptr %buf[%tid] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, i64
)" +
                     (readEarly ? "%e = llvm.load %p : !llvm.ptr<3> -> i64\n" +
                                      storeAtTid("e", "early", "i64")
                                : "") +
                     kWaitLoop + "%v = llvm.load %p : !llvm.ptr<3> -> i64\n" +
                     storeAtTid("v", "out", "i64");
  std::vector<uint16_t> out(512), early(512);
  LaunchResult r =
      run(kernel("%map: !llvm.ptr, %out: !llvm.ptr, %early: !llvm.ptr", body),
          128, {map.data(), out.data(), early.data()}, 2048 + 64,
          {range(tensor), range(map), range(out), range(early)});
  ASSERT_TRUE(r.error.empty()) << show(r);
  EXPECT_EQ(kinds(r), readEarly ? std::set<std::string>{"in-flight"}
                                : std::set<std::string>{})
      << show(r);
  // PTX ISA 5.5.7 "Swizzling Modes", 128B: in each 128-byte row r of a
  // 1024-byte aligned pattern, 16-byte chunk c is stored at chunk c ^ (r % 8).
  for (int row = 0; row < boxRows; ++row)
    for (int col = 0; col < cols; ++col) {
      int byte = 2 * col;
      int at = row * 128 + ((byte / 16) ^ (row % 8)) * 16 + byte % 16;
      int x = x0 + col, y = y0 + row;
      bool inside = x >= 0 && x < cols && y < rows;
      EXPECT_EQ(out[at / 2], inside ? tensor[y * cols + x] : 0)
          << "box row " << row << " column " << col;
    }
}

INSTANTIATE_TEST_SUITE_P(Emulator, EmulatorTma, testing::Bool(), readEarlyName);

//===----------------------------------------------------------------------===//
// 6. wgmma
//===----------------------------------------------------------------------===//

/// "$0, $1, ..., $(count-1)" from `first` on, or constraint lists.
std::string numbered(int first, int count, const std::string &prefix,
                     const std::string &separator) {
  std::string text;
  for (int i = first; i < first + count; ++i)
    text += (i > first ? separator : "") + prefix + std::to_string(i);
  return text;
}

std::string repeated(const std::string &item, int count) {
  std::string text;
  for (int i = 0; i < count; ++i)
    text += (i ? ", " : "") + item;
  return text;
}

class EmulatorWgmma : public testing::TestWithParam<bool> {};

TEST_P(EmulatorWgmma, M64N32K16Bf16) {
  // D = A * B + C for A 64x16 in registers, B 16x32 through a K-major
  // descriptor with 128-byte swizzle, C 64x32; small integers, so every
  // value is exact. With the parameter set, an accumulator is stored
  // between commit_group and wait_group.
  bool readEarly = GetParam();
  const int n = 32;
  auto valueA = [](int m, int k) { return float((m * 7 + k * 3) % 5 - 2); };
  auto valueB = [](int k, int col) { return float((k * 5 + col * 3) % 7 - 3); };
  auto valueC = [](int m, int col) { return float(m * 32 + col); };
  // PTX ISA 9.7.15.5.1.1.1, m64nNk16 register fragments: warp w of the
  // warpgroup holds rows 16w..16w+15 in the m16n8k16 layout of A (Figure
  // "WGMMA .m64nNk16 register fragment layout for matrix A"); D repeats the
  // m16n8 accumulator layout every 8 columns: d_i at row 16w + g + 8 *
  // ((i >> 1) & 1), column 8 * (i / 4) + 2q + (i & 1).
  auto rowA = [&](int t, int r, int h) {
    RowCol e = mmaA(t % 32, r, h);
    return RowCol{16 * (t / 32) + e.row, e.col};
  };
  auto atD = [](int t, int i) {
    int lane = t % 32;
    return RowCol{16 * (t / 32) + lane / 4 + 8 * ((i >> 1) & 1),
                  8 * (i / 4) + 2 * (lane % 4) + (i & 1)};
  };
  std::vector<uint32_t> a(128 * 4);
  std::vector<float> c(128 * n / 2), out(128 * n / 2), early(128);
  for (int t = 0; t < 128; ++t) {
    for (int r = 0; r < 4; ++r)
      for (int h = 0; h < 2; ++h) {
        RowCol e = rowA(t, r, h);
        a[t * 4 + r] |= uint32_t(bf16(valueA(e.row, e.col))) << 16 * h;
      }
    for (int i = 0; i < n / 2; ++i) {
      RowCol e = atD(t, i);
      c[t * n / 2 + i] = valueC(e.row, e.col);
    }
  }
  // B read as N x K, K-major, 128-byte swizzle (PTX ISA 9.7.15.5.1.2
  // canonical layouts): row n of 16 K elements at n * 128 bytes (8 rows of
  // 128 bytes, then the stride byte offset of 1024), its 16-byte chunks
  // swizzled: chunk k / 8 stored at chunk (k / 8) ^ (n % 8).
  std::vector<uint16_t> image(n * 64);
  for (int col = 0; col < n; ++col)
    for (int k = 0; k < 16; ++k) {
      int at = col * 128 + ((k / 8) ^ (col % 8)) * 16 + (k % 8) * 2;
      image[at / 2] = bf16(valueB(k, col));
    }
  // Descriptor (PTX ISA 9.7.15.5.1.2.2): start address >> 4 in bits 0-13,
  // leading byte offset 16 >> 4 in 16-29, stride byte offset 1024 >> 4 in
  // 32-45, swizzle mode 1 (128B) in 62-63.
  uint64_t descriptorBits = (1ull << 16) | (64ull << 32) | (1ull << 62);
  std::string structType = "!llvm.struct<(" + repeated("f32", n / 2) + ")>";
  std::string accumulators = numbered(0, n / 2, "%c", ", ");
  std::string mma =
      "%mma = llvm.inline_asm has_side_effects asm_dialect = att "
      "\"{\\0A.reg .pred p;\\0Asetp.ne.b32 p, $" +
      std::to_string(n + 5) +
      ", 0;\\0Awgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {" +
      numbered(0, n / 2, "$", ", ") + "}, {" + numbered(n, 4, "$", ", ") +
      "}, $" + std::to_string(n + 4) + ", p, 1, 1, 0;\\0A}\", \"" +
      repeated("=f", n / 2) + "," + numbered(0, n / 2, "", ",") +
      ",r,r,r,r,l,r\" " + accumulators +
      ", %a0, %a1, %a2, %a3, %desc, %one : (" + repeated("f32", n / 2) +
      ", i32, i32, i32, i32, i64, i32) -> " + structType + "\n";
  std::string wait =
      "%done = llvm.inline_asm has_side_effects asm_dialect = att "
      "\"wgmma.wait_group.sync.aligned 0;\", \"" +
      repeated("=f", n / 2) + "," + numbered(0, n / 2, "", ",") + "\" " +
      numbered(0, n / 2, "%m", ", ") + " : (" + repeated("f32", n / 2) +
      ") -> " + structType + "\n";
  std::string body =
      kAlignedShared +
      // Stage B: thread t copies bytes 32t..32t+31 of the image.
      loadLane("img", "image", 4, "i64") +
      "%bufGeneric = llvm.addrspacecast %buf : !llvm.ptr<3> to !llvm.ptr\n" +
      storeLane("img", "bufGeneric", 4, "i64") +
      // Generic stores become visible to the tensor cores (the async
      // proxy) through a proxy fence, then the barrier.
      "llvm.inline_asm has_side_effects asm_dialect = att "
      "\"fence.proxy.async.shared::cta;\", \"\" : () -> ()\n"
      "nvvm.barrier0\n" +
      loadLane("a", "a", 4, "i32") + loadLane("c", "c", n / 2, "f32") +
      constant("mask18", "262143", "i64") + constant("four", "4", "i64") +
      constant("one", "1", "i32") +
      constant("descHigh", std::to_string(descriptorBits), "i64") +
      "%low18 = llvm.and %bufAddr, %mask18 : i64\n"
      "%start = llvm.lshr %low18, %four : i64\n"
      "%desc = llvm.or %start, %descHigh : i64\n"
      "llvm.inline_asm has_side_effects asm_dialect = att "
      "\"wgmma.fence.sync.aligned;\", \"\" : () -> ()\n" +
      mma +
      "llvm.inline_asm has_side_effects asm_dialect = att "
      "\"wgmma.commit_group.sync.aligned;\", \"\" : () -> ()\n" +
      unpack("m", "mma", n / 2, "f32") +
      (readEarly ? storeAtTid("m0", "early", "f32") : "") + wait +
      unpack("d", "done", n / 2, "f32") + storeLane("d", "out", n / 2, "f32");
  LaunchResult r =
      run(kernel("%a: !llvm.ptr, %c: !llvm.ptr, %image: "
                 "!llvm.ptr, %out: !llvm.ptr, %early: !llvm.ptr",
                 body),
          128, {a.data(), c.data(), image.data(), out.data(), early.data()},
          n * 128 + 1024);
  ASSERT_TRUE(r.error.empty()) << show(r);
  EXPECT_EQ(kinds(r), readEarly ? std::set<std::string>{"in-flight"}
                                : std::set<std::string>{})
      << show(r);
  for (int t = 0; t < 128; ++t)
    for (int i = 0; i < n / 2; ++i) {
      RowCol e = atD(t, i);
      float expected = valueC(e.row, e.col);
      for (int k = 0; k < 16; ++k)
        expected += valueA(e.row, k) * valueB(k, e.col);
      EXPECT_EQ(out[t * n / 2 + i], expected) << "thread " << t << " d" << i;
    }
}

INSTANTIATE_TEST_SUITE_P(Emulator, EmulatorWgmma, testing::Bool(),
                         readEarlyName);

} // namespace
