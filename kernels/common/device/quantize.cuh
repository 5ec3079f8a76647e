// FP8 E4M3 (per tensor / token / 1xG group / BxB block) and MXFP4 quantizers and their inverses for both modules,
// bit-identical to the CPU backend: both evaluate the same header-only formulas (moekit_core/numerics/fp8.h,
// mxfp4.h) on the same float32 values — bf16/f16 inputs widen exactly, amax is an order-independent max over
// finite values, divisions are IEEE (no fast-math: the builds keep IEEE division and denormals), and outputs
// round with the same nearest-even converters. Reductions run over kWarpSize lanes (32 CUDA, 64 CDNA); a max
// is order-independent, so the width changes nothing in the results.
//
// launch_quantize_on<Runtime> / launch_dequantize_on<Runtime> are the host launchers; Runtime is the module's
// policy (kernels/cuda/cuda_runtime_policy.h, kernels/hip/hip_runtime_policy.h): stream type, memset, launch
// check and error reporting. Include from exactly one translation unit per module (defines kernels).
#pragma once

#include <cstdint>
#include <string>

#include "../moekit_plugin.h"
#include "../portability.h"
#include "limits.h"
#include "warp_ops.cuh"

namespace moekit::device {

constexpr int kQuantThreads = 256;

MOEKIT_DEVICE_INLINE long long min_ll(long long a, long long b) { return a < b ? a : b; }

// NaN bits. The CPU backend (x86 SSE) returns a NaN operand of * and / unchanged (quieted), sign and payload
// included; GPUs return a canonical NaN instead. These keep the host's rule, so that NaN inputs and NaN scales
// give bit-identical outputs on every backend.
MOEKIT_DEVICE_INLINE float quieted(float x) { return f32_from_bits(f32_bits(x) | 0x00400000u); }
MOEKIT_DEVICE_INLINE float mul_keeping_nan(float a, float b) {
  if (is_nan(a)) return quieted(a);
  if (is_nan(b)) return quieted(b);
  return a * b;
}
MOEKIT_DEVICE_INLINE float div_keeping_nan(float a, float b) {
  if (is_nan(a)) return quieted(a);
  if (is_nan(b)) return quieted(b);
  return a / b;
}
// numerics/fp8.h and mxfp4.h's one-value formulas with the host's NaN propagation.
MOEKIT_DEVICE_INLINE uint8_t fp8_quantize_d(float x, float scale) { return f32_to_e4m3(div_keeping_nan(x, scale)); }
MOEKIT_DEVICE_INLINE float fp8_dequantize_d(uint8_t q, float scale) { return mul_keeping_nan(e4m3_to_f32(q), scale); }
MOEKIT_DEVICE_INLINE uint8_t mxfp4_quantize_d(float x, float scale) { return f32_to_e2m1(div_keeping_nan(x, scale)); }

// Block-wide max of non-negative floats; every thread gets the result. `scratch` holds one float per warp.
__device__ inline float block_max(float v, float* scratch) {
  v = warp_max(v);
  const int warp = warp_id(), lane = lane_id(), warps = warps_per_block();
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float m = 0.0f;
  for (int w = 0; w < warps; ++w) m = fmaxf(m, scratch[w]);
  return m;
}

// ---- FP8 per tensor: amax (atomic max on the bits of non-negative floats), then the scale, then values. ----
__global__ void amax_kernel(const void* input, int32_t dtype, long long n, unsigned* amax_bits) {
  __shared__ float scratch[kQuantThreads / kWarpSize];
  float m = 0.0f;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    m = fmaxf(m, finite_abs(load_as_f32(input, dtype, i)));
  m = block_max(m, scratch);
  if (threadIdx.x == 0) atomicMax(amax_bits, f32_bits(m));  // uint order == float order for x >= 0
}

__global__ void finalize_scale_kernel(float* scale) {
  const float amax = f32_from_bits(*reinterpret_cast<const unsigned*>(scale));
  *scale = fp8_scale_from_amax(amax);
}

__global__ void quantize_with_scale_kernel(const void* input, int32_t dtype, long long n, const float* scale,
                                           uint8_t* q) {
  const float s = *scale;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    q[i] = fp8_quantize_d(load_as_f32(input, dtype, i), s);
}

// ---- FP8 per token / per group: one warp per (row, group). ----
__global__ void quantize_groups_kernel(const void* input, int32_t dtype, long long rows, long long cols,
                                       long long group, long long groups_per_row, uint8_t* q, float* scales) {
  const int lane = lane_id();
  const long long warps_total = static_cast<long long>(gridDim.x) * warps_per_block();
  const long long total = rows * groups_per_row;
  for (long long g = static_cast<long long>(blockIdx.x) * warps_per_block() + warp_id(); g < total;
       g += warps_total) {
    const long long r = g / groups_per_row, gi = g - r * groups_per_row;
    const long long begin = r * cols + gi * group;
    const long long len = min_ll(group, cols - gi * group);
    float m = 0.0f;
    for (long long i = lane; i < len; i += kWarpSize) m = fmaxf(m, finite_abs(load_as_f32(input, dtype, begin + i)));
    const float scale = fp8_scale_from_amax(warp_max(m));
    if (lane == 0) scales[g] = scale;
    for (long long i = lane; i < len; i += kWarpSize)
      q[begin + i] = fp8_quantize_d(load_as_f32(input, dtype, begin + i), scale);
  }
}

__global__ void fill_f32_kernel(float* data, long long n, float value) {
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    data[i] = value;
}

// ---- FP8 per BxB block: one thread block per tile. ----
__global__ void quantize_blocks_kernel(const void* input, int32_t dtype, long long rows, long long cols,
                                       long long edge, long long block_cols, uint8_t* q, float* scales) {
  __shared__ float scratch[kQuantThreads / kWarpSize];
  const long long tiles = ((rows + edge - 1) / edge) * block_cols;
  for (long long tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const long long br = tile / block_cols, bc = tile - br * block_cols;
    const long long r0 = br * edge, c0 = bc * edge;
    const long long tr = min_ll(edge, rows - r0), tc = min_ll(edge, cols - c0);
    const long long count = tr * tc;
    float m = 0.0f;
    for (long long li = threadIdx.x; li < count; li += blockDim.x) {
      const long long r = r0 + li / tc, c = c0 + li % tc;
      m = fmaxf(m, finite_abs(load_as_f32(input, dtype, r * cols + c)));
    }
    const float scale = fp8_scale_from_amax(block_max(m, scratch));
    if (threadIdx.x == 0) scales[tile] = scale;
    for (long long li = threadIdx.x; li < count; li += blockDim.x) {
      const long long r = r0 + li / tc, c = c0 + li % tc;
      q[r * cols + c] = fp8_quantize_d(load_as_f32(input, dtype, r * cols + c), scale);
    }
  }
}

// ---- MXFP4: one thread per block of 32 values. ----
__global__ void quantize_mxfp4_kernel(const void* input, int32_t dtype, long long blocks, uint8_t* packed,
                                      uint8_t* e8m0) {
  for (long long b = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks;
       b += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long first = b * kMxBlock;
    float v[kMxBlock];
    bool has_nan = false;
    float amax = 0.0f;
#pragma unroll
    for (int i = 0; i < kMxBlock; ++i) {
      v[i] = load_as_f32(input, dtype, first + i);
      has_nan |= is_nan(v[i]);
      amax = fmaxf(amax, finite_abs(v[i]));
    }
    const uint8_t byte = e8m0_from_amax(amax);
    const float scale = e8m0_to_f32(byte);  // the finite-amax scale, even for a NaN block
#pragma unroll
    for (int i = 0; i < kMxBlock; i += 2)
      packed[first / 2 + i / 2] =
          static_cast<uint8_t>(mxfp4_quantize_d(v[i], scale) | (mxfp4_quantize_d(v[i + 1], scale) << 4));
    e8m0[b] = has_nan ? kE8M0Nan : byte;
  }
}

// ---- Inverses ----
struct Fp8Layout {
  int32_t scheme;
  long long rows, cols, group, scale_cols;
};

MOEKIT_HOST_DEVICE inline long long fp8_scale_index(const Fp8Layout& l, long long r, long long c) {
  switch (l.scheme) {
    case MOEKIT_PLUGIN_QUANT_FP8_PER_TENSOR: return 0;
    case MOEKIT_PLUGIN_QUANT_FP8_PER_TOKEN: return r;
    case MOEKIT_PLUGIN_QUANT_FP8_PER_GROUP: return r * l.scale_cols + c / l.group;
    default: return (r / l.group) * l.scale_cols + c / l.group;  // FP8_BLOCK
  }
}

__global__ void dequantize_fp8_kernel(const uint8_t* q, const float* scales, Fp8Layout layout, void* out,
                                      int32_t out_dtype) {
  const long long n = layout.rows * layout.cols;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long r = i / layout.cols, c = i - r * layout.cols;
    store_from_f32(out, out_dtype, i, fp8_dequantize_d(q[i], scales[fp8_scale_index(layout, r, c)]));
  }
}

