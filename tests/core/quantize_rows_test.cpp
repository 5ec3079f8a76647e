// The serial CPU row kernels (core/src/cpu/quantize_rows) that the quantizer and the expert runner share,
// against the float64 reference quantizer: codes and scales bit-exact, dequantized values bit-exact.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/quantize_rows.h"
#include "reference/ref_quant.h"

using namespace moekit;

namespace {

std::vector<float> random_matrix(uint32_t seed, int64_t n) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> exp(-8, 8);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = std::ldexp(normal(rng), exp(rng));  // several orders of magnitude per group
  return x;
}

std::vector<double> as_double(const std::vector<float>& x) { return std::vector<double>(x.begin(), x.end()); }

void expect_same_floats(const std::vector<float>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      ASSERT_TRUE(std::isnan(got[i])) << i;
      continue;
    }
    const float w = static_cast<float>(want[i]);
    ASSERT_EQ(std::memcmp(&got[i], &w, 4), 0) << i << ": " << got[i] << " vs " << w;
  }
}

}  // namespace

TEST(QuantizeRows, Fp8GroupsMatchTheReference) {
  for (int64_t cols : {1, 5, 128, 200, 300}) {
    for (int64_t group : {int64_t{1}, int64_t{7}, int64_t{128}, cols}) {
      const int64_t rows = 3;
      const std::vector<float> x = random_matrix(static_cast<uint32_t>(cols * 131 + group), rows * cols);
      const int64_t ngroups = (cols + group - 1) / group;
      std::vector<uint8_t> q(x.size());
      std::vector<float> scales(static_cast<size_t>(rows * ngroups));
      cpu::quantize_fp8_rows(x.data(), rows, cols, group, q.data(), scales.data());
      const auto ref = moekit_ref::ref_quantize(moekit_ref::kRefFp8PerGroup, group, as_double(x), rows, cols);
      ASSERT_EQ(q, ref.values) << "cols " << cols << " group " << group;
      ASSERT_EQ(std::memcmp(scales.data(), ref.fp8_scales.data(), scales.size() * 4), 0);

      std::vector<float> out(x.size());
      cpu::dequantize_fp8_rows(q.data(), scales.data(), rows, cols, group, out.data());
      expect_same_floats(out, moekit_ref::ref_dequantize(moekit_ref::kRefFp8PerGroup, group, ref.values,
                                                         ref.fp8_scales, {}, rows, cols));
      // Fake quantization is exactly the round trip.
      std::vector<float> fake = x;
      cpu::fake_quantize_fp8_rows(fake.data(), rows, cols, group);
      ASSERT_EQ(std::memcmp(fake.data(), out.data(), out.size() * 4), 0);
    }
  }
}

TEST(QuantizeRows, Fp8BlocksMatchTheReferenceIncludingEdgeBlocks) {
  for (auto [rows, cols, block] : std::vector<std::array<int64_t, 3>>{{1, 1, 128}, {130, 200, 128}, {9, 10, 4},
                                                                      {256, 128, 128}}) {
    const std::vector<float> x = random_matrix(static_cast<uint32_t>(rows * 7 + cols), rows * cols);
    const int64_t nbr = (rows + block - 1) / block, nbc = (cols + block - 1) / block;
    std::vector<uint8_t> q(x.size());
    std::vector<float> scales(static_cast<size_t>(nbr * nbc));
    cpu::quantize_fp8_block(x.data(), rows, cols, block, q.data(), scales.data());
    const auto ref = moekit_ref::ref_quantize(moekit_ref::kRefFp8Block, block, as_double(x), rows, cols);
    ASSERT_EQ(q, ref.values);
    ASSERT_EQ(std::memcmp(scales.data(), ref.fp8_scales.data(), scales.size() * 4), 0);
    std::vector<float> out(x.size());
    cpu::dequantize_fp8_block(q.data(), scales.data(), rows, cols, block, out.data());
    expect_same_floats(out, moekit_ref::ref_dequantize(moekit_ref::kRefFp8Block, block, ref.values, ref.fp8_scales,
                                                       {}, rows, cols));
  }
}

TEST(QuantizeRows, Mxfp4MatchesTheReference) {
  const int64_t rows = 5, cols = 96;
  std::vector<float> x = random_matrix(42, rows * cols);
  x[3] = std::nanf("");                                     // row 0, block 0 becomes a NaN block
  x[40] = std::numeric_limits<float>::infinity();           // row 0, block 1: saturates, scale from the rest
  for (int i = 64; i < 96; ++i) x[static_cast<size_t>(i)] = 0.0f;  // row 0, block 2: all zero
  std::vector<uint8_t> packed(static_cast<size_t>(rows * cols / 2));
  std::vector<uint8_t> e8m0(static_cast<size_t>(rows * cols / 32));
  cpu::quantize_mxfp4_rows(x.data(), rows, cols, packed.data(), e8m0.data());
  const auto ref = moekit_ref::ref_quantize(moekit_ref::kRefMxfp4, 32, as_double(x), rows, cols);
  ASSERT_EQ(packed, ref.values);
  ASSERT_EQ(e8m0, ref.e8m0);
  EXPECT_EQ(e8m0[0], 0xFF);
  EXPECT_EQ(e8m0[2], 0);
  std::vector<float> out(x.size());
  cpu::dequantize_mxfp4_rows(packed.data(), e8m0.data(), rows, cols, out.data());
  expect_same_floats(out, moekit_ref::ref_dequantize(moekit_ref::kRefMxfp4, 32, ref.values, {}, ref.e8m0, rows, cols));
}

TEST(QuantizeRows, FiniteAmaxIgnoresNanAndInf) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {1.0f, -3.0f, std::nanf(""), inf, -inf, 2.0f};
  EXPECT_EQ(cpu::finite_amax(x.data(), static_cast<int64_t>(x.size())), 3.0f);
  EXPECT_EQ(cpu::finite_amax(x.data() + 2, 3), 0.0f);
  EXPECT_EQ(cpu::finite_amax(x.data(), 0), 0.0f);
}
