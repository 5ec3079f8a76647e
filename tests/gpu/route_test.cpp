// CUDA routing against the CPU backend on the same logits: ids, weights, bitmatrix, counts, the padded sorted
// order, block expert ids and the padded total, for the model presets' router configs, T from 0 to 16384,
// E not a multiple of 32, expert_map with -1, skewed routing and NaN/Inf logits; and build_plan on
// caller-given ids, including ids outside [0, E).
// Configurations, logits and tolerances: route_case.h; the CPU reference run: route_reference.h.
#include <climits>
#include <cmath>
#include <limits>
#include <random>

#include "route_case.h"
#include "route_reference.h"

namespace moekit_gpu_test {
namespace {

// The same plan in device buffers (sentinel-filled), downloadable for comparison.
struct DevicePlan {
  PlanShape s;
  DeviceBuffer weights, ids, bits, counts, sorted, blocks, post_padded;
  moekit_routing r{};
  DevicePlan(const PlanShape& shape, PlanParts parts)
      : s(shape), weights(4 * s.tokens * s.top_k), ids(4 * s.tokens * s.top_k), bits(4 * s.tokens * s.words()),
        counts(4 * s.experts), sorted(4 * s.max_sorted), blocks(4 * s.max_blocks), post_padded(4) {
    r.struct_size = sizeof r;
    r.topk_weights = device_tensor(weights.get(), MOEKIT_DTYPE_F32, {s.tokens, s.top_k});
    r.topk_ids = device_tensor(ids.get(), MOEKIT_DTYPE_I32, {s.tokens, s.top_k});
    if (parts.bitmatrix) r.bitmatrix = device_tensor(bits.get(), MOEKIT_DTYPE_U32, {s.tokens, s.words()});
    if (parts.counts) r.expert_counts = device_tensor(counts.get(), MOEKIT_DTYPE_I32, {s.experts});
    if (parts.sorted) {
      r.sorted_token_ids = device_tensor(sorted.get(), MOEKIT_DTYPE_I32, {s.max_sorted});
      r.block_expert_ids = device_tensor(blocks.get(), MOEKIT_DTYPE_I32, {s.max_blocks});
      r.num_tokens_post_padded = device_tensor(post_padded.get(), MOEKIT_DTYPE_I32, {1});
    }
  }
  PlanData download() const {
    PlanData d;
    const auto n = [](int64_t v) { return static_cast<size_t>(v > 0 ? v : 0); };
    d.weights = weights.download<float>(n(s.tokens * s.top_k));
    d.ids = ids.download<int32_t>(n(s.tokens * s.top_k));
    d.bits = bits.download<uint32_t>(n(s.tokens * s.words()));
    d.counts = counts.download<int32_t>(n(s.experts));
    d.sorted = sorted.download<int32_t>(n(s.max_sorted));
    d.blocks = blocks.download<int32_t>(n(s.max_blocks));
    d.post_padded = post_padded.download<int32_t>(1);
    return d;
  }
};

template <class T>
std::vector<T> head(const std::vector<T>& v, int64_t n) {
  return std::vector<T>(v.begin(), v.begin() + (n > 0 ? n : 0));
}

// Compares the parts of two plans that a run wrote.
void expect_same_plan(const PlanData& cpu, const PlanData& gpu, const PlanShape& s, PlanParts parts,
                      bool compare_topk, const std::string& where) {
  if (compare_topk) {
    const int64_t n = s.tokens * s.top_k;
    const int64_t id_diff = first_difference(head(cpu.ids, n), gpu.ids);
    EXPECT_EQ(id_diff, -1) << where << ": topk_ids differ first at flat index " << id_diff << " (token "
                           << id_diff / s.top_k << "): cpu " << cpu.ids[static_cast<size_t>(id_diff < 0 ? 0 : id_diff)]
                           << ", cuda " << gpu.ids[static_cast<size_t>(id_diff < 0 ? 0 : id_diff)];
    int64_t worst = 0, worst_at = -1;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t d = ulp_distance(cpu.weights[static_cast<size_t>(i)], gpu.weights[static_cast<size_t>(i)]);
      if (d > worst) worst = d, worst_at = i;
    }
    EXPECT_LE(worst, kWeightUlps) << where << ": topk_weights differ by " << worst << " ulp at " << worst_at;
  }
  if (parts.bitmatrix) {
    EXPECT_EQ(first_difference(head(cpu.bits, s.tokens * s.words()), gpu.bits), -1) << where << ": bitmatrix";
  }
  if (parts.counts) {
    EXPECT_EQ(first_difference(head(cpu.counts, s.experts), gpu.counts), -1) << where << ": counts";
  }
  if (parts.sorted) {
    const int64_t sd = first_difference(head(cpu.sorted, s.max_sorted), gpu.sorted);
    EXPECT_EQ(sd, -1) << where << ": sorted_token_ids differ first at " << sd;
    EXPECT_EQ(first_difference(head(cpu.blocks, s.max_blocks), gpu.blocks), -1) << where << ": block_expert_ids";
    EXPECT_EQ(cpu.post_padded[0], gpu.post_padded[0]) << where << ": num_tokens_post_padded";
  }
}

class CudaRoute : public RouteCaseTest {};

TEST_P(CudaRoute, MatchesCpuForEveryTokenCountAndDtype) {
  const RouteCase& c = GetParam();
  const RouteRun runs[] = {{0, MOEKIT_DTYPE_F32},    {1, MOEKIT_DTYPE_F32},     {7, MOEKIT_DTYPE_F32},
                           {1000, MOEKIT_DTYPE_F32}, {16384, MOEKIT_DTYPE_F32}, {1000, MOEKIT_DTYPE_BF16},
                           {1000, MOEKIT_DTYPE_F16}};
  for (const RouteRun& run : runs) {
    const std::string where =
        std::string(c.name) + " T=" + std::to_string(run.tokens) + " " + moekit_dtype_name(run.dtype);
    const std::vector<uint8_t> logits =
        encode(make_logits(run.tokens, c.experts, static_cast<uint32_t>(run.tokens) + 17u, c.skew_expert), run.dtype);
    const PlanShape s = plan_shape(router_.cpu, run.tokens, c.experts, c.top_k);
    const PlanParts all;

    HostPlan cpu_plan(s, all);
    ASSERT_NO_FATAL_FAILURE(run_cpu_reference(router_.cpu, logits, run.dtype, s, cpu_plan, where));

    DevicePlan gpu_plan(s, all);
    DeviceBuffer dev_logits(logits.size());
    dev_logits.upload(logits.data(), logits.size());
    const moekit_tensor lg = device_tensor(dev_logits.get(), run.dtype, {run.tokens, c.experts});
    ASSERT_EQ(moekit_router_run(router_.gpu, &lg, &gpu_plan.r, nullptr), MOEKIT_OK) << where << moekit_last_error();
    CUDA_OK(cudaDeviceSynchronize());
    expect_same_plan(cpu_plan.d, gpu_plan.download(), s, all, true, where);
    if (run.tokens == 16384 && run.dtype == MOEKIT_DTYPE_F32) {
      // Not a timed test: a number for the report (whole plan: top-k + bitmatrix + counts + sorted order).
      cudaEvent_t begin, end;
      CUDA_OK(cudaEventCreate(&begin));
      CUDA_OK(cudaEventCreate(&end));
      constexpr int kReps = 20;
      CUDA_OK(cudaEventRecord(begin, nullptr));
      for (int i = 0; i < kReps; ++i) ASSERT_EQ(moekit_router_run(router_.gpu, &lg, &gpu_plan.r, nullptr), MOEKIT_OK);
      CUDA_OK(cudaEventRecord(end, nullptr));
      CUDA_OK(cudaEventSynchronize(end));
      float ms = 0.0f;
      CUDA_OK(cudaEventElapsedTime(&ms, begin, end));
      std::printf("[route] %s T=16384: %.1f us per full plan\n", c.name, 1000.0f * ms / kReps);
      cudaEventDestroy(begin);
      cudaEventDestroy(end);
    }
    if (c.skew_expert >= 0 && run.tokens > 0) {
      const std::vector<int32_t> counts = gpu_plan.counts.download<int32_t>(static_cast<size_t>(c.experts));
      // Every token but the (up to 7) special rows of make_logits picks the raised expert.
      EXPECT_GE(counts[static_cast<size_t>(c.skew_expert)], run.tokens - 7) << where << ": skewed expert";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Presets, CudaRoute, ::testing::ValuesIn(kRouteCases), route_case_name);

// Caller-given ids (build_plan): valid ids, duplicates within a token, -1, E, INT32_MIN / INT32_MAX.
TEST_F(GpuTest, BuildPlanMatchesCpuIncludingInvalidIds) {
  for (const RouteCase& c : {kRouteCases[5], kRouteCases[3], kRouteCases[8]}) {
    RouterPair router;
    make_routers(cpu_, gpu_, c, router);
    if (HasFatalFailure()) return;
    for (int64_t tokens : {int64_t{0}, int64_t{1}, int64_t{1000}, int64_t{16384}}) {
      const std::string where = std::string("build_plan ") + c.name + " T=" + std::to_string(tokens);
      std::mt19937 rng(static_cast<uint32_t>(tokens) * 7u + 3u);
      std::uniform_int_distribution<int32_t> pick(0, c.experts - 1);
      std::vector<int32_t> ids(static_cast<size_t>(tokens * c.top_k));
      const int32_t odd[] = {-1, c.experts, INT32_MIN, INT32_MAX, -32, c.experts + 31};
      for (size_t i = 0; i < ids.size(); ++i) ids[i] = i % 11 == 5 ? odd[(i / 11) % 6] : (i % 5 == 0 ? 3 : pick(rng));
      const PlanShape s = plan_shape(router.cpu, tokens, c.experts, c.top_k);
      for (const PlanParts parts : {PlanParts{}, PlanParts{true, true, false}, PlanParts{false, false, true}}) {
        HostPlan cpu_plan(s, parts);
        std::copy(ids.begin(), ids.end(), cpu_plan.d.ids.begin());
        cpu_plan.r.topk_weights.data = nullptr;
        ASSERT_EQ(moekit_router_build_plan(router.cpu, &cpu_plan.r, nullptr), MOEKIT_OK) << moekit_last_error();
        DevicePlan gpu_plan(s, parts);
        gpu_plan.ids.upload(ids.data(), ids.size() * 4);
        gpu_plan.r.topk_weights.data = nullptr;
        ASSERT_EQ(moekit_router_build_plan(router.gpu, &gpu_plan.r, nullptr), MOEKIT_OK) << moekit_last_error();
        CUDA_OK(cudaDeviceSynchronize());
        expect_same_plan(cpu_plan.d, gpu_plan.download(), s, parts, false, where);
      }
    }
  }
}

// A router larger than the module's shared-memory kernels handle: a clear UNSUPPORTED, never a wrong answer.
TEST_F(GpuTest, TooManyExpertsIsUnsupportedWithAReason) {
  moekit_router_desc d = MOEKIT_ROUTER_DESC_INIT;
  d.num_experts = 2048;
  d.top_k = 2;
  d.block_size = 64;
  moekit_router r = nullptr;
  MOEKIT_OK(moekit_router_create(gpu_, &d, &r));
  const PlanShape s = plan_shape(r, 4, d.num_experts, d.top_k);
  DevicePlan plan(s, PlanParts{});
  DeviceBuffer logits(4 * 4 * 2048);
  const moekit_tensor l = device_tensor(logits.get(), MOEKIT_DTYPE_F32, {4, 2048});
  EXPECT_EQ(moekit_router_run(r, &l, &plan.r, nullptr), MOEKIT_ERR_UNSUPPORTED);
  EXPECT_NE(std::string(moekit_last_error()).find("at most 1024 experts"), std::string::npos) << moekit_last_error();
  moekit_router_destroy(r);
}

// Host memory handed to a CUDA context is rejected by core before any kernel sees it.
TEST_F(GpuTest, HostTensorsAreRejectedOnACudaContext) {
  moekit_router_desc d = MOEKIT_ROUTER_DESC_INIT;
  d.num_experts = 8;
  d.top_k = 2;
  moekit_router r = nullptr;
  MOEKIT_OK(moekit_router_create(gpu_, &d, &r));
  std::vector<float> logits(16, 0.0f);
  const moekit_tensor l = host_tensor(logits.data(), MOEKIT_DTYPE_F32, {2, 8});
  const PlanShape s = plan_shape(r, 2, 8, 2);
  DevicePlan plan(s, PlanParts{});
  EXPECT_EQ(moekit_router_run(r, &l, &plan.r, nullptr), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(moekit_last_error()).find("logits"), std::string::npos) << moekit_last_error();
  moekit_router_destroy(r);
}

}  // namespace
}  // namespace moekit_gpu_test
