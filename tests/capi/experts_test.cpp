// The expert runner through the public C ABI, against the float64 reference (tests/reference/ref_experts).
// Tolerances are the reference's per-element float32 error bound plus the output dtype's rounding; see
// ref_experts.h (err_bound) and experts_test_util.h (expect_close) for how they are derived.
#include <gtest/gtest.h>

#include <climits>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "experts_test_util.h"

using namespace experts_test;

namespace {

moekit_experts_desc make_desc(int32_t E, int64_t H, int64_t I) {
  moekit_experts_desc d = MOEKIT_EXPERTS_DESC_INIT;
  d.num_experts = E;
  d.num_local_experts = E;
  d.hidden_size = H;
  d.intermediate_size = I;
  return d;
}

const moekit_dtype kHiddenDtypes[] = {MOEKIT_DTYPE_F32, MOEKIT_DTYPE_BF16, MOEKIT_DTYPE_F16};

// Runs `d` on a random routing with every hidden dtype and compares each with one reference.
void check_against_reference(const moekit_experts_desc& d, int64_t T, int64_t k, unsigned seed,
                             int32_t threads = 2) {
  moekit_context ctx = cpu_context(threads);
  WeightSet w(d, seed);
  Runner runner(ctx, d, w);
  Routing routing = random_routing(T, k, d.num_experts, seed + 1);
  const std::vector<double> hidden = exact_hidden(T, d.hidden_size, seed + 2);
  const moekit_ref::RefExpertsSpec spec = spec_of(d);
  const auto ref = moekit_ref::ref_experts_forward(spec, moekit_ref::ref_decode_expert_weights(spec, w.ref()), hidden,
                                                   T, k, routing.ids.data(), routing.weights.data());
  for (moekit_dtype dt : kHiddenDtypes) {
    moekit_run_report report = MOEKIT_RUN_REPORT_INIT;
    const auto got = run_experts(runner.experts, hidden, d.hidden_size, dt, routing, &report);
    expect_close(ref, got, dt, std::string("hidden ") + moekit_dtype_name(dt));
    EXPECT_EQ(report.assignments, ref.assignments);
    EXPECT_EQ(report.non_local_assignments, ref.non_local_assignments);
    EXPECT_EQ(report.invalid_assignments, ref.invalid_assignments);
    EXPECT_EQ(report.experts_touched, ref.experts_touched);
    EXPECT_STREQ(report.kernel, "cpu-openblas-sgemm");
    EXPECT_NE(std::strstr(report.detail, "threads"), nullptr) << report.detail;  // says how it ran
  }
  moekit_context_destroy(ctx);
}

}  // namespace

// ---- every activation x weight format x activation quantization x biases ------------------------------------
using SweepParam = std::tuple<int, int, int, bool>;  // activation, weight format, act quant, biases
class ExpertsSweep : public ::testing::TestWithParam<SweepParam> {};

TEST_P(ExpertsSweep, MatchesReference) {
  const auto [activation, format, act_quant, biases] = GetParam();
  // Three shapes in turn: a small realistic one, one whose FP8 blocks are partial (96 / 160), and (except for
  // MXFP4, which needs multiples of 32) one that the CPU contract pads (H 100 -> 128, I 72 -> 96).
  const int variant = (activation + format + act_quant) % (format == MOEKIT_WEIGHTS_MXFP4 ? 2 : 3);
  const int64_t H = variant == 0 ? 256 : variant == 1 ? 96 : 100;
  const int64_t I = variant == 0 ? 128 : variant == 1 ? 160 : 72;
  moekit_experts_desc d = make_desc(6, H, I);
  d.activation = static_cast<moekit_activation>(activation);
  d.weight_format = static_cast<moekit_weight_format>(format);
  d.act_quant = static_cast<moekit_act_quant>(act_quant);
  d.has_w13_bias = biases;
  d.has_w2_bias = biases;
  check_against_reference(d, /*T=*/29, /*k=*/2, 1000u + static_cast<unsigned>(activation * 100 + format * 10 + act_quant));
}

INSTANTIATE_TEST_SUITE_P(AllCombinations, ExpertsSweep,
                         ::testing::Combine(::testing::Values(0, 1, 2), ::testing::Values(0, 1, 2, 3, 4),
                                            ::testing::Values(0, 1, 2), ::testing::Bool()));

