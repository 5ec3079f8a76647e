#include "bench_check.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <thread>

#include "reference/ref_experts.h"
#include "reference/ref_numerics.h"

namespace moekit_cli {

namespace {

// One expert's slice of the stacked weights, as a one-expert layer for the reference.
moekit_ref::RefExpertBuffers expert_slice(const HostExpertWeights& w, int64_t e) {
  const int64_t H = w.shape.hidden, I = w.shape.intermediate;
  const bool fp8 = w.format == MOEKIT_WEIGHTS_FP8_BLOCK;
  const int64_t elem = fp8 ? 1 : 2;
  moekit_ref::RefExpertBuffers b;
  b.w13 = w.w13.data.get() + e * 2 * I * H * elem;
  b.w2 = w.w2.data.get() + e * H * I * elem;
  if (fp8) {
    const auto s13 = w.w13_scale_shape(), s2 = w.w2_scale_shape();
    b.w13_scale = reinterpret_cast<const float*>(w.w13_scale.data.get()) + e * s13[1] * s13[2];
    b.w2_scale = reinterpret_cast<const float*>(w.w2_scale.data.get()) + e * s2[1] * s2[2];
  }
  if (w.w13_bias.present()) b.w13_bias = reinterpret_cast<const float*>(w.w13_bias.data.get()) + e * 2 * I;
  if (w.w2_bias.present()) b.w2_bias = reinterpret_cast<const float*>(w.w2_bias.data.get()) + e * H;
  return b;
}

}  // namespace

double check_tolerance(moekit_weight_format format) { return format == MOEKIT_WEIGHTS_FP8_BLOCK ? 6e-2 : 1e-2; }

CheckResult check_sampled_tokens(const ModelPreset& preset, const HostExpertWeights& w, moekit_act_quant act_quant,
                                 const SampledTokens& s) {
  const int64_t H = w.shape.hidden, I = w.shape.intermediate, E = w.shape.num_experts, k = w.shape.top_k;
  const int64_t n = static_cast<int64_t>(s.token_index.size());
  CheckResult r;
  r.tokens = n;
  r.tolerance = check_tolerance(w.format);

  moekit_ref::RefExpertsSpec spec;
  spec.num_experts = spec.num_local = 1;
  spec.hidden = H;
  spec.intermediate = I;
  spec.activation = static_cast<int>(preset.activation);
  spec.weight_format = static_cast<int>(w.format);
  spec.act_quant = static_cast<int>(act_quant);
  spec.has_w13_bias = w.w13_bias.present();
  spec.has_w2_bias = w.w2_bias.present();

  // expert_out[p]: expert topk_ids[p]'s output for pair p = token * k + j, weight 1 (the combine follows).
  std::vector<std::vector<double>> expert_out(static_cast<size_t>(n * k));
  std::atomic<int64_t> next{0};
  std::atomic<bool> bad_id{false};
  auto worker = [&] {
    for (int64_t p = next++; p < n * k; p = next++) {
      const int32_t e = s.topk_ids[static_cast<size_t>(p)];
      if (e < 0 || e >= E) {  // a router never picks this; the layer would have dropped it
        bad_id = true;
        continue;
      }
      const moekit_ref::RefExpertWeights dw = moekit_ref::ref_decode_expert_weights(spec, expert_slice(w, e));
      std::vector<double> x(static_cast<size_t>(H));
      for (int64_t h = 0; h < H; ++h) x[static_cast<size_t>(h)] = moekit_ref::bf16_to_double(s.hidden[static_cast<size_t>((p / k) * H + h)]);
      const int32_t local = 0;
      const float one = 1.0f;
      expert_out[static_cast<size_t>(p)] = moekit_ref::ref_experts_forward(spec, dw, x, 1, 1, &local, &one).out;
    }
  };
  const int64_t jobs = n * k;
  const int threads = static_cast<int>(std::min<int64_t>(std::max(1u, std::thread::hardware_concurrency()), jobs));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& th : pool) th.join();
  if (bad_id) {
    r.message = "the router returned an expert id outside [0, E)";
    return r;
  }

  for (int64_t t = 0; t < n; ++t) {
    double diff2 = 0, ref2 = 0;
    bool finite = true;
    for (int64_t h = 0; h < H; ++h) {
      double ref = 0;
      for (int64_t j = 0; j < k; ++j)
        ref += static_cast<double>(s.topk_weights[static_cast<size_t>(t * k + j)]) *
               expert_out[static_cast<size_t>(t * k + j)][static_cast<size_t>(h)];
      const double got = moekit_ref::bf16_to_double(s.out[static_cast<size_t>(t * H + h)]);
      finite = finite && std::isfinite(got);
      diff2 += (got - ref) * (got - ref);
      ref2 += ref * ref;
    }
    const double rel = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
    r.max_rel_l2 = std::max(r.max_rel_l2, finite ? rel : INFINITY);
    if (!finite || !(rel <= r.tolerance)) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "token %lld: %s (relative L2 error %.3g, tolerance %.3g)",
                    static_cast<long long>(s.token_index[static_cast<size_t>(t)]),
                    finite ? "output differs from the float64 reference" : "output is not finite", rel, r.tolerance);
      if (r.message.empty()) r.message = buf;
    }
  }
  r.passed = r.message.empty();
  return r;
}

}  // namespace moekit_cli
