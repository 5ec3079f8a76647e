// `moekit run`: one MoE layer (router GEMM -> router -> experts) with random weights in a model's shape, on the
// chosen backend. Prints routing statistics, time, and error against a float64 reference on sampled tokens.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "commands.h"
#include "model_presets.h"
#include "random_layer.h"
#include "reference_check.h"

namespace moekit_cli {

namespace {

moekit_backend parse_backend(const std::string& s) {
  if (s == "auto") return MOEKIT_BACKEND_AUTO;
  if (s == "cpu") return MOEKIT_BACKEND_CPU;
  if (s == "cuda") return MOEKIT_BACKEND_CUDA;
  if (s == "hip") return MOEKIT_BACKEND_HIP;
  throw std::invalid_argument("--backend: expected auto, cpu, cuda or hip, got '" + s + "'");
}

moekit_weight_format parse_format(const std::string& s, moekit_weight_format native) {
  if (s == "native") return native;
  if (s == "bf16") return MOEKIT_WEIGHTS_BF16;
  if (s == "f16") return MOEKIT_WEIGHTS_F16;
  if (s == "f32") return MOEKIT_WEIGHTS_F32;
  if (s == "fp8") return MOEKIT_WEIGHTS_FP8_BLOCK;
  if (s == "mxfp4") return MOEKIT_WEIGHTS_MXFP4;
  throw std::invalid_argument("--weights: expected bf16, f16, f32, fp8, mxfp4 or native, got '" + s + "'");
}

const char* format_name(moekit_weight_format f) {
  switch (f) {
    case MOEKIT_WEIGHTS_BF16: return "bf16";
    case MOEKIT_WEIGHTS_F16: return "f16";
    case MOEKIT_WEIGHTS_F32: return "f32";
    case MOEKIT_WEIGHTS_FP8_BLOCK: return "fp8-block128";
    case MOEKIT_WEIGHTS_MXFP4: return "mxfp4";
  }
  return "?";
}

// Largest size divisible by 128 (FP8 blocks and MXFP4 groups stay whole) not above full / scale.
int64_t scaled_dim(int64_t full, int64_t scale) {
  if (scale == 1) return full;
  return std::max<int64_t>(128, (full / scale) / 128 * 128);
}

int64_t auto_scale(const ModelPreset& p) {
  const double budget = 2.0 * 1024 * 1024 * 1024;  // the CPU backend keeps an f32 copy of the weights
  for (int64_t s = 1;; s *= 2) {
    const double bytes = 4.0 * p.num_experts * 3.0 * scaled_dim(p.hidden, s) * scaled_dim(p.intermediate, s);
    if (bytes <= budget || s >= 64) return s;
  }
}

}  // namespace

int cmd_run(const Args& args) {
  const std::string model = args.get("model", "qwen3-30b-a3b");
  const ModelPreset* preset = find_preset(model);
  if (!preset) throw std::invalid_argument("--model: unknown model '" + model + "' (known: " + preset_names() + ")");
  const std::string scale_arg = args.get("scale", "auto");
  const int64_t scale = scale_arg == "auto" ? auto_scale(*preset) : args.get_int("scale", 1);
  if (scale < 1) throw std::invalid_argument("--scale: must be >= 1");
  const int64_t tokens = args.get_int("tokens", 64);
  if (tokens < 0) throw std::invalid_argument("--tokens: must be >= 0");
  const int iters = static_cast<int>(std::max<long long>(1, args.get_int("iters", 5)));
  const int64_t check_tokens = std::min<long long>(tokens, args.get_int("check", 8));
  const moekit_weight_format format = parse_format(args.get("weights", "native"), preset->native_weights);

  moekit_context ctx = nullptr;
  check(moekit_context_create(parse_backend(args.get("backend", "auto")), 0, &ctx), "context");
  if (args.has("threads")) check(moekit_context_set_num_threads(ctx, static_cast<int32_t>(args.get_int("threads", 1))), "threads");
  moekit_backend backend = MOEKIT_BACKEND_CPU;
  int32_t threads = 0;
  moekit_context_get_backend(ctx, &backend, nullptr);
  moekit_context_get_num_threads(ctx, &threads);
  moekit_backend_info binfo = MOEKIT_BACKEND_INFO_INIT;
  moekit_backend_query(backend, &binfo);

  LayerShape shape{tokens, scaled_dim(preset->hidden, scale), scaled_dim(preset->intermediate, scale),
                   preset->num_experts, preset->top_k};
  std::printf("model %s: E=%d k=%d H=%lld I=%lld (scale 1/%lld), weights %s, T=%lld\n", preset->name.c_str(),
              shape.num_experts, shape.top_k, (long long)shape.hidden, (long long)shape.intermediate,
              (long long)scale, format_name(format), (long long)tokens);
  std::printf("backend %s (%d threads): %s\n", binfo.name, threads, binfo.detail);

  const RandomLayer layer = make_random_layer(ctx, *preset, shape, format, static_cast<uint64_t>(args.get_int("seed", 1)));

  moekit_router_desc rd = MOEKIT_ROUTER_DESC_INIT;
  rd.num_experts = shape.num_experts;
  rd.top_k = shape.top_k;
  rd.scoring = preset->scoring;
  rd.renormalize = preset->renormalize;
  rd.num_expert_groups = preset->num_expert_groups;
  rd.topk_groups = preset->topk_groups;
  rd.routed_scaling_factor = preset->routed_scaling_factor;
  rd.correction_bias = layer.correction_bias.empty() ? nullptr : layer.correction_bias.data();
  moekit_router router = nullptr;
  check(moekit_router_create(ctx, &rd, &router), "router");

  moekit_experts_desc ed = MOEKIT_EXPERTS_DESC_INIT;
  ed.num_experts = ed.num_local_experts = shape.num_experts;
  ed.hidden_size = shape.hidden;
  ed.intermediate_size = shape.intermediate;
  ed.activation = preset->activation;
  ed.weight_format = format;
  ed.act_quant = MOEKIT_ACT_QUANT_NONE;  // weight-only, so the float64 check measures the kernels, not FP8 noise
  ed.has_w13_bias = ed.has_w2_bias = preset->expert_biases;
  moekit_experts experts = nullptr;
  check(moekit_experts_create(ctx, &ed, &experts), "experts");
  const moekit_expert_weights w = layer.weights();
  check(moekit_experts_set_weights(experts, &w, nullptr), "set weights");

  // Router GEMM: logits = hidden @ W_gate^T.
  HostTensor logits = make_host_tensor(MOEKIT_DTYPE_F32, {tokens, shape.num_experts});
  check(moekit_router_gemm(ctx, &layer.hidden.view, &layer.w_gate.view, nullptr, &logits.view, nullptr), "router gemm");

  // Routing statistics from the router's plan.
  HostTensor topk_w = make_host_tensor(MOEKIT_DTYPE_F32, {tokens, shape.top_k});
  HostTensor topk_i = make_host_tensor(MOEKIT_DTYPE_I32, {tokens, shape.top_k});
  HostTensor counts = make_host_tensor(MOEKIT_DTYPE_I32, {shape.num_experts});
  moekit_routing plan{};
  plan.struct_size = sizeof plan;
  plan.topk_weights = topk_w.view;
  plan.topk_ids = topk_i.view;
  plan.expert_counts = counts.view;
  check(moekit_router_run(router, &logits.view, &plan, nullptr), "router");
  const int32_t* cnt = reinterpret_cast<const int32_t*>(counts.bytes.data());
  int touched = 0, max_count = 0;
  for (int e = 0; e < shape.num_experts; ++e) {
    touched += cnt[e] > 0;
    max_count = std::max(max_count, cnt[e]);
  }
  std::printf("routing: %d of %d experts touched, max %d tokens on one expert, mean %.1f per touched expert\n",
              touched, shape.num_experts, max_count,
              touched ? static_cast<double>(tokens * shape.top_k) / touched : 0.0);

  size_t ws_bytes = 0;
  check(moekit_moe_forward_workspace_size(router, experts, tokens, &ws_bytes), "workspace size");
  std::vector<uint8_t> ws_storage(ws_bytes + 256);
  void* ws = ws_bytes ? reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(ws_storage.data()) + 255) & ~uintptr_t{255})
                      : nullptr;
  HostTensor out = make_host_tensor(MOEKIT_DTYPE_BF16, {tokens, shape.hidden});
  moekit_run_report report = MOEKIT_RUN_REPORT_INIT;
  std::vector<double> times_us;
  for (int it = 0; it < iters + 1; ++it) {  // the first run warms caches and is not timed
    const auto t0 = std::chrono::steady_clock::now();
    check(moekit_moe_forward(router, experts, &layer.hidden.view, &logits.view, &out.view, ws, ws_bytes, &report,
                             nullptr),
          "moe_forward");
    const auto t1 = std::chrono::steady_clock::now();
    if (it > 0) times_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(times_us.begin(), times_us.end());
  const double median = times_us[times_us.size() / 2];
  const double flops = 2.0 * tokens * shape.top_k * 3.0 * shape.hidden * shape.intermediate;
  std::printf("moe_forward: median %.1f us over %d runs (min %.1f), %.2f GFLOP/s, kernel %s\n", median, iters,
              times_us.front(), median > 0 ? flops / median * 1e-3 : 0.0, report.kernel);

  const ErrorStats err = reference_check(layer, *preset, topk_i, topk_w, out, check_tokens);
  std::printf("error vs float64 reference on %lld sampled tokens: max abs %.3g, mean abs %.3g, max rel %.3g "
              "(of output rms %.3g)\n",
              (long long)check_tokens, err.max_abs, err.mean_abs, err.max_rel, err.ref_rms);

  moekit_experts_destroy(experts);
  moekit_router_destroy(router);
  moekit_context_destroy(ctx);
  // bf16 output: a relative error around 2^-8 of the output scale is the format's own rounding.
  if (check_tokens > 0 && !(err.max_abs <= 0.05 * err.ref_rms + 1e-6)) {
    std::fprintf(stderr, "moekit run: error against the reference is above tolerance\n");
    return 1;
  }
  return 0;
}

}  // namespace moekit_cli