__global__ void dequantize_mxfp4_kernel(const uint8_t* packed, const uint8_t* e8m0, long long bytes, void* out,
                                        int32_t out_dtype) {
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < bytes;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const float scale = e8m0_to_f32(e8m0[(2 * i) / kMxBlock]);  // values 2i, 2i+1 share one 32-value block
    store_from_f32(out, out_dtype, 2 * i, mul_keeping_nan(e2m1_to_f32(packed[i] & 0xF), scale));
    store_from_f32(out, out_dtype, 2 * i + 1, mul_keeping_nan(e2m1_to_f32(packed[i] >> 4), scale));
  }
}

inline int64_t groups_of(int64_t n, int64_t g) { return n / g + (n % g != 0); }

// ---- Host launchers ----
template <class Runtime>
void launch_quantize_on(const moekit_plugin_quantizer_config& cfg, const moekit_plugin_tensor& input,
                        const moekit_plugin_tensor& values, const moekit_plugin_tensor& scales,
                        typename Runtime::Stream stream) {
  const int64_t rows = input.shape[0], cols = input.shape[1], n = rows * cols;
  const int32_t dtype = input.dtype;
  auto* q = static_cast<uint8_t*>(values.data);
  auto* s = static_cast<float*>(scales.data);
  switch (cfg.scheme) {
    case MOEKIT_PLUGIN_QUANT_FP8_PER_TENSOR:
      Runtime::memset_async(s, 0, sizeof(float), stream, "memset (per-tensor amax)");
      if (n > 0) {
        amax_kernel<<<grid_blocks(n, kQuantThreads, 132 * 8), kQuantThreads, 0, stream>>>(
            input.data, dtype, n, reinterpret_cast<unsigned*>(s));
        Runtime::check_launch("amax_kernel");
      }
      finalize_scale_kernel<<<1, 1, 0, stream>>>(s);
      Runtime::check_launch("finalize_scale_kernel");
      if (n > 0) {
        quantize_with_scale_kernel<<<grid_blocks(n, kQuantThreads), kQuantThreads, 0, stream>>>(input.data, dtype,
                                                                                                n, s, q);
        Runtime::check_launch("quantize_with_scale_kernel");
      }
      return;
    case MOEKIT_PLUGIN_QUANT_FP8_PER_TOKEN:
    case MOEKIT_PLUGIN_QUANT_FP8_PER_GROUP: {
      const int64_t scale_count = scales.shape[0] * scales.shape[1];
      if (cols == 0) {  // per-token scales of empty rows: amax 0 (per-group has no scales then)
        if (scale_count > 0) {
          fill_f32_kernel<<<grid_blocks(scale_count, kQuantThreads), kQuantThreads, 0, stream>>>(
              s, scale_count, fp8_scale_from_amax(0.0f));
          Runtime::check_launch("fill_f32_kernel");
        }
        return;
      }
      if (rows == 0) return;
      const int64_t group = cfg.scheme == MOEKIT_PLUGIN_QUANT_FP8_PER_TOKEN ? cols : cfg.group_size;
      const int64_t per_row = groups_of(cols, group);
      quantize_groups_kernel<<<grid_blocks(rows * per_row, kQuantThreads / kWarpSize), kQuantThreads, 0, stream>>>(
          input.data, dtype, rows, cols, group, per_row, q, s);
      Runtime::check_launch("quantize_groups_kernel");
      return;
    }
    case MOEKIT_PLUGIN_QUANT_FP8_BLOCK: {
      if (rows == 0 || cols == 0) return;
      const int64_t edge = cfg.group_size;
      const int64_t block_cols = groups_of(cols, edge);
      const int64_t tiles = groups_of(rows, edge) * block_cols;
      quantize_blocks_kernel<<<grid_blocks(tiles, 1), kQuantThreads, 0, stream>>>(input.data, dtype, rows, cols,
                                                                                  edge, block_cols, q, s);
      Runtime::check_launch("quantize_blocks_kernel");
      return;
    }
    case MOEKIT_PLUGIN_QUANT_MXFP4: {
      const int64_t blocks = n / kMxBlock;  // cols % 32 == 0 (core)
      if (blocks == 0) return;
      quantize_mxfp4_kernel<<<grid_blocks(blocks, 128), 128, 0, stream>>>(input.data, dtype, blocks, q,
                                                                          static_cast<uint8_t*>(scales.data));
      Runtime::check_launch("quantize_mxfp4_kernel");
      return;
    }
    default: Runtime::internal("quantize: unknown scheme " + std::to_string(cfg.scheme));
  }
}

