// The routing order's integer form (kernels/common/route_order.h), compiled as host code: the GPU top-k kernels
// pick candidates by max over rank_code, so rank_code must order every pair of (key, id) exactly as
// ranks_before does — including NaN (after every number, ties by id), -0 == +0, +-Inf and equal keys.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "../../kernels/common/route_order.h"

using moekit::f32_bits;
using moekit::f32_from_bits;
using namespace moekit::device;

namespace {

std::vector<float> interesting_keys() {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> keys = {0.0f,  -0.0f, 1.0f,  -1.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(),
                             -std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::denorm_min(),
                             -std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max(),
                             -std::numeric_limits<float>::max(), std::numeric_limits<float>::min(), 0.5f, 0.25f};
  keys.push_back(f32_from_bits(0x7F800001u));  // signalling-NaN bits
  keys.push_back(f32_from_bits(0xFFFFFFFFu));  // negative NaN with a full payload
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int i = 0; i < 40; ++i) keys.push_back(normal(rng));
  for (int i = 0; i < 10; ++i) keys.push_back(std::nextafter(keys[static_cast<size_t>(20 + i)], inf));
  return keys;
}

}  // namespace

TEST(RouteOrder, RankCodeOrdersEveryPairLikeRanksBefore) {
  const std::vector<float> keys = interesting_keys();
  const int32_t ids[] = {0, 1, 2, 31, 32, 255, 1023, 1024, INT32_MAX};
  int64_t pairs = 0;
  for (float a : keys)
    for (int32_t ia : ids)
      for (float b : keys)
        for (int32_t ib : ids) {
          if (ia == ib && f32_bits(a) == f32_bits(b)) continue;
          const bool before = ranks_before(a, ia, b, ib);
          ASSERT_EQ(rank_code(a, ia) > rank_code(b, ib), before)
              << "key " << a << " id " << ia << " vs key " << b << " id " << ib;
          ++pairs;
        }
  EXPECT_GT(pairs, 100000);
}

TEST(RouteOrder, NoCandidateCodesToZeroAndIdsAndKeysDecode) {
  for (float key : interesting_keys())
    for (int32_t id : {0, 7, 1023, INT32_MAX}) {
      const uint64_t code = rank_code(key, id);
      EXPECT_NE(code, 0u) << "0 means 'no candidate'";
      EXPECT_EQ(rank_code_id(code), id);
      const float back = rank_code_key(code);
      if (std::isnan(key)) {
        EXPECT_TRUE(std::isnan(back));
      } else {
        EXPECT_EQ(back, key);  // value, with -0 == +0
        if (key != 0.0f) {
          EXPECT_EQ(f32_bits(back), f32_bits(key));
        }
      }
    }
}
