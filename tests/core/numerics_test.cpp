// The low-precision codecs of core/numerics (half.h, fp8.h, mxfp4.h) against the independent reference
// decoders/encoders of tests/reference: exhaustive over every code where the format is small, and over
// exact ties, their neighbours and random floats where it is not. Every comparison is bit-exact: the formats
// are exact, so there is no tolerance to allow.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "../../capi/include/moekit/moekit.h"  // only for the public constants' macros
#include "moekit_core/numerics/fp8.h"
#include "moekit_core/numerics/half.h"
#include "moekit_core/numerics/mxfp4.h"
#include "reference/ref_numerics.h"
#include "reference/ref_quant.h"

using namespace moekit;

// The core constants must be the public ones, bit for bit.
static_assert(kFp8MinScale == MOEKIT_FP8_MIN_SCALE, "kFp8MinScale must equal MOEKIT_FP8_MIN_SCALE");
static_assert(kFp8E4M3Max == MOEKIT_FP8_E4M3_MAX, "kFp8E4M3Max must equal MOEKIT_FP8_E4M3_MAX");

namespace {

const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

// Same value including the sign of zero, or both NaN.
::testing::AssertionResult same_value(double got, double want) {
  if (std::isnan(got) && std::isnan(want)) return ::testing::AssertionSuccess();
  if (got == want && std::signbit(got) == std::signbit(want)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << got << ", want " << want;
}

float next_up(float x) { return std::nextafter(x, kInf); }
float next_down(float x) { return std::nextafter(x, -kInf); }

// Values that stress a nearest-even encoder whose finite codes decode to `grid` (non-negative, ascending):
// every grid point, every midpoint (exact ties) and one float ulp either side of both, with both signs, plus
// values beyond the largest finite one.
std::vector<float> tie_probes(const std::vector<double>& grid) {
  std::vector<float> probes;
  auto add = [&](float v) {
    for (float s : {v, next_up(v), next_down(v)}) {
      probes.push_back(s);
      probes.push_back(-s);
    }
  };
  for (size_t i = 0; i < grid.size(); ++i) {
    add(static_cast<float>(grid[i]));
    if (i + 1 < grid.size()) add(static_cast<float>((grid[i] + grid[i + 1]) / 2));  // exact in float
  }
  const double top = grid.back();
  for (double f : {1.0 + 1.0 / 32, 1.0 + 1.0 / 16, 1.5, 2.0, 1e3}) add(static_cast<float>(top * f));
  return probes;
}

// Random floats spread over the exponent range of interest, both signs, including float denormals.
std::vector<float> random_floats(uint32_t seed, int count, int min_exp, int max_exp) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> mant(1.0f, 2.0f);
  std::uniform_int_distribution<int> exp(min_exp, max_exp);
  std::vector<float> v;
  for (int i = 0; i < count; ++i) {
    const float x = std::ldexp(mant(rng), exp(rng));
    v.push_back((rng() & 1) ? -x : x);
  }
  return v;
}

}  // namespace

TEST(Half, EveryBf16PatternDecodesAsTheReference) {
  for (uint32_t h = 0; h < 65536; ++h)
    ASSERT_TRUE(same_value(bf16_to_f32(static_cast<uint16_t>(h)), moekit_ref::bf16_to_double(static_cast<uint16_t>(h))))
        << "bf16 0x" << std::hex << h;
}

TEST(Half, EveryF16PatternDecodesAsTheReference) {
  for (uint32_t h = 0; h < 65536; ++h)
    ASSERT_TRUE(same_value(f16_to_f32(static_cast<uint16_t>(h)), moekit_ref::f16_to_double(static_cast<uint16_t>(h))))
        << "f16 0x" << std::hex << h;
}

