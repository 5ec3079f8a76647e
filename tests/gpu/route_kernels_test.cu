// The shared routing kernels (kernels/common/device/route_topk.cuh, route_topk_lanes.cuh) launched directly
// with each kernel forced — the warp-strided one on every config, the lane-chunk one wherever it applies — and
// compared with the CPU backend's routing of the same logits (ids exactly, weights within kWeightUlps). The
// public-API test (route_test.cpp) covers whichever kernel the module picks; this one keeps the other honest.
// A Large_ test prints both kernels' times at small T (not a timed test: numbers for the report).
#include <cstdio>
#include <stdexcept>

#include "device/route_topk.cuh"
#include "device_test_runtime.h"
#include "route_case.h"
#include "route_reference.h"

namespace moekit_gpu_test {
namespace {

namespace dev = moekit::device;

int32_t plugin_dtype(moekit_dtype d) {
  return d == MOEKIT_DTYPE_BF16 ? MOEKIT_PLUGIN_BF16 : d == MOEKIT_DTYPE_F16 ? MOEKIT_PLUGIN_F16 : MOEKIT_PLUGIN_F32;
}

// One config's routing of T tokens on the device through the shared launcher, `kernel` forced.
struct DirectRoute {
  moekit_plugin_router_config cfg{};
  DeviceBuffer logits, ids, weights;
  moekit_plugin_tensor logits_t{};
  moekit_plugin_routing routing{};
  DirectRoute(const RouteCase& c, const RouterPair& r, const std::vector<uint8_t>& bytes, moekit_dtype dtype,
              int64_t tokens)
      : logits(bytes.size() > 0 ? bytes.size() : 4), ids(4 * tokens * c.top_k), weights(4 * tokens * c.top_k) {
    cfg.num_experts = c.experts;
    cfg.top_k = c.top_k;
    cfg.scoring = c.scoring == MOEKIT_SCORING_SOFTMAX ? MOEKIT_PLUGIN_SCORING_SOFTMAX : MOEKIT_PLUGIN_SCORING_SIGMOID;
    cfg.renormalize = c.renormalize;
    cfg.num_expert_groups = c.groups < 1 ? 1 : c.groups;
    cfg.topk_groups = c.topk_groups;
    cfg.routed_scaling_factor = c.scaling;
    cfg.block_size = c.block_size;
    cfg.correction_bias = r.bias.empty() ? nullptr : r.bias.data();
    cfg.expert_map = r.map.empty() ? nullptr : r.map.data();
    if (!bytes.empty()) logits.upload(bytes.data(), bytes.size());
    logits_t = plugin_tensor(logits.get(), plugin_dtype(dtype), {tokens, c.experts});
    routing.topk_ids = plugin_tensor(ids.get(), MOEKIT_PLUGIN_I32, {tokens, c.top_k});
    routing.topk_weights = plugin_tensor(weights.get(), MOEKIT_PLUGIN_F32, {tokens, c.top_k});
  }
  void launch(dev::RouteKernel kernel, cudaStream_t stream) const {
    dev::launch_route_topk_on<TestRuntime>(cfg, logits_t, routing, stream, kernel);
  }
};

bool lanes_apply(const RouteCase& c) {
  return dev::lane_chunks_apply(c.experts, c.groups < 1 ? 1 : c.groups, dev::lane_chunk_for(c.experts));
}

class RouteKernels : public RouteCaseTest {};

TEST_P(RouteKernels, EachForcedKernelMatchesCpu) {
  const RouteCase& c = GetParam();
  const RouteRun runs[] = {{1, MOEKIT_DTYPE_F32}, {3, MOEKIT_DTYPE_BF16}, {7, MOEKIT_DTYPE_F32},
                           {300, MOEKIT_DTYPE_F32}, {300, MOEKIT_DTYPE_F16}};
  for (const RouteRun& run : runs) {
    const std::vector<uint8_t> bytes =
        encode(make_logits(run.tokens, c.experts, static_cast<uint32_t>(run.tokens) + 29u, c.skew_expert), run.dtype);
    const int64_t n = run.tokens * c.top_k;
    const PlanShape s{run.tokens, c.experts, c.top_k, 0, 0};
    HostPlan cpu(s, kTopkOnly);
    const std::string run_name =
        std::string(c.name) + " T=" + std::to_string(run.tokens) + " " + moekit_dtype_name(run.dtype);
    ASSERT_NO_FATAL_FAILURE(run_cpu_reference(router_.cpu, bytes, run.dtype, s, cpu, run_name));
    const std::vector<float>& cpu_weights = cpu.d.weights;
    const std::vector<int32_t>& cpu_ids = cpu.d.ids;

    for (dev::RouteKernel kernel : {dev::RouteKernel::kWarpStrided, dev::RouteKernel::kLaneChunks}) {
      const bool lanes = kernel == dev::RouteKernel::kLaneChunks;
      if (lanes && !lanes_apply(c)) continue;
      const std::string where = std::string(c.name) + (lanes ? " lane-chunk" : " warp-strided") +
                                " T=" + std::to_string(run.tokens) + " " + moekit_dtype_name(run.dtype);
      DirectRoute direct(c, router_, bytes, run.dtype, run.tokens);
      CUDA_OK(cudaMemset(direct.ids.get(), 0xAB, static_cast<size_t>(4 * n)));
      CUDA_OK(cudaMemset(direct.weights.get(), 0xAB, static_cast<size_t>(4 * n)));
      direct.launch(kernel, nullptr);
      CUDA_OK(cudaDeviceSynchronize());
      const std::vector<int32_t> ids = direct.ids.download<int32_t>(static_cast<size_t>(n));
      const std::vector<float> weights = direct.weights.download<float>(static_cast<size_t>(n));
      const int64_t id_diff = first_difference(cpu_ids, ids);
      EXPECT_EQ(id_diff, -1) << where << ": ids differ first at " << id_diff;
      int64_t worst = 0;
      for (int64_t i = 0; i < n; ++i)
        worst = std::max(worst, ulp_distance(cpu_weights[static_cast<size_t>(i)], weights[static_cast<size_t>(i)]));
      EXPECT_LE(worst, kWeightUlps) << where << ": weights";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Presets, RouteKernels, ::testing::ValuesIn(kRouteCases), route_case_name);

TEST_F(GpuTest, LaneChunkKernelRefusesGroupingsItCannotSplit) {
  EXPECT_TRUE(dev::lane_chunks_apply(256, 8, dev::lane_chunk_for(256)));   // DeepSeek-V3: 4 lanes per group
  EXPECT_TRUE(dev::lane_chunks_apply(40, 5, dev::lane_chunk_for(40)));     // 8 experts = 4 lanes of 2
  EXPECT_FALSE(dev::lane_chunks_apply(72, 3, dev::lane_chunk_for(72)));    // 24 experts = 6 lanes of 4
  EXPECT_FALSE(dev::lane_chunks_apply(1000, 8, dev::lane_chunk_for(1000)));  // 125 experts, chunks of 32
  EXPECT_FALSE(dev::lane_chunks_apply(128, 64, dev::lane_chunk_for(128)));   // 2 experts, inside one chunk of 4
}

// Not a timed test: both kernels' time per launch at decode sizes (CUDA events over back-to-back launches).
TEST_F(GpuTest, Large_RouteKernelTimes) {
  for (const RouteCase& c : kRouteCases) {
    if (!lanes_apply(c)) continue;
    RouterPair router;
    make_routers(cpu_, gpu_, c, router);
    for (int64_t tokens : {1, 4, 64, 16384}) {
      const std::vector<uint8_t> bytes = encode(make_logits(tokens, c.experts, 5u, -1), MOEKIT_DTYPE_F32);
      DirectRoute direct(c, router, bytes, MOEKIT_DTYPE_F32, tokens);
      float us[2] = {0, 0};
      int slot = 0;
      for (dev::RouteKernel kernel : {dev::RouteKernel::kWarpStrided, dev::RouteKernel::kLaneChunks}) {
        cudaEvent_t begin, end;
        CUDA_OK(cudaEventCreate(&begin));
        CUDA_OK(cudaEventCreate(&end));
        direct.launch(kernel, nullptr);
        constexpr int kReps = 50;
        CUDA_OK(cudaEventRecord(begin, nullptr));
        for (int i = 0; i < kReps; ++i) direct.launch(kernel, nullptr);
        CUDA_OK(cudaEventRecord(end, nullptr));
        CUDA_OK(cudaEventSynchronize(end));
        float ms = 0.0f;
        CUDA_OK(cudaEventElapsedTime(&ms, begin, end));
        us[slot++] = 1000.0f * ms / kReps;
        cudaEventDestroy(begin);
        cudaEventDestroy(end);
      }
      std::printf("[route kernels] %s T=%lld: warp-strided %.1f us, lane-chunk %.1f us\n", c.name,
                  static_cast<long long>(tokens), us[0], us[1]);
    }
  }
}

}  // namespace
}  // namespace moekit_gpu_test
