// The quantizer through the public C ABI: every scheme x input dtype x shape (empty, one row, edges that cut
// groups and blocks) bit-exact against the float64 reference (tests/reference/ref_quant), the dequantized
// values bit-exact against reference decode * scale, the documented zero / saturation / NaN behaviour, MXFP4
// rounding ties, and bad arguments for every entry point (status, named argument, untouched outputs).
// The formats are exact, so every comparison is bit-for-bit: no tolerance applies.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "moekit/moekit.h"
#include "reference/ref_numerics.h"
#include "reference/ref_quant.h"

namespace {

constexpr unsigned char kSentinel = 0xA5;
constexpr size_t kGuardBytes = 64;
const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

const moekit_quant_scheme kAllSchemes[] = {MOEKIT_QUANT_FP8_PER_TENSOR, MOEKIT_QUANT_FP8_PER_TOKEN,
                                           MOEKIT_QUANT_FP8_PER_GROUP, MOEKIT_QUANT_FP8_BLOCK, MOEKIT_QUANT_MXFP4};
const moekit_quant_scheme kFp8Schemes[] = {MOEKIT_QUANT_FP8_PER_TENSOR, MOEKIT_QUANT_FP8_PER_TOKEN,
                                           MOEKIT_QUANT_FP8_PER_GROUP, MOEKIT_QUANT_FP8_BLOCK};
const moekit_dtype kFloatDtypes[] = {MOEKIT_DTYPE_F32, MOEKIT_DTYPE_BF16, MOEKIT_DTYPE_F16};

size_t dtype_bytes(moekit_dtype d) { return moekit_dtype_size(d); }

// Caller memory filled with a sentinel, with guard bytes on both sides that must survive every call.
class Buffer {
 public:
  Buffer(int64_t count, size_t elem) : bytes_(static_cast<size_t>(count) * elem + 2 * kGuardBytes, kSentinel),
                                       size_(static_cast<size_t>(count) * elem) {}
  unsigned char* data() { return bytes_.data() + kGuardBytes; }
  const unsigned char* data() const { return bytes_.data() + kGuardBytes; }
  size_t size() const { return size_; }
  const std::vector<unsigned char>& all() const { return bytes_; }
  bool guards_intact() const {
    for (size_t i = 0; i < kGuardBytes; ++i)
      if (bytes_[i] != kSentinel || bytes_[bytes_.size() - 1 - i] != kSentinel) return false;
    return true;
  }

 private:
  std::vector<unsigned char> bytes_;
  size_t size_;
};

moekit_tensor tensor(void* data, moekit_dtype dtype, int64_t d0, int64_t d1) {
  moekit_tensor t;
  const int64_t shape[2] = {d0, d1};
  EXPECT_EQ(moekit_tensor_init(&t, data, dtype, 2, shape), MOEKIT_OK);
  return t;
}

// An input matrix stored in `dtype`, and the exact value of every stored element.
struct Input {
  moekit_dtype dtype;
  int64_t rows, cols;
  Buffer storage;
  std::vector<double> exact;
  Input(moekit_dtype d, int64_t r, int64_t c, const std::vector<double>& wanted)
      : dtype(d), rows(r), cols(c), storage(r * c, dtype_bytes(d)) {
    for (int64_t i = 0; i < r * c; ++i) {
      const double v = wanted[static_cast<size_t>(i)];
      unsigned char* p = storage.data() + i * static_cast<int64_t>(dtype_bytes(d));
      if (d == MOEKIT_DTYPE_F32) {
        const float f = static_cast<float>(v);
        std::memcpy(p, &f, 4);
      } else {
        const uint16_t h = d == MOEKIT_DTYPE_BF16 ? moekit_ref::double_to_bf16(v) : moekit_ref::double_to_f16(v);
        std::memcpy(p, &h, 2);
      }
    }
    exact = moekit_ref::to_double(storage.data(), d, r * c);
  }
  moekit_tensor view() { return tensor(storage.data(), dtype, rows, cols); }
};

// Values spanning several orders of magnitude inside each group, so group scales differ.
std::vector<double> random_values(uint32_t seed, int64_t n) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<int> exp(-6, 6);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = std::ldexp(normal(rng), exp(rng));
  return v;
}

