// The FP8 e4m3 activation quantizer's per-value step, fp8_quantize(x, scale) = f32_to_e4m3(x / scale)
// (moekit_core/numerics/fp8.h: IEEE f32 division, then nearest-even with saturation), with the same bits and far
// fewer instructions (the division and the bit-level rounding take about 40 per value). The exact path keeps the
// host's NaN rule (fp8_quantize_exact: a NaN keeps its sign, code 0xFF for -NaN as on the CPU; the device's own
// division returns the canonical NaN, 0x7F). Measured together with the row-wise scale lookup (experts_row_kernels.cuh,
// ScaleRow), not apart: ncu on the H200, same run, the grouped tier's FP8 gather qwen3-30b-a3b T=16384 758 -> 606
// us, gpt-oss-120b T=4096 167 -> 128 us; its FP8 activation pass 434 -> 379 and 271 -> 226 us.
//
// Why the fast path gives the same code (device code compiled for sm_89+, where cvt.rn.satfinite.e4m3x2.f32 exists;
// a build whose code for the running GPU is sm_80 SASS or compute_80 PTX, e.g. an Ada GPU under the default
// "90a-real;80", takes the exact formula: correct, not faster):
//  - y' = x * rcp_rn(scale) is within 3 ulp of y = RN(x / scale): y' carries two roundings of relative error
//    <= 2^-24 each (reciprocal, product), y one, and |x / scale| is below twice its binade's lowest value.
//  - Converting y and y' to e4m3 gives the same code unless a rounding boundary of e4m3 lies between them. For
//    |y'| >= 2^-6 (e4m3's normal range) the boundaries are the midpoints between codes, the floats whose low 20
//    bits are exactly 0x80000; y' at least 16 ulp away from any of them is therefore safe (ties included: a tie
//    y sits on a midpoint, so its y' is within 3 ulp of it and takes the exact path).
//  - The hardware conversion rounds to nearest-even and saturates to +-448 like f32_to_e4m3 (448 <= |y| < 464
//    rounds to 448 either way; above, satfinite clamps; a zero keeps its sign).
//  - Everything else takes the exact formula: e4m3's subnormal range (0 < |y'| < 2^-6, where the boundaries sit
//    elsewhere), Inf and NaN (whose bits the exact path defines), and values near a midpoint (about 32 in 2^20).
// tests/gpu/fp8_quantize_fast_test.cu compares this with the CPU formula bit for bit on random values and on every
// e4m3 code and midpoint times each scale, +-40 ulp, under scales from the floor to FLT_MAX / 448. Code compiled for
// targets before sm_89 is the exact formula. Callers: the grouped tier's gather and activation pass
// (fp8_quantize8) and the per-128-group quantizer of the mma.sync, streaming and decode tiers (fp8_quantize_one
// in fp8_quantize_group_warp, experts_stream_ops.cuh).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "portability.h"

