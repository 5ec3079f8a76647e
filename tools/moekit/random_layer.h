// A random MoE layer in a model's shape: weights in the chosen storage format (quantized by moekit's own
// quantizer for fp8 / mxfp4), hidden states and gate weights, all in host memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model_presets.h"
#include "moekit/moekit.h"

namespace moekit_cli {

struct LayerShape {
  int64_t tokens, hidden, intermediate;
  int32_t num_experts, top_k;
};

struct HostTensor {
  std::vector<uint8_t> bytes;
  moekit_tensor view{};
  bool present() const { return !bytes.empty(); }
};

struct RandomLayer {
  LayerShape shape{};
  moekit_weight_format format = MOEKIT_WEIGHTS_BF16;
  HostTensor w13, w2, w13_scale, w2_scale, w13_bias, w2_bias;  // expert weights as handed to moekit
  HostTensor hidden;                                           // [T,H] bf16
  HostTensor w_gate;                                           // [E,H] bf16
  std::vector<float> correction_bias;                          // [E] or empty

  moekit_expert_weights weights() const;
};

HostTensor make_host_tensor(moekit_dtype dtype, std::vector<int64_t> shape);

// Throws std::runtime_error with moekit's message if a moekit call fails.
void check(moekit_status st, const char* what);

RandomLayer make_random_layer(moekit_context ctx, const ModelPreset& preset, const LayerShape& shape,
                              moekit_weight_format format, uint64_t seed);

// Decoded float64 value of element i of a weight tensor (any storage format), for the reference check.
double decode_weight(const RandomLayer& layer, bool w13, int64_t expert, int64_t row, int64_t col);

}  // namespace moekit_cli