// The shapes the header documents, written out here independently of the library.
struct Shapes {
  int64_t values[2], scales[2];
};
Shapes documented_shapes(moekit_quant_scheme s, int64_t group, int64_t rows, int64_t cols) {
  const int64_t g = group == 0 ? 128 : group;
  auto cdiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  switch (s) {
    case MOEKIT_QUANT_FP8_PER_TENSOR: return {{rows, cols}, {1, 1}};
    case MOEKIT_QUANT_FP8_PER_TOKEN: return {{rows, cols}, {rows, 1}};
    case MOEKIT_QUANT_FP8_PER_GROUP: return {{rows, cols}, {rows, cdiv(cols, g)}};
    case MOEKIT_QUANT_FP8_BLOCK: return {{rows, cols}, {cdiv(rows, g), cdiv(cols, g)}};
    case MOEKIT_QUANT_MXFP4: return {{rows, cols / 2}, {rows, cols / 32}};
  }
  return {};
}

// memcmp that accepts the null data() of empty vectors (memcmp itself may not be passed null, even for n == 0).
bool same_bytes(const void* a, const void* b, size_t n) { return n == 0 || std::memcmp(a, b, n) == 0; }

bool is_mx(moekit_quant_scheme s) { return s == MOEKIT_QUANT_MXFP4; }

// Expected stored bits of a float-valued reference result in the output dtype; NaN compares as "is NaN".
::testing::AssertionResult output_matches(const unsigned char* out, moekit_dtype dtype, const std::vector<double>& want) {
  for (size_t i = 0; i < want.size(); ++i) {
    const double got = moekit_ref::load_as_double(out, dtype, static_cast<int64_t>(i));
    if (std::isnan(want[i])) {
      if (!std::isnan(got)) return ::testing::AssertionFailure() << "element " << i << ": want NaN, got " << got;
      continue;
    }
    bool same;
    if (dtype == MOEKIT_DTYPE_F32) {
      const float w = static_cast<float>(want[i]);
      same = std::memcmp(out + 4 * i, &w, 4) == 0;
    } else {
      const uint16_t w = dtype == MOEKIT_DTYPE_BF16 ? moekit_ref::double_to_bf16(want[i]) : moekit_ref::double_to_f16(want[i]);
      same = std::memcmp(out + 2 * i, &w, 2) == 0;
    }
    if (!same) return ::testing::AssertionFailure() << "element " << i << ": want " << want[i] << ", got " << got;
  }
  return ::testing::AssertionSuccess();
}

class Quantizer : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(moekit_context_create(MOEKIT_BACKEND_CPU, 0, &ctx_), MOEKIT_OK); }
  void TearDown() override {
    for (moekit_quantizer q : made_) EXPECT_EQ(moekit_quantizer_destroy(q), MOEKIT_OK);
    EXPECT_EQ(moekit_context_destroy(ctx_), MOEKIT_OK);
  }
  moekit_quantizer make(moekit_quant_scheme scheme, int32_t group = 0) {
    moekit_quantizer_desc d = MOEKIT_QUANTIZER_DESC_INIT;
    d.scheme = scheme;
    d.group_size = group;
    moekit_quantizer q = nullptr;
    EXPECT_EQ(moekit_quantizer_create(ctx_, &d, &q), MOEKIT_OK) << moekit_last_error();
    made_.push_back(q);
    return q;
  }

  // Quantizes `in`, checks codes and scales against the reference bit for bit, then dequantizes into every
  // float dtype and checks against reference decode * scale.
  void check_round_trip(moekit_quant_scheme scheme, int32_t group, Input& in, const std::string& what) {
    SCOPED_TRACE(what);
    moekit_quantizer q = make(scheme, group);
    const int64_t g = group == 0 ? 128 : group;
    const Shapes s = documented_shapes(scheme, group, in.rows, in.cols);
    const moekit_dtype vdt = is_mx(scheme) ? MOEKIT_DTYPE_FP4_E2M1X2 : MOEKIT_DTYPE_F8_E4M3FN;
    const moekit_dtype sdt = is_mx(scheme) ? MOEKIT_DTYPE_E8M0 : MOEKIT_DTYPE_F32;
    Buffer values(s.values[0] * s.values[1], 1), scales(s.scales[0] * s.scales[1], dtype_bytes(sdt));
    moekit_tensor iv = in.view(), vv = tensor(values.data(), vdt, s.values[0], s.values[1]),
                  sv = tensor(scales.data(), sdt, s.scales[0], s.scales[1]);
    ASSERT_EQ(moekit_quantize(q, &iv, &vv, &sv, nullptr), MOEKIT_OK) << moekit_last_error();
    ASSERT_TRUE(values.guards_intact() && scales.guards_intact());

    const moekit_ref::RefQuantized ref = moekit_ref::ref_quantize(scheme, g, in.exact, in.rows, in.cols);
    ASSERT_EQ(values.size(), ref.values.size());
    ASSERT_TRUE(same_bytes(values.data(), ref.values.data(), values.size())) << "codes";
    std::vector<float> fp8_scales;
    std::vector<uint8_t> e8m0;
    if (is_mx(scheme)) {
      ASSERT_EQ(scales.size(), ref.e8m0.size());
      ASSERT_TRUE(same_bytes(scales.data(), ref.e8m0.data(), scales.size())) << "e8m0 scales";
      e8m0 = ref.e8m0;
    } else {
      ASSERT_EQ(scales.size(), ref.fp8_scales.size() * 4);
      ASSERT_TRUE(same_bytes(scales.data(), ref.fp8_scales.data(), scales.size())) << "fp8 scales";
      fp8_scales = ref.fp8_scales;
      for (float f : fp8_scales) ASSERT_GE(f, MOEKIT_FP8_MIN_SCALE);
    }
    const std::vector<double> want =
        moekit_ref::ref_dequantize(scheme, g, ref.values, fp8_scales, e8m0, in.rows, in.cols);
    for (moekit_dtype odt : kFloatDtypes) {
      Buffer out(in.rows * in.cols, dtype_bytes(odt));
      moekit_tensor ov = tensor(out.data(), odt, in.rows, in.cols);
      ASSERT_EQ(moekit_dequantize(q, &vv, &sv, &ov, nullptr), MOEKIT_OK) << moekit_last_error();
      ASSERT_TRUE(out.guards_intact());
      ASSERT_TRUE(output_matches(out.data(), odt, want)) << "dequantized to " << moekit_dtype_name(odt);
    }
  }

  moekit_context ctx_ = nullptr;
  std::vector<moekit_quantizer> made_;
};

