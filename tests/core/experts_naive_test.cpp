// The naive per-token baseline (the benchmark's denominator) computes the same layer as the BLAS runner: both
// are checked against the float64 reference with its error bound, on prepared weights shared by both.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "cpu/cpu_expert_weights.h"
#include "cpu/cpu_experts_naive.h"
#include "cpu/cpu_ops.h"
#include "moekit_core/experts.h"
#include "reference/ref_experts.h"
#include "core/tensor_view.h"

using namespace moekit;

namespace {

using test::view;

}  // namespace

TEST(ExpertsNaive, MatchesReferenceAndTheBlasRunner) {
  const int32_t E = 6, L = 4, k = 3;
  const int64_t H = 100, I = 72, T = 23;  // both padded by the CPU contract (128, 96)
  ExpertsConfig cfg;
  cfg.num_experts = E;
  cfg.num_local_experts = L;
  cfg.hidden = H;
  cfg.intermediate = I;
  cfg.activation = Activation::SwigluOai;
  cfg.weight_format = WeightFormat::F32;
  cfg.act_quant = ActQuant::Fp8PerGroup;
  cfg.has_w13_bias = cfg.has_w2_bias = true;
  cfg.expert_map = {2, -1, 0, 3, -1, 1};
  auto ctx = Context::create(BackendKind::CPU, 0);
  ctx->set_num_threads(2);
  const Experts experts(ctx, cfg);
  const ExpertsConfig& c = experts.config();  // with paddings filled in

  std::mt19937 rng(7);
  std::normal_distribution<float> n01(0.0f, 1.0f);
  std::vector<float> w13(L * 2 * I * H), w2(L * H * I), b13(L * 2 * I), b2(L * H), hidden(T * H);
  for (auto& v : w13) v = n01(rng) / 10.0f;
  for (auto& v : w2) v = n01(rng) / 8.5f;
  for (auto& v : b13) v = n01(rng) * 0.3f;
  for (auto& v : b2) v = n01(rng) * 0.3f;
  for (auto& v : hidden) v = n01(rng);
  ExpertWeights w;
  w.w13 = view(w13.data(), DType::F32, {L, 2 * I, H});
  w.w2 = view(w2.data(), DType::F32, {L, H, I});
  w.w13_bias = view(b13.data(), DType::F32, {L, 2 * I});
  w.w2_bias = view(b2.data(), DType::F32, {L, H});
  const auto prepared = cpu::prepare_cpu_expert_weights(ctx->exec(nullptr), c, w);

  std::vector<int32_t> ids(T * k);
  std::vector<float> weights(T * k);
  std::uniform_int_distribution<int32_t> pick(-1, E);  // includes the invalid ids -1 and E
  for (auto& id : ids) id = pick(rng);
  for (auto& x : weights) x = 0.1f + std::fabs(n01(rng));

  std::vector<float> naive(T * H, -1.0f), blas(T * H, -1.0f);
  cpu::run_experts_naive(c, *prepared, hidden.data(), T, k, ids.data(), weights.data(), naive.data());
  RoutingPlan plan;
  plan.topk_ids = view(ids.data(), DType::I32, {T, k});
  plan.topk_weights = view(weights.data(), DType::F32, {T, k});
  const size_t ws_bytes = cpu::experts_workspace_size(c, T, k);
  std::vector<unsigned char> ws(ws_bytes + 64);
  void* ws_aligned = ws.data() + (64 - reinterpret_cast<uintptr_t>(ws.data()) % 64) % 64;
  RunReport report;
  cpu::run_experts(ctx->exec(nullptr), c, *prepared, view(hidden.data(), DType::F32, {T, H}), plan,
                   view(blas.data(), DType::F32, {T, H}), ws_aligned, ws_bytes, report);

  moekit_ref::RefExpertsSpec spec;
  spec.num_experts = E;
  spec.num_local = L;
  spec.hidden = H;
  spec.intermediate = I;
  spec.activation = 2;
  spec.weight_format = 2;
  spec.act_quant = 2;
  spec.has_w13_bias = spec.has_w2_bias = true;
  spec.expert_map = cfg.expert_map;
  moekit_ref::RefExpertBuffers buffers;
  buffers.w13 = w13.data();
  buffers.w2 = w2.data();
  buffers.w13_bias = b13.data();
  buffers.w2_bias = b2.data();
  const auto ref = moekit_ref::ref_experts_forward(spec, moekit_ref::ref_decode_expert_weights(spec, buffers),
                                                   std::vector<double>(hidden.begin(), hidden.end()), T, k,
                                                   ids.data(), weights.data());
  for (size_t i = 0; i < naive.size(); ++i) {
    ASSERT_LE(std::fabs(naive[i] - ref.out[i]), ref.err_bound[i]) << "naive, element " << i;
    ASSERT_LE(std::fabs(blas[i] - ref.out[i]), ref.err_bound[i]) << "blas, element " << i;
  }
  EXPECT_EQ(report.invalid_assignments, ref.invalid_assignments);
  EXPECT_EQ(report.non_local_assignments, ref.non_local_assignments);
  EXPECT_GT(report.invalid_assignments, 0);
  EXPECT_GT(report.non_local_assignments, 0);
}
