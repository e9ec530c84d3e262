//===- NpyTest.cpp - Tests of the .npy reader, writer and conversions -----===//
//
// Round trips of every dtype, hand-made files in the forms NumPy and
// ml_dtypes write, every class of read error, and the rounding corner cases
// of the half and bfloat16 conversions, checked against bit patterns worked
// out from the IEEE formats.
//
//===----------------------------------------------------------------------===//

#include "attn/Support/Npy.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

using namespace attn::npy;

namespace {

/// A fresh path in the test's scratch directory.
std::string tempPath(const std::string &name) {
  return ::testing::TempDir() + "attn_npy_test_" + name + ".npy";
}

std::string readAll(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

void writeAll(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), bytes.size());
}

/// A version 1.0 file with `header` (padded as NumPy does) and `data`.
std::string npyFile(std::string header, const std::string &data) {
  size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string file = "\x93NUMPY";
  file += '\x01';
  file += '\x00';
  file += static_cast<char>(header.size() & 0xff);
  file += static_cast<char>(header.size() >> 8);
  return file + header + data;
}

/// Little-endian bytes of one float32.
std::string f32Bytes(float f) {
  char b[4];
  std::memcpy(b, &f, 4);
  return std::string(b, 4);
}

NpyArray makeArray(DType t, std::vector<int64_t> shape,
                   const std::vector<double> &values) {
  NpyArray a;
  a.dtype = t;
  a.shape = std::move(shape);
  a.bytes.assign(a.numElements() * elementSize(t), 0);
  for (size_t k = 0; k < values.size(); ++k)
    a.setFromDouble(k, values[k]);
  return a;
}

/// Expects readNpy(path) to fail with a message naming the path and
/// containing `reason`.
void expectReadError(const std::string &path, const std::string &reason) {
  NpyArray a;
  std::string err;
  EXPECT_FALSE(readNpy(path, a, err));
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find(reason), std::string::npos) << err;
}

/// Expects `encode` to give each input the bit pattern beside it.
void expectEncodings(uint16_t (*encode)(float), const char *format,
                     std::initializer_list<std::pair<float, uint16_t>> cases) {
  for (auto [in, bits] : cases)
    EXPECT_EQ(encode(in), bits) << format << " of " << std::hexfloat << in;
}

/// Expects every 16-bit pattern of a format to survive the trip through
/// float (a NaN stays a NaN).
void expectEveryPatternRoundTrips(float (*toFloat)(uint16_t),
                                  uint16_t (*fromFloat)(float),
                                  const char *format) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    float f = toFloat(static_cast<uint16_t>(h));
    if (std::isnan(f))
      EXPECT_TRUE(std::isnan(toFloat(fromFloat(f))));
    else
      EXPECT_EQ(fromFloat(f), h) << format << " 0x" << std::hex << h;
  }
}

double bitsToFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

//===----------------------------------------------------------------------===//
// Reading and writing
//===----------------------------------------------------------------------===//

TEST(Npy, RoundTripEveryDType) {
  const DType all[] = {DType::F64,  DType::F32, DType::F16,
                       DType::BF16, DType::I64, DType::I32,
                       DType::I8,   DType::U8,  DType::Bool};
  for (DType t : all) {
    SCOPED_TRACE(dtypeName(t));
    std::vector<double> values = {-2, -1, 0, 1, 2.5, 96};
    if (t == DType::U8)
      values = {0, 1, 2, 3, 200, 255};
    if (t == DType::Bool)
      values = {0, 1, 0, 1, 1, 0};
    bool isInt = t == DType::I64 || t == DType::I32 || t == DType::I8;
    NpyArray a = makeArray(t, {2, 1, 3}, values);
    std::string path = tempPath(std::string("roundtrip_") + dtypeName(t));
    std::string err;
    ASSERT_TRUE(writeNpy(path, a, err)) << err;

    NpyArray b;
    ASSERT_TRUE(readNpy(path, b, err)) << err;
    EXPECT_EQ(b.dtype, t);
    EXPECT_EQ(b.shape, (std::vector<int64_t>{2, 1, 3}));
    EXPECT_EQ(b.bytes, a.bytes);
    for (size_t k = 0; k < values.size(); ++k)
      EXPECT_EQ(b.getAsDouble(k), isInt ? std::trunc(values[k]) : values[k]);
    // The data starts at a multiple of 64 bytes.
    EXPECT_EQ((readAll(path).size() - a.bytes.size()) % 64, 0u);
  }
}