// ---- shapes and routings ------------------------------------------------------------------------------------
TEST(Experts, OneTokenAndTopKEqualsE) {
  moekit_experts_desc d = make_desc(5, 64, 96);
  check_against_reference(d, /*T=*/1, /*k=*/5, 11);
  d.has_w13_bias = d.has_w2_bias = 1;
  check_against_reference(d, /*T=*/7, /*k=*/5, 12);
}

TEST(Experts, ExpertCountNotAMultipleOf32) {
  moekit_experts_desc d = make_desc(40, 128, 64);
  d.weight_format = MOEKIT_WEIGHTS_F32;
  check_against_reference(d, /*T=*/70, /*k=*/4, 13);
}

TEST(Experts, BiasOnlyOnOneSide) {
  moekit_experts_desc d = make_desc(4, 64, 32);
  d.has_w13_bias = 1;
  check_against_reference(d, 9, 2, 14);
  d.has_w13_bias = 0;
  d.has_w2_bias = 1;
  check_against_reference(d, 9, 2, 15);
}

TEST(Experts, SwigluWithOtherAlphaAndLimit) {
  moekit_experts_desc d = make_desc(4, 64, 64);
  d.activation = MOEKIT_ACTIVATION_SWIGLU_OAI;
  d.swiglu_alpha = 1.0f;
  d.swiglu_limit = 0.5f;  // clamps often with these inputs
  check_against_reference(d, 20, 2, 16);
}

TEST(Experts, AllTokensOnOneExpertSpanSeveralChunks) {
  // 700 rows for one expert: more than one GEMM chunk of the CPU runner.
  moekit_experts_desc d = make_desc(4, 64, 32);
  d.weight_format = MOEKIT_WEIGHTS_F32;
  d.act_quant = MOEKIT_ACT_QUANT_FP8_PER_GROUP;
  moekit_context ctx = cpu_context();
  WeightSet w(d, 21);
  Runner runner(ctx, d, w);
  Routing routing;
  routing.T = 700;
  routing.k = 1;
  routing.ids.assign(700, 2);
  routing.weights.assign(700, 0.75f);
  const auto hidden = exact_hidden(700, 64, 22);
  const auto spec = spec_of(d);
  const auto ref = moekit_ref::ref_experts_forward(spec, moekit_ref::ref_decode_expert_weights(spec, w.ref()), hidden,
                                                   700, 1, routing.ids.data(), routing.weights.data());
  moekit_run_report report = MOEKIT_RUN_REPORT_INIT;
  expect_close(ref, run_experts(runner.experts, hidden, 64, MOEKIT_DTYPE_F32, routing, &report), MOEKIT_DTYPE_F32,
               "one expert");
  EXPECT_EQ(report.experts_touched, 1);
  EXPECT_EQ(report.assignments, 700);
  moekit_context_destroy(ctx);
}

TEST(Experts, ApplyRouterWeightOnInput) {
  for (int act_quant : {0, 1, 2}) {
    moekit_experts_desc d = make_desc(6, 128, 64);
    d.apply_router_weight_on_input = 1;
    d.act_quant = static_cast<moekit_act_quant>(act_quant);
    d.has_w13_bias = d.has_w2_bias = 1;
    check_against_reference(d, 25, 1, 30 + static_cast<unsigned>(act_quant));
  }
}

TEST(Experts, ApplyRouterWeightOnInputNeedsTopKOne) {
  moekit_experts_desc d = make_desc(4, 64, 32);
  d.apply_router_weight_on_input = 1;
  moekit_context ctx = cpu_context();
  WeightSet w(d, 40);
  Runner runner(ctx, d, w);
  Routing routing = random_routing(3, 2, 4, 41);
  std::vector<float> hidden(3 * 64, 1.0f), out(3 * 64, -7.0f);
  const std::vector<float> before = out;
  moekit_tensor h = tensor(hidden.data(), MOEKIT_DTYPE_F32, {3, 64});
  moekit_tensor o = tensor(out.data(), MOEKIT_DTYPE_F32, {3, 64});
  moekit_routing plan = routing.plan();
  Workspace ws(1 << 20);
  EXPECT_EQ(moekit_experts_run(runner.experts, &h, &plan, &o, ws.data(), ws.size, nullptr, nullptr),
            MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("apply_router_weight_on_input")) << moekit_last_error();
  EXPECT_EQ(out, before);
  moekit_context_destroy(ctx);
}

