#include "reference_check.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "reference/ref_numerics.h"

namespace moekit_cli {

namespace {

double activation(const ModelPreset& p, double gate, double up) {
  switch (p.activation) {
    case MOEKIT_ACTIVATION_SILU_MUL: return gate / (1.0 + std::exp(-gate)) * up;
    case MOEKIT_ACTIVATION_GELU_MUL: return 0.5 * gate * (1.0 + std::erf(gate / std::sqrt(2.0))) * up;
    case MOEKIT_ACTIVATION_SWIGLU_OAI: {
      const double alpha = 1.702, limit = 7.0;  // the descriptor defaults `moekit run` uses
      const double g = std::min(gate, limit), u = std::clamp(up, -limit, limit);
      return g / (1.0 + std::exp(-alpha * g)) * (u + 1.0);
    }
  }
  return 0;
}

}  // namespace

ErrorStats reference_check(const RandomLayer& L, const ModelPreset& p, const HostTensor& topk_ids,
                           const HostTensor& topk_weights, const HostTensor& out, int64_t sample) {
  ErrorStats st;
  if (sample <= 0) return st;
  const int64_t T = L.shape.tokens, H = L.shape.hidden, I = L.shape.intermediate, k = L.shape.top_k;
  const auto* ids = reinterpret_cast<const int32_t*>(topk_ids.bytes.data());
  const auto* wts = reinterpret_cast<const float*>(topk_weights.bytes.data());
  const auto* b13 = reinterpret_cast<const float*>(L.w13_bias.bytes.data());
  const auto* b2 = reinterpret_cast<const float*>(L.w2_bias.bytes.data());
  double sum_abs = 0, sum_sq = 0;
  int64_t n = 0;
  for (int64_t s = 0; s < sample; ++s) {
    const int64_t t = s * T / sample;  // evenly spread over the batch
    std::vector<double> x(static_cast<size_t>(H)), acc(static_cast<size_t>(H), 0.0), a(static_cast<size_t>(I));
    for (int64_t h = 0; h < H; ++h) x[h] = moekit_ref::load_as_double(L.hidden.bytes.data(), 2, t * H + h);
    for (int64_t j = 0; j < k; ++j) {
      const int32_t e = ids[t * k + j];
      if (e < 0 || e >= L.shape.num_experts) continue;
      for (int64_t i = 0; i < I; ++i) {
        double g = b13 ? b13[e * 2 * I + i] : 0.0, u = b13 ? b13[e * 2 * I + I + i] : 0.0;
        for (int64_t h = 0; h < H; ++h) {
          g += decode_weight(L, true, e, i, h) * x[h];
          u += decode_weight(L, true, e, I + i, h) * x[h];
        }
        a[i] = activation(p, g, u);
      }
      for (int64_t h = 0; h < H; ++h) {
        double y = b2 ? b2[e * H + h] : 0.0;
        for (int64_t i = 0; i < I; ++i) y += decode_weight(L, false, e, h, i) * a[i];
        acc[h] += static_cast<double>(wts[t * k + j]) * y;
      }
    }
    for (int64_t h = 0; h < H; ++h) {
      const double got = moekit_ref::load_as_double(out.bytes.data(), 2, t * H + h);
      const double d = std::fabs(got - acc[h]);
      st.max_abs = std::max(st.max_abs, d);
      sum_abs += d;
      sum_sq += acc[h] * acc[h];
      ++n;
    }
  }
  st.mean_abs = sum_abs / n;
  st.ref_rms = std::sqrt(sum_sq / n);
  st.max_rel = st.ref_rms > 0 ? st.max_abs / st.ref_rms : 0;
  return st;
}

}  // namespace moekit_cli