TEST(Npy, WritesNumPyHeader) {
  NpyArray a = makeArray(DType::F32, {3}, {1, 2, 3});
  std::string path = tempPath("header");
  std::string err;
  ASSERT_TRUE(writeNpy(path, a, err)) << err;
  std::string file = readAll(path);
  std::string dict =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
  // 10 + 57 + 1 bytes pad to 128, as NumPy's own header for this array.
  ASSERT_EQ(file.size(), 128u + 12u);
  EXPECT_EQ(file.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ(static_cast<uint8_t>(file[8]) |
                (static_cast<uint8_t>(file[9]) << 8),
            118);
  EXPECT_EQ(file.substr(10, dict.size()), dict);
  EXPECT_EQ(file[127], '\n');
  EXPECT_EQ(file.substr(128), f32Bytes(1) + f32Bytes(2) + f32Bytes(3));

  // bfloat16 uses ml_dtypes' two-byte void descr; scalars have shape ().
  a = makeArray(DType::BF16, {}, {1});
  ASSERT_TRUE(writeNpy(path, a, err)) << err;
  file = readAll(path);
  EXPECT_NE(file.find("'descr': '<V2'"), std::string::npos);
  EXPECT_NE(file.find("'shape': ()"), std::string::npos);
  EXPECT_EQ(file.substr(128), std::string("\x80\x3f", 2));
}

TEST(Npy, ReadsScalarAndEmptyArrays) {
  std::string path = tempPath("empty");
  std::string err;
  NpyArray empty = makeArray(DType::I32, {0, 4}, {});
  ASSERT_TRUE(writeNpy(path, empty, err)) << err;
  NpyArray back;
  ASSERT_TRUE(readNpy(path, back, err)) << err;
  EXPECT_EQ(back.shape, (std::vector<int64_t>{0, 4}));
  EXPECT_TRUE(back.bytes.empty());

  writeAll(path, npyFile("{'descr': '<f4', 'fortran_order': False, "
                         "'shape': (), }",
                         f32Bytes(-0.5f)));
  ASSERT_TRUE(readNpy(path, back, err)) << err;
  EXPECT_TRUE(back.shape.empty());
  EXPECT_EQ(back.getAsDouble(0), -0.5);
}

TEST(Npy, ReadsOtherHeaderSpellings) {
  // Version 2.0 (4-byte header length), double quotes, keys in another
  // order, no spaces, no trailing comma, and ml_dtypes' '|V2' for bfloat16.
  std::string header =
      "{\"shape\":(2,1),\"fortran_order\":False,\"descr\":\"|V2\"}\n";
  std::string file = std::string("\x93NUMPY\x02\x00", 8);
  file += static_cast<char>(header.size());
  file += std::string(3, '\0');
  file += header;
  file += std::string("\xc0\x3f\x00\xc0", 4); // bf16 1.5, -2
  std::string path = tempPath("spellings");
  writeAll(path, file);
  NpyArray a;
  std::string err;
  ASSERT_TRUE(readNpy(path, a, err)) << err;
  EXPECT_EQ(a.dtype, DType::BF16);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(a.getAsDouble(0), 1.5);
  EXPECT_EQ(a.getAsDouble(1), -2);
}

TEST(Npy, ReadErrorsNameThePath) {
  expectReadError(tempPath("does_not_exist"), "cannot open");

  std::string path = tempPath("garbage");
  writeAll(path, "hello, this is not numpy");
  expectReadError(path, "not an .npy file");

  writeAll(path, "");
  expectReadError(path, "not an .npy file");

  std::string good =
      npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
              f32Bytes(1) + f32Bytes(2));
  writeAll(path, good.substr(0, good.size() - 1));
  expectReadError(path, "truncated data: expected 8 bytes, found 7");

  writeAll(path, good.substr(0, 20));
  expectReadError(path, "truncated header");

  std::string badVersion = good;
  badVersion[6] = 4;
  writeAll(path, badVersion);
  expectReadError(path, "unsupported .npy format version 4.0");

  auto withHeader = [&](const std::string &dict) {
    writeAll(path, npyFile(dict, f32Bytes(1) + f32Bytes(2)));
  };
  withHeader("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }");
  expectReadError(path, "big-endian");
  withHeader("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }");
  expectReadError(path, "Fortran-order");
  withHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }");
  expectReadError(path, "unsupported dtype '<c8'");
  withHeader("{'descr': [('a', '<f4')], 'fortran_order': False, "
             "'shape': (2,), }");
  expectReadError(path, "structured dtypes");
  withHeader("{'descr': '<f4', 'shape': (2,), }");
  expectReadError(path, "lacks one of");
  withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }");
  expectReadError(path, "non-negative integers");
  withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), "
             "'extra': 1}");
  expectReadError(path, "unexpected key 'extra'");
}

