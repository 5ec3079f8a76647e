// The benchmark baseline: the same MoE expert layer as the BLAS runner (same prepared weights, activations,
// FP8 activation fake-quantization and slot-order combine), computed token by token with plain loops on one
// thread. bench/ quotes the BLAS runner's speed-up over it. Results agree with run_experts to float32
// accumulation-order differences only.
#pragma once

#include <cstdint>

#include "cpu/cpu_expert_weights.h"
#include "moekit_core/configs.h"

namespace moekit::cpu {

// hidden [T, H] f32, topk_ids / topk_weights [T, k], out [T, H] f32 (fully written). Ids outside [0, E) and
// non-local experts contribute nothing. `cfg` must be the configuration the weights were prepared with.
void run_experts_naive(const ExpertsConfig& cfg, const CpuExpertWeights& w, const float* hidden, int64_t T,
                       int64_t k, const int32_t* topk_ids, const float* topk_weights, float* out);

}  // namespace moekit::cpu