TEST_F(Quantizer, OutputShapesAreTheDocumentedOnes) {
  for (moekit_quant_scheme scheme : kAllSchemes)
    for (int32_t group : {0, 1, 7, 128, 1000})
      for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {0, 64}, {1, 32}, {129, 200}, {130, 256}}) {
        if (is_mx(scheme) && cols % 32 != 0) continue;
        moekit_quantizer q = make(scheme, group);
        int64_t vs[2] = {-1, -1}, ss[2] = {-1, -1};
        ASSERT_EQ(moekit_quantizer_output_shapes(q, rows, cols, vs, ss), MOEKIT_OK) << moekit_last_error();
        const Shapes want = documented_shapes(scheme, group, rows, cols);
        EXPECT_EQ(vs[0], want.values[0]);
        EXPECT_EQ(vs[1], want.values[1]);
        EXPECT_EQ(ss[0], want.scales[0]) << scheme << " group " << group << " " << rows << "x" << cols;
        EXPECT_EQ(ss[1], want.scales[1]) << scheme << " group " << group << " " << rows << "x" << cols;
      }
}

TEST_F(Quantizer, EverySchemeAndDtypeMatchesTheReferenceBitForBit) {
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{0, 64}, {1, 64}, {1, 200}, {3, 37},  {5, 256},
                                                           {130, 200}, {129, 96}, {0, 0}, {2, 0}};
  uint32_t seed = 1;
  for (moekit_quant_scheme scheme : kAllSchemes)
    for (moekit_dtype dtype : kFloatDtypes)
      for (auto [rows, cols] : shapes) {
        if (is_mx(scheme) && cols % 32 != 0) continue;
        const bool grouped = scheme == MOEKIT_QUANT_FP8_PER_GROUP || scheme == MOEKIT_QUANT_FP8_BLOCK;
        for (int32_t group : grouped ? std::vector<int32_t>{0, 7, 64} : std::vector<int32_t>{0}) {
          Input in(dtype, rows, cols, random_values(seed++, rows * cols));
          check_round_trip(scheme, group, in,
                           "scheme " + std::to_string(scheme) + " " + moekit_dtype_name(dtype) + " " +
                               std::to_string(rows) + "x" + std::to_string(cols) + " group " + std::to_string(group));
        }
      }
}

TEST_F(Quantizer, ManyThreadsGiveTheSameBitsAsTheReference) {
  ASSERT_EQ(moekit_context_set_num_threads(ctx_, 4), MOEKIT_OK);
  for (moekit_quant_scheme scheme : kAllSchemes)
    for (moekit_dtype dtype : {MOEKIT_DTYPE_F32, MOEKIT_DTYPE_BF16}) {
      Input in(dtype, 300, 544, random_values(1000 + scheme, 300 * 544));  // above the parallel threshold
      check_round_trip(scheme, 0, in, "threads, scheme " + std::to_string(scheme));
    }
}

