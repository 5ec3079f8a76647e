// The CUDA module's routing plan (moekit_router_build_plan on caller-given ids) against the CPU backend's, for
// input sizes on both sides of the single-block / chunked switch (T*k from 8 to 131072), E = 8 .. 1024, block
// sizes 1 .. 256, expert_map with non-local experts, ids outside [0, E), and skewed routing (every id on one
// expert, two hot experts). Every output array must match exactly: the order within an expert (ascending flat
// index), the padding, the block ids and the padded total. Also: the chunked plan captured in a CUDA graph and
// replayed on new ids, on a non-default stream.
#include "plan_case.h"

namespace moekit_gpu_test {
namespace {

const PlanConfig kConfigs[] = {
    {"qwen3_e128_k8", 128, 8, 64, false},
    {"deepseek_e256_k8", 256, 8, 64, false},
    {"e40_k4_bs16_expert_map", 40, 4, 16, true},
    {"mixtral_e8_k2", 8, 2, 64, false},
    {"e1024_k8", 1024, 8, 64, false},
    {"e256_k8_bs256", 256, 8, 256, false},
    {"e64_k4_bs1", 64, 4, 1, false},
};
// 256 / 257 tokens at k = 8: the last single-block input and the first chunked one (kSingleBlockMaxIds = 2048).
const int64_t kTokens[] = {0, 1, 128, 256, 257, 1000, 4096, 16384};
const IdPattern kPatterns[] = {IdPattern::Uniform, IdPattern::OneExpert, IdPattern::TwoHot, IdPattern::WithInvalid,
                               IdPattern::AllInvalid};

// The plan of `ids` built by the CUDA module through the C API.
PlanOutputs gpu_plan(moekit_router gpu, const PlanConfig& c, int64_t tokens, const std::vector<int32_t>& ids,
                     PlanWants wants, cudaStream_t stream) {
  int64_t max_sorted = 0, max_blocks = 0;
  EXPECT_EQ(moekit_router_plan_sizes(gpu, tokens, nullptr, &max_sorted, &max_blocks), MOEKIT_OK);
  DevicePlanBuffers b(c, tokens, max_sorted, max_blocks, ids);
  moekit_routing r{};
  r.struct_size = sizeof r;
  r.topk_ids = device_tensor(b.ids.get(), MOEKIT_DTYPE_I32, {tokens, c.top_k});
  if (wants.bitmatrix) r.bitmatrix = device_tensor(b.bits.get(), MOEKIT_DTYPE_U32, {tokens, plan_words(c)});
  if (wants.counts) r.expert_counts = device_tensor(b.counts.get(), MOEKIT_DTYPE_I32, {c.experts});
  if (wants.sorted) {
    r.sorted_token_ids = device_tensor(b.sorted.get(), MOEKIT_DTYPE_I32, {max_sorted});
    r.block_expert_ids = device_tensor(b.blocks.get(), MOEKIT_DTYPE_I32, {max_blocks});
    r.num_tokens_post_padded = device_tensor(b.post_padded.get(), MOEKIT_DTYPE_I32, {1});
  }
  EXPECT_EQ(moekit_router_build_plan(gpu, &r, stream), MOEKIT_OK) << moekit_last_error();
  EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  return b.download(wants);
}

TEST_F(GpuTest, PlanMatchesCpuAcrossSizesPatternsAndConfigs) {
  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  for (const PlanConfig& c : kConfigs) {
    PlanRouters routers;
    make_plan_routers(cpu_, gpu_, c, routers);
    if (HasFatalFailure()) break;
    for (int64_t tokens : kTokens) {
      for (IdPattern pattern : kPatterns) {
        const std::vector<int32_t> ids =
            make_plan_ids(tokens, c, pattern, static_cast<uint32_t>(tokens * 31 + c.experts));
        // Every part, then each part alone where it changes the kernels' path (counts-only has no table).
        std::vector<PlanWants> wants_list{PlanWants{}};
        if (pattern == IdPattern::Uniform || pattern == IdPattern::OneExpert)
          wants_list.insert(wants_list.end(), {PlanWants{false, true, false}, PlanWants{false, false, true}});
        for (const PlanWants& wants : wants_list) {
          const std::string where = std::string(c.name) + " T=" + std::to_string(tokens) + " " +
                                    pattern_name(pattern) + " parts=" + std::to_string(wants.bitmatrix) +
                                    std::to_string(wants.counts) + std::to_string(wants.sorted);
          const PlanOutputs want = cpu_plan(routers.cpu, c, tokens, ids, wants);
          const PlanOutputs got = gpu_plan(routers.gpu, c, tokens, ids, wants, stream);
          expect_same_plan_outputs(want, got, wants, where);
          if (HasFailure()) break;
        }
        if (HasFailure()) break;
      }
      if (HasFailure()) break;
    }
    if (HasFailure()) break;
  }
  cudaStreamDestroy(stream);
}

// The chunked plan (T*k = 131072) captured once in a CUDA graph and replayed on two different id sets: no host
// synchronisation or allocation inside, and the kernels' counter (num_tokens_post_padded) re-armed each time.
TEST_F(GpuTest, ChunkedPlanCapturesInACudaGraphAndReplaysOnNewIds) {
  const PlanConfig c{"qwen3_e128_k8", 128, 8, 64, false};
  const int64_t tokens = 16384;
  PlanRouters routers;
  make_plan_routers(cpu_, gpu_, c, routers);
  if (HasFatalFailure()) return;
  int64_t max_sorted = 0, max_blocks = 0;
  MOEKIT_OK(moekit_router_plan_sizes(routers.gpu, tokens, nullptr, &max_sorted, &max_blocks));
  DevicePlanBuffers b(c, tokens, max_sorted, max_blocks, {});
  moekit_routing r{};
  r.struct_size = sizeof r;
  r.topk_ids = device_tensor(b.ids.get(), MOEKIT_DTYPE_I32, {tokens, c.top_k});
  r.bitmatrix = device_tensor(b.bits.get(), MOEKIT_DTYPE_U32, {tokens, plan_words(c)});
  r.expert_counts = device_tensor(b.counts.get(), MOEKIT_DTYPE_I32, {c.experts});
  r.sorted_token_ids = device_tensor(b.sorted.get(), MOEKIT_DTYPE_I32, {max_sorted});
  r.block_expert_ids = device_tensor(b.blocks.get(), MOEKIT_DTYPE_I32, {max_blocks});
  r.num_tokens_post_padded = device_tensor(b.post_padded.get(), MOEKIT_DTYPE_I32, {1});

  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  const moekit_status st = moekit_router_build_plan(routers.gpu, &r, stream);
  CUDA_OK(cudaStreamEndCapture(stream, &graph));
  ASSERT_EQ(st, MOEKIT_OK) << moekit_last_error();
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  for (IdPattern pattern : {IdPattern::Uniform, IdPattern::OneExpert, IdPattern::WithInvalid}) {
    const std::vector<int32_t> ids = make_plan_ids(tokens, c, pattern, 99);
    b.ids.upload(ids.data(), ids.size() * 4);
    CUDA_OK(cudaDeviceSynchronize());  // the upload ran on the legacy stream, which `stream` does not wait for
    CUDA_OK(cudaGraphLaunch(exec, stream));
    CUDA_OK(cudaStreamSynchronize(stream));
    expect_same_plan_outputs(cpu_plan(routers.cpu, c, tokens, ids, PlanWants{}), b.download(PlanWants{}),
                             PlanWants{}, std::string("graph replay ") + pattern_name(pattern));
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace moekit_gpu_test