namespace moekit::cuda {

// The exact formula with the host's NaN rule: a NaN x keeps its sign bit (f32_to_e4m3 of a NaN is 0x7F with its
// sign), where the device's division would return the canonical NaN (0x7F for -NaN too). The experts' scales are
// never NaN (fp8_scale_from_amax of a finite amax), so x is the only NaN operand to look at; the quantizers, whose
// scales a caller may give, use fp8_quantize_d (kernels/common/device/quantize.cuh), which checks both operands.
// Calling that one here instead gave the grouped FP8 activation pass's row-segment kernel a 24-byte stack
// (cuobjdump -res-usage, sm_90a); this one leaves every hot kernel's registers as they were.
__device__ __forceinline__ uint8_t fp8_quantize_exact(float x, float scale) {
  return f32_to_e4m3(device::is_nan(x) ? x : x / scale);
}

// Whether y' (the multiply's result) converts to the same code as the exact quotient (see above): zero, or in
// e4m3's normal range [2^-6, Inf) with its low 20 bits more than 16 away from 0x80000 (a midpoint). Written as
// two unsigned range tests (the sign bit does not reach the low 20 bits), with no branch: callers fold it over
// several values and branch once.
__device__ __forceinline__ bool fp8_fast_code_is_exact(float y) {
  const uint32_t bits = f32_bits(y);
  const uint32_t a = bits & 0x7FFFFFFFu;
  const bool normal = a - 0x3C800000u < 0x7F800000u - 0x3C800000u;
  const bool near_midpoint = ((bits - (0x80000u - 16u)) & 0xFFFFFu) <= 32u;
  return (a == 0) | (normal & !near_midpoint);
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
// The hardware's conversion of two floats: lo's code in the low byte, hi's in the high byte (nearest-even,
// saturating to +-448).
__device__ __forceinline__ uint16_t cvt_e4m3x2(float lo, float hi) {
  uint16_t pair;
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(pair) : "f"(hi), "f"(lo));
  return pair;
}
#endif

// One code; inv_scale = __frcp_rn(scale).
__device__ __forceinline__ uint8_t fp8_quantize_one(float x, float scale, float inv_scale) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  const float y = __fmul_rn(x, inv_scale);
  if (!fp8_fast_code_is_exact(y)) return fp8_quantize_exact(x, scale);
  return static_cast<uint8_t>(cvt_e4m3x2(y, 0.0f) & 0xFFu);
#else
  (void)inv_scale;
  return fp8_quantize_exact(x, scale);
#endif
}

// Eight codes, v[0] in the lowest byte of .x. One test and one branch for the eight: where any of them is not
// safe for the fast path (rare: about 32 floats in 2^20 near a midpoint, e4m3's subnormal range, Inf, NaN) all
// eight take the exact formula, whose codes the fast path's equal wherever it is safe.
__device__ __forceinline__ uint2 fp8_quantize8(const float* v, float scale) {
  uint32_t w[2];
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  const float inv_scale = __frcp_rn(scale);
  float y[8];
  bool exact = true;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    y[j] = __fmul_rn(v[j], inv_scale);
    exact &= fp8_fast_code_is_exact(y[j]);
  }
  if (exact) {
#pragma unroll
    for (int h = 0; h < 2; ++h)
      w[h] = static_cast<uint32_t>(cvt_e4m3x2(y[4 * h], y[4 * h + 1])) |
             (static_cast<uint32_t>(cvt_e4m3x2(y[4 * h + 2], y[4 * h + 3])) << 16);
    return make_uint2(w[0], w[1]);
  }
#endif
#pragma unroll
  for (int h = 0; h < 2; ++h)
    w[h] = static_cast<uint32_t>(fp8_quantize_exact(v[4 * h], scale)) |
           (static_cast<uint32_t>(fp8_quantize_exact(v[4 * h + 1], scale)) << 8) |
           (static_cast<uint32_t>(fp8_quantize_exact(v[4 * h + 2], scale)) << 16) |
           (static_cast<uint32_t>(fp8_quantize_exact(v[4 * h + 3], scale)) << 24);
  return make_uint2(w[0], w[1]);
}

// The largest finite |v[j]| of eight values (Inf and NaN count as 0, as finite_abs has it), which the FP8 scale
// is taken from. The magnitudes' bit patterns order like their values, so an integer max of the eight and one
// test for Inf/NaN replace eight selects and float maxes; a non-finite value (rare) takes finite_abs's way.
__device__ __forceinline__ float finite_amax8(const float* v) {
  uint32_t m = 0;
#pragma unroll
  for (int j = 0; j < 8; ++j) m = max(m, f32_bits(v[j]) & 0x7FFFFFFFu);
  if (m < 0x7F800000u) return f32_from_bits(m);
  float amax = 0.0f;
#pragma unroll
  for (int j = 0; j < 8; ++j) amax = fmaxf(amax, finite_abs(v[j]));
  return amax;
}

}  // namespace moekit::cuda