TEST_F(Quantizer, AllZeroInputGetsTheMinimumScaleAndNoNan) {
  for (moekit_quant_scheme scheme : kAllSchemes)
    for (moekit_dtype dtype : kFloatDtypes) {
      Input in(dtype, 3, 160, std::vector<double>(3 * 160, 0.0));
      check_round_trip(scheme, 0, in, "zeros");
      moekit_quantizer q = make(scheme);
      int64_t vs[2], ss[2];
      ASSERT_EQ(moekit_quantizer_output_shapes(q, 3, 160, vs, ss), MOEKIT_OK);
      const moekit_dtype sdt = is_mx(scheme) ? MOEKIT_DTYPE_E8M0 : MOEKIT_DTYPE_F32;
      Buffer values(vs[0] * vs[1], 1), scales(ss[0] * ss[1], dtype_bytes(sdt)), out(3 * 160, 4);
      moekit_tensor iv = in.view(), vv = tensor(values.data(), is_mx(scheme) ? MOEKIT_DTYPE_FP4_E2M1X2 : MOEKIT_DTYPE_F8_E4M3FN, vs[0], vs[1]),
                    sv = tensor(scales.data(), sdt, ss[0], ss[1]), ov = tensor(out.data(), MOEKIT_DTYPE_F32, 3, 160);
      ASSERT_EQ(moekit_quantize(q, &iv, &vv, &sv, nullptr), MOEKIT_OK);
      for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(values.data()[i], 0);
      if (is_mx(scheme)) {
        for (size_t i = 0; i < scales.size(); ++i) ASSERT_EQ(scales.data()[i], 0) << "X = -127";
      } else {
        for (int64_t i = 0; i < ss[0] * ss[1]; ++i)
          ASSERT_EQ(reinterpret_cast<const float*>(scales.data())[i], MOEKIT_FP8_MIN_SCALE);
      }
      ASSERT_EQ(moekit_dequantize(q, &vv, &sv, &ov, nullptr), MOEKIT_OK);
      for (int i = 0; i < 3 * 160; ++i) ASSERT_EQ(reinterpret_cast<const float*>(out.data())[i], 0.0f);
    }
}

TEST_F(Quantizer, Fp8InfinitySaturatesAndNanStaysNan) {
  for (moekit_quant_scheme scheme : kFp8Schemes)
    for (moekit_dtype dtype : kFloatDtypes) {
      std::vector<double> x = random_values(77, 2 * 140);
      x[1] = kInf;
      x[2] = -kInf;
      x[3] = kNaN;
      x[4] = -kNaN;
      x[150] = 1000.0;  // a large finite value in row 1: its group's scale is 1000/448
      Input in(dtype, 2, 140, x);
      check_round_trip(scheme, 0, in, "inf/nan " + std::to_string(scheme) + " " + moekit_dtype_name(dtype));
      // The documented behaviour, spelled out: ±Inf -> ±448, NaN -> NaN with its sign, amax ignores both.
      moekit_quantizer q = make(scheme);
      int64_t vs[2], ss[2];
      ASSERT_EQ(moekit_quantizer_output_shapes(q, 2, 140, vs, ss), MOEKIT_OK);
      Buffer values(vs[0] * vs[1], 1), scales(ss[0] * ss[1], 4), out(2 * 140, 4);
      moekit_tensor iv = in.view(), vv = tensor(values.data(), MOEKIT_DTYPE_F8_E4M3FN, vs[0], vs[1]),
                    sv = tensor(scales.data(), MOEKIT_DTYPE_F32, ss[0], ss[1]),
                    ov = tensor(out.data(), MOEKIT_DTYPE_F32, 2, 140);
      ASSERT_EQ(moekit_quantize(q, &iv, &vv, &sv, nullptr), MOEKIT_OK);
      EXPECT_EQ(values.data()[1], 0x7E);
      EXPECT_EQ(values.data()[2], 0xFE);
      EXPECT_EQ(values.data()[3] & 0x7F, 0x7F);
      EXPECT_EQ(values.data()[4] & 0x7F, 0x7F);
      const float* sc = reinterpret_cast<const float*>(scales.data());
      for (int64_t i = 0; i < ss[0] * ss[1]; ++i) ASSERT_TRUE(std::isfinite(sc[i]));
      ASSERT_EQ(moekit_dequantize(q, &vv, &sv, &ov, nullptr), MOEKIT_OK);
      const float* o = reinterpret_cast<const float*>(out.data());
      EXPECT_EQ(o[1], 448.0f * sc[0]);
      EXPECT_EQ(o[2], -448.0f * sc[0]);
      EXPECT_TRUE(std::isnan(o[3]) && std::isnan(o[4]));
      for (int i = 5; i < 2 * 140; ++i) ASSERT_TRUE(std::isfinite(o[i])) << i;
    }
}

