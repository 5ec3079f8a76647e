#include "cpu/quantize_rows.h"

#include "moekit_core/numerics/fp8.h"
#include "moekit_core/numerics/mxfp4.h"

namespace moekit::cpu {

namespace {

int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
int64_t groups_of(int64_t n, int64_t g) { return n / g + (n % g != 0); }

}  // namespace

float finite_amax(const float* x, int64_t n) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float a = finite_abs(x[i]);
    amax = a > amax ? a : amax;
  }
  return amax;
}

void quantize_fp8_with_scale(const float* x, int64_t n, float scale, uint8_t* q) {
  for (int64_t i = 0; i < n; ++i) q[i] = fp8_quantize(x[i], scale);
}

void dequantize_fp8_with_scale(const uint8_t* q, int64_t n, float scale, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = fp8_dequantize(q[i], scale);
}

void quantize_fp8_rows(const float* x, int64_t rows, int64_t cols, int64_t group, uint8_t* q, float* scales) {
  const int64_t ngroups = groups_of(cols, group);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < ngroups; ++g) {
      const int64_t begin = r * cols + g * group;
      const int64_t len = min64(group, cols - g * group);
      const float scale = fp8_scale_from_amax(finite_amax(x + begin, len));
      scales[r * ngroups + g] = scale;
      quantize_fp8_with_scale(x + begin, len, scale, q + begin);
    }
  }
}

void fake_quantize_fp8_rows(float* x, int64_t rows, int64_t cols, int64_t group) {
  const int64_t ngroups = groups_of(cols, group);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < ngroups; ++g) {
      float* v = x + r * cols + g * group;
      const int64_t len = min64(group, cols - g * group);
      const float scale = fp8_scale_from_amax(finite_amax(v, len));
      for (int64_t i = 0; i < len; ++i) v[i] = fp8_dequantize(fp8_quantize(v[i], scale), scale);
    }
  }
}

void dequantize_fp8_rows(const uint8_t* q, const float* scales, int64_t rows, int64_t cols, int64_t group,
                         float* out) {
  const int64_t ngroups = groups_of(cols, group);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < ngroups; ++g) {
      const int64_t begin = r * cols + g * group;
      dequantize_fp8_with_scale(q + begin, min64(group, cols - g * group), scales[r * ngroups + g], out + begin);
    }
}

void quantize_fp8_block(const float* x, int64_t rows, int64_t cols, int64_t block, uint8_t* q, float* scales) {
  const int64_t nbc = groups_of(cols, block);
  for (int64_t br = 0; br * block < rows; ++br) {
    const int64_t r0 = br * block;
    const int64_t r1 = min64(rows, r0 + block);
    for (int64_t bc = 0; bc < nbc; ++bc) {
      const int64_t c0 = bc * block;
      const int64_t len = min64(block, cols - c0);
      float amax = 0.0f;
      for (int64_t r = r0; r < r1; ++r) {
        const float a = finite_amax(x + r * cols + c0, len);
        amax = a > amax ? a : amax;
      }
      const float scale = fp8_scale_from_amax(amax);
      scales[br * nbc + bc] = scale;
      for (int64_t r = r0; r < r1; ++r) quantize_fp8_with_scale(x + r * cols + c0, len, scale, q + r * cols + c0);
    }
  }
}

void dequantize_fp8_block(const uint8_t* q, const float* scales, int64_t rows, int64_t cols, int64_t block,
                          float* out) {
  const int64_t nbc = groups_of(cols, block);
  for (int64_t r = 0; r < rows; ++r) {
    const float* block_scales = scales + (r / block) * nbc;
    for (int64_t bc = 0; bc < nbc; ++bc) {
      const int64_t c0 = bc * block;
      dequantize_fp8_with_scale(q + r * cols + c0, min64(block, cols - c0), block_scales[bc], out + r * cols + c0);
    }
  }
}

void quantize_mxfp4_rows(const float* x, int64_t rows, int64_t cols, uint8_t* packed, uint8_t* e8m0) {
  const int64_t nblocks = cols / kMxBlock;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nblocks; ++b) {
      const float* v = x + r * cols + b * kMxBlock;
      bool has_nan = false;
      for (int i = 0; i < kMxBlock; ++i) has_nan |= (f32_bits(v[i]) & 0x7FFFFFFFu) > 0x7F800000u;
      const uint8_t byte = e8m0_from_amax(finite_amax(v, kMxBlock));
      const float scale = e8m0_to_f32(byte);  // the finite-amax scale, even for a NaN block
      uint8_t* out = packed + (r * cols + b * kMxBlock) / 2;
      for (int i = 0; i < kMxBlock; i += 2)
        out[i / 2] = static_cast<uint8_t>(mxfp4_quantize(v[i], scale) | (mxfp4_quantize(v[i + 1], scale) << 4));
      e8m0[r * nblocks + b] = has_nan ? kE8M0Nan : byte;
    }
  }
}

void dequantize_mxfp4_rows(const uint8_t* packed, const uint8_t* e8m0, int64_t rows, int64_t cols, float* out) {
  const int64_t nblocks = cols / kMxBlock;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < nblocks; ++b) {
      const float scale = e8m0_to_f32(e8m0[r * nblocks + b]);
      const uint8_t* in = packed + (r * cols + b * kMxBlock) / 2;
      float* o = out + r * cols + b * kMxBlock;
      for (int i = 0; i < kMxBlock; i += 2) {
        o[i] = e2m1_to_f32(in[i / 2] & 0xF) * scale;
        o[i + 1] = e2m1_to_f32(in[i / 2] >> 4) * scale;
      }
    }
}

}  // namespace moekit::cpu
