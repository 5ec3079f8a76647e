// CUDA-graph capture and replay of the routing part of a layer: router GEMM (cuBLAS) -> router (top-k, weights,
// bitmatrix, counts, sorted order) -> FP8 per-group activation quantization, captured on a stream as the very
// first work of a fresh context (nothing may allocate, copy from the host or synchronise while capturing), then
// replayed on new inputs written into the same buffers. Each replay is checked against the CPU backend fed the
// same data: the plan from the replayed logits, and the quantized activations, bit for bit (weights within the
// ulps explained in route_test.cpp). Then the same for a whole layer with the experts.
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <random>

#include "experts_case.h"
#include "gpu_test_util.h"

namespace moekit_gpu_test {
namespace {

std::vector<uint16_t> random_bf16(size_t n, float stddev, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, stddev);
  std::vector<uint16_t> out(n);
  for (auto& v : out) {
    const __nv_bfloat16 h = __float2bfloat16_rn(normal(rng));
    std::memcpy(&v, &h, 2);
  }
  return out;
}

TEST_F(GpuTest, RoutingLayerCapturesInACudaGraphAndReplaysCorrectly) {
  // DeepSeek-V3 router shape: H 7168, E 256, k 8, sigmoid + bias, 8 groups / 4 kept, scaling 2.5.
  const int64_t T = 64, H = 7168, E = 256;
  const int32_t K = 8;
  std::vector<float> bias(E);
  for (int64_t e = 0; e < E; ++e) bias[static_cast<size_t>(e)] = 0.01f * static_cast<float>((e * 37) % 21 - 10);
  moekit_router_desc d = MOEKIT_ROUTER_DESC_INIT;
  d.num_experts = E;
  d.top_k = K;
  d.scoring = MOEKIT_SCORING_SIGMOID;
  d.renormalize = 1;
  d.num_expert_groups = 8;
  d.topk_groups = 4;
  d.routed_scaling_factor = 2.5f;
  d.correction_bias = bias.data();
  d.block_size = 64;
  moekit_router rg = nullptr, rc = nullptr;
  MOEKIT_OK(moekit_router_create(gpu_, &d, &rg));
  MOEKIT_OK(moekit_router_create(cpu_, &d, &rc));
  moekit_quantizer_desc qd = MOEKIT_QUANTIZER_DESC_INIT;
  qd.scheme = MOEKIT_QUANT_FP8_PER_GROUP;
  qd.group_size = 128;
  moekit_quantizer qg = nullptr, qc = nullptr;
  MOEKIT_OK(moekit_quantizer_create(gpu_, &qd, &qg));
  MOEKIT_OK(moekit_quantizer_create(cpu_, &qd, &qc));

  int64_t max_sorted = 0, max_blocks = 0;
  MOEKIT_OK(moekit_router_plan_sizes(rg, T, nullptr, &max_sorted, &max_blocks));
  const int64_t words = (E + 31) / 32, groups = H / 128;
  DeviceBuffer hidden(T * H * 2), w_gate(E * H * 2), logits(T * E * 4), weights(T * K * 4), ids(T * K * 4),
      bits(T * words * 4), counts(E * 4), sorted(max_sorted * 4), blocks(max_blocks * 4), post(4), qvals(T * H),
      qscales(T * groups * 4);
  const std::vector<uint16_t> w_host = random_bf16(static_cast<size_t>(E * H), 1.0f / std::sqrt(float(H)), 5);
  w_gate.upload(w_host.data(), w_host.size() * 2);

  const moekit_tensor th = device_tensor(hidden.get(), MOEKIT_DTYPE_BF16, {T, H});
  const moekit_tensor tw = device_tensor(w_gate.get(), MOEKIT_DTYPE_BF16, {E, H});
  moekit_tensor tl = device_tensor(logits.get(), MOEKIT_DTYPE_F32, {T, E});
  moekit_routing plan{};
  plan.struct_size = sizeof plan;
  plan.topk_weights = device_tensor(weights.get(), MOEKIT_DTYPE_F32, {T, K});
  plan.topk_ids = device_tensor(ids.get(), MOEKIT_DTYPE_I32, {T, K});
  plan.bitmatrix = device_tensor(bits.get(), MOEKIT_DTYPE_U32, {T, words});
  plan.expert_counts = device_tensor(counts.get(), MOEKIT_DTYPE_I32, {E});
  plan.sorted_token_ids = device_tensor(sorted.get(), MOEKIT_DTYPE_I32, {max_sorted});
  plan.block_expert_ids = device_tensor(blocks.get(), MOEKIT_DTYPE_I32, {max_blocks});
  plan.num_tokens_post_padded = device_tensor(post.get(), MOEKIT_DTYPE_I32, {1});
  moekit_tensor tqv = device_tensor(qvals.get(), MOEKIT_DTYPE_F8_E4M3FN, {T, H});
  moekit_tensor tqs = device_tensor(qscales.get(), MOEKIT_DTYPE_F32, {T, groups});

  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaGraph_t graph = nullptr;
  CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  const moekit_status s1 = moekit_router_gemm(gpu_, &th, &tw, nullptr, &tl, stream);
  const std::string e1 = moekit_last_error();
  const moekit_status s2 = moekit_router_run(rg, &tl, &plan, stream);
  const std::string e2 = moekit_last_error();
  const moekit_status s3 = moekit_quantize(qg, &th, &tqv, &tqs, stream);
  const std::string e3 = moekit_last_error();
  CUDA_OK(cudaStreamEndCapture(stream, &graph));
  ASSERT_EQ(s1, MOEKIT_OK) << "router_gemm during capture: " << e1;
  ASSERT_EQ(s2, MOEKIT_OK) << "router_run during capture: " << e2;
  ASSERT_EQ(s3, MOEKIT_OK) << "quantize during capture: " << e3;
  cudaGraphExec_t exec = nullptr;
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  size_t nodes = 0;
  CUDA_OK(cudaGraphGetNodes(graph, nullptr, &nodes));

  for (uint32_t replay = 0; replay < 3; ++replay) {
    SCOPED_TRACE("replay " + std::to_string(replay));
    std::vector<uint16_t> h_host = random_bf16(static_cast<size_t>(T * H), 1.0f, 100 + replay);
    hidden.upload(h_host.data(), h_host.size() * 2);
    CUDA_OK(cudaGraphLaunch(exec, stream));
    CUDA_OK(cudaStreamSynchronize(stream));

    // CPU on the same data: route the replay's logits, quantize the same hidden states.
    std::vector<float> l_host = logits.download<float>(static_cast<size_t>(T * E));
    std::vector<float> cw(T * K);
    std::vector<int32_t> cids(T * K), ccounts(E), csorted(max_sorted), cblocks(max_blocks), cpost(1);
    std::vector<uint32_t> cbits(T * words);
    moekit_routing cplan{};
    cplan.struct_size = sizeof cplan;
    cplan.topk_weights = host_tensor(cw.data(), MOEKIT_DTYPE_F32, {T, K});
    cplan.topk_ids = host_tensor(cids.data(), MOEKIT_DTYPE_I32, {T, K});
    cplan.bitmatrix = host_tensor(cbits.data(), MOEKIT_DTYPE_U32, {T, words});
    cplan.expert_counts = host_tensor(ccounts.data(), MOEKIT_DTYPE_I32, {E});
    cplan.sorted_token_ids = host_tensor(csorted.data(), MOEKIT_DTYPE_I32, {max_sorted});
    cplan.block_expert_ids = host_tensor(cblocks.data(), MOEKIT_DTYPE_I32, {max_blocks});
    cplan.num_tokens_post_padded = host_tensor(cpost.data(), MOEKIT_DTYPE_I32, {1});
    const moekit_tensor cl = host_tensor(l_host.data(), MOEKIT_DTYPE_F32, {T, E});
    MOEKIT_OK(moekit_router_run(rc, &cl, &cplan, nullptr));
    std::vector<uint8_t> cq(T * H);
    std::vector<float> cs(T * groups);
    moekit_tensor chs = host_tensor(h_host.data(), MOEKIT_DTYPE_BF16, {T, H});
    moekit_tensor cqv = host_tensor(cq.data(), MOEKIT_DTYPE_F8_E4M3FN, {T, H});
    moekit_tensor cqs = host_tensor(cs.data(), MOEKIT_DTYPE_F32, {T, groups});
    MOEKIT_OK(moekit_quantize(qc, &chs, &cqv, &cqs, nullptr));

    EXPECT_EQ(first_difference(cids, ids.download<int32_t>(T * K)), -1) << "topk_ids";
    const std::vector<float> gw = weights.download<float>(T * K);
    for (size_t i = 0; i < gw.size(); ++i) ASSERT_LE(ulp_distance(cw[i], gw[i]), 8) << "topk_weights " << i;
    EXPECT_EQ(first_difference(cbits, bits.download<uint32_t>(T * words)), -1) << "bitmatrix";
    EXPECT_EQ(first_difference(ccounts, counts.download<int32_t>(E)), -1) << "counts";
    EXPECT_EQ(first_difference(csorted, sorted.download<int32_t>(max_sorted)), -1) << "sorted_token_ids";
    EXPECT_EQ(first_difference(cblocks, blocks.download<int32_t>(max_blocks)), -1) << "block_expert_ids";
    EXPECT_EQ(cpost[0], post.download<int32_t>(1)[0]) << "num_tokens_post_padded";
    EXPECT_EQ(first_difference(cq, qvals.download<uint8_t>(T * H)), -1) << "fp8 values";
    EXPECT_EQ(first_difference(cs, qscales.download<float>(T * groups)), -1) << "fp8 scales";
  }
  std::printf("[graph] captured %zu nodes (router GEMM + routing + FP8 quantization), replayed 3x\n", nodes);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  moekit_router_destroy(rg);
  moekit_router_destroy(rc);
  moekit_quantizer_destroy(qg);
  moekit_quantizer_destroy(qc);
}

// A whole layer (moekit_moe_forward: softmax top-k routing from logits, then the experts) captured in a CUDA
// graph on a fresh stream and replayed: each replay must equal an eager run on the same inputs bit for bit
// (the runner is deterministic: no atomics, fixed combine order), and match the CPU backend within the format
// tolerance of experts_case.h. Inputs change between replays (new hidden states and logits in the same buffers).
void whole_layer_graph(moekit_context cpu_, moekit_context gpu_, int64_t T, const char* expect_kernel) {
  ExpertsCase c{"graph_layer", MOEKIT_WEIGHTS_BF16, MOEKIT_ACTIVATION_SILU_MUL, MOEKIT_DTYPE_BF16,
                MOEKIT_ACT_QUANT_NONE, true, 40, 40, 512, 384, T, 8};
  ExpertsCaseData d = make_case(c, 77);
  moekit_router_desc rd = MOEKIT_ROUTER_DESC_INIT;
  rd.num_experts = c.E;
  rd.top_k = c.k;
  rd.scoring = MOEKIT_SCORING_SOFTMAX;
  rd.renormalize = 1;
  moekit_router rg = nullptr, rc = nullptr;
  MOEKIT_OK(moekit_router_create(gpu_, &rd, &rg));
  MOEKIT_OK(moekit_router_create(cpu_, &rd, &rc));
  moekit_experts eg = nullptr, ec = nullptr;
  MOEKIT_OK(moekit_experts_create(gpu_, &d.desc, &eg));
  MOEKIT_OK(moekit_experts_create(cpu_, &d.desc, &ec));
  moekit_expert_weights wg = weights_of(d, true), wc = weights_of(d, false);
  MOEKIT_OK(moekit_experts_set_weights(eg, &wg, nullptr));
  MOEKIT_OK(moekit_experts_set_weights(ec, &wc, nullptr));

  size_t ws_g = 0, ws_c = 0;
  MOEKIT_OK(moekit_moe_forward_workspace_size(rg, eg, c.T, &ws_g));
  MOEKIT_OK(moekit_moe_forward_workspace_size(rc, ec, c.T, &ws_c));
  const size_t out_bytes = static_cast<size_t>(c.T * c.H) * 2;
  DeviceBuffer hidden(out_bytes), logits(static_cast<size_t>(c.T * c.E) * 4), out(out_bytes), ws(ws_g);
  const moekit_tensor th = device_tensor(hidden.get(), MOEKIT_DTYPE_BF16, {c.T, c.H});
  const moekit_tensor tl = device_tensor(logits.get(), MOEKIT_DTYPE_F32, {c.T, c.E});
  moekit_tensor to = device_tensor(out.get(), MOEKIT_DTYPE_BF16, {c.T, c.H});

  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaGraph_t graph = nullptr;
  moekit_run_report report = MOEKIT_RUN_REPORT_INIT;
  CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  const moekit_status captured = moekit_moe_forward(rg, eg, &th, &tl, &to, ws.get(), ws_g, &report, stream);
  const std::string capture_error = moekit_last_error();
  CUDA_OK(cudaStreamEndCapture(stream, &graph));
  ASSERT_EQ(captured, MOEKIT_OK) << "moe_forward during capture: " << capture_error;
  EXPECT_EQ(std::string(report.kernel).rfind(expect_kernel, 0), 0u) << report.kernel;
  cudaGraphExec_t exec = nullptr;
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  size_t nodes = 0;
  CUDA_OK(cudaGraphGetNodes(graph, nullptr, &nodes));

  Rng rng(91);
  for (int replay = 0; replay < 3; ++replay) {
    SCOPED_TRACE("replay " + std::to_string(replay));
    HostArray h_host, l_host;
    fill_values(h_host, MOEKIT_DTYPE_BF16, {c.T, c.H}, rng, 1.0f);
    fill_values(l_host, MOEKIT_DTYPE_F32, {c.T, c.E}, rng, 2.0f);
    hidden.upload(h_host.bytes.data(), h_host.bytes.size());
    logits.upload(l_host.bytes.data(), l_host.bytes.size());
    CUDA_OK(cudaMemset(out.get(), 0xFF, out_bytes));
    CUDA_OK(cudaGraphLaunch(exec, stream));
    CUDA_OK(cudaStreamSynchronize(stream));
    const std::vector<uint8_t> replayed = out.download<uint8_t>(out_bytes);

    CUDA_OK(cudaMemset(out.get(), 0x00, out_bytes));
    MOEKIT_OK(moekit_moe_forward(rg, eg, &th, &tl, &to, ws.get(), ws_g, nullptr, stream));
    CUDA_OK(cudaStreamSynchronize(stream));
    EXPECT_EQ(first_difference(replayed, out.download<uint8_t>(out_bytes)), -1) << "graph replay vs eager";

    std::vector<uint8_t> cpu_out(out_bytes);
    AlignedHost cws(ws_c);
    moekit_tensor ch = h_host.host(), cl = l_host.host(),
                  co = host_tensor(cpu_out.data(), MOEKIT_DTYPE_BF16, {c.T, c.H});
    MOEKIT_OK(moekit_moe_forward(rc, ec, &ch, &cl, &co, cws.ptr, ws_c, nullptr, nullptr));
    double max_ref = 0.0, worst = 0.0;
    for (size_t i = 0; i < static_cast<size_t>(c.T * c.H); ++i)
      max_ref = std::max(max_ref, std::fabs(double(from_dtype(cpu_out, MOEKIT_DTYPE_BF16, i))));
    for (size_t i = 0; i < static_cast<size_t>(c.T * c.H); ++i)
      worst = std::max(worst, std::fabs(double(from_dtype(cpu_out, MOEKIT_DTYPE_BF16, i)) -
                                        double(from_dtype(replayed, MOEKIT_DTYPE_BF16, i))));
    EXPECT_LE(worst, tolerance_for(c, max_ref)) << "graph replay vs CPU backend (max|ref| " << max_ref << ")";
  }
  std::printf("[graph] whole layer: %zu nodes (routing + experts), replayed 3x; kernel %s: %s\n", nodes,
              report.kernel, report.detail);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  moekit_experts_destroy(eg);
  moekit_experts_destroy(ec);
  moekit_router_destroy(rg);
  moekit_router_destroy(rc);
}

TEST_F(GpuTest, WholeLayerCapturesInACudaGraphAndMatchesEagerBitForBit) { whole_layer_graph(cpu_, gpu_, 96, "cuda-mma"); }

// The decode tier (forced; by itself it takes 16-bit weights at T = 1 and formats the streaming tier declines):
// two launches after routing, no plan.
TEST_F(GpuTest, WholeLayerOnTheDecodeTierCapturesInACudaGraph) {
  const ScopedEnv env("MOEKIT_CUDA_EXPERTS_TIER", "decode");
  ASSERT_TRUE(env.ok());
  whole_layer_graph(cpu_, gpu_, 2, "cuda-decode");
}

// The streaming tier (chosen by itself here: T = 16, 3.2 rows per expert): device-side grouping, shared-memory
// rings opted in before capture, passes sized on the host from T alone.
TEST_F(GpuTest, WholeLayerOnTheStreamTierCapturesInACudaGraph) { whole_layer_graph(cpu_, gpu_, 16, "cuda-stream"); }

// The same with the prefill tier (CUTLASS sm_90a grouped GEMMs, forced; sm_90 only): its setup kernels read the
// plan on the device, so the capture must hold no host-side problem sizes.
TEST_F(GpuTest, WholeLayerOnTheGroupedTierCapturesInACudaGraph) {
  cudaDeviceProp prop{};
  CUDA_OK(cudaGetDeviceProperties(&prop, 0));
  if (prop.major != 9 || prop.minor != 0) GTEST_SKIP() << "the grouped tier runs on sm_90 devices only";
  const ScopedEnv env("MOEKIT_CUDA_EXPERTS_TIER", "grouped");
  ASSERT_TRUE(env.ok());
  whole_layer_graph(cpu_, gpu_, 700, "cuda-sm90-grouped");
}

}  // namespace
}  // namespace moekit_gpu_test
