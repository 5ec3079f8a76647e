// Small pieces the BLAS expert runner and the naive baseline share, so both follow one definition.
#pragma once

#include <cstdint>

#include "moekit_core/configs.h"
#include "moekit_core/numerics/half.h"
#include "moekit_core/platform_contract.h"
#include "moekit_core/types.h"

namespace moekit::cpu {

// FP8 activation quantization group along a row of `cols` values: the whole row for per-token, the contract's
// 1 x fp8_block (128) groups for per-group. Padding columns are zeros, so they change neither amax nor values.
inline int64_t act_quant_group(const ExpertsConfig& cfg, int64_t cols) {
  return cfg.act_quant == ActQuant::Fp8PerGroup ? cpu_platform_contract().fp8_block : cols;
}

inline float load_f32(const void* data, DType dtype, int64_t i) {
  switch (dtype) {
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(data)[i]);
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(data)[i]);
    default: return static_cast<const float*>(data)[i];
  }
}

inline void store_f32(void* data, DType dtype, int64_t i, float v) {
  switch (dtype) {
    case DType::BF16: static_cast<uint16_t*>(data)[i] = f32_to_bf16(v); return;
    case DType::F16: static_cast<uint16_t*>(data)[i] = f32_to_f16(v); return;
    default: static_cast<float*>(data)[i] = v; return;
  }
}

}  // namespace moekit::cpu