TEST(Half, EncodersRoundToNearestEvenAsTheReference) {
  std::vector<float> probes = random_floats(11, 200000, -30, 20);
  // Every pattern's value and its midpoints with the next pattern (exact ties for both formats).
  for (uint32_t h = 0; h < 65535; ++h) {
    for (double (*dec)(uint16_t) : {moekit_ref::bf16_to_double, moekit_ref::f16_to_double}) {
      const double a = dec(static_cast<uint16_t>(h)), b = dec(static_cast<uint16_t>(h + 1));
      if (std::isfinite(a)) probes.push_back(static_cast<float>(a));
      if (std::isfinite(a) && std::isfinite(b) && (h & 0x7fff) != 0x7fff) probes.push_back(static_cast<float>((a + b) / 2));
    }
  }
  probes.insert(probes.end(), {kInf, -kInf, 65504.0f, 65519.0f, 65520.0f, 70000.0f, 1e-8f, -1e-45f});
  for (float x : probes) {
    ASSERT_EQ(f32_to_bf16(x), moekit_ref::double_to_bf16(x)) << x;
    ASSERT_EQ(f32_to_f16(x), moekit_ref::double_to_f16(x)) << x;
  }
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(kNaN))));
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(kNaN))));
}

TEST(Fp8, EveryE4M3CodeDecodesAsTheSpecAndRoundTrips) {
  for (int c = 0; c < 256; ++c) {
    const uint8_t code = static_cast<uint8_t>(c);
    ASSERT_TRUE(same_value(e4m3_to_f32(code), moekit_ref::e4m3_to_double(code))) << "code " << c;
    if ((c & 0x7F) == 0x7F) {
      EXPECT_TRUE(std::isnan(e4m3_to_f32(code)));
      EXPECT_EQ(f32_to_e4m3(e4m3_to_f32(code)), code) << "NaN keeps its sign";
    } else {
      EXPECT_EQ(f32_to_e4m3(e4m3_to_f32(code)), code) << "code " << c;
    }
  }
}

TEST(Fp8, EveryE5M2CodeDecodesAsTheSpec) {
  for (int c = 0; c < 256; ++c)
    ASSERT_TRUE(same_value(e5m2_to_f32(static_cast<uint8_t>(c)), moekit_ref::e5m2_to_double(static_cast<uint8_t>(c))))
        << "code " << c;
}

TEST(Fp8, E4M3EncoderMatchesTheNearestEvenSearch) {
  std::vector<double> grid;
  for (int c = 0; c <= 0x7E; ++c) grid.push_back(moekit_ref::e4m3_to_double(static_cast<uint8_t>(c)));
  std::vector<float> probes = tie_probes(grid);
  const std::vector<float> random = random_floats(7, 300000, -12, 10);  // E4M3 denormals through overflow
  probes.insert(probes.end(), random.begin(), random.end());
  const std::vector<float> tiny = random_floats(8, 20000, -149, -10);   // rounds to 0 / smallest denormal
  probes.insert(probes.end(), tiny.begin(), tiny.end());
  probes.insert(probes.end(), {0.0f, -0.0f, kInf, -kInf, 448.0f, 464.0f, 465.0f, std::numeric_limits<float>::max(),
                               -std::numeric_limits<float>::max(), std::numeric_limits<float>::denorm_min()});
  for (float x : probes) ASSERT_EQ(f32_to_e4m3(x), moekit_ref::ref_e4m3_encode(x)) << x;
  EXPECT_EQ(f32_to_e4m3(kNaN), 0x7F);
  EXPECT_EQ(f32_to_e4m3(-kNaN), 0xFF);
  EXPECT_EQ(moekit_ref::ref_e4m3_encode(-kNaN), 0xFF);
}

TEST(Fp8, ScaleIsTheFloatProductFlooredAtTheMinimum) {
  std::vector<float> amaxes = random_floats(3, 100000, -40, 40);
  for (float& a : amaxes) a = std::fabs(a);
  amaxes.insert(amaxes.end(), {0.0f, std::numeric_limits<float>::denorm_min(), MOEKIT_FP8_MIN_SCALE * 448.0f,
                               next_down(MOEKIT_FP8_MIN_SCALE * 448.0f), next_up(MOEKIT_FP8_MIN_SCALE * 448.0f), 448.0f,
                               std::numeric_limits<float>::max()});
  for (float a : amaxes) {
    const float s = fp8_scale_from_amax(a);
    ASSERT_EQ(f32_bits(s), f32_bits(moekit_ref::ref_fp8_scale(a))) << a;
    ASSERT_GE(s, MOEKIT_FP8_MIN_SCALE);
    ASSERT_GT(s, 0.0f);
  }
  EXPECT_EQ(fp8_scale_from_amax(0.0f), MOEKIT_FP8_MIN_SCALE);
}

