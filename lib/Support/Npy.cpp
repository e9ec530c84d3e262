//===- Npy.cpp - Reading and writing NumPy .npy files ---------------------===//
//
// The .npy format is a magic string, a version, a Python dict literal
// describing dtype, order and shape, and then the raw C-order data. This
// file parses just the dict subset NumPy itself writes, and converts
// elements with explicit little-endian byte handling so the result does not
// depend on the host's byte order.
//
//===----------------------------------------------------------------------===//

#include "attn/Support/Npy.h"

#include <algorithm>
#include <cassert>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

using namespace attn::npy;

static const char kMagic[] = "\x93NUMPY";
static constexpr size_t kMagicLen = 6;

/// Aborts on an enum value outside DType; kDTypes and every switch here
/// cover all.
[[noreturn]] static void unknownDType() {
  std::fprintf(stderr, "attn::npy: unknown dtype\n");
  std::abort();
}

namespace {
/// What the header and the API say of one DType.
struct DTypeInfo {
  DType dtype;
  /// NumPy's name.
  const char *name;
  /// The header 'descr' NumPy (and ml_dtypes, for bfloat16) writes.
  const char *descr;
  unsigned size;
};
} // namespace

static const DTypeInfo kDTypes[] = {
    {DType::F64, "float64", "<f8", 8}, {DType::F32, "float32", "<f4", 4},
    {DType::F16, "float16", "<f2", 2}, {DType::BF16, "bfloat16", "<V2", 2},
    {DType::I64, "int64", "<i8", 8},   {DType::I32, "int32", "<i4", 4},
    {DType::I8, "int8", "|i1", 1},     {DType::U8, "uint8", "|u1", 1},
    {DType::Bool, "bool", "|b1", 1},
};

static const DTypeInfo &infoOf(DType t) {
  for (const DTypeInfo &info : kDTypes)
    if (info.dtype == t)
      return info;
  unknownDType();
}

unsigned attn::npy::elementSize(DType t) { return infoOf(t).size; }

const char *attn::npy::dtypeName(DType t) { return infoOf(t).name; }

//===----------------------------------------------------------------------===//
// Half and bfloat16
//===----------------------------------------------------------------------===//

/// Rounds `v` to nearest even in a binary format with `expBits` exponent and
/// `mantBits` stored mantissa bits (at most 16 bits in all). Working from
/// double lets setFromDouble round once, not double-round through float.
static uint16_t encodeSmall(double v, int expBits, int mantBits) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  uint16_t sign = static_cast<uint16_t>((bits >> 63) << (expBits + mantBits));
  uint16_t expAllOnes =
      static_cast<uint16_t>(((1u << expBits) - 1) << mantBits);
  if (std::isnan(v)) {
    // Keep the top payload bits and force the quiet bit so that a
    // signalling NaN whose payload lives in the low bits stays a NaN.
    uint16_t payload = static_cast<uint16_t>((bits >> (52 - mantBits)) &
                                             ((1u << mantBits) - 1));
    return sign | expAllOnes | payload |
           static_cast<uint16_t>(1u << (mantBits - 1));
  }
  double a = std::fabs(v);
  if (std::isinf(a))
    return sign | expAllOnes;
  if (a == 0)
    return sign;

  int bias = (1 << (expBits - 1)) - 1;
  int minExp = 1 - bias;
  int e;
  std::frexp(a, &e); // a = m * 2^e, m in [0.5, 1): a in [2^(e-1), 2^e).
  int exp = std::max(e - 1, minExp);
  // Scale so the representable values around `a` are the integers; the
  // scaling is by a power of two, hence exact.
  double scaled = std::ldexp(a, mantBits - exp);
  double r = std::floor(scaled);
  double frac = scaled - r;
  if (frac > 0.5 || (frac == 0.5 && std::fmod(r, 2.0) != 0))
    r += 1;
  // For normals r is in [2^mant, 2^(mant+1)] and the implicit bit adds one
  // to the biased exponent; subnormals have exp == minExp and r <= 2^mant.
  // A carry out of the mantissa bumps the exponent by itself.
  uint32_t mag = (static_cast<uint32_t>(exp + bias - 1) << mantBits) +
                 static_cast<uint32_t>(r);
  if (mag >= expAllOnes)
    return sign | expAllOnes;
  return sign | static_cast<uint16_t>(mag);
}

uint16_t attn::npy::floatToHalf(float f) { return encodeSmall(f, 5, 10); }

float attn::npy::halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0x1f) {
    // Inf or NaN: widen the payload into float's mantissa.
    uint32_t bits = sign | 0x7f800000u | (mant << 13);
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    return f;
  }
  // value = mant * 2^-24 (subnormal) or (1024 + mant) * 2^(exp - 25).
  float mag = exp == 0 ? std::ldexp(static_cast<float>(mant), -24)
                       : std::ldexp(static_cast<float>(mant | 0x400),
                                    static_cast<int>(exp) - 25);
  return sign ? -mag : mag;
}