TEST(Experts, ZeroTokens) {
  moekit_experts_desc d = make_desc(4, 64, 32);
  moekit_context ctx = cpu_context();
  WeightSet w(d, 50);
  Runner runner(ctx, d, w);
  size_t bytes = 123;
  ASSERT_EQ(moekit_experts_workspace_size(runner.experts, 0, 2, &bytes), MOEKIT_OK);
  EXPECT_EQ(bytes, 0u);
  moekit_tensor h = tensor(nullptr, MOEKIT_DTYPE_BF16, {0, 64});
  moekit_tensor o = tensor(nullptr, MOEKIT_DTYPE_BF16, {0, 64});
  Routing routing;
  routing.k = 2;
  moekit_routing plan = routing.plan();
  moekit_run_report report = MOEKIT_RUN_REPORT_INIT;
  report.assignments = 99;
  EXPECT_EQ(moekit_experts_run(runner.experts, &h, &plan, &o, nullptr, 0, &report, nullptr), MOEKIT_OK)
      << moekit_last_error();
  EXPECT_EQ(report.assignments, 0);
  EXPECT_EQ(report.experts_touched, 0);
  moekit_context_destroy(ctx);
}

TEST(Experts, ExpertMapSkipsNonLocalExperts) {
  // 8 global experts, 3 held here: global 1 -> 2, 4 -> 0, 6 -> 1.
  const int32_t map[8] = {-1, 2, -1, -1, 0, -1, 1, -1};
  moekit_experts_desc d = make_desc(8, 96, 64);
  d.num_local_experts = 3;
  d.expert_map = map;
  d.has_w2_bias = 1;  // a bias must not leak into non-local contributions either
  moekit_context ctx = cpu_context();
  WeightSet w(d, 60);
  Runner runner(ctx, d, w);
  Routing routing = random_routing(40, 3, 8, 61);
  routing.ids[0] = 0; routing.ids[1] = 2; routing.ids[2] = 3;  // token 0: no local expert -> zeros
  const auto hidden = exact_hidden(40, 96, 62);
  const auto spec = spec_of(d);
  const auto ref = moekit_ref::ref_experts_forward(spec, moekit_ref::ref_decode_expert_weights(spec, w.ref()), hidden,
                                                   40, 3, routing.ids.data(), routing.weights.data());
  ASSERT_GT(ref.non_local_assignments, 0);
  for (moekit_dtype dt : kHiddenDtypes) {
    moekit_run_report report = MOEKIT_RUN_REPORT_INIT;
    const auto got = run_experts(runner.experts, hidden, 96, dt, routing, &report);
    expect_close(ref, got, dt, "expert_map");
    for (int h = 0; h < 96; ++h) EXPECT_EQ(got[static_cast<size_t>(h)], 0.0) << "token 0 has no local expert";
    EXPECT_EQ(report.assignments, 120);
    EXPECT_EQ(report.non_local_assignments, ref.non_local_assignments);
    EXPECT_EQ(report.invalid_assignments, 0);
    EXPECT_EQ(report.experts_touched, ref.experts_touched);
  }
  moekit_context_destroy(ctx);
}

