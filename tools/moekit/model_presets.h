// Model shapes of the MoE layers `moekit run` and the benchmarks use.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "moekit/moekit.h"

namespace moekit_cli {

struct ModelPreset {
  std::string name;
  int64_t hidden;
  int64_t intermediate;
  int32_t num_experts;
  int32_t top_k;
  moekit_scoring scoring;
  bool renormalize;
  int32_t num_expert_groups;
  int32_t topk_groups;
  float routed_scaling_factor;
  bool correction_bias;  // DeepSeek-V3's e_score_correction_bias
  moekit_activation activation;
  bool expert_biases;    // gpt-oss has biases on both GEMMs
  moekit_weight_format native_weights;
};

const std::vector<ModelPreset>& model_presets();
// nullptr if unknown.
const ModelPreset* find_preset(const std::string& name);
std::string preset_names();

}  // namespace moekit_cli