uint16_t attn::npy::floatToBF16(float f) { return encodeSmall(f, 8, 7); }

float attn::npy::bf16ToFloat(uint16_t h) {
  // bfloat16 is the top half of a float32.
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

//===----------------------------------------------------------------------===//
// NpyArray
//===----------------------------------------------------------------------===//

static uint64_t loadLE(const uint8_t *p, unsigned n) {
  uint64_t v = 0;
  for (unsigned k = 0; k < n; ++k)
    v |= static_cast<uint64_t>(p[k]) << (8 * k);
  return v;
}

static void storeLE(uint8_t *p, uint64_t v, unsigned n) {
  for (unsigned k = 0; k < n; ++k)
    p[k] = static_cast<uint8_t>(v >> (8 * k));
}

/// Truncates toward zero and saturates to [lo, hi]; NaN becomes 0. The
/// saturation keeps out-of-range values from being undefined behaviour.
static int64_t toInteger(double v, int64_t lo, int64_t hi) {
  if (std::isnan(v))
    return 0;
  v = std::trunc(v);
  // double(hi) may round up (int64's max becomes 2^63), so compare with >=.
  if (v <= static_cast<double>(lo))
    return lo;
  if (v >= static_cast<double>(hi))
    return hi;
  return static_cast<int64_t>(v);
}

int64_t NpyArray::numElements() const {
  int64_t n = 1;
  for (int64_t dim : shape)
    n *= dim;
  return n;
}

double NpyArray::getAsDouble(int64_t idx) const {
  unsigned size = elementSize(dtype);
  assert(idx >= 0 && static_cast<size_t>(idx + 1) * size <= bytes.size() &&
         "element index out of range");
  const uint8_t *p = bytes.data() + idx * size;
  uint64_t raw = loadLE(p, size);
  switch (dtype) {
  case DType::F64: {
    double d;
    std::memcpy(&d, &raw, sizeof(d));
    return d;
  }
  case DType::F32: {
    uint32_t bits = static_cast<uint32_t>(raw);
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    return f;
  }
  case DType::F16:
    return halfToFloat(static_cast<uint16_t>(raw));
  case DType::BF16:
    return bf16ToFloat(static_cast<uint16_t>(raw));
  case DType::I64:
    return static_cast<double>(static_cast<int64_t>(raw));
  case DType::I32:
    return static_cast<int32_t>(static_cast<uint32_t>(raw));
  case DType::I8:
    return static_cast<int8_t>(static_cast<uint8_t>(raw));
  case DType::U8:
    return static_cast<uint8_t>(raw);
  case DType::Bool:
    return raw != 0 ? 1.0 : 0.0;
  }
  unknownDType();
}

void NpyArray::setFromDouble(int64_t idx, double v) {
  unsigned size = elementSize(dtype);
  assert(idx >= 0 && static_cast<size_t>(idx + 1) * size <= bytes.size() &&
         "element index out of range");
  uint8_t *p = bytes.data() + idx * size;
  uint64_t raw = 0;
  switch (dtype) {
  case DType::F64:
    std::memcpy(&raw, &v, sizeof(v));
    break;
  case DType::F32: {
    float f = static_cast<float>(v);
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof(bits));
    raw = bits;
    break;
  }
  case DType::F16:
    raw = encodeSmall(v, 5, 10);
    break;
  case DType::BF16:
    raw = encodeSmall(v, 8, 7);
    break;
  case DType::I64:
    raw =
        static_cast<uint64_t>(toInteger(v, std::numeric_limits<int64_t>::min(),
                                        std::numeric_limits<int64_t>::max()));
    break;
  case DType::I32:
    raw = static_cast<uint64_t>(toInteger(v, INT32_MIN, INT32_MAX));
    break;
  case DType::I8:
    raw = static_cast<uint64_t>(toInteger(v, INT8_MIN, INT8_MAX));
    break;
  case DType::U8:
    raw = static_cast<uint64_t>(toInteger(v, 0, UINT8_MAX));
    break;
  case DType::Bool:
    raw = v != 0 ? 1 : 0;
    break;
  }
  storeLE(p, raw, size);
}

//===----------------------------------------------------------------------===//
// Header parsing
//===----------------------------------------------------------------------===//

namespace {
/// Parses the header dict, e.g.
///   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
/// Only the literal forms NumPy writes are accepted.
class HeaderParser {
public:
  explicit HeaderParser(const std::string &text) : text(text) {}