TEST(Mxfp4, EveryE2M1CodeDecodesAsTheSpecAndRoundTrips) {
  for (int c = 0; c < 16; ++c) {
    const uint8_t code = static_cast<uint8_t>(c);
    ASSERT_TRUE(same_value(e2m1_to_f32(code), moekit_ref::e2m1_to_double(code))) << "code " << c;
    EXPECT_EQ(f32_to_e2m1(e2m1_to_f32(code)), code);
  }
}

TEST(Mxfp4, E2M1EncoderMatchesTheNearestEvenSearch) {
  std::vector<double> grid;
  for (int c = 0; c <= 7; ++c) grid.push_back(moekit_ref::e2m1_to_double(static_cast<uint8_t>(c)));
  std::vector<float> probes = tie_probes(grid);
  const std::vector<float> random = random_floats(5, 100000, -4, 4);
  probes.insert(probes.end(), random.begin(), random.end());
  probes.insert(probes.end(), {0.0f, -0.0f, kInf, -kInf, std::numeric_limits<float>::denorm_min(), 1e30f});
  for (float x : probes) ASSERT_EQ(f32_to_e2m1(x), moekit_ref::ref_e2m1_encode(x)) << x;
  EXPECT_EQ(f32_to_e2m1(kNaN), 0) << "NaN is the scale's business";
  // The spec's ties, spelled out: the even code wins.
  EXPECT_EQ(e2m1_to_f32(f32_to_e2m1(0.25f)), 0.0f);
  EXPECT_EQ(e2m1_to_f32(f32_to_e2m1(0.75f)), 1.0f);
  EXPECT_EQ(e2m1_to_f32(f32_to_e2m1(1.25f)), 1.0f);
  EXPECT_EQ(e2m1_to_f32(f32_to_e2m1(1.75f)), 2.0f);
  EXPECT_EQ(e2m1_to_f32(f32_to_e2m1(2.5f)), 2.0f);
  EXPECT_EQ(e2m1_to_f32(f32_to_e2m1(3.5f)), 4.0f);
  EXPECT_EQ(e2m1_to_f32(f32_to_e2m1(-5.0f)), -4.0f);
}

TEST(Mxfp4, EveryE8M0ByteDecodesExactly) {
  for (int b = 0; b < 256; ++b)
    ASSERT_TRUE(same_value(e8m0_to_f32(static_cast<uint8_t>(b)), moekit_ref::e8m0_to_double(static_cast<uint8_t>(b))))
        << "byte " << b;
  EXPECT_EQ(f32_bits(e8m0_to_f32(0)), 0x00400000u) << "2^-127 is a float denormal";
  EXPECT_EQ(e8m0_to_f32(0), std::ldexp(1.0f, -127));
}

TEST(Mxfp4, SharedExponentOfAmaxMatchesTheSpec) {
  std::vector<float> amaxes = random_floats(9, 100000, -149, 127);
  for (float& a : amaxes) a = std::fabs(a);
  // Every power of two and its neighbours: floor(log2) changes exactly there.
  for (int e = -149; e <= 127; ++e) {
    const float p = std::ldexp(1.0f, e);
    amaxes.insert(amaxes.end(), {p, next_up(p), next_down(p)});
  }
  amaxes.insert(amaxes.end(), {0.0f, std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::min(),
                               std::numeric_limits<float>::max(), 6.0f, 4.0f, next_down(4.0f)});
  for (float a : amaxes) ASSERT_EQ(e8m0_from_amax(a), moekit_ref::ref_e8m0_from_amax(a)) << a;
  EXPECT_EQ(e8m0_from_amax(0.0f), 0) << "all-zero block: X = -127";
  EXPECT_EQ(e8m0_from_amax(kInf), kE8M0Nan);
  EXPECT_EQ(e8m0_from_amax(kNaN), kE8M0Nan);
  // The block's largest value never exceeds 8 after scaling, and never falls below 4 (unless X is clamped).
  for (float a : amaxes) {
    if (a < std::ldexp(1.0f, -124)) continue;
    const float scaled = a / e8m0_to_f32(e8m0_from_amax(a));
    ASSERT_GE(scaled, 4.0f) << a;
    ASSERT_LT(scaled, 8.0f) << a;
  }
}
