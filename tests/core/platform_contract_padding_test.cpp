// The padding of every platform contract, fed non-standard shapes and run through the CPU backend's routing
// plan and expert runner, never reads or writes out of bounds:
//  - inputs live in exact-size heap buffers, so the ASan build (ctest --preset asan) flags any read past them;
//  - outputs and workspaces are followed by a canary tail that must come back untouched (release build too);
//  - results still match the float64 reference / the plan invariants, so the padding changed nothing.
// The CPU runner lays weights out with the padded sizes it is given; giving it CUDA's and HIP's padding here is
// how the other platforms' numbers are exercised on a machine without their devices.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/cpu_expert_weights.h"
#include "cpu/cpu_ops.h"
#include "cpu/cpu_routing_plan.h"
#include "moekit_core/configs.h"
#include "moekit_core/platform_contract.h"
#include "reference/ref_experts.h"
#include "core/tensor_view.h"

using namespace moekit;

namespace {

constexpr BackendKind kAll[] = {BackendKind::CPU, BackendKind::CUDA, BackendKind::HIP};
constexpr size_t kGuard = 256;  // canary elements after every output buffer

using test::view;

// An output buffer of n elements followed by kGuard canaries.
template <class T>
struct Guarded {
  Guarded(size_t n, T fill, T canary) : n_(n), canary_(canary), data_(n + kGuard, fill) {
    for (size_t i = n; i < n + kGuard; ++i) data_[i] = canary;
  }
  T* data() { return data_.data(); }
  const T& operator[](size_t i) const { return data_[i]; }
  bool tail_intact() const {
    for (size_t i = n_; i < n_ + kGuard; ++i)
      if (std::memcmp(&data_[i], &canary_, sizeof(T)) != 0) return false;
    return true;
  }
  size_t n_;
  T canary_;
  std::vector<T> data_;
};

struct PlanShape {
  int64_t tokens;
  int32_t top_k;
  int32_t experts;
};

}  // namespace

TEST(ContractPadding, RoutingPlanStaysInsideEveryPlatformsBuffers) {
  std::mt19937 rng(5);
  const PlanShape shapes[] = {{0, 4, 8}, {1, 8, 256}, {3, 2, 7}, {37, 6, 61}, {129, 4, 33}, {300, 1, 3}};
  for (BackendKind kind : kAll) {
    const int32_t block = platform_contract_for(kind).block_size_m;
    for (const PlanShape& s : shapes) {
      for (bool minimal : {true, false}) {  // the validated minimum (plan_sizes) and the platform's rounded size
        const PlanSizes sizes = minimal ? plan_sizes(s.tokens, s.top_k, s.experts, block)
                                        : routing_buffer_sizes(kind, s.tokens, s.top_k, s.experts);
        const int64_t n = s.tokens * s.top_k;
        std::vector<int32_t> ids(static_cast<size_t>(n));  // exact size: ASan guards reads past it
        std::uniform_int_distribution<int32_t> pick(-1, s.experts);  // -1 and E are invalid
        for (auto& id : ids) id = pick(rng);
        const int32_t words = (s.experts + 31) / 32;
        Guarded<uint32_t> bits(static_cast<size_t>(s.tokens * words), 0xFFFFFFFFu, 0xC0FFEE00u);
        Guarded<int32_t> counts(static_cast<size_t>(s.experts), -7, 0x7EADBEEF);
        Guarded<int32_t> sorted(static_cast<size_t>(sizes.max_sorted), -7, 0x7EADBEEF);
        Guarded<int32_t> blocks(static_cast<size_t>(sizes.max_blocks), -7, 0x7EADBEEF);
        Guarded<int32_t> post(1, -7, 0x7EADBEEF);
        RouterConfig cfg;
        cfg.num_experts = s.experts;
        cfg.top_k = s.top_k;
        cfg.block_size = block;
        RoutingPlan plan;
        plan.topk_ids = view(ids.data(), DType::I32, {s.tokens, s.top_k});
        plan.bitmatrix = view(bits.data(), DType::U32, {s.tokens, words});
        plan.expert_counts = view(counts.data(), DType::I32, {s.experts});
        plan.sorted_token_ids = view(sorted.data(), DType::I32, {sizes.max_sorted});
        plan.block_expert_ids = view(blocks.data(), DType::I32, {sizes.max_blocks});
        plan.num_tokens_post_padded = view(post.data(), DType::I32, {1});
        cpu::write_plan_metadata(ExecContext{}, cfg, plan);

        const std::string where = std::string(backend_name(kind)) + " T " + std::to_string(s.tokens) + " k " +
                                  std::to_string(s.top_k) + " E " + std::to_string(s.experts) +
                                  (minimal ? " (minimum)" : " (rounded)");
        EXPECT_TRUE(bits.tail_intact()) << where;
        EXPECT_TRUE(counts.tail_intact()) << where;
        EXPECT_TRUE(sorted.tail_intact()) << where;
        EXPECT_TRUE(blocks.tail_intact()) << where;
        EXPECT_TRUE(post.tail_intact()) << where;
        // Plan invariants: every slot a valid flat index or the T*k fill; every block owned by its run's expert.
        const int32_t padded_total = post[0];
        ASSERT_GE(padded_total, 0) << where;
        ASSERT_LE(padded_total, sizes.max_sorted) << where;
        EXPECT_EQ(padded_total % block, 0) << where;
        int64_t valid = 0;
        for (int32_t id : ids) valid += id >= 0 && id < s.experts;
        int64_t counted = 0;
        for (int32_t e = 0; e < s.experts; ++e) counted += counts[static_cast<size_t>(e)];
        EXPECT_EQ(counted, valid) << where;
        for (int64_t slot = 0; slot < sizes.max_sorted; ++slot) {
          const int32_t flat = sorted[static_cast<size_t>(slot)];
          ASSERT_TRUE(flat >= 0 && flat <= n) << where << " slot " << slot;
          if (flat == n) continue;
          ASSERT_LT(slot, padded_total) << where;
          const int32_t owner = blocks[static_cast<size_t>(slot / block)];
          ASSERT_EQ(owner, ids[static_cast<size_t>(flat)]) << where << " slot " << slot;
        }
        for (int64_t b = 0; b < sizes.max_blocks; ++b) {
          const int32_t owner = blocks[static_cast<size_t>(b)];
          ASSERT_TRUE(owner >= -1 && owner < s.experts) << where << " block " << b;
          if (b * block >= padded_total) {
            ASSERT_EQ(owner, -1) << where << " block past the padded total";
          }
        }
      }
    }
  }
}

