// The gated activations of the expert runner (float32), shared by the BLAS runner and the naive baseline.
// Each takes the gate and up projections of one intermediate column and returns the activation output.
#pragma once

#include <cmath>
#include <cstdint>

#include "moekit_core/configs.h"

namespace moekit::cpu {

// silu(g) * u, silu(g) = g * sigmoid(g) = g / (1 + e^-g).
inline float silu_mul(float g, float u) { return g / (1.0f + std::exp(-g)) * u; }

// gelu(g) * u with the exact (erf) GELU: 0.5 * g * (1 + erf(g / sqrt(2))).
inline float gelu_mul(float g, float u) { return 0.5f * g * (1.0f + std::erf(g * 0.70710678118654752f)) * u; }

// gpt-oss clamped SwiGLU: g = min(gate, limit), u = clamp(up, -limit, limit), g * sigmoid(alpha * g) * (u + 1).
inline float swiglu_oai(float gate, float up, float alpha, float limit) {
  const float g = gate < limit ? gate : limit;
  const float u = up < -limit ? -limit : (up > limit ? limit : up);
  return g / (1.0f + std::exp(-alpha * g)) * (u + 1.0f);
}

// One row: gate_up [2*ip] (gate in [0, ip), up in [ip, 2*ip)) plus bias [2*ip] -> out [ip].
void gated_activation_row(const ExpertsConfig& cfg, const float* gate_up, const float* bias, int64_t ip, float* out);

}  // namespace moekit::cpu
