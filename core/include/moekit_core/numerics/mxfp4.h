// OCP MX v1.0 FP4 (E2M1) values and E8M0 shared scales, as plain bit arithmetic shared by every backend.
// One block of 32 values:  X = clamp(floor(log2(amax)) - 2, -127, 127) over the block's finite values (2 is the
// largest exponent of E2M1), amax == 0 -> X = -127; each value is f32_to_e2m1(x / 2^X); the scale byte is
// X + 127, or 0xFF (NaN) when the block holds a NaN.
#pragma once

#include <cstdint>

#include "moekit_core/numerics/half.h"

namespace moekit {

constexpr int kMxBlock = 32;
constexpr uint8_t kE8M0Nan = 0xFF;

// E2M1 code S.EE.M: magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6} for codes 0..7; bit 3 is the sign.
MOEKIT_HOST_DEVICE inline float e2m1_to_f32(uint8_t code) {
  const uint32_t exp = (code >> 1) & 0x3u;
  const uint32_t man = code & 0x1u;
  // Subnormal (exp 0): man * 0.5. Normal: (2 + man) * 2^(exp - 2) = (1 + man/2) * 2^(exp - 1). All exact.
  const float v = exp == 0 ? 0.5f * static_cast<float>(man)
                           : static_cast<float>(2u + man) * static_cast<float>(1u << exp) * 0.25f;
  return (code & 0x8u) ? -v : v;
}

// Nearest-even E2M1 code of x; |x| > 6 and ±Inf saturate to ±6. Ties go to the even code (even mantissa bit):
// 0.25 -> 0, 0.75 -> 1, 1.25 -> 1, 1.75 -> 2, 2.5 -> 2, 3.5 -> 4, 5 -> 4. The sign is kept, so a negative value
// that rounds to zero gives -0 (code 8). NaN gives code 0: the caller marks the block NaN through its scale.
MOEKIT_HOST_DEVICE inline uint8_t f32_to_e2m1(float x) {
  const uint32_t u = f32_bits(x);
  const uint32_t abs_bits = u & 0x7FFFFFFFu;
  if (abs_bits > 0x7F800000u) return 0;
  const float a = f32_from_bits(abs_bits);
  uint8_t mag;
  if (a <= 0.25f) mag = 0;
  else if (a < 0.75f) mag = 1;
  else if (a <= 1.25f) mag = 2;
  else if (a < 1.75f) mag = 3;
  else if (a <= 2.5f) mag = 4;
  else if (a < 3.5f) mag = 5;
  else if (a <= 5.0f) mag = 6;
  else mag = 7;
  return static_cast<uint8_t>(((u >> 28) & 0x8u) | mag);
}

// E8M0 byte of a finite amax >= 0: X + 127 with X = clamp(floor(log2(amax)) - 2, -127, 127). floor(log2) of a
// normal float is its unbiased exponent field; zero and float denormals (< 2^-126) give X < -127, clamped.
// The upper clamp never binds (floor(log2(FLT_MAX)) - 2 = 125). A NaN or Inf amax gives the NaN byte.
MOEKIT_HOST_DEVICE inline uint8_t e8m0_from_amax(float amax) {
  const uint32_t exp_field = (f32_bits(amax) >> 23) & 0xFFu;  // sign ignored: amax >= 0
  if (exp_field == 0xFFu) return kE8M0Nan;
  return static_cast<uint8_t>(exp_field >= 2u ? exp_field - 2u : 0u);  // (e - 127) - 2 + 127
}

// 2^(byte - 127); 0xFF is NaN; byte 0 is 2^-127, a float denormal, built from bits so it is exact.
MOEKIT_HOST_DEVICE inline float e8m0_to_f32(uint8_t b) {
  if (b == kE8M0Nan) return f32_from_bits(0x7FC00000u);
  if (b == 0) return f32_from_bits(0x00400000u);
  return f32_from_bits(static_cast<uint32_t>(b) << 23);
}

// One value against one shared scale. x / 2^X is exact whenever representable (a power-of-two divisor).
MOEKIT_HOST_DEVICE inline uint8_t mxfp4_quantize(float x, float scale) { return f32_to_e2m1(x / scale); }
MOEKIT_HOST_DEVICE inline float mxfp4_dequantize(uint8_t code, uint8_t e8m0) {
  return e2m1_to_f32(code) * e8m0_to_f32(e8m0);
}

}  // namespace moekit