TEST(Npy, WriteErrorsNameThePath) {
  NpyArray a = makeArray(DType::F32, {2}, {1, 2});
  std::string err;
  std::string bad = ::testing::TempDir() + "no/such/dir/x.npy";
  EXPECT_FALSE(writeNpy(bad, a, err));
  EXPECT_NE(err.find(bad), std::string::npos) << err;

  a.bytes.pop_back();
  std::string path = tempPath("short");
  EXPECT_FALSE(writeNpy(path, a, err));
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("7 bytes"), std::string::npos) << err;
}

TEST(Npy, DTypeNamesAndSizes) {
  EXPECT_STREQ(dtypeName(DType::BF16), "bfloat16");
  EXPECT_STREQ(dtypeName(DType::Bool), "bool");
  EXPECT_EQ(elementSize(DType::F64), 8u);
  EXPECT_EQ(elementSize(DType::BF16), 2u);
  EXPECT_EQ(elementSize(DType::Bool), 1u);
}

TEST(Npy, IntegerConversionTruncatesAndSaturates) {
  NpyArray a = makeArray(DType::I8, {6}, {2.9, -2.9, 300, -300, NAN, 127});
  EXPECT_EQ(a.getAsDouble(0), 2);
  EXPECT_EQ(a.getAsDouble(1), -2);
  EXPECT_EQ(a.getAsDouble(2), 127);
  EXPECT_EQ(a.getAsDouble(3), -128);
  EXPECT_EQ(a.getAsDouble(4), 0);
  EXPECT_EQ(a.getAsDouble(5), 127);

  NpyArray u = makeArray(DType::U8, {2}, {-1, 1e9});
  EXPECT_EQ(u.getAsDouble(0), 0);
  EXPECT_EQ(u.getAsDouble(1), 255);

  NpyArray l = makeArray(DType::I64, {2}, {1e30, -1e30});
  EXPECT_EQ(l.bytes[7], 0x7f);
  EXPECT_EQ(l.getAsDouble(1), -9223372036854775808.0);

  NpyArray b = makeArray(DType::Bool, {3}, {0.5, 0, -2});
  EXPECT_EQ(b.bytes, (std::vector<uint8_t>{1, 0, 1}));
}

//===----------------------------------------------------------------------===//
// Half and bfloat16
//===----------------------------------------------------------------------===//

TEST(NpyConvert, FloatToHalfRoundsToNearestEven) {
  expectEncodings(
      floatToHalf, "half",
      {{1.0f, 0x3C00},
       {-2.0f, 0xC000},
       {0.0f, 0x0000},
       {-0.0f, 0x8000},
       // Ties between 1 and the next half (ulp 2^-10) go to the even
       // mantissa.
       {1.0f + std::ldexp(1.0f, -11), 0x3C00},
       {1.0f + 3 * std::ldexp(1.0f, -11), 0x3C02},
       {1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20), 0x3C01},
       // Largest finite, and the tie above it that rounds to infinity.
       {65504.0f, 0x7BFF},
       {65519.0f, 0x7BFF},
       {65520.0f, 0x7C00},
       {1e10f, 0x7C00},
       {-1e10f, 0xFC00},
       {INFINITY, 0x7C00},
       {-INFINITY, 0xFC00},
       // Subnormals: 2^-24 is the smallest; halfway cases go to even.
       {std::ldexp(1.0f, -24), 0x0001},
       {std::ldexp(1.0f, -25), 0x0000},
       {std::ldexp(1.5f, -25), 0x0001},
       {std::ldexp(3.0f, -25), 0x0002},
       {-std::ldexp(1.0f, -24), 0x8001},
       {std::ldexp(1.0f, -14), 0x0400},
       // 1023.5 subnormal ulps round up into the smallest normal.
       {std::ldexp(2047.0f, -25), 0x0400},
       {1e-10f, 0x0000}});
  uint16_t nan = floatToHalf(NAN);
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
  // A signalling NaN whose payload sits below half's mantissa stays NaN.
  uint16_t snan = floatToHalf(bitsToFloat(0x7F800001u));
  EXPECT_EQ(snan & 0x7C00, 0x7C00);
  EXPECT_NE(snan & 0x03FF, 0);
}

