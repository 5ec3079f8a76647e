// Serial CPU kernels of the quantization formats on float32 rows, shared by the quantizer (cpu_quantize.cpp),
// the expert runner (activation fake-quantization, weight dequantization) and the tools. The formulas are
// those of numerics/fp8.h and numerics/mxfp4.h; every function here is single-threaded and works on whole
// rows, so callers parallelise by handing each thread its own range of rows (or of block-rows).
// All matrices are row-major [rows, cols]; group/block edges at the end of a row or matrix are partial.
#pragma once

#include <cstdint>

namespace moekit::cpu {

// amax over the finite values of x[0..n) (NaN and ±Inf ignored); 0 when there are none.
float finite_amax(const float* x, int64_t n);

// FP8 with one scale per 1 x group of each row: scales [rows, ceil(cols/group)]. Per-token: group = cols.
// (cols == 0 writes no scales.)
void quantize_fp8_rows(const float* x, int64_t rows, int64_t cols, int64_t group, uint8_t* q, float* scales);
// Quantize then dequantize in place (same groups): what an FP8 activation looks like after the round trip.
void fake_quantize_fp8_rows(float* x, int64_t rows, int64_t cols, int64_t group);
// Inverse of quantize_fp8_rows.
void dequantize_fp8_rows(const uint8_t* q, const float* scales, int64_t rows, int64_t cols, int64_t group,
                         float* out);

// FP8 with one given scale for all n values (per-tensor: scale = fp8_scale_from_amax(finite_amax(all))).
void quantize_fp8_with_scale(const float* x, int64_t n, float scale, uint8_t* q);
void dequantize_fp8_with_scale(const uint8_t* q, int64_t n, float scale, float* out);

// FP8 with one scale per block x block tile: scales [ceil(rows/block), ceil(cols/block)]. To split the work,
// pass row ranges that start at a multiple of `block` (with x, q, out and scales offset accordingly).
void quantize_fp8_block(const float* x, int64_t rows, int64_t cols, int64_t block, uint8_t* q, float* scales);
void dequantize_fp8_block(const uint8_t* q, const float* scales, int64_t rows, int64_t cols, int64_t block,
                          float* out);

// MXFP4: cols % 32 == 0; packed [rows, cols/2] (low nibble = even column), e8m0 [rows, cols/32].
void quantize_mxfp4_rows(const float* x, int64_t rows, int64_t cols, uint8_t* packed, uint8_t* e8m0);
void dequantize_mxfp4_rows(const uint8_t* packed, const uint8_t* e8m0, int64_t rows, int64_t cols, float* out);

}  // namespace moekit::cpu