TEST_F(Quantizer, Mxfp4NanMarksOnlyItsBlockAndInfinitySaturates) {
  for (moekit_dtype dtype : kFloatDtypes) {
    std::vector<double> x = random_values(99, 2 * 96);
    x[5] = kNaN;        // row 0, block 0
    x[40] = kInf;       // row 0, block 1
    x[41] = -kInf;
    x[96 + 70] = -kNaN;  // row 1, block 2
    Input in(dtype, 2, 96, x);
    check_round_trip(MOEKIT_QUANT_MXFP4, 0, in, std::string("mx nan/inf ") + moekit_dtype_name(dtype));
    moekit_quantizer q = make(MOEKIT_QUANT_MXFP4);
    Buffer values(2 * 48, 1), scales(2 * 3, 1), out(2 * 96, 4);
    moekit_tensor iv = in.view(), vv = tensor(values.data(), MOEKIT_DTYPE_FP4_E2M1X2, 2, 48),
                  sv = tensor(scales.data(), MOEKIT_DTYPE_E8M0, 2, 3), ov = tensor(out.data(), MOEKIT_DTYPE_F32, 2, 96);
    ASSERT_EQ(moekit_quantize(q, &iv, &vv, &sv, nullptr), MOEKIT_OK);
    const unsigned char* e = scales.data();
    EXPECT_EQ(e[0], 0xFF);
    EXPECT_EQ(e[5], 0xFF);
    for (int b : {1, 2, 3, 4}) EXPECT_NE(e[b], 0xFF) << b;
    EXPECT_EQ(values.data()[20] & 0xF, 0x7) << "+Inf -> +6";
    EXPECT_EQ(values.data()[20] >> 4, 0xF) << "-Inf -> -6";
    ASSERT_EQ(moekit_dequantize(q, &vv, &sv, &ov, nullptr), MOEKIT_OK);
    const float* o = reinterpret_cast<const float*>(out.data());
    for (int i = 0; i < 2 * 96; ++i) {
      const bool nan_block = i < 32 || i >= 96 + 64;
      ASSERT_EQ(std::isnan(o[i]), nan_block) << i;
    }
  }
}

TEST_F(Quantizer, Mxfp4TiesRoundToTheEvenCode) {
  // With amax = 4 * 2^k the shared exponent is X = k, so t * 2^k scales to exactly t: every tie of E2M1.
  const double ties[] = {0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0};
  const double even[] = {0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0};  // the even neighbour of each tie (OCP MX)
  for (int k : {-120, -10, 0, 3, 100}) {
    std::vector<double> x(32, 0.0);
    x[0] = std::ldexp(4.0, k);
    for (int i = 0; i < 7; ++i) {
      x[static_cast<size_t>(1 + i)] = std::ldexp(ties[i], k);
      x[static_cast<size_t>(8 + i)] = -std::ldexp(ties[i], k);
    }
    Input in(MOEKIT_DTYPE_F32, 1, 32, x);
    check_round_trip(MOEKIT_QUANT_MXFP4, 0, in, "ties at 2^" + std::to_string(k));
    moekit_quantizer q = make(MOEKIT_QUANT_MXFP4);
    Buffer values(16, 1), scales(1, 1), out(32, 4);
    moekit_tensor iv = in.view(), vv = tensor(values.data(), MOEKIT_DTYPE_FP4_E2M1X2, 1, 16),
                  sv = tensor(scales.data(), MOEKIT_DTYPE_E8M0, 1, 1), ov = tensor(out.data(), MOEKIT_DTYPE_F32, 1, 32);
    ASSERT_EQ(moekit_quantize(q, &iv, &vv, &sv, nullptr), MOEKIT_OK);
    EXPECT_EQ(scales.data()[0], k + 127);
    ASSERT_EQ(moekit_dequantize(q, &vv, &sv, &ov, nullptr), MOEKIT_OK);
    const float* o = reinterpret_cast<const float*>(out.data());
    for (int i = 0; i < 7; ++i) {
      EXPECT_EQ(o[1 + i], static_cast<float>(std::ldexp(even[i], k))) << ties[i] << " * 2^" << k;
      EXPECT_EQ(o[8 + i], static_cast<float>(-std::ldexp(even[i], k))) << -ties[i] << " * 2^" << k;
    }
  }
}

// ---- bad arguments ---------------------------------------------------------------------------------------

void expect_rejected(moekit_status got, moekit_status want, const char* names) {
  EXPECT_EQ(got, want) << moekit_last_error();
  EXPECT_NE(std::string(moekit_last_error()).find(names), std::string::npos)
      << "message should name '" << names << "': " << moekit_last_error();
}

