// The accuracy check of `moekit bench` (tools/moekit/bench_check.*) must pass a correct layer and reject the
// wrong kernels it exists to catch: a wrong expert, a wrong combine weight, a wrong FP8 block scale, a
// non-finite output. The "kernel" here is moekit's CPU backend, run on the benchmark's own random weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "bench_check.h"
#include "bench_weights.h"
#include "model_presets.h"
#include "moekit/moekit.h"

namespace moekit_cli {
namespace {

#define MOEKIT_OK(expr) ASSERT_EQ((expr), MOEKIT_OK) << #expr << ": " << moekit_last_error()

moekit_tensor host_tensor(void* data, moekit_dtype dt, std::vector<int64_t> shape) {
  moekit_tensor t{};
  moekit_tensor_init(&t, data, dt, static_cast<int32_t>(shape.size()), shape.data());
  return t;
}

// A small layer in a preset's routing and activation, run on the CPU backend: every token is sampled.
class BenchCheckTest : public ::testing::TestWithParam<moekit_weight_format> {
 protected:
  void SetUp() override {
    preset_ = find_preset("qwen3-30b-a3b");
    ASSERT_NE(preset_, nullptr);
    format_ = GetParam();
    act_quant_ = format_ == MOEKIT_WEIGHTS_FP8_BLOCK ? MOEKIT_ACT_QUANT_FP8_PER_GROUP : MOEKIT_ACT_QUANT_NONE;
    shape_ = {256, 128, 16, preset_->top_k};  // H = 2 FP8 column blocks
    weights_ = make_bench_weights(*preset_, shape_, format_, 7);
    const int64_t T = 4, H = shape_.hidden, E = shape_.num_experts, k = shape_.top_k;

    moekit_context ctx = nullptr;
    MOEKIT_OK(moekit_context_create(MOEKIT_BACKEND_CPU, 0, &ctx));
    moekit_router_desc rd = MOEKIT_ROUTER_DESC_INIT;
    rd.num_experts = static_cast<int32_t>(E);
    rd.top_k = static_cast<int32_t>(k);
    rd.renormalize = 1;
    moekit_router router = nullptr;
    MOEKIT_OK(moekit_router_create(ctx, &rd, &router));
    moekit_experts_desc ed = MOEKIT_EXPERTS_DESC_INIT;
    ed.num_experts = ed.num_local_experts = static_cast<int32_t>(E);
    ed.hidden_size = H;
    ed.intermediate_size = shape_.intermediate;
    ed.weight_format = format_;
    ed.act_quant = act_quant_;
    moekit_experts experts = nullptr;
    MOEKIT_OK(moekit_experts_create(ctx, &ed, &experts));
    const bool fp8 = format_ == MOEKIT_WEIGHTS_FP8_BLOCK;
    const moekit_dtype vt = fp8 ? MOEKIT_DTYPE_F8_E4M3FN : MOEKIT_DTYPE_BF16;
    moekit_expert_weights ew{};
    ew.struct_size = sizeof ew;
    ew.w13 = host_tensor(weights_.w13.data.get(), vt, weights_.w13_shape());
    ew.w2 = host_tensor(weights_.w2.data.get(), vt, weights_.w2_shape());
    if (fp8) {
      ew.w13_scale = host_tensor(weights_.w13_scale.data.get(), MOEKIT_DTYPE_F32, weights_.w13_scale_shape());
      ew.w2_scale = host_tensor(weights_.w2_scale.data.get(), MOEKIT_DTYPE_F32, weights_.w2_scale_shape());
    }
    MOEKIT_OK(moekit_experts_set_weights(experts, &ew, nullptr));

    HostBytes hidden = make_bf16_matrix(T, H, 1.0f, 3);
    HostBytes logits = make_f32_matrix(T, E, 2.0f, 4);
    sample_.hidden.resize(static_cast<size_t>(T * H));
    std::memcpy(sample_.hidden.data(), hidden.data.get(), hidden.size);
    sample_.topk_ids.resize(static_cast<size_t>(T * k));
    sample_.topk_weights.resize(static_cast<size_t>(T * k));
    sample_.out.resize(static_cast<size_t>(T * H));
    for (int64_t t = 0; t < T; ++t) sample_.token_index.push_back(t);
    moekit_tensor tl = host_tensor(logits.data.get(), MOEKIT_DTYPE_F32, {T, E});
    moekit_routing plan{};
    plan.struct_size = sizeof plan;
    plan.topk_ids = host_tensor(sample_.topk_ids.data(), MOEKIT_DTYPE_I32, {T, k});
    plan.topk_weights = host_tensor(sample_.topk_weights.data(), MOEKIT_DTYPE_F32, {T, k});
    MOEKIT_OK(moekit_router_run(router, &tl, &plan, nullptr));
    size_t ws = 0;
    MOEKIT_OK(moekit_experts_workspace_size(experts, T, static_cast<int32_t>(k), &ws));
    std::vector<uint8_t> workspace(ws + 256);
    void* aligned = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(workspace.data()) + 255) & ~uintptr_t{255});
    moekit_tensor th = host_tensor(sample_.hidden.data(), MOEKIT_DTYPE_BF16, {T, H});
    moekit_tensor to = host_tensor(sample_.out.data(), MOEKIT_DTYPE_BF16, {T, H});
    MOEKIT_OK(moekit_experts_run(experts, &th, &plan, &to, ws ? aligned : nullptr, ws, nullptr, nullptr));
    moekit_experts_destroy(experts);
    moekit_router_destroy(router);
    moekit_context_destroy(ctx);
  }