TEST(Experts, InvalidIdsInACallerPlanAreSkippedAndCounted) {
  moekit_experts_desc d = make_desc(5, 64, 32);
  moekit_context ctx = cpu_context();
  WeightSet w(d, 70);
  Runner runner(ctx, d, w);
  Routing routing = random_routing(12, 3, 5, 71);
  const int32_t bad[] = {-1, 5, INT32_MIN, INT32_MAX, 1000, -5};
  for (size_t i = 0; i < 6; ++i) routing.ids[i * 5] = bad[i];  // spread over several tokens and slots
  routing.ids[33] = routing.ids[34] = routing.ids[35] = -1;   // token 11: nothing valid -> zeros
  const auto hidden = exact_hidden(12, 64, 72);
  const auto spec = spec_of(d);
  const auto ref = moekit_ref::ref_experts_forward(spec, moekit_ref::ref_decode_expert_weights(spec, w.ref()), hidden,
                                                   12, 3, routing.ids.data(), routing.weights.data());
  moekit_run_report report = MOEKIT_RUN_REPORT_INIT;
  const auto got = run_experts(runner.experts, hidden, 64, MOEKIT_DTYPE_F32, routing, &report);
  expect_close(ref, got, MOEKIT_DTYPE_F32, "invalid ids");
  EXPECT_EQ(report.invalid_assignments, 9);
  EXPECT_EQ(report.assignments, 36 - 9);
  for (int h = 0; h < 64; ++h) EXPECT_EQ(got[static_cast<size_t>(11 * 64 + h)], 0.0);
  moekit_context_destroy(ctx);
}

TEST(Experts, ResultDoesNotDependOnThreadCount) {
  for (int act_quant : {0, 2}) {
    moekit_experts_desc d = make_desc(8, 256, 128);
    d.act_quant = static_cast<moekit_act_quant>(act_quant);
    d.has_w13_bias = d.has_w2_bias = 1;
    WeightSet w(d, 80);
    Routing routing = random_routing(300, 2, 8, 81);
    const auto hidden = exact_hidden(300, 256, 82);
    std::vector<std::vector<unsigned char>> outs;
    for (int32_t threads : {1, 2, 3}) {
      moekit_context ctx = cpu_context(threads);
      Runner runner(ctx, d, w);
      std::vector<unsigned char> raw;
      run_experts(runner.experts, hidden, 256, MOEKIT_DTYPE_F32, routing, nullptr, &raw);
      outs.push_back(raw);
      moekit_context_destroy(ctx);
    }
    EXPECT_EQ(outs[0], outs[1]) << "1 vs 2 threads";
    EXPECT_EQ(outs[0], outs[2]) << "1 vs 3 threads";
  }
}

TEST(Experts, ToleranceDetectsAMissingActivationQuantization) {
  // The comparison is sharp enough to fail: the reference without FP8 activation quantization must be out of
  // tolerance of the runner with it.
  moekit_experts_desc d = make_desc(4, 128, 128);
  d.act_quant = MOEKIT_ACT_QUANT_FP8_PER_TOKEN;
  moekit_context ctx = cpu_context();
  WeightSet w(d, 90);
  Runner runner(ctx, d, w);
  Routing routing = random_routing(16, 2, 4, 91);
  const auto hidden = exact_hidden(16, 128, 92);
  auto spec = spec_of(d);
  spec.act_quant = 0;
  const auto ref = moekit_ref::ref_experts_forward(spec, moekit_ref::ref_decode_expert_weights(spec, w.ref()), hidden,
                                                   16, 2, routing.ids.data(), routing.weights.data());
  const auto got = run_experts(runner.experts, hidden, 128, MOEKIT_DTYPE_F32, routing, nullptr);
  size_t outside = 0;
  for (size_t i = 0; i < got.size(); ++i) outside += std::fabs(got[i] - ref.out[i]) > ref.err_bound[i];
  EXPECT_GT(outside, got.size() / 2);
  moekit_context_destroy(ctx);
}

TEST(Experts, SetWeightsAgainReplacesThem) {
  moekit_experts_desc d = make_desc(4, 64, 32);
  moekit_context ctx = cpu_context();
  WeightSet first(d, 100), second(d, 101);
  Runner runner(ctx, d, first);
  ASSERT_EQ(moekit_experts_set_weights(runner.experts, &second.desc, nullptr), MOEKIT_OK);
  Routing routing = random_routing(5, 2, 4, 102);
  const auto hidden = exact_hidden(5, 64, 103);
  const auto spec = spec_of(d);
  const auto ref = moekit_ref::ref_experts_forward(spec, moekit_ref::ref_decode_expert_weights(spec, second.ref()),
                                                   hidden, 5, 2, routing.ids.data(), routing.weights.data());
  expect_close(ref, run_experts(runner.experts, hidden, 64, MOEKIT_DTYPE_F32, routing, nullptr), MOEKIT_DTYPE_F32,
               "second weights");
  moekit_context_destroy(ctx);
}