TEST_F(Quantizer, CreateRejectsBadArguments) {
  moekit_quantizer_desc d = MOEKIT_QUANTIZER_DESC_INIT;
  moekit_quantizer out = reinterpret_cast<moekit_quantizer>(0x1234);
  const moekit_quantizer untouched = out;
  expect_rejected(moekit_quantizer_create(nullptr, &d, &out), MOEKIT_ERR_INVALID_ARGUMENT, "ctx");
  expect_rejected(moekit_quantizer_create(reinterpret_cast<moekit_context>(&d), &d, &out), MOEKIT_ERR_INVALID_ARGUMENT,
                  "ctx");
  expect_rejected(moekit_quantizer_create(ctx_, nullptr, &out), MOEKIT_ERR_INVALID_ARGUMENT, "desc");
  expect_rejected(moekit_quantizer_create(ctx_, &d, nullptr), MOEKIT_ERR_INVALID_ARGUMENT, "out");
  d.struct_size = sizeof(size_t);
  expect_rejected(moekit_quantizer_create(ctx_, &d, &out), MOEKIT_ERR_INVALID_ARGUMENT, "desc");
  d = MOEKIT_QUANTIZER_DESC_INIT;
  // Out-of-range schemes as a C caller would store them (an int written over the enum field).
  const int32_t bad_schemes[] = {5, -1};
  std::memcpy(&d.scheme, &bad_schemes[0], sizeof(int32_t));
  expect_rejected(moekit_quantizer_create(ctx_, &d, &out), MOEKIT_ERR_INVALID_ARGUMENT, "scheme");
  std::memcpy(&d.scheme, &bad_schemes[1], sizeof(int32_t));
  expect_rejected(moekit_quantizer_create(ctx_, &d, &out), MOEKIT_ERR_INVALID_ARGUMENT, "scheme");
  d = MOEKIT_QUANTIZER_DESC_INIT;
  d.group_size = -1;
  expect_rejected(moekit_quantizer_create(ctx_, &d, &out), MOEKIT_ERR_INVALID_ARGUMENT, "group_size");
  // A descriptor from a newer header with a field this library does not know set: refused, not ignored.
  struct Bigger {
    moekit_quantizer_desc d;
    int64_t extra;
  } big{MOEKIT_QUANTIZER_DESC_INIT, 1};
  big.d.struct_size = sizeof big;
  expect_rejected(moekit_quantizer_create(ctx_, &big.d, &out), MOEKIT_ERR_UNSUPPORTED, "desc");
  EXPECT_EQ(out, untouched);
  big.extra = 0;  // ... and accepted when the unknown bytes are zero
  moekit_quantizer ok = nullptr;
  ASSERT_EQ(moekit_quantizer_create(ctx_, &big.d, &ok), MOEKIT_OK) << moekit_last_error();
  made_.push_back(ok);
}

TEST_F(Quantizer, DestroyAcceptsNullAndRejectsForeignHandles) {
  EXPECT_EQ(moekit_quantizer_destroy(nullptr), MOEKIT_OK);
  expect_rejected(moekit_quantizer_destroy(reinterpret_cast<moekit_quantizer>(ctx_)), MOEKIT_ERR_INVALID_ARGUMENT, "q");
}

TEST_F(Quantizer, OutputShapesRejectBadArguments) {
  moekit_quantizer fp8 = make(MOEKIT_QUANT_FP8_PER_GROUP);
  moekit_quantizer mx = make(MOEKIT_QUANT_MXFP4);
  int64_t vs[2] = {-7, -7}, ss[2] = {-7, -7};
  auto untouched = [&] { return vs[0] == -7 && vs[1] == -7 && ss[0] == -7 && ss[1] == -7; };
  expect_rejected(moekit_quantizer_output_shapes(nullptr, 1, 32, vs, ss), MOEKIT_ERR_INVALID_ARGUMENT, "q");
  expect_rejected(moekit_quantizer_output_shapes(reinterpret_cast<moekit_quantizer>(ctx_), 1, 32, vs, ss),
                  MOEKIT_ERR_INVALID_ARGUMENT, "q");
  expect_rejected(moekit_quantizer_output_shapes(fp8, 1, 32, nullptr, ss), MOEKIT_ERR_INVALID_ARGUMENT, "values_shape");
  expect_rejected(moekit_quantizer_output_shapes(fp8, 1, 32, vs, nullptr), MOEKIT_ERR_INVALID_ARGUMENT, "scales_shape");
  expect_rejected(moekit_quantizer_output_shapes(fp8, -1, 32, vs, ss), MOEKIT_ERR_INVALID_ARGUMENT, "rows");
  expect_rejected(moekit_quantizer_output_shapes(fp8, 1, -32, vs, ss), MOEKIT_ERR_INVALID_ARGUMENT, "cols");
  const int64_t huge = int64_t{1} << 40;
  expect_rejected(moekit_quantizer_output_shapes(fp8, huge, huge, vs, ss), MOEKIT_ERR_INVALID_ARGUMENT, "rows * cols");
  // The largest describable row: the group count must not overflow on the way (a naive (a + g - 1) / g would).
  const int64_t max = std::numeric_limits<int64_t>::max();
  int64_t big_vs[2], big_ss[2];
  ASSERT_EQ(moekit_quantizer_output_shapes(fp8, 1, max, big_vs, big_ss), MOEKIT_OK) << moekit_last_error();
  EXPECT_EQ(big_ss[1], max / 128 + 1);
  expect_rejected(moekit_quantizer_output_shapes(mx, 1, 48, vs, ss), MOEKIT_ERR_INVALID_ARGUMENT, "cols");
  EXPECT_TRUE(untouched());
}

