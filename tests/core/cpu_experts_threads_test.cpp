// The CPU expert runner runs small runs on the calling thread (cpu/parallel_work.h) and larger ones on the
// context's threads. On both sides of that line: the report says which happened, the result is bit-identical to
// a one-thread context, and it agrees with the float64 reference within its error bound.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/cpu_expert_weights.h"
#include "cpu/cpu_ops.h"
#include "cpu/parallel_work.h"
#include "moekit_core/experts.h"
#include "reference/ref_experts.h"
#include "core/tensor_view.h"

using namespace moekit;

namespace {

using test::view;

struct RunResult {
  std::vector<float> out;
  std::string detail;
};

RunResult run_with_threads(Context& ctx, int threads, const ExpertsConfig& c, const cpu::CpuExpertWeights& prepared,
                           std::vector<float>& hidden, std::vector<int32_t>& ids, std::vector<float>& weights,
                           int64_t T, int64_t k) {
  ctx.set_num_threads(threads);
  RunResult r;
  r.out.assign(static_cast<size_t>(T * c.hidden), -1.0f);
  RoutingPlan plan;
  plan.topk_ids = view(ids.data(), DType::I32, {T, k});
  plan.topk_weights = view(weights.data(), DType::F32, {T, k});
  const size_t ws_bytes = cpu::experts_workspace_size(c, T, static_cast<int32_t>(k));
  std::vector<unsigned char> ws(ws_bytes + 64);
  void* ws_aligned = ws.data() + (64 - reinterpret_cast<uintptr_t>(ws.data()) % 64) % 64;
  RunReport report;
  cpu::run_experts(ctx.exec(nullptr), c, prepared, view(hidden.data(), DType::F32, {T, c.hidden}), plan,
                   view(r.out.data(), DType::F32, {T, c.hidden}), ws_aligned, ws_bytes, report);
  r.detail = report.detail;
  return r;
}

}  // namespace

TEST(CpuExpertsThreads, SmallRunsStayOnTheCallingThreadWithTheSameResult) {
  const int32_t E = 4, k = 2;
  const int64_t H = 100, I = 72;  // padded by the CPU contract to 128, 96
  ExpertsConfig cfg;
  cfg.num_experts = cfg.num_local_experts = E;
  cfg.hidden = H;
  cfg.intermediate = I;
  cfg.activation = Activation::SwigluOai;
  cfg.weight_format = WeightFormat::F32;
  cfg.act_quant = ActQuant::Fp8PerGroup;
  cfg.has_w13_bias = cfg.has_w2_bias = true;
  cfg.expert_map = {0, 1, 2, 3};
  auto ctx = Context::create(BackendKind::CPU, 0);
  const Experts experts(ctx, cfg);
  const ExpertsConfig& c = experts.config();  // with paddings filled in

  // The largest T just below the line and the next T, which is above it.
  const double macs_per_token = 3.0 * static_cast<double>(c.hidden_pad * c.intermediate_pad * k);
  const int64_t t_small = static_cast<int64_t>(std::ceil(cpu::kMinParallelMacs / macs_per_token)) - 1;
  ASSERT_LT(t_small * macs_per_token, cpu::kMinParallelMacs);
  ASSERT_GE((t_small + 1) * macs_per_token, cpu::kMinParallelMacs);

  std::mt19937 rng(11);
  std::normal_distribution<float> n01(0.0f, 1.0f);
  std::vector<float> w13(E * 2 * I * H), w2(E * H * I), b13(E * 2 * I), b2(E * H);
  for (auto& v : w13) v = n01(rng) / 10.0f;
  for (auto& v : w2) v = n01(rng) / 8.5f;
  for (auto& v : b13) v = n01(rng) * 0.3f;
  for (auto& v : b2) v = n01(rng) * 0.3f;
  ExpertWeights w;
  w.w13 = view(w13.data(), DType::F32, {E, 2 * I, H});
  w.w2 = view(w2.data(), DType::F32, {E, H, I});
  w.w13_bias = view(b13.data(), DType::F32, {E, 2 * I});
  w.w2_bias = view(b2.data(), DType::F32, {E, H});
  const auto prepared = cpu::prepare_cpu_expert_weights(ctx->exec(nullptr), c, w);

  moekit_ref::RefExpertsSpec spec;
  spec.num_experts = spec.num_local = E;
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
  const auto decoded = moekit_ref::ref_decode_expert_weights(spec, buffers);

  for (const int64_t T : {int64_t{1}, t_small, t_small + 1}) {
    SCOPED_TRACE("T = " + std::to_string(T));
    std::vector<float> hidden(static_cast<size_t>(T * H)), weights(static_cast<size_t>(T * k));
    std::vector<int32_t> ids(static_cast<size_t>(T * k));
    for (auto& v : hidden) v = n01(rng);
    for (auto& x : weights) x = 0.1f + std::fabs(n01(rng));
    for (int64_t t = 0; t < T; ++t) {  // two distinct local experts per token: every assignment is GEMM work
      ids[static_cast<size_t>(t * k)] = static_cast<int32_t>(rng() % E);
      ids[static_cast<size_t>(t * k + 1)] = (ids[static_cast<size_t>(t * k)] + 1 + static_cast<int32_t>(rng() % 3)) % E;
    }

    const RunResult two = run_with_threads(*ctx, 2, c, *prepared, hidden, ids, weights, T, k);
    const RunResult one = run_with_threads(*ctx, 1, c, *prepared, hidden, ids, weights, T, k);
    const bool small = T <= t_small;
    EXPECT_NE(two.detail.find(small ? "jobs on 1 of 2 OpenMP threads" : "jobs on 2 of 2 OpenMP threads"),
              std::string::npos)
        << two.detail;
    EXPECT_NE(one.detail.find("jobs on 1 of 1 OpenMP threads"), std::string::npos) << one.detail;
    ASSERT_EQ(std::memcmp(two.out.data(), one.out.data(), two.out.size() * sizeof(float)), 0)
        << "2-thread and 1-thread contexts differ";

    const auto ref = moekit_ref::ref_experts_forward(spec, decoded, std::vector<double>(hidden.begin(), hidden.end()),
                                                     T, k, ids.data(), weights.data());
    for (size_t i = 0; i < two.out.size(); ++i)
      ASSERT_LE(std::fabs(two.out[i] - ref.out[i]), ref.err_bound[i]) << "element " << i;
  }
}
