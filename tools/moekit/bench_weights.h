// Random expert weights for `moekit bench`, generated on the host in parallel (full-size layers reach 22 GB:
// DeepSeek-V3 in bf16), in the storage format handed to moekit_experts_set_weights.
//
// Values are uniform with the standard deviation 1/sqrt(fan_in) of a trained layer, times a per-128x128-block
// factor in [1/2, 2]: with plain uniform data every FP8 block would get nearly the same scale, and a kernel that
// applied the wrong block's scale would go unnoticed by the accuracy check.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "model_presets.h"
#include "moekit/moekit.h"

namespace moekit_cli {

// Uninitialised host bytes (a std::vector would zero 22 GB on one thread before the generators run).
struct HostBytes {
  std::unique_ptr<uint8_t[]> data;
  size_t size = 0;
  void allocate(size_t n) {
    data.reset(new uint8_t[n == 0 ? 1 : n]);
    size = n;
  }
  bool present() const { return size != 0; }
};

struct BenchShape {
  int64_t hidden = 0, intermediate = 0;
  int32_t num_experts = 0, top_k = 0;
};

// Expert weights in one storage format, laid out as moekit_expert_weights documents.
struct HostExpertWeights {
  BenchShape shape;
  moekit_weight_format format = MOEKIT_WEIGHTS_BF16;
  HostBytes w13, w2, w13_scale, w2_scale, w13_bias, w2_bias;

  // Bytes one expert's parameters take (values, scales, biases): what a kernel must read per touched expert.
  int64_t bytes_per_expert() const;
  // Element counts of the stacked tensors' dimensions.
  std::vector<int64_t> w13_shape() const;
  std::vector<int64_t> w2_shape() const;
  std::vector<int64_t> w13_scale_shape() const;
  std::vector<int64_t> w2_scale_shape() const;
};

// Supported formats: MOEKIT_WEIGHTS_BF16 and MOEKIT_WEIGHTS_FP8_BLOCK (quantized by moekit's CPU quantizer,
// bit-identical to every backend's). Uses every hardware thread. Throws on failure.
HostExpertWeights make_bench_weights(const ModelPreset& preset, const BenchShape& shape, moekit_weight_format format,
                                     uint64_t seed);

// [rows, cols] bf16 values, uniform with standard deviation `stddev` (hidden states).
HostBytes make_bf16_matrix(int64_t rows, int64_t cols, float stddev, uint64_t seed);
// [rows, cols] f32 values uniform in [-range, range] (router logits: uniform random routing).
HostBytes make_f32_matrix(int64_t rows, int64_t cols, float range, uint64_t seed);

// bf16 bits of a float, rounded to nearest even (NaN stays NaN).
uint16_t float_to_bf16(float v);

}  // namespace moekit_cli