TEST(NpyConvert, HalfToFloat) {
  EXPECT_EQ(halfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(halfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(halfToFloat(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(halfToFloat(0x7BFF), 65504.0f);
  EXPECT_EQ(halfToFloat(0x3555), 0.333251953125f);
  EXPECT_EQ(halfToFloat(0xFC00), -INFINITY);
  EXPECT_TRUE(std::isnan(halfToFloat(0x7E00)));
  EXPECT_TRUE(std::isnan(halfToFloat(0xFC01)));
  EXPECT_TRUE(std::signbit(halfToFloat(0x8000)));
  expectEveryPatternRoundTrips(halfToFloat, floatToHalf, "half");
}

TEST(NpyConvert, BFloat16RoundsToNearestEven) {
  expectEncodings(
      floatToBF16, "bf16",
      {{1.0f, 0x3F80},
       {-0.0f, 0x8000},
       // bfloat16 keeps 7 mantissa bits: ulp 2^-7 at 1.
       {1.0f + std::ldexp(1.0f, -8), 0x3F80},
       {1.0f + 3 * std::ldexp(1.0f, -8), 0x3F82},
       {1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20), 0x3F81},
       {std::numeric_limits<float>::max(), 0x7F80},
       {bitsToFloat(0x7F7F0000u), 0x7F7F},
       {-INFINITY, 0xFF80},
       // Subnormals: bfloat16's smallest is 2^-133.
       {std::ldexp(1.0f, -133), 0x0001},
       {std::ldexp(1.0f, -134), 0x0000},
       {std::ldexp(3.0f, -134), 0x0002},
       {std::ldexp(1.0f, -149), 0x0000},
       {std::ldexp(1.0f, -126), 0x0080}});
  uint16_t snan = floatToBF16(bitsToFloat(0x7F800001u));
  EXPECT_EQ(snan & 0x7F80, 0x7F80);
  EXPECT_NE(snan & 0x007F, 0);
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBF16(NAN))));

  EXPECT_EQ(bf16ToFloat(0x3FC0), 1.5f);
  EXPECT_EQ(bf16ToFloat(0x0001), std::ldexp(1.0f, -133));
  expectEveryPatternRoundTrips(bf16ToFloat, floatToBF16, "bf16");
}

TEST(NpyConvert, SetFromDoubleRoundsOnce) {
  // 1 + 2^-11 + 2^-40 lies just above a half tie; rounding through float
  // would drop the 2^-40 and then round the tie down to 1.
  NpyArray h = makeArray(DType::F16, {1},
                         {1 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40)});
  EXPECT_EQ(h.bytes, (std::vector<uint8_t>{0x01, 0x3C}));
  NpyArray b = makeArray(DType::BF16, {1},
                         {1 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40)});
  EXPECT_EQ(b.bytes, (std::vector<uint8_t>{0x81, 0x3F}));
  // A signalling double NaN keeps being a NaN in both formats.
  uint64_t snanBits = 0x7FF0000000000001ull;
  double snan;
  std::memcpy(&snan, &snanBits, sizeof(snan));
  NpyArray nans = makeArray(DType::F16, {1}, {snan});
  EXPECT_TRUE(std::isnan(nans.getAsDouble(0)));
  nans = makeArray(DType::BF16, {1}, {snan});
  EXPECT_TRUE(std::isnan(nans.getAsDouble(0)));
  NpyArray big = makeArray(DType::F16, {2}, {1e300, -1e-300});
  EXPECT_EQ(big.bytes, (std::vector<uint8_t>{0x00, 0x7C, 0x00, 0x80}));
}

} // namespace
