// Timings of whole layers (moekit_moe_forward: routing from logits + experts + combine) at the preset
// shapes, printed, not asserted (the benchmark harness in bench/ owns the numbers; these are a quick look from
// the test suite). Weights are constant bytes written on the device (no CPU reference: full presets are tens of
// GB); logits are uniform random, so routing is uniform. Each point: CUDA-graph replay, timed by CUDA events.
// Named Large_* so that scripts/test_gpu.sh leaves them out of the compute-sanitizer pass.
#include <cstdio>

#include "experts_case.h"

namespace moekit_gpu_test {
namespace {

struct Preset {
  const char* name;
  int64_t H, I;
  int32_t E, k;
  moekit_activation activation;
};

void time_layer(moekit_context gpu, const Preset& p, moekit_weight_format format, moekit_act_quant quant,
                const std::vector<int64_t>& tokens) {
  moekit_experts_desc d = MOEKIT_EXPERTS_DESC_INIT;
  d.num_experts = p.E;
  d.num_local_experts = p.E;
  d.hidden_size = p.H;
  d.intermediate_size = p.I;
  d.activation = p.activation;
  d.weight_format = format;
  d.act_quant = quant;
  const bool fp8 = format == MOEKIT_WEIGHTS_FP8_BLOCK;
  const size_t elem = fp8 ? 1 : 2;
  const int64_t E = p.E, H = p.H, I = p.I;
  DeviceBuffer w13(static_cast<size_t>(E * 2 * I * H) * elem, fp8 ? 0x38 : 0x3C),
      w2(static_cast<size_t>(E * H * I) * elem, fp8 ? 0x38 : 0x3C);
  const int64_t b13r = (2 * I + 127) / 128, b13c = (H + 127) / 128, b2r = (H + 127) / 128, b2c = (I + 127) / 128;
  DeviceBuffer s13(static_cast<size_t>(E * b13r * b13c) * 4, 0x3A), s2(static_cast<size_t>(E * b2r * b2c) * 4, 0x3A);
  moekit_expert_weights w{};
  w.struct_size = sizeof w;
  const moekit_dtype wd = fp8 ? MOEKIT_DTYPE_F8_E4M3FN : MOEKIT_DTYPE_BF16;
  w.w13 = device_tensor(w13.get(), wd, {E, 2 * I, H});
  w.w2 = device_tensor(w2.get(), wd, {E, H, I});
  if (fp8) {
    w.w13_scale = device_tensor(s13.get(), MOEKIT_DTYPE_F32, {E, b13r, b13c});
    w.w2_scale = device_tensor(s2.get(), MOEKIT_DTYPE_F32, {E, b2r, b2c});
  }
  moekit_experts ex = nullptr;
  MOEKIT_OK(moekit_experts_create(gpu, &d, &ex));
  MOEKIT_OK(moekit_experts_set_weights(ex, &w, nullptr));
  moekit_router_desc rd = MOEKIT_ROUTER_DESC_INIT;
  rd.num_experts = p.E;
  rd.top_k = p.k;
  rd.renormalize = 1;
  moekit_router router = nullptr;
  MOEKIT_OK(moekit_router_create(gpu, &rd, &router));
  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaEvent_t start, stop;
  CUDA_OK(cudaEventCreate(&start));
  CUDA_OK(cudaEventCreate(&stop));
  Rng rng(5);
  for (const int64_t T : tokens) {
    size_t ws_bytes = 0;
    MOEKIT_OK(moekit_moe_forward_workspace_size(router, ex, T, &ws_bytes));
    DeviceBuffer hidden(static_cast<size_t>(T * H) * 2, 0x3C), logits(static_cast<size_t>(T * E) * 4),
        out(static_cast<size_t>(T * H) * 2), ws(ws_bytes);
    HostArray l;
    fill_values(l, MOEKIT_DTYPE_F32, {T, E}, rng, 1.0f);
    logits.upload(l.bytes.data(), l.bytes.size());
    moekit_tensor th = device_tensor(hidden.get(), MOEKIT_DTYPE_BF16, {T, H});
    moekit_tensor tl = device_tensor(logits.get(), MOEKIT_DTYPE_F32, {T, E});
    moekit_tensor to = device_tensor(out.get(), MOEKIT_DTYPE_BF16, {T, H});
    moekit_run_report report = MOEKIT_RUN_REPORT_INIT;
    MOEKIT_OK(moekit_moe_forward(router, ex, &th, &tl, &to, ws.get(), ws_bytes, &report, stream));
    cudaGraph_t graph = nullptr;
    CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    const moekit_status st = moekit_moe_forward(router, ex, &th, &tl, &to, ws.get(), ws_bytes, nullptr, stream);
    CUDA_OK(cudaStreamEndCapture(stream, &graph));
    ASSERT_EQ(st, MOEKIT_OK) << moekit_last_error();
    cudaGraphExec_t exec = nullptr;
    CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
    const int reps = T >= 4096 ? 5 : 20;
    CUDA_OK(cudaGraphLaunch(exec, stream));
    CUDA_OK(cudaEventRecord(start, stream));
    for (int r = 0; r < reps; ++r) CUDA_OK(cudaGraphLaunch(exec, stream));
    CUDA_OK(cudaEventRecord(stop, stream));
    CUDA_OK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    CUDA_OK(cudaEventElapsedTime(&ms, start, stop));
    const double us = 1000.0 * ms / reps;
    // Roofline of the issue: max(distinct experts' weight bytes / 4.8 TB/s, FLOPs / 797 TFLOP/s); distinct
    // experts estimated for uniform routing: E * (1 - (1 - k/E)^T).
    const double touched = E * (1.0 - std::pow(1.0 - double(p.k) / E, double(T)));
    const double bytes = touched * 3.0 * H * I * elem;
    const double flops = 2.0 * 3.0 * H * I * double(T) * p.k;
    const double roof_us = std::max(bytes / 4.8e12, flops / 797e12) * 1e6;
    std::printf("[timing] %-14s %-9s T=%-6lld %10.1f us  %6.2f TB/s  %7.1f TFLOP/s  %5.1f%% of roofline  (%s)\n",
                p.name, fp8 ? "fp8-w8a8" : "bf16", static_cast<long long>(T), us, bytes / us / 1e6,
                flops / us / 1e6, 100.0 * roof_us / us, report.kernel);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaStreamDestroy(stream);
  moekit_router_destroy(router);
  moekit_experts_destroy(ex);
}

const Preset kGptOss{"gpt-oss-120b", 2880, 2880, 128, 4, MOEKIT_ACTIVATION_SILU_MUL};
const Preset kMixtral{"Mixtral-8x7B", 4096, 14336, 8, 2, MOEKIT_ACTIVATION_SILU_MUL};
const Preset kDeepSeek{"DeepSeek-V3", 7168, 2048, 256, 8, MOEKIT_ACTIVATION_SILU_MUL};
const Preset kQwen3{"Qwen3-30B-A3B", 2048, 768, 128, 8, MOEKIT_ACTIVATION_SILU_MUL};

TEST_F(GpuTest, Large_TimingBf16Presets) {
  for (const Preset& p : {kGptOss, kMixtral, kDeepSeek, kQwen3})
    ASSERT_NO_FATAL_FAILURE(time_layer(gpu_, p, MOEKIT_WEIGHTS_BF16, MOEKIT_ACT_QUANT_NONE, {1, 16, 64, 256, 1024, 4096, 16384}));
}

TEST_F(GpuTest, Large_TimingFp8Presets) {
  for (const Preset& p : {kDeepSeek, kQwen3})
    ASSERT_NO_FATAL_FAILURE(time_layer(gpu_, p, MOEKIT_WEIGHTS_FP8_BLOCK, MOEKIT_ACT_QUANT_FP8_PER_GROUP, {1, 16, 256, 4096, 16384}));
}

}  // namespace
}  // namespace moekit_gpu_test
