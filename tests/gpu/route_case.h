// Router configurations and logits shared by route_test.cpp (the CUDA module through the public C API) and
// route_kernels_test.cu (the shared routing kernels launched directly with each kernel forced): the model
// presets' router configs, E not a multiple of 32, expert_map with -1, groupings that do and do not split into
// whole lane runs, skewed routing, and logits with NaN / +-Inf / tied rows; and the fixture that makes a
// case's CPU and CUDA routers. The CPU reference run itself: route_reference.h.
//
// Tolerances. Ids and every metadata array must match exactly (the selection order is a total order and both
// backends compute the same keys: the logits themselves, or scores + bias). Weights may differ by a few ulp:
// the CUDA module evaluates exp in double rounded to float while glibc's expf is within 0.502 ulp (they
// disagree by 1 ulp in rare half-way cases), and the softmax sum is a warp tree instead of a serial loop
// (double, so its rounding reaches the float result only through the final division, <= 1 ulp). A weight then
// passes through renormalisation (another <= 1 ulp each for the sum and the division): 8 ulp bounds it.
#pragma once

#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "router_pair.h"

namespace moekit_gpu_test {

inline constexpr int64_t kWeightUlps = 8;

struct RouteCase {
  const char* name;
  int32_t experts, top_k;
  moekit_scoring scoring;
  int32_t renormalize, groups, topk_groups;
  float scaling;
  bool bias, expert_map;
  int32_t block_size;
  int32_t skew_expert;  // >= 0: this expert's logit is raised so every token picks it
};

inline const RouteCase kRouteCases[] = {
    {"mixtral_e8_k2", 8, 2, MOEKIT_SCORING_SOFTMAX, 1, 0, 0, 1.0f, false, false, 64, -1},
    {"qwen3_e128_k8", 128, 8, MOEKIT_SCORING_SOFTMAX, 1, 0, 0, 1.0f, false, false, 64, -1},
    {"gptoss_e128_k4", 128, 4, MOEKIT_SCORING_SOFTMAX, 1, 0, 0, 1.0f, false, false, 64, -1},
    {"deepseek_e256_k8_grouped_bias", 256, 8, MOEKIT_SCORING_SIGMOID, 1, 8, 4, 2.5f, true, false, 64, -1},
    {"llama4_e128_k1_sigmoid", 128, 1, MOEKIT_SCORING_SIGMOID, 0, 0, 0, 1.0f, false, false, 64, -1},
    {"e40_k4_expert_map", 40, 4, MOEKIT_SCORING_SOFTMAX, 0, 0, 0, 1.0f, false, true, 16, -1},
    {"e40_k3_groups5_bias", 40, 3, MOEKIT_SCORING_SOFTMAX, 1, 5, 2, 1.5f, true, false, 16, -1},
    {"e1024_k8_sigmoid_bias", 1024, 8, MOEKIT_SCORING_SIGMOID, 1, 0, 0, 1.0f, true, false, 64, -1},
    {"skewed_e64_k2", 64, 2, MOEKIT_SCORING_SOFTMAX, 1, 0, 0, 1.0f, false, false, 64, 3},
    // Groups of 24 experts span 6 lanes of 4: not a power-of-two lane run, so the warp-strided kernel routes it.
    {"e72_k4_groups3_bias", 72, 4, MOEKIT_SCORING_SIGMOID, 1, 3, 2, 1.0f, true, false, 64, -1},
    {"e1000_k6_groups8", 1000, 6, MOEKIT_SCORING_SOFTMAX, 1, 8, 3, 1.0f, false, false, 64, -1},
};

// The case's CPU and CUDA routers: its description made here, its bias and expert map by make_router_pair.
inline void make_routers(moekit_context cpu, moekit_context gpu, const RouteCase& c, RouterPair& r) {
  moekit_router_desc d = MOEKIT_ROUTER_DESC_INIT;
  d.num_experts = c.experts;
  d.top_k = c.top_k;
  d.scoring = c.scoring;
  d.renormalize = c.renormalize;
  d.num_expert_groups = c.groups;
  d.topk_groups = c.topk_groups;
  d.routed_scaling_factor = c.scaling;
  d.block_size = c.block_size;
  make_router_pair(cpu, gpu, d, RouterExtras{c.bias, c.expert_map}, r);
}

// A GpuTest over one RouteCase, with the case's routers made before the test body and destroyed before the
// contexts they were made on.
class RouteCaseTest : public GpuTest, public ::testing::WithParamInterface<RouteCase> {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (!IsSkipped() && !HasFatalFailure()) make_routers(cpu_, gpu_, GetParam(), router_);
  }
  void TearDown() override {
    router_.destroy();
    GpuTest::TearDown();
  }
  RouterPair router_;
};

// The name of a RouteCaseTest instance: the case's name.
inline std::string route_case_name(const ::testing::TestParamInfo<RouteCase>& i) { return i.param.name; }

// One routing run of a case: T tokens of logits in `dtype`.
struct RouteRun {
  int64_t tokens;
  moekit_dtype dtype;
};

// Random logits (N(0, 2)) with, when there are enough rows, one special row each: all NaN, one +Inf, two +Inf
// and a NaN, all -Inf, -Inf with NaN, all equal (ties), +Inf with -Inf.
inline std::vector<float> make_logits(int64_t tokens, int32_t experts, uint32_t seed, int32_t skew_expert) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> x(static_cast<size_t>(tokens * experts));
  for (float& v : x) v = normal(rng);
  if (skew_expert >= 0)
    for (int64_t t = 0; t < tokens; ++t) x[static_cast<size_t>(t * experts + skew_expert)] = 40.0f;
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  auto row = [&](int64_t t) { return x.data() + t * experts; };
  if (tokens >= 7) {
    for (int32_t e = 0; e < experts; ++e) row(0)[e] = nan;
    row(1)[experts / 2] = inf;
    row(2)[0] = inf, row(2)[experts - 1] = inf, row(2)[1 % experts] = nan;
    for (int32_t e = 0; e < experts; ++e) row(3)[e] = -inf;
    for (int32_t e = 0; e < experts; ++e) row(4)[e] = e % 2 ? -inf : nan;
    for (int32_t e = 0; e < experts; ++e) row(5)[e] = 0.5f;
    row(6)[experts - 1] = inf, row(6)[0] = -inf;
  }
  return x;
}

}  // namespace moekit_gpu_test