template <class Runtime>
void launch_dequantize_on(const moekit_plugin_quantizer_config& cfg, const moekit_plugin_tensor& values,
                          const moekit_plugin_tensor& scales, const moekit_plugin_tensor& output,
                          typename Runtime::Stream stream) {
  const int64_t rows = output.shape[0], cols = output.shape[1], n = rows * cols;
  if (n == 0) return;
  if (cfg.scheme == MOEKIT_PLUGIN_QUANT_MXFP4) {
    dequantize_mxfp4_kernel<<<grid_blocks(n / 2, kQuantThreads), kQuantThreads, 0, stream>>>(
        static_cast<const uint8_t*>(values.data), static_cast<const uint8_t*>(scales.data), n / 2, output.data,
        output.dtype);
    Runtime::check_launch("dequantize_mxfp4_kernel");
    return;
  }
  if (cfg.scheme < MOEKIT_PLUGIN_QUANT_FP8_PER_TENSOR || cfg.scheme > MOEKIT_PLUGIN_QUANT_FP8_BLOCK)
    Runtime::internal("dequantize: unknown scheme " + std::to_string(cfg.scheme));
  const Fp8Layout layout{cfg.scheme, rows, cols,
                         cfg.scheme == MOEKIT_PLUGIN_QUANT_FP8_PER_TOKEN ? cols : cfg.group_size, scales.shape[1]};
  dequantize_fp8_kernel<<<grid_blocks(n, kQuantThreads), kQuantThreads, 0, stream>>>(
      static_cast<const uint8_t*>(values.data), static_cast<const float*>(scales.data), layout, output.data,
      output.dtype);
  Runtime::check_launch("dequantize_fp8_kernel");
}

}  // namespace moekit::device
