// Float64 check of a layer's output on a sample of tokens, given the routing moekit chose.
#pragma once

#include <cstdint>

#include "model_presets.h"
#include "random_layer.h"

namespace moekit_cli {

struct ErrorStats {
  double max_abs = 0, mean_abs = 0, max_rel = 0, ref_rms = 0;
};

ErrorStats reference_check(const RandomLayer& layer, const ModelPreset& preset, const HostTensor& topk_ids,
                           const HostTensor& topk_weights, const HostTensor& out, int64_t sample_tokens);

}  // namespace moekit_cli