  /// Returns "" on success, else what is wrong with the header.
  std::string parse(std::string &descr, bool &fortranOrder,
                    std::vector<int64_t> &shape);

private:
  void skipSpace() {
    while (pos < text.size() &&
           std::isspace(static_cast<unsigned char>(text[pos])))
      ++pos;
  }
  bool consume(char c) {
    skipSpace();
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  bool consumeWord(const char *word) {
    skipSpace();
    size_t n = std::strlen(word);
    if (text.compare(pos, n, word) != 0)
      return false;
    pos += n;
    return true;
  }
  bool parseString(std::string &out);
  std::string parseShape(std::vector<int64_t> &shape);

  const std::string &text;
  size_t pos = 0;
};
} // namespace

bool HeaderParser::parseString(std::string &out) {
  skipSpace();
  if (pos >= text.size() || (text[pos] != '\'' && text[pos] != '"'))
    return false;
  char quote = text[pos++];
  size_t end = text.find(quote, pos);
  if (end == std::string::npos)
    return false;
  out = text.substr(pos, end - pos);
  pos = end + 1;
  return true;
}

std::string HeaderParser::parseShape(std::vector<int64_t> &shape) {
  if (!consume('('))
    return "'shape' is not a tuple";
  shape.clear();
  while (!consume(')')) {
    skipSpace();
    if (pos >= text.size() ||
        !std::isdigit(static_cast<unsigned char>(text[pos])))
      return "'shape' holds something other than non-negative integers";
    int64_t dim = 0;
    while (pos < text.size() &&
           std::isdigit(static_cast<unsigned char>(text[pos]))) {
      int digit = text[pos++] - '0';
      if (dim > (std::numeric_limits<int64_t>::max() - digit) / 10)
        return "a dimension in 'shape' overflows int64";
      dim = dim * 10 + digit;
    }
    shape.push_back(dim);
    if (!consume(',')) {
      if (!consume(')'))
        return "'shape' tuple is malformed";
      break;
    }
  }
  return "";
}

std::string HeaderParser::parse(std::string &descr, bool &fortranOrder,
                                std::vector<int64_t> &shape) {
  bool seenDescr = false, seenOrder = false, seenShape = false;
  if (!consume('{'))
    return "header is not a dict";
  while (!consume('}')) {
    std::string key;
    if (!parseString(key))
      return "header dict key is not a string";
    if (!consume(':'))
      return "missing ':' after key '" + key + "'";
    if (key == "descr") {
      if (!parseString(descr))
        return "'descr' is not a string (structured dtypes are not "
               "supported)";
      seenDescr = true;
    } else if (key == "fortran_order") {
      if (consumeWord("True"))
        fortranOrder = true;
      else if (consumeWord("False"))
        fortranOrder = false;
      else
        return "'fortran_order' is not True or False";
      seenOrder = true;
    } else if (key == "shape") {
      if (std::string err = parseShape(shape); !err.empty())
        return err;
      seenShape = true;
    } else {
      return "unexpected key '" + key + "'";
    }
    if (!consume(',')) {
      if (!consume('}'))
        return "header dict is malformed after key '" + key + "'";
      break;
    }
  }
  skipSpace();
  if (pos != text.size())
    return "unexpected text after the header dict";
  if (!seenDescr || !seenOrder || !seenShape)
    return "header lacks one of 'descr', 'fortran_order', 'shape'";
  return "";
}

/// Maps a little-endian or byte-order-free descr to a DType.
static std::string dtypeFromDescr(const std::string &descr, DType &t) {
  if (descr.size() < 2)
    return "unsupported dtype '" + descr + "'";
  if (descr[0] == '>')
    return "big-endian dtype '" + descr + "' is not supported";
  if (descr[0] != '<' && descr[0] != '|')
    return "dtype '" + descr + "' has no explicit little-endian byte order";
  // Either order mark is accepted with every type code.
  std::string code = descr.substr(1);
  for (const DTypeInfo &info : kDTypes)
    if (code == info.descr + 1) {
      t = info.dtype;
      return "";
    }
  return "unsupported dtype '" + descr + "'";
}

//===----------------------------------------------------------------------===//
// Reading and writing
//===----------------------------------------------------------------------===//

/// Reads all of `path` into `out`; returns "" or the reason it failed.
static std::string readFile(const std::string &path,
                            std::vector<uint8_t> &out) {
  std::FILE *f = std::fopen(path.c_str(), "rb");
  if (!f)
    return std::string("cannot open: ") + std::strerror(errno);
  out.clear();
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
    out.insert(out.end(), buf, buf + n);
  bool failed = std::ferror(f);
  int saved = errno;
  std::fclose(f);
  return failed ? std::string("read error: ") + std::strerror(saved) : "";
}

bool attn::npy::readNpy(const std::string &path, NpyArray &out,
                        std::string &error) {
  auto fail = [&](const std::string &why) {
    error = path + ": " + why;
    return false;
  };
  std::vector<uint8_t> file;
  if (std::string err = readFile(path, file); !err.empty())
    return fail(err);
  if (file.size() < kMagicLen + 2 ||
      std::memcmp(file.data(), kMagic, kMagicLen) != 0)
    return fail("not an .npy file (missing the \\x93NUMPY magic string)");

  // Version 1.0 has a 2-byte header length, 2.0 and 3.0 a 4-byte one.
  unsigned major = file[6], minor = file[7];
  size_t lenBytes;
  if (major == 1)
    lenBytes = 2;
  else if (major == 2 || major == 3)
    lenBytes = 4;
  else
    return fail("unsupported .npy format version " + std::to_string(major) +
                "." + std::to_string(minor));
  size_t headerStart = kMagicLen + 2 + lenBytes;
  if (file.size() < headerStart)
    return fail("truncated header");
  size_t headerLen = loadLE(file.data() + kMagicLen + 2, lenBytes);
  if (file.size() - headerStart < headerLen)
    return fail("truncated header: it claims " + std::to_string(headerLen) +
                " bytes but the file has " +
                std::to_string(file.size() - headerStart) + " left");
  std::string header(file.begin() + headerStart,
                     file.begin() + headerStart + headerLen);

  std::string descr;
  bool fortranOrder = false;
  std::vector<int64_t> shape;
  if (std::string err = HeaderParser(header).parse(descr, fortranOrder, shape);
      !err.empty())
    return fail("malformed header: " + err);
  DType dtype;
  if (std::string err = dtypeFromDescr(descr, dtype); !err.empty())
    return fail(err);
  if (fortranOrder)
    return fail("Fortran-order arrays are not supported");

  uint64_t count = 1;
  for (int64_t dim : shape) {
    if (dim != 0 && count > std::numeric_limits<uint64_t>::max() /
                                elementSize(dtype) / static_cast<uint64_t>(dim))
      return fail("shape is too large");
    count *= static_cast<uint64_t>(dim);
  }
  uint64_t dataBytes = count * elementSize(dtype);
  size_t dataStart = headerStart + headerLen;
  if (file.size() - dataStart < dataBytes)
    return fail("truncated data: expected " + std::to_string(dataBytes) +
                " bytes, found " + std::to_string(file.size() - dataStart));

  out.dtype = dtype;
  out.shape = std::move(shape);
  out.bytes.assign(file.begin() + dataStart,
                   file.begin() + dataStart + dataBytes);
  return true;
}

bool attn::npy::writeNpy(const std::string &path, const NpyArray &a,
                         std::string &error) {
  auto fail = [&](const std::string &why) {
    error = path + ": " + why;
    return false;
  };
  for (int64_t dim : a.shape)
    if (dim < 0)
      return fail("negative dimension in shape");
  uint64_t expected =
      static_cast<uint64_t>(a.numElements()) * elementSize(a.dtype);
  if (a.bytes.size() != expected)
    return fail("array holds " + std::to_string(a.bytes.size()) +
                " bytes but its shape and dtype " + dtypeName(a.dtype) +
                " need " + std::to_string(expected));

  // A one-element tuple needs its trailing comma: (3,).
  std::string shape = "(";
  for (size_t k = 0; k < a.shape.size(); ++k)
    shape += (k ? ", " : "") + std::to_string(a.shape[k]);
  shape += a.shape.size() == 1 ? ",)" : ")";
  std::string header = std::string("{'descr': '") + infoOf(a.dtype).descr +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces and end in '\n' so the data starts 64-byte aligned.
  size_t unpadded = kMagicLen + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  if (header.size() > 0xffff)
    return fail("header too long for format 1.0");

  std::FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    return fail(std::string("cannot open for writing: ") +
                std::strerror(errno));
  uint8_t prefix[kMagicLen + 4];
  std::memcpy(prefix, kMagic, kMagicLen);
  prefix[kMagicLen] = 1;
  prefix[kMagicLen + 1] = 0;
  storeLE(prefix + kMagicLen + 2, header.size(), 2);
  bool ok =
      std::fwrite(prefix, 1, sizeof(prefix), f) == sizeof(prefix) &&
      std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
      (a.bytes.empty() || // fwrite must not see an empty vector's null
       std::fwrite(a.bytes.data(), 1, a.bytes.size(), f) == a.bytes.size());
  int saved = errno;
  if (std::fclose(f) != 0 && ok) {
    saved = errno;
    ok = false;
  }
  if (!ok)
    return fail(std::string("write failed: ") + std::strerror(saved));
  return true;
}