// One quantize/dequantize call set up with valid tensors; each bad-argument case breaks one thing.
struct Call {
  moekit_quant_scheme scheme;
  int64_t rows = 4, cols = 64;
  Buffer input{rows * cols, 4}, values{rows * cols, 1}, scales{rows * 2, 4}, output{rows * cols, 4};
  moekit_tensor in, val, sc, out;
  explicit Call(moekit_quant_scheme s) : scheme(s) {
    std::vector<float> x(static_cast<size_t>(rows * cols), 1.5f);
    std::memcpy(input.data(), x.data(), input.size());
    in = tensor(input.data(), MOEKIT_DTYPE_F32, rows, cols);
    out = tensor(output.data(), MOEKIT_DTYPE_F32, rows, cols);
    if (s == MOEKIT_QUANT_MXFP4) {
      val = tensor(values.data(), MOEKIT_DTYPE_FP4_E2M1X2, rows, cols / 2);
      sc = tensor(scales.data(), MOEKIT_DTYPE_E8M0, rows, cols / 32);
    } else {  // FP8 per-group with group 32
      val = tensor(values.data(), MOEKIT_DTYPE_F8_E4M3FN, rows, cols);
      sc = tensor(scales.data(), MOEKIT_DTYPE_F32, rows, 2);
    }
  }
};

