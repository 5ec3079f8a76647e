#include "cpu/cpu_activation.h"

namespace moekit::cpu {

void gated_activation_row(const ExpertsConfig& cfg, const float* gate_up, const float* bias, int64_t ip, float* out) {
  const float* gate = gate_up;
  const float* up = gate_up + ip;
  const float* gate_bias = bias;
  const float* up_bias = bias + ip;
  // The switch sits outside the loop so each loop body is a plain vectorisable expression.
  switch (cfg.activation) {
    case Activation::SiluMul:
      for (int64_t i = 0; i < ip; ++i) out[i] = silu_mul(gate[i] + gate_bias[i], up[i] + up_bias[i]);
      return;
    case Activation::GeluMul:
      for (int64_t i = 0; i < ip; ++i) out[i] = gelu_mul(gate[i] + gate_bias[i], up[i] + up_bias[i]);
      return;
    case Activation::SwigluOai: {
      const float alpha = cfg.swiglu_alpha, limit = cfg.swiglu_limit;
      for (int64_t i = 0; i < ip; ++i) out[i] = swiglu_oai(gate[i] + gate_bias[i], up[i] + up_bias[i], alpha, limit);
      return;
    }
  }
}

}  // namespace moekit::cpu
