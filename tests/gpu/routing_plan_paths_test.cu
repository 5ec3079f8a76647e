// The shared routing-plan kernels (kernels/common/device/routing_plan.cuh) launched directly, with the path
// forced: the single-block plan at every size, and the chunked plan down to tiny inputs and chunks of one block
// of ids (512), so that chunk and warp-span boundaries, a last chunk of one id, and padding written by blocks that
// own no ids are all exercised. Each is compared with the CPU backend's plan of the same ids. A Large_ test prints
// the time of both paths and of the default choice at several T (CUDA events; back-to-back launches, and inside
// a CUDA graph), so a change of the switch point is measured in one run.
#include <cstdio>
#include <stdexcept>

#include "device/routing_plan.cuh"
#include "device_test_runtime.h"
#include "plan_case.h"

namespace moekit_gpu_test {
namespace {

namespace dev = moekit::device;

const dev::PlanChunkPolicy kForceSingleBlock{INT64_MAX, dev::kMinChunkIds};
const dev::PlanChunkPolicy kForceChunked{0, dev::kChunkThreads};  // every non-empty input, 512-id chunks
const dev::PlanChunkPolicy kDefault{};

// A plan launch of the shared code on device buffers.
struct DirectPlan {
  moekit_plugin_router_config cfg{};
  moekit_plugin_routing routing{};
  DirectPlan(const PlanConfig& c, const std::vector<int32_t>& map, DevicePlanBuffers& b, PlanWants wants) {
    cfg.num_experts = c.experts;
    cfg.top_k = c.top_k;
    cfg.num_expert_groups = 1;
    cfg.routed_scaling_factor = 1.0f;
    cfg.block_size = c.block_size;
    cfg.expert_map = map.empty() ? nullptr : map.data();
    routing.topk_ids = plugin_tensor(b.ids.get(), MOEKIT_PLUGIN_I32, {b.tokens, c.top_k});
    if (wants.bitmatrix) routing.bitmatrix = plugin_tensor(b.bits.get(), MOEKIT_PLUGIN_U32, {b.tokens, b.words});
    if (wants.counts) routing.expert_counts = plugin_tensor(b.counts.get(), MOEKIT_PLUGIN_I32, {c.experts});
    if (wants.sorted) {
      routing.sorted_token_ids = plugin_tensor(b.sorted.get(), MOEKIT_PLUGIN_I32, {b.max_sorted});
      routing.block_expert_ids = plugin_tensor(b.blocks.get(), MOEKIT_PLUGIN_I32, {b.max_blocks});
      routing.num_tokens_post_padded = plugin_tensor(b.post_padded.get(), MOEKIT_PLUGIN_I32, {1});
    }
  }
  void launch(dev::PlanChunkPolicy policy, cudaStream_t stream) const {
    dev::launch_plan_metadata_on<TestRuntime>(cfg, routing, stream, policy);
  }
};

const PlanConfig kConfigs[] = {
    {"qwen3_e128_k8", 128, 8, 64, false},
    {"deepseek_e256_k8", 256, 8, 64, false},
    {"e40_k3_bs16_expert_map", 40, 3, 16, true},
    {"e1024_k8", 1024, 8, 64, false},
    {"e8_k2_bs1", 8, 2, 1, false},
};

TEST_F(GpuTest, SharedPlanKernelsMatchCpuOnEitherForcedPath) {
  // MOEKIT_PLAN_RACECHECK: a short sweep for compute-sanitizer racecheck, which is too slow for the full one.
  const bool short_sweep = std::getenv("MOEKIT_PLAN_RACECHECK") != nullptr;
  const std::vector<int64_t> tokens_list = short_sweep ? std::vector<int64_t>{1, 65, 1000}
                                                       : std::vector<int64_t>{1, 2, 63, 64, 65, 200, 1000, 4097, 16384};
  for (const PlanConfig& c : kConfigs) {
    if (short_sweep && c.experts > 256) continue;
    PlanRouters routers;
    make_plan_routers(cpu_, nullptr, c, routers);
    if (HasFatalFailure()) return;
    for (int64_t tokens : tokens_list) {
      int64_t max_sorted = 0, max_blocks = 0;
      MOEKIT_OK(moekit_router_plan_sizes(routers.cpu, tokens, nullptr, &max_sorted, &max_blocks));
      for (IdPattern pattern : {IdPattern::Uniform, IdPattern::OneExpert, IdPattern::TwoHot, IdPattern::WithInvalid}) {
        const std::vector<int32_t> ids = make_plan_ids(tokens, c, pattern, static_cast<uint32_t>(tokens + 5));
        for (const PlanWants wants : {PlanWants{}, PlanWants{false, true, false}}) {
          const PlanOutputs want = cpu_plan(routers.cpu, c, tokens, ids, wants);
          for (const auto& [path, policy] : {std::pair{"single_block", kForceSingleBlock},
                                             std::pair{"chunked", kForceChunked}, std::pair{"default", kDefault}}) {
            const std::string where = std::string(c.name) + " T=" + std::to_string(tokens) + " " +
                                      pattern_name(pattern) + " " + path + (wants.sorted ? "" : " counts-only");
            DevicePlanBuffers b(c, tokens, max_sorted, max_blocks, ids);
            const DirectPlan plan(c, routers.map, b, wants);
            ASSERT_NO_THROW(plan.launch(policy, nullptr)) << where;
            CUDA_OK(cudaDeviceSynchronize());
            expect_same_plan_outputs(want, b.download(wants), wants, where);
            if (HasFailure()) return;
          }
        }
      }
    }
  }
}

// plan_chunks: the table of uint16 counts must fit in the block-id buffer, chunks are whole blocks of ids, and a
// chunk never holds more ids than uint16 counts.
TEST(PlanChunks, FitTheTableAndTheUint16Counts) {
  for (int32_t experts : {8, 40, 128, 256, 1024})
    for (int32_t block : {1, 16, 64, 256})
      for (long long assignments : {1LL, 1025LL, 8192LL, 131072LL, 1000000LL, 20000000LL}) {
        const long long max_sorted = (assignments + experts * (block - 1LL) + block - 1) / block * block;
        const long long slots = 2 * (max_sorted / block);
        const dev::PlanChunks ch = dev::plan_chunks(assignments, experts, slots);
        if (ch.chunks == 0) continue;
        EXPECT_LE(static_cast<long long>(ch.chunks) * experts, slots);
        EXPECT_LE(ch.chunk_ids, dev::kMaxTableChunkIds);
        EXPECT_EQ(ch.chunk_ids % dev::kChunkThreads, 0);
        EXPECT_GE(static_cast<long long>(ch.chunks) * ch.chunk_ids, assignments);
        EXPECT_LT(static_cast<long long>(ch.chunks - 1) * ch.chunk_ids, assignments);
      }
  EXPECT_EQ(dev::plan_chunks(dev::kSingleBlockMaxIds, 128, 1 << 20).chunks, 0);
  EXPECT_GT(dev::plan_chunks(dev::kSingleBlockMaxIds + 1, 128, 1 << 20).chunks, 0);
}

// Average time of one plan (bitmatrix off: it is the same kernel on both paths), back-to-back launches.
double time_plan_us(const DirectPlan& plan, dev::PlanChunkPolicy policy, cudaStream_t stream) {
  for (int i = 0; i < 5; ++i) plan.launch(policy, stream);
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  const int reps = 100;
  cudaEventRecord(a, stream);
  for (int i = 0; i < reps; ++i) plan.launch(policy, stream);
  cudaEventRecord(b, stream);
  cudaEventSynchronize(b);
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return 1000.0 * ms / reps;
}

// The same inside a CUDA graph (20 plans per graph, as a captured layer runs them): kernel time without the
// host's launch cost.
double time_plan_graph_us(const DirectPlan& plan, dev::PlanChunkPolicy policy, cudaStream_t stream) {
  const int per_graph = 20, replays = 10;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
  for (int i = 0; i < per_graph; ++i) plan.launch(policy, stream);
  cudaStreamEndCapture(stream, &graph);
  cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphLaunch(exec, stream);
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  cudaEventRecord(a, stream);
  for (int i = 0; i < replays; ++i) cudaGraphLaunch(exec, stream);
  cudaEventRecord(b, stream);
  cudaEventSynchronize(b);
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  return 1000.0 * ms / (per_graph * replays);
}

TEST_F(GpuTest, Large_PlanPathTimings) {
  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const PlanConfig configs[] = {{"qwen3_e128_k8", 128, 8, 64, false}, {"deepseek_e256_k8", 256, 8, 64, false}};
  for (const PlanConfig& c : configs) {
    PlanRouters routers;
    make_plan_routers(cpu_, nullptr, c, routers);
    if (HasFatalFailure()) break;
    for (IdPattern pattern : {IdPattern::Uniform, IdPattern::OneExpert}) {
      for (int64_t tokens : {1, 8, 64, 128, 192, 256, 384, 512, 1024, 2048, 4096, 8192, 16384}) {
        int64_t max_sorted = 0, max_blocks = 0;
        MOEKIT_OK(moekit_router_plan_sizes(routers.cpu, tokens, nullptr, &max_sorted, &max_blocks));
        const std::vector<int32_t> ids = make_plan_ids(tokens, c, pattern, 7);
        const PlanWants wants{false, true, true};
        DevicePlanBuffers b(c, tokens, max_sorted, max_blocks, ids);
        const DirectPlan plan(c, routers.map, b, wants);
        const double single = time_plan_us(plan, kForceSingleBlock, stream);
        double chunked[3];
        const long long min_chunk[3] = {512, 1024, 2048};
        for (int v = 0; v < 3; ++v) chunked[v] = time_plan_us(plan, dev::PlanChunkPolicy{0, min_chunk[v]}, stream);
        const double chosen = time_plan_us(plan, kDefault, stream);
        const double single_graph = time_plan_graph_us(plan, kForceSingleBlock, stream);
        const double chunked_graph = time_plan_graph_us(plan, dev::PlanChunkPolicy{0, dev::kMinChunkIds}, stream);
        const dev::PlanChunks ch = dev::plan_chunks(tokens * c.top_k, c.experts, 2 * max_blocks);
        // How much more chunks would give, where the table caps them: the same plan with a 4x block-id buffer.
        DevicePlanBuffers wide(c, tokens, max_sorted, 4 * max_blocks, ids);
        const DirectPlan wide_plan(c, routers.map, wide, wants);
        const double wide_us = time_plan_us(wide_plan, kDefault, stream);
        const dev::PlanChunks wide_ch = dev::plan_chunks(tokens * c.top_k, c.experts, 8 * max_blocks);
        std::printf("[plan] %-16s %-10s T=%5lld ids=%6lld single-block %7.2f us | chunked, min chunk 512/1024/2048: "
                    "%7.2f %7.2f %7.2f us | default %7.2f us (%d chunks of %d) | graph: single %7.2f chunked %7.2f us | "
                    "4x block buffer %7.2f us (%d chunks)\n",
                    c.name, pattern_name(pattern), static_cast<long long>(tokens),
                    static_cast<long long>(tokens * c.top_k), single, chunked[0], chunked[1], chunked[2], chosen,
                    ch.chunks, ch.chunk_ids, single_graph, chunked_graph, wide_us, wide_ch.chunks);
        CUDA_OK(cudaStreamSynchronize(stream));
        expect_same_plan_outputs(cpu_plan(routers.cpu, c, tokens, ids, wants), b.download(wants), wants,
                                 std::string("timing ") + c.name);
      }
    }
  }
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace moekit_gpu_test
