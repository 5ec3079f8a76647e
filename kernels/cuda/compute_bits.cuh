// The 16-bit encoding of f32 values in a GEMM's compute type (bf16 or f16, round to nearest even), one value or
// eight packed into one 16-byte store: shared by the expert tiers' row builders.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "portability.h"

namespace moekit::cuda::experts {

template <class CT>
__device__ __forceinline__ uint16_t to_compute_bits(float v) {
  if constexpr (std::is_same<CT, __half>::value) return f32_to_f16(v);
  else return f32_to_bf16(v);
}

// v[0..7] in memory order: v[0] in the low half of .x.
template <class CT>
__device__ __forceinline__ uint4 pack8_compute_bits(const float* v) {
  uint32_t w[4];
#pragma unroll
  for (int j = 0; j < 4; ++j)
    w[j] = to_compute_bits<CT>(v[2 * j]) | (static_cast<uint32_t>(to_compute_bits<CT>(v[2 * j + 1])) << 16);
  return make_uint4(w[0], w[1], w[2], w[3]);
}

}  // namespace moekit::cuda::experts
