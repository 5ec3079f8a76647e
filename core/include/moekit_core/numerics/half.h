// bfloat16 and IEEE float16 <-> float32, round-to-nearest-even, NaN preserved. Header-only so every
// backend (and device code later) shares one definition.
#pragma once

#include <cstdint>
#include <cstring>

// Device code compiles these functions for the GPU too: kernels/common/portability.h defines
// MOEKIT_HOST_DEVICE as __host__ __device__ before including this header; plain C++ sees nothing.
#ifndef MOEKIT_HOST_DEVICE
#define MOEKIT_HOST_DEVICE
#endif

namespace moekit {

MOEKIT_HOST_DEVICE inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
MOEKIT_HOST_DEVICE inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

MOEKIT_HOST_DEVICE inline float bf16_to_f32(uint16_t h) {
  return f32_from_bits(static_cast<uint32_t>(h) << 16);
}

MOEKIT_HOST_DEVICE inline uint16_t f32_to_bf16(float f) {
  const uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

MOEKIT_HOST_DEVICE inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (man << 13));  // Inf / NaN
  if (exp == 0) {
    if (man == 0) return f32_from_bits(sign);
    // Subnormal: value = man * 2^-24, exact in float32.
    const float v = static_cast<float>(man) * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  return f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
}

MOEKIT_HOST_DEVICE inline uint16_t f32_to_f16(float f) {
  const uint32_t u = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: Inf
  if (abs < 0x38800000u) {
    // Result is subnormal or zero: round abs / 2^-24 to nearest even integer.
    const float scaled = f32_from_bits(abs) * 16777216.0f;  // exact: power-of-two scaling
    const uint32_t below = static_cast<uint32_t>(scaled);
    const float frac = scaled - static_cast<float>(below);
    uint32_t m = below;
    if (frac > 0.5f || (frac == 0.5f && (below & 1u))) ++m;
    return static_cast<uint16_t>(sign | m);
  }
  const uint32_t rounding = 0xfffu + ((abs >> 13) & 1u);
  const uint32_t r = abs + rounding;
  return static_cast<uint16_t>(sign | (((r >> 23) - 112u) << 10) | ((r >> 13) & 0x3ffu));
}

}  // namespace moekit
