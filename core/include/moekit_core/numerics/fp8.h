// OCP FP8 (E4M3FN, E5M2) <-> float32 and the FP8 scale rule, as plain bit arithmetic so that every backend
// (and device code later) shares one definition. The quantization formula used everywhere is
//   scale = max(amax * (1.0f / 448.0f), kFp8MinScale)        (float32 multiply, not a division)
//   q     = f32_to_e4m3(x / scale)                            (IEEE float32 division, then nearest-even)
//   x'    = e4m3_to_f32(q) * scale                            (float32 multiply)
#pragma once

#include <cstdint>

#include "moekit_core/numerics/half.h"

namespace moekit {

constexpr float kFp8E4M3Max = 448.0f;
// Floor of every FP8 scale, so an all-zero group never divides by zero. Equals MOEKIT_FP8_MIN_SCALE.
constexpr float kFp8MinScale = 1.0f / (448.0f * 512.0f);

// E4M3FN: S.EEEE.MMM, bias 7, no infinities, S.1111.111 is NaN, largest finite 448 (0x7E).
MOEKIT_HOST_DEVICE inline float e4m3_to_f32(uint8_t b) {
  const uint32_t sign = static_cast<uint32_t>(b & 0x80u) << 24;
  const uint32_t exp = (b >> 3) & 0xFu;
  const uint32_t man = b & 0x7u;
  if (exp == 0xFu && man == 0x7u) return f32_from_bits(sign | 0x7FC00000u);
  if (exp == 0) {
    const float v = static_cast<float>(man) * 0.001953125f;  // man * 2^-9, exact
    return sign ? -v : v;
  }
  return f32_from_bits(sign | ((exp + 120u) << 23) | (man << 20));  // rebias 7 -> 127
}

// Round-to-nearest-even, saturating: |x| >= 448 (and ±Inf) -> ±448; NaN -> 0x7F with the input's sign bit.
MOEKIT_HOST_DEVICE inline uint8_t f32_to_e4m3(float x) {
  const uint32_t u = f32_bits(x);
  const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80u);
  const uint32_t abs = u & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return static_cast<uint8_t>(sign | 0x7Fu);
  if (abs >= 0x43E00000u) return static_cast<uint8_t>(sign | 0x7Eu);  // >= 448 (incl. Inf): saturate
  if (abs < 0x3C800000u) {
    // Below 2^-6 the E4M3 grid is uniform with step 2^-9 (subnormals): round abs * 2^9 to an integer.
    // The scaling is exact; m == 8 is the code of 2^-6, the smallest normal, so the codes stay contiguous.
    const float scaled = f32_from_bits(abs) * 512.0f;
    const uint32_t below = static_cast<uint32_t>(scaled);
    const float frac = scaled - static_cast<float>(below);  // exact (scaled < 8)
    uint32_t m = below;
    if (frac > 0.5f || (frac == 0.5f && (below & 1u))) ++m;
    return static_cast<uint8_t>(sign | m);
  }
  // Normal: drop 20 of float's 23 mantissa bits with nearest-even; a carry moves into the exponent.
  const uint32_t r = abs + 0x7FFFFu + ((abs >> 20) & 1u);
  uint32_t code = (((r >> 23) - 120u) << 3) | ((r >> 20) & 0x7u);
  if (code > 0x7Eu) code = 0x7Eu;  // [448, 464] rounds to 448 anyway; above would be 480: saturate
  return static_cast<uint8_t>(sign | code);
}

// E5M2: S.EEEEE.MM, bias 15, IEEE-like (Inf and NaN at exponent 31), largest finite 57344.
MOEKIT_HOST_DEVICE inline float e5m2_to_f32(uint8_t b) {
  const uint32_t sign = static_cast<uint32_t>(b & 0x80u) << 24;
  const uint32_t exp = (b >> 2) & 0x1Fu;
  const uint32_t man = b & 0x3u;
  if (exp == 0x1Fu) return f32_from_bits(sign | 0x7F800000u | (man << 21));  // Inf (man 0) or NaN
  if (exp == 0) {
    const float v = static_cast<float>(man) * 1.52587890625e-05f;  // man * 2^-16, exact
    return sign ? -v : v;
  }
  return f32_from_bits(sign | ((exp + 112u) << 23) | (man << 21));  // rebias 15 -> 127
}

// True for finite floats (not Inf, not NaN), by bits so that fast-math settings cannot fold it away.
MOEKIT_HOST_DEVICE inline bool f32_is_finite(float x) { return (f32_bits(x) & 0x7F800000u) != 0x7F800000u; }

// |x| for finite x, 0 for NaN and ±Inf: the contribution of x to an amax "over finite values".
MOEKIT_HOST_DEVICE inline float finite_abs(float x) {
  const uint32_t abs = f32_bits(x) & 0x7FFFFFFFu;
  return abs < 0x7F800000u ? f32_from_bits(abs) : 0.0f;
}

// scale = max(amax * (1/448), kFp8MinScale). amax must be finite and >= 0 (a NaN would give kFp8MinScale).
MOEKIT_HOST_DEVICE inline float fp8_scale_from_amax(float amax) {
  const float s = amax * (1.0f / 448.0f);
  return s > kFp8MinScale ? s : kFp8MinScale;
}

// One value with one scale: the single quantization formula every backend implements.
MOEKIT_HOST_DEVICE inline uint8_t fp8_quantize(float x, float scale) { return f32_to_e4m3(x / scale); }
MOEKIT_HOST_DEVICE inline float fp8_dequantize(uint8_t q, float scale) { return e4m3_to_f32(q) * scale; }

}  // namespace moekit
