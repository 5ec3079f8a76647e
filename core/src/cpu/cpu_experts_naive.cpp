#include "cpu/cpu_experts_naive.h"

#include <algorithm>
#include <vector>

#include "cpu/cpu_activation.h"
#include "cpu/cpu_experts_common.h"
#include "cpu/quantize_rows.h"

namespace moekit::cpu {

void run_experts_naive(const ExpertsConfig& cfg, const CpuExpertWeights& w, const float* hidden, int64_t T,
                       int64_t k, const int32_t* topk_ids, const float* topk_weights, float* out) {
  const int64_t H = cfg.hidden, Hp = cfg.hidden_pad, Ip = cfg.intermediate_pad;
  const bool quant = cfg.act_quant != ActQuant::None;
  std::vector<float> x(static_cast<size_t>(Hp)), gate_up(static_cast<size_t>(2 * Ip)), act(static_cast<size_t>(Ip));
  std::vector<float> acc(static_cast<size_t>(H));
  for (int64_t t = 0; t < T; ++t) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t j = 0; j < k; ++j) {
      const int32_t id = topk_ids[t * k + j];
      if (id < 0 || id >= cfg.num_experts) continue;
      const int32_t local = cfg.expert_map[static_cast<size_t>(id)];
      if (local < 0) continue;
      const float weight = topk_weights[t * k + j];
      const float in_scale = cfg.apply_router_weight_on_input ? weight : 1.0f;
      for (int64_t h = 0; h < H; ++h) x[h] = hidden[t * H + h] * in_scale;
      if (quant) fake_quantize_fp8_rows(x.data(), 1, Hp, act_quant_group(cfg, Hp));

      const float* w13 = w.w13_of(local);
      for (int64_t r = 0; r < 2 * Ip; ++r) {
        float s = 0.0f;
        for (int64_t h = 0; h < Hp; ++h) s += x[h] * w13[r * Hp + h];
        gate_up[r] = s;
      }
      gated_activation_row(cfg, gate_up.data(), w.b13_of(local), Ip, act.data());
      if (quant) fake_quantize_fp8_rows(act.data(), 1, Ip, act_quant_group(cfg, Ip));

      const float* w2 = w.w2_of(local);
      const float* b2 = w.b2_of(local);
      const float out_scale = cfg.apply_router_weight_on_input ? 1.0f : weight;
      for (int64_t h = 0; h < H; ++h) {
        float s = 0.0f;
        for (int64_t i = 0; i < Ip; ++i) s += act[i] * w2[h * Ip + i];
        acc[h] += out_scale * (s + b2[h]);
      }
    }
    std::copy(acc.begin(), acc.end(), out + t * H);
  }
}

}  // namespace moekit::cpu