  CheckResult check() const { return check_sampled_tokens(*preset_, weights_, act_quant_, sample_); }

  const ModelPreset* preset_ = nullptr;
  moekit_weight_format format_ = MOEKIT_WEIGHTS_BF16;
  moekit_act_quant act_quant_ = MOEKIT_ACT_QUANT_NONE;
  BenchShape shape_;
  HostExpertWeights weights_;
  SampledTokens sample_;
};

TEST_P(BenchCheckTest, PassesTheCpuBackend) {
  const CheckResult r = check();
  EXPECT_TRUE(r.passed) << r.message;
  EXPECT_EQ(r.tokens, 4);
  EXPECT_GT(r.max_rel_l2, 0.0);  // bf16 output rounding is always there
  EXPECT_LE(r.max_rel_l2, r.tolerance);
}

TEST_P(BenchCheckTest, RejectsAWrongExpert) {
  // The layer computed expert ids[0]; the check is told another expert (one the token did not choose).
  const int32_t k = shape_.top_k;
  int32_t other = 0;
  while (std::find(sample_.topk_ids.begin(), sample_.topk_ids.begin() + k, other) != sample_.topk_ids.begin() + k)
    ++other;
  sample_.topk_ids[0] = other;
  const CheckResult r = check();
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.message.find("token 0"), std::string::npos) << r.message;
}

TEST_P(BenchCheckTest, RejectsAWrongCombineWeight) {
  sample_.topk_weights[static_cast<size_t>(shape_.top_k) + 1] *= 2.0f;  // token 1, second slot
  const CheckResult r = check();
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.message.find("token 1"), std::string::npos) << r.message;
}

TEST_P(BenchCheckTest, RejectsANonFiniteOutput) {
  sample_.out[static_cast<size_t>(3 * shape_.hidden + 5)] = 0x7FC0;  // bf16 NaN in token 3
  const CheckResult r = check();
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.message.find("not finite"), std::string::npos) << r.message;
}

// FP8 weights only: bf16 weights have no block scales.
class BenchCheckFp8Test : public BenchCheckTest {};

TEST_P(BenchCheckFp8Test, RejectsAWrongBlockScale) {
  // As if the kernel read the neighbouring column block's scale of w13 (the layer ran with the true scales, the
  // check decodes the weights with the two column blocks' scales swapped in every row block of every expert).
  const auto s = weights_.w13_scale_shape();  // [E, 2I/128, H/128] = [E, 2, 2]
  float* scales = reinterpret_cast<float*>(weights_.w13_scale.data.get());
  for (int64_t rb = 0; rb < s[0] * s[1]; ++rb) std::swap(scales[rb * s[2]], scales[rb * s[2] + 1]);
  const CheckResult r = check();
  EXPECT_FALSE(r.passed) << "max relative error " << r.max_rel_l2;
  EXPECT_GT(r.max_rel_l2, 2 * r.tolerance);  // far outside, not a borderline catch
}

INSTANTIATE_TEST_SUITE_P(Formats, BenchCheckFp8Test, ::testing::Values(MOEKIT_WEIGHTS_FP8_BLOCK),
                         [](const ::testing::TestParamInfo<moekit_weight_format>&) { return std::string("fp8"); });

INSTANTIATE_TEST_SUITE_P(Formats, BenchCheckTest,
                         ::testing::Values(MOEKIT_WEIGHTS_BF16, MOEKIT_WEIGHTS_FP8_BLOCK),
                         [](const ::testing::TestParamInfo<moekit_weight_format>& i) {
                           return std::string(i.param == MOEKIT_WEIGHTS_BF16 ? "bf16" : "fp8");
                         });

}  // namespace
}  // namespace moekit_cli
