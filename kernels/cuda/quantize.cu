// FP8 E4M3 (per tensor / token / 1xG group / BxB block) and MXFP4 quantizers and their inverses, bit-identical
// to the CPU backend: both evaluate the same header-only formulas (moekit_core/numerics/fp8.h, mxfp4.h) on the
// same float32 values — bf16/f16 inputs widen exactly, amax is an order-independent max over finite values,
// divisions are IEEE (no fast-math: -prec-div=true, -ftz=false in CMake), and outputs round with the same
// nearest-even converters.
#include <cuda_runtime.h>

#include <string>

#include "kernel_launch.h"
#include "plugin_error.h"
#include "portability.h"
#include "warp_ops.cuh"

namespace moekit::cuda {

namespace {

constexpr int kThreads = 256;

// NaN bits. The CPU backend (x86 SSE) returns a NaN operand of * and / unchanged (quieted), sign and payload
// included; NVIDIA GPUs return the canonical NaN 0x7FFFFFFF instead. These two keep the host's rule, so that
// NaN inputs and NaN scales give bit-identical outputs on both backends.
__device__ __forceinline__ float quieted(float x) { return __uint_as_float(__float_as_uint(x) | 0x00400000u); }
__device__ __forceinline__ float mul_keeping_nan(float a, float b) {
  if (device::is_nan(a)) return quieted(a);
  if (device::is_nan(b)) return quieted(b);
  return a * b;
}
__device__ __forceinline__ float div_keeping_nan(float a, float b) {
  if (device::is_nan(a)) return quieted(a);
  if (device::is_nan(b)) return quieted(b);
  return a / b;
}
// numerics/fp8.h and mxfp4.h's one-value formulas with the host's NaN propagation.
__device__ __forceinline__ uint8_t fp8_quantize_d(float x, float scale) {
  return f32_to_e4m3(div_keeping_nan(x, scale));
}
__device__ __forceinline__ float fp8_dequantize_d(uint8_t q, float scale) {
  return mul_keeping_nan(e4m3_to_f32(q), scale);
}
__device__ __forceinline__ uint8_t mxfp4_quantize_d(float x, float scale) {
  return f32_to_e2m1(div_keeping_nan(x, scale));
}

// Block-wide max of non-negative floats; every thread gets the result. `scratch` holds one float per warp.
__device__ float block_max(float v, float* scratch) {
  v = warp_max(v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float m = 0.0f;
  for (int w = 0; w < warps; ++w) m = fmaxf(m, scratch[w]);
  return m;
}

// ---- FP8 per tensor: amax (atomic max on the bits of non-negative floats), then the scale, then values. ----
__global__ void amax_kernel(const void* input, int32_t dtype, long long n, unsigned* amax_bits) {
  __shared__ float scratch[kThreads / 32];
  float m = 0.0f;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    m = fmaxf(m, finite_abs(load_as_f32(input, dtype, i)));
  m = block_max(m, scratch);
  if (threadIdx.x == 0) atomicMax(amax_bits, __float_as_uint(m));  // uint order == float order for x >= 0
}

__global__ void finalize_scale_kernel(float* scale) {
  const float amax = __uint_as_float(*reinterpret_cast<const unsigned*>(scale));
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
  const int lane = threadIdx.x % 32;
  const long long warps_total = static_cast<long long>(gridDim.x) * (blockDim.x / 32);
  const long long total = rows * groups_per_row;
  for (long long g = static_cast<long long>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; g < total;
       g += warps_total) {
    const long long r = g / groups_per_row, gi = g - r * groups_per_row;
    const long long begin = r * cols + gi * group;
    const long long len = min(group, cols - gi * group);
    float m = 0.0f;
    for (long long i = lane; i < len; i += 32) m = fmaxf(m, finite_abs(load_as_f32(input, dtype, begin + i)));
    const float scale = fp8_scale_from_amax(warp_max(m));
    if (lane == 0) scales[g] = scale;
    for (long long i = lane; i < len; i += 32)
      q[begin + i] = fp8_quantize_d(load_as_f32(input, dtype, begin + i), scale);
  }
}

__global__ void fill_float_kernel(float* data, long long n, float value) {
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    data[i] = value;
}

// ---- FP8 per BxB block: one thread block per tile. ----
__global__ void quantize_blocks_kernel(const void* input, int32_t dtype, long long rows, long long cols,
                                       long long edge, long long block_cols, uint8_t* q, float* scales) {
  __shared__ float scratch[kThreads / 32];
  const long long tiles = ((rows + edge - 1) / edge) * block_cols;
  for (long long tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const long long br = tile / block_cols, bc = tile - br * block_cols;
    const long long r0 = br * edge, c0 = bc * edge;
    const long long tr = min(edge, rows - r0), tc = min(edge, cols - c0);
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
      has_nan |= device::is_nan(v[i]);
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

__device__ __forceinline__ long long fp8_scale_index(const Fp8Layout& l, long long r, long long c) {
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

int64_t groups_of(int64_t n, int64_t g) { return n / g + (n % g != 0); }

}  // namespace

void launch_quantize(const moekit_plugin_quantizer_config& cfg, const moekit_plugin_tensor& input,
                     const moekit_plugin_tensor& values, const moekit_plugin_tensor& scales, cudaStream_t stream) {
  const int64_t rows = input.shape[0], cols = input.shape[1], n = rows * cols;
  const int32_t dtype = input.dtype;
  auto* q = static_cast<uint8_t*>(values.data);
  auto* s = static_cast<float*>(scales.data);
  switch (cfg.scheme) {
    case MOEKIT_PLUGIN_QUANT_FP8_PER_TENSOR:
      check_cuda(cudaMemsetAsync(s, 0, sizeof(float), stream), "cudaMemsetAsync (per-tensor amax)");
      if (n > 0) {
        amax_kernel<<<grid_for(n, kThreads, 132 * 8), kThreads, 0, stream>>>(input.data, dtype, n,
                                                                             reinterpret_cast<unsigned*>(s));
        check_launch("amax_kernel");
      }
      finalize_scale_kernel<<<1, 1, 0, stream>>>(s);
      check_launch("finalize_scale_kernel");
      if (n > 0) {
        quantize_with_scale_kernel<<<grid_for(n, kThreads), kThreads, 0, stream>>>(input.data, dtype, n, s, q);
        check_launch("quantize_with_scale_kernel");
      }
      return;
    case MOEKIT_PLUGIN_QUANT_FP8_PER_TOKEN:
    case MOEKIT_PLUGIN_QUANT_FP8_PER_GROUP: {
      const int64_t scale_count = scales.shape[0] * scales.shape[1];
      if (cols == 0) {  // per-token scales of empty rows: amax 0 (per-group has no scales then)
        if (scale_count > 0) {
          fill_float_kernel<<<grid_for(scale_count, kThreads), kThreads, 0, stream>>>(s, scale_count,
                                                                                      fp8_scale_from_amax(0.0f));
          check_launch("fill_float_kernel");
        }
        return;
      }
      if (rows == 0) return;
      const int64_t group = cfg.scheme == MOEKIT_PLUGIN_QUANT_FP8_PER_TOKEN ? cols : cfg.group_size;
      const int64_t per_row = groups_of(cols, group);
      quantize_groups_kernel<<<grid_for(rows * per_row, kThreads / 32), kThreads, 0, stream>>>(
          input.data, dtype, rows, cols, group, per_row, q, s);
      check_launch("quantize_groups_kernel");
      return;
    }
    case MOEKIT_PLUGIN_QUANT_FP8_BLOCK: {
      if (rows == 0 || cols == 0) return;
      const int64_t edge = cfg.group_size;
      const int64_t block_cols = groups_of(cols, edge);
      const int64_t tiles = groups_of(rows, edge) * block_cols;
      quantize_blocks_kernel<<<grid_for(tiles, 1), kThreads, 0, stream>>>(input.data, dtype, rows, cols, edge,
                                                                          block_cols, q, s);
      check_launch("quantize_blocks_kernel");
      return;
    }
    case MOEKIT_PLUGIN_QUANT_MXFP4: {
      const int64_t blocks = n / kMxBlock;  // cols % 32 == 0 (core)
      if (blocks == 0) return;
      quantize_mxfp4_kernel<<<grid_for(blocks, 128), 128, 0, stream>>>(input.data, dtype, blocks, q,
                                                                       static_cast<uint8_t*>(scales.data));
      check_launch("quantize_mxfp4_kernel");
      return;
    }
    default: throw_internal("quantize: unknown scheme " + std::to_string(cfg.scheme));
  }
}

void launch_dequantize(const moekit_plugin_quantizer_config& cfg, const moekit_plugin_tensor& values,
                       const moekit_plugin_tensor& scales, const moekit_plugin_tensor& output, cudaStream_t stream) {
  const int64_t rows = output.shape[0], cols = output.shape[1], n = rows * cols;
  if (n == 0) return;
  if (cfg.scheme == MOEKIT_PLUGIN_QUANT_MXFP4) {
    dequantize_mxfp4_kernel<<<grid_for(n / 2, kThreads), kThreads, 0, stream>>>(
        static_cast<const uint8_t*>(values.data), static_cast<const uint8_t*>(scales.data), n / 2, output.data,
        output.dtype);
    check_launch("dequantize_mxfp4_kernel");
    return;
  }
  if (cfg.scheme < MOEKIT_PLUGIN_QUANT_FP8_PER_TENSOR || cfg.scheme > MOEKIT_PLUGIN_QUANT_FP8_BLOCK)
    throw_internal("dequantize: unknown scheme " + std::to_string(cfg.scheme));
  Fp8Layout layout{cfg.scheme, rows, cols, cfg.scheme == MOEKIT_PLUGIN_QUANT_FP8_PER_TOKEN ? cols : cfg.group_size,
                   scales.shape[1]};
  dequantize_fp8_kernel<<<grid_for(n, kThreads), kThreads, 0, stream>>>(
      static_cast<const uint8_t*>(values.data), static_cast<const float*>(scales.data), layout, output.data,
      output.dtype);
  check_launch("dequantize_fp8_kernel");
}

}  // namespace moekit::cuda
