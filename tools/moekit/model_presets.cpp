#include "model_presets.h"

namespace moekit_cli {

const std::vector<ModelPreset>& model_presets() {
  // Shapes from the models' published configs. gpt-oss routes with softmax over the top-k logits, which is
  // softmax over all experts followed by renormalisation over the chosen k.
  static const std::vector<ModelPreset> presets = {
      {"gpt-oss-20b", 2880, 2880, 32, 4, MOEKIT_SCORING_SOFTMAX, true, 1, 1, 1.0f, false,
       MOEKIT_ACTIVATION_SWIGLU_OAI, true, MOEKIT_WEIGHTS_MXFP4},
      {"gpt-oss-120b", 2880, 2880, 128, 4, MOEKIT_SCORING_SOFTMAX, true, 1, 1, 1.0f, false,
       MOEKIT_ACTIVATION_SWIGLU_OAI, true, MOEKIT_WEIGHTS_MXFP4},
      {"mixtral-8x7b", 4096, 14336, 8, 2, MOEKIT_SCORING_SOFTMAX, true, 1, 1, 1.0f, false,
       MOEKIT_ACTIVATION_SILU_MUL, false, MOEKIT_WEIGHTS_BF16},
      {"deepseek-v3", 7168, 2048, 256, 8, MOEKIT_SCORING_SIGMOID, true, 8, 4, 2.5f, true,
       MOEKIT_ACTIVATION_SILU_MUL, false, MOEKIT_WEIGHTS_FP8_BLOCK},
      {"qwen3-30b-a3b", 2048, 768, 128, 8, MOEKIT_SCORING_SOFTMAX, true, 1, 1, 1.0f, false,
       MOEKIT_ACTIVATION_SILU_MUL, false, MOEKIT_WEIGHTS_BF16},
  };
  return presets;
}

const ModelPreset* find_preset(const std::string& name) {
  for (const auto& p : model_presets())
    if (p.name == name) return &p;
  return nullptr;
}

std::string preset_names() {
  std::string s;
  for (const auto& p : model_presets()) s += (s.empty() ? "" : ", ") + p.name;
  return s;
}

}  // namespace moekit_cli