TEST_F(Quantizer, QuantizeAndDequantizeRejectBadArguments) {
  for (moekit_quant_scheme scheme : {MOEKIT_QUANT_FP8_PER_GROUP, MOEKIT_QUANT_MXFP4}) {
    moekit_quantizer q = make(scheme, 32);
    // A valid call first, so that the failures below are the broken argument's fault.
    {
      Call c(scheme);
      ASSERT_EQ(moekit_quantize(q, &c.in, &c.val, &c.sc, nullptr), MOEKIT_OK) << moekit_last_error();
      ASSERT_EQ(moekit_dequantize(q, &c.val, &c.sc, &c.out, nullptr), MOEKIT_OK) << moekit_last_error();
    }
    struct Case {
      const char* name;    // the argument the message must name
      void (*breaks)(Call&);
    };
    const Case cases[] = {
        {"input", [](Call& c) { c.in.data = nullptr; }},
        {"input", [](Call& c) { c.in.dtype = MOEKIT_DTYPE_I32; }},
        {"input", [](Call& c) { c.in.rank = 3; c.in.shape[2] = 1; c.in.strides[2] = 1; }},
        {"input", [](Call& c) { c.in.rank = 1; c.in.shape[0] = 256; c.in.strides[0] = 1; }},
        {"input", [](Call& c) { c.in.device_type = MOEKIT_DEVICE_CUDA; }},
        {"input", [](Call& c) { c.in.strides[0] = 128; }},
        {"input", [](Call& c) { c.in.shape[0] = int64_t{1} << 62; }},
        {"values", [](Call& c) { c.val.data = nullptr; }},
        {"values", [](Call& c) { c.val.dtype = MOEKIT_DTYPE_U8; }},
        {"values", [](Call& c) { c.val.shape[0] = 3; }},
        {"values", [](Call& c) { c.val.device_type = MOEKIT_DEVICE_ROCM; }},
        {"scales", [](Call& c) { c.sc.data = nullptr; }},
        {"scales", [](Call& c) { c.sc.dtype = MOEKIT_DTYPE_F16; }},
        {"scales", [](Call& c) { c.sc.shape[1] = 1; c.sc.strides[0] = 1; }},
        {"scales", [](Call& c) { c.sc.rank = 1; c.sc.shape[0] = c.sc.shape[0] * c.sc.shape[1]; c.sc.strides[0] = 1; }},
        {"scales", [](Call& c) { c.sc.device_type = MOEKIT_DEVICE_CUDA; }},
    };
    for (const Case& k : cases) {
      SCOPED_TRACE(std::string("scheme ") + std::to_string(scheme) + ", broken " + k.name);
      {  // quantize: values and scales are the outputs
        Call c(scheme);
        k.breaks(c);
        const std::vector<unsigned char> v0 = c.values.all(), s0 = c.scales.all();
        expect_rejected(moekit_quantize(q, &c.in, &c.val, &c.sc, nullptr), MOEKIT_ERR_INVALID_ARGUMENT, k.name);
        EXPECT_EQ(c.values.all(), v0);
        EXPECT_EQ(c.scales.all(), s0);
      }
      {  // dequantize: the "input" cases break the output tensor instead
        Call c(scheme);
        c.in = c.out;
        k.breaks(c);
        c.out = c.in;
        const std::vector<unsigned char> o0 = c.output.all();
        const char* name = std::string(k.name) == "input" ? "output" : k.name;
        expect_rejected(moekit_dequantize(q, &c.val, &c.sc, &c.out, nullptr), MOEKIT_ERR_INVALID_ARGUMENT, name);
        EXPECT_EQ(c.output.all(), o0);
      }
    }
    Call c(scheme);
    const std::vector<unsigned char> v0 = c.values.all(), o0 = c.output.all();
    expect_rejected(moekit_quantize(nullptr, &c.in, &c.val, &c.sc, nullptr), MOEKIT_ERR_INVALID_ARGUMENT, "q");
    expect_rejected(moekit_quantize(q, nullptr, &c.val, &c.sc, nullptr), MOEKIT_ERR_INVALID_ARGUMENT, "input");
    expect_rejected(moekit_quantize(q, &c.in, nullptr, &c.sc, nullptr), MOEKIT_ERR_INVALID_ARGUMENT, "values");
    expect_rejected(moekit_quantize(q, &c.in, &c.val, nullptr, nullptr), MOEKIT_ERR_INVALID_ARGUMENT, "scales");
    expect_rejected(moekit_dequantize(nullptr, &c.val, &c.sc, &c.out, nullptr), MOEKIT_ERR_INVALID_ARGUMENT, "q");
    expect_rejected(moekit_dequantize(reinterpret_cast<moekit_quantizer>(ctx_), &c.val, &c.sc, &c.out, nullptr),
                    MOEKIT_ERR_INVALID_ARGUMENT, "q");
    expect_rejected(moekit_dequantize(q, nullptr, &c.sc, &c.out, nullptr), MOEKIT_ERR_INVALID_ARGUMENT, "values");
    expect_rejected(moekit_dequantize(q, &c.val, nullptr, &c.out, nullptr), MOEKIT_ERR_INVALID_ARGUMENT, "scales");
    expect_rejected(moekit_dequantize(q, &c.val, &c.sc, nullptr, nullptr), MOEKIT_ERR_INVALID_ARGUMENT, "output");
    EXPECT_EQ(c.values.all(), v0);
    EXPECT_EQ(c.output.all(), o0);
  }
}

TEST_F(Quantizer, Mxfp4RejectsColumnsThatAreNotWholeBlocks) {
  moekit_quantizer q = make(MOEKIT_QUANT_MXFP4);
  Buffer input(2 * 48, 4), values(2 * 24, 1), scales(2 * 2, 1), output(2 * 48, 4);
  moekit_tensor in = tensor(input.data(), MOEKIT_DTYPE_F32, 2, 48), val = tensor(values.data(), MOEKIT_DTYPE_FP4_E2M1X2, 2, 24),
                sc = tensor(scales.data(), MOEKIT_DTYPE_E8M0, 2, 1), out = tensor(output.data(), MOEKIT_DTYPE_F32, 2, 48);
  std::memset(input.data(), 0, input.size());
  const std::vector<unsigned char> v0 = values.all(), s0 = scales.all(), o0 = output.all();
  expect_rejected(moekit_quantize(q, &in, &val, &sc, nullptr), MOEKIT_ERR_INVALID_ARGUMENT, "input");
  EXPECT_NE(std::string(moekit_last_error()).find("32"), std::string::npos) << moekit_last_error();
  expect_rejected(moekit_dequantize(q, &val, &sc, &out, nullptr), MOEKIT_ERR_INVALID_ARGUMENT, "output");
  EXPECT_EQ(values.all(), v0);
  EXPECT_EQ(scales.all(), s0);
  EXPECT_EQ(output.all(), o0);
}

}  // namespace