namespace {

struct ExpertShape {
  int64_t hidden, intermediate, tokens;
  int32_t top_k;
  Activation activation;
  ActQuant act_quant;
  bool biases;
};

// Runs the CPU expert runner with `kind`'s padded sizes and checks canaries and the float64 reference.
void run_with_contract_padding(BackendKind kind, const ExpertShape& s, uint32_t seed) {
  const int32_t E = 5, L = 3;
  const std::vector<int32_t> expert_map = {1, -1, 0, 2, -1};
  const PaddedSizes pad = padded_sizes(platform_contract_for(kind), s.hidden, s.intermediate);
  ExpertsConfig cfg;
  cfg.num_experts = E;
  cfg.num_local_experts = L;
  cfg.hidden = s.hidden;
  cfg.intermediate = s.intermediate;
  cfg.hidden_pad = pad.hidden_pad;
  cfg.intermediate_pad = pad.intermediate_pad;
  cfg.activation = s.activation;
  cfg.weight_format = WeightFormat::F32;
  cfg.act_quant = s.act_quant;
  cfg.has_w13_bias = cfg.has_w2_bias = s.biases;
  cfg.expert_map = expert_map;
  const int64_t H = s.hidden, I = s.intermediate, T = s.tokens;
  const int32_t k = s.top_k;

  std::mt19937 rng(seed);
  std::normal_distribution<float> n01(0.0f, 1.0f);
  // Exact-size inputs: the runner must read H (not Hp) columns of hidden and of the caller's weights.
  std::vector<float> w13(static_cast<size_t>(L * 2 * I * H)), w2(static_cast<size_t>(L * H * I));
  std::vector<float> b13(static_cast<size_t>(L * 2 * I)), b2(static_cast<size_t>(L * H)), hidden(static_cast<size_t>(T * H));
  for (auto& v : w13) v = n01(rng) / 6.0f;
  for (auto& v : w2) v = n01(rng) / 6.0f;
  for (auto& v : b13) v = n01(rng) * 0.3f;
  for (auto& v : b2) v = n01(rng) * 0.3f;
  for (auto& v : hidden) v = n01(rng);
  ExpertWeights w;
  w.w13 = view(w13.data(), DType::F32, {L, 2 * I, H});
  w.w2 = view(w2.data(), DType::F32, {L, H, I});
  if (s.biases) {
    w.w13_bias = view(b13.data(), DType::F32, {L, 2 * I});
    w.w2_bias = view(b2.data(), DType::F32, {L, H});
  }
  const ExecContext ex{2, nullptr};
  const auto prepared = cpu::prepare_cpu_expert_weights(ex, cfg, w);
  ASSERT_EQ(prepared->hidden_pad, pad.hidden_pad);
  ASSERT_EQ(prepared->intermediate_pad, pad.intermediate_pad);

  std::vector<int32_t> ids(static_cast<size_t>(T * k));
  std::vector<float> weights(static_cast<size_t>(T * k));
  std::uniform_int_distribution<int32_t> pick(-1, E);
  for (auto& id : ids) id = pick(rng);
  for (auto& x : weights) x = 0.1f + std::fabs(n01(rng));
  RoutingPlan plan;
  plan.topk_ids = view(ids.data(), DType::I32, {T, k});
  plan.topk_weights = view(weights.data(), DType::F32, {T, k});

  const size_t ws_bytes = cpu::experts_workspace_size(cfg, T, k);
  const size_t align = static_cast<size_t>(platform_contract_for(BackendKind::CPU).buffer_align_bytes);
  Guarded<unsigned char> ws(ws_bytes + align, 0xAB, 0x5A);
  unsigned char* ws_aligned = ws.data() + (align - reinterpret_cast<uintptr_t>(ws.data()) % align) % align;
  Guarded<float> out(static_cast<size_t>(T * H), -1.0f, -12345.0f);
  RunReport report;
  cpu::run_experts(ex, cfg, *prepared, view(hidden.data(), DType::F32, {T, H}), plan,
                   view(out.data(), DType::F32, {T, H}), ws_aligned, ws_bytes, report);

  const std::string where = std::string(backend_name(kind)) + " H " + std::to_string(H) + "->" +
                            std::to_string(pad.hidden_pad) + " I " + std::to_string(I) + "->" +
                            std::to_string(pad.intermediate_pad) + " T " + std::to_string(T);
  EXPECT_TRUE(out.tail_intact()) << where << ": write past out";
  EXPECT_TRUE(ws.tail_intact()) << where << ": write past the workspace";

  moekit_ref::RefExpertsSpec spec;
  spec.num_experts = E;
  spec.num_local = L;
  spec.hidden = H;
  spec.intermediate = I;
  spec.activation = static_cast<int>(s.activation);
  spec.weight_format = 2;
  spec.act_quant = static_cast<int>(s.act_quant);
  spec.has_w13_bias = spec.has_w2_bias = s.biases;
  spec.expert_map = expert_map;
  moekit_ref::RefExpertBuffers buffers;
  buffers.w13 = w13.data();
  buffers.w2 = w2.data();
  if (s.biases) {
    buffers.w13_bias = b13.data();
    buffers.w2_bias = b2.data();
  }
  const auto ref = moekit_ref::ref_experts_forward(spec, moekit_ref::ref_decode_expert_weights(spec, buffers),
                                                   std::vector<double>(hidden.begin(), hidden.end()), T, k,
                                                   ids.data(), weights.data());
  for (size_t i = 0; i < static_cast<size_t>(T * H); ++i)
    ASSERT_LE(std::fabs(out[i] - ref.out[i]), ref.err_bound[i]) << where << ", element " << i;
  EXPECT_EQ(report.invalid_assignments, ref.invalid_assignments) << where;
}

}  // namespace

TEST(ContractPadding, ExpertRunnerWithEveryPlatformsPaddingOnOddShapes) {
  const ExpertShape shapes[] = {
      {33, 47, 9, 2, Activation::SiluMul, ActQuant::None, false},
      {130, 70, 5, 3, Activation::SwigluOai, ActQuant::None, true},
      {257, 129, 4, 2, Activation::GeluMul, ActQuant::Fp8PerGroup, true},
      {1, 1, 3, 1, Activation::SiluMul, ActQuant::Fp8PerToken, false},
  };
  uint32_t seed = 100;
  for (BackendKind kind : kAll)
    for (const ExpertShape& s : shapes) run_with_contract_padding(kind, s, seed++);
}
