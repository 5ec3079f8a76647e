// The decode tier's kernels for quantized weights (experts_decode.h): FP8 128x128 blocks (e4m3 bytes + per-row
// block scales) and MXFP4 (e2m1 nibbles + e8m0 scales per 32), with 16-bit activations (w8a16, w4a16) or FP8
// activations per token / per 1x128 group (w8a8, w4a8). Included by experts_decode.cu only (defines kernels).
//
// Numerics are the mma tier's (experts_gemm.cuh) and the CPU backend's: the GEMM1 input is the token row x the
// router weight (when applied on the input), rounded to bf16 or, with FP8 activations, quantized per token / per
// 128-group with fp8_scale_from_amax / fp8_quantize; weights are decoded exactly; products and sums are f32; FP8
// weights multiply the partial sums of each 128-wide K block by (activation scale * weight block scale), MXFP4
// multiplies by its e8m0 scale (a power of two: exact) and, with FP8 activations, by the activation scale. With
// FP8 activations GEMM1 stores f32 activations, a small pass quantizes each row like the GEMM1 input, and GEMM2
// reads the codes (as exact bf16 values) with their scales. Only the order of the f32 additions differs from the
// tensor-core tiers.
//
// Streaming: 16-byte loads of weights that bypass L1. A lane takes one 16-byte chunk per row per iteration
// (16 FP8 or 32 MXFP4 weights, inside one 128-wide K block, inside one 32-wide MXFP4 block). GEMM1 keeps the
// input row in shared memory as f32, laid out per lane (see x_slot) so that the lanes' 16-byte reads of their
// chunk's inputs are conflict-free; each warp streams the gate and up rows of kCols columns against one read of
// the input. GEMM2 warps stream kRows rows of w2 against one read of the activation row from global memory
// (L1-cached: the block's warps reuse their slots' rows).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "device/grid_dependency.cuh"
#include "experts_gemm.cuh"
#include "experts_stream_ops.cuh"
#include "warp_ops.cuh"

namespace moekit::cuda::experts::decode::quant {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kCols = 2;            // GEMM1: intermediate columns per warp (2 gate + 2 up rows per x read)
constexpr int kRows = 4;            // GEMM2: w2 rows per warp item (one activation read for 4 rows)
constexpr int kQuantThreads = 128;  // activation quantization: one 128-group per pass, one value per thread
// Hp bound: the f32 input row (rounded up to a warp iteration, 1024 for MXFP4) and the group scales fit the
// 48 KiB of shared memory a kernel gets without opting in.
constexpr int64_t kMaxHiddenPad = 11264;
constexpr int kMaxGroups = static_cast<int>(kMaxHiddenPad / kQuantBlock);

enum : int32_t { kActNone = 0, kActPerToken = 1, kActPerGroup = 2 };

struct QParams {
  const void* x;  // hidden states [T, H] in x_dtype
  int32_t x_dtype;
  const int32_t* ids;  // [T, k]
  const float* weights;
  const int32_t* local_of;
  const uint8_t* w13;        // FP8 [L][2Ip][Hp] bytes; MXFP4 [L][2Ip][Hp/2]
  const float* w13_scale;    // FP8 [L][Hp/128][2Ip]
  const uint8_t* w13_mx;     // MXFP4 [L][Hp/32][2Ip]
  const float* b13;          // [L][2Ip]
  const uint8_t* w2;         // FP8 [L][Hp][Ip]; MXFP4 [L][Hp][Ip/2]
  const float* w2_scale;     // FP8 [L][Ip/128][Hp]
  const uint8_t* w2_mx;      // MXFP4 [L][Ip/32][Hp]
  const float* b2;           // [L][Hp]
  float* act_f32;            // FP8 activations: GEMM1 output [A][Ip], before quantization
  uint16_t* act;             // [A][Ip] bf16: the activation, or (FP8 activations) its codes as exact bf16 values
  float* act_scale;          // FP8 activations: [A][Ip/128] (per token: the row's scale in every group)
  void* out;                 // [T, H]
  int32_t out_dtype;
  int32_t num_experts, num_local;
  int64_t tokens, top_k, hidden, inter, hp, ip;
  int32_t act_quant;  // kActNone / kActPerToken / kActPerGroup
  int32_t weight_on_input;
  int32_t activation;
  float alpha, limit;
};

template <WeightKind WK>
__host__ __device__ constexpr int per_chunk() {  // weights in one 16-byte chunk
  return WK == WeightKind::Fp8 ? 16 : 32;
}
template <WeightKind WK>
__host__ __device__ constexpr int64_t row_bytes(int64_t k) {
  return WK == WeightKind::Fp8 ? k : k / 2;
}

__device__ __forceinline__ float2 half2_bits_to_float2(uint32_t bits) {
  __half2_raw raw;
  raw.x = static_cast<unsigned short>(bits & 0xFFFFu);
  raw.y = static_cast<unsigned short>(bits >> 16);
  return __half22float2(__half2(raw));
}

// A chunk's weights in "consumption order" s = 0..per_chunk-1; element natural_of(s) of the chunk (its K offset).
// FP8: 16 e4m3 bytes -> f16 pairs (exact: every e4m3 value is an f16) -> f32, in K order.
// MXFP4: nibble pairs (i, i + 4) of each 32-bit word, so that one shift serves both halves: the nibble S.EE.M
// placed in the f16 fields (sign 15, exponent bits 11..10, mantissa bit 9) reads as e2m1 * 2^-14 for every code,
// subnormal 0.5 included; the caller multiplies the block's sum by 2^14 (exact) and the e8m0 scale.
template <WeightKind WK>
__host__ __device__ constexpr int natural_of(int s) {
  if constexpr (WK == WeightKind::Fp8) {
    return s;
  } else {
    const int word = s / 8, r = s % 8;
    return word * 8 + r / 2 + (r % 2) * 4;
  }
}

template <WeightKind WK>
__device__ __forceinline__ void decode_chunk(uint4 c, float (&w)[per_chunk<WK>()]) {
  const uint32_t v[4] = {c.x, c.y, c.z, c.w};
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    if constexpr (WK == WeightKind::Fp8) {
      const __half2_raw lo = __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(v[j] & 0xFFFFu), __NV_E4M3);
      const __half2_raw hi = __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(v[j] >> 16), __NV_E4M3);
      const float2 a = __half22float2(__half2(lo)), b = __half22float2(__half2(hi));
      w[4 * j] = a.x;
      w[4 * j + 1] = a.y;
      w[4 * j + 2] = b.x;
      w[4 * j + 3] = b.y;
    } else {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const uint32_t t = v[j] >> (4 * i);
        const float2 f = half2_bits_to_float2(((t & 0x00070007u) << 9) | ((t & 0x00080008u) << 12));
        w[8 * j + 2 * i] = f.x;
        w[8 * j + 2 * i + 1] = f.y;
      }
    }
  }
}

constexpr float kMxfp4Unscale = 16384.0f;  // 2^14, see decode_chunk

// Shared-memory slot of input element k: iteration it = k / (32 * E) of a warp, lane l's chunk holds elements
// [l * E, (l + 1) * E) of it; its s-th value in consumption order sits at it * 32E + (s / 4) * 128 + l * 4 + s % 4,
// so that the warp's j-th 16-byte read covers 512 contiguous bytes.
template <WeightKind WK>
__device__ __forceinline__ int64_t x_slot(int64_t k) {
  constexpr int E = per_chunk<WK>();
  const int64_t it = k / (32 * E);
  const int r = static_cast<int>(k - it * 32 * E);
  const int lane = r / E, e = r % E;
  int s = e;
  if constexpr (WK == WeightKind::Mxfp4) s = (e / 8) * 8 + (e % 4) * 2 + (e % 8) / 4;  // inverse of natural_of
  return it * 32 * E + (s / 4) * 128 + lane * 4 + s % 4;
}

// grid (Ip / (kWarps * kCols), T * k); dynamic shared memory: x_len(Hp) floats.
template <WeightKind WK, bool A8>
__global__ void __launch_bounds__(kThreads) gate_up_kernel(const QParams p, int64_t x_len) {
  // Launched as a programmatic dependent (dependent_launch.cuh): wait for the kernel before us, then let the next
  // pass take SM slots while this one streams.
  device::wait_for_prerequisite_grids();
  device::allow_dependent_grids();
  constexpr int E = per_chunk<WK>();
  extern __shared__ float4 smem_x4[];
  float* xs = reinterpret_cast<float*>(smem_x4);
  __shared__ float a_scale[kMaxGroups];
  __shared__ float scratch[kWarps];
  const int64_t a = blockIdx.y;
  const int32_t e = local_expert(p.ids, p.local_of, p.num_experts, p.num_local, a);
  if (e < 0) return;  // uniform over the block; act of a skipped assignment is never read
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int64_t t = a / p.top_k;
  const float rw = p.weight_on_input ? p.weights[a] : 1.0f;
  // The GEMM1 input row, as the mma tier's gather builds it: the CPU backend's x[h] = load(hidden) * weight,
  // zero past H.
  auto value = [&](int64_t k) -> float {
    return k < p.hidden ? load_as_f32(p.x, p.x_dtype, t * p.hidden + k) * rw : 0.0f;
  };
  const int64_t groups = p.hp / kQuantBlock;
  if constexpr (!A8) {
    for (int64_t k = threadIdx.x; k < x_len; k += kThreads) xs[x_slot<WK>(k)] = bf16_to_f32(f32_to_bf16(value(k)));
  } else {
    for (int64_t k = p.hp + threadIdx.x; k < x_len; k += kThreads) xs[x_slot<WK>(k)] = 0.0f;
    if (p.act_quant == kActPerToken) {
      float m = 0.0f;
      for (int64_t k = threadIdx.x; k < p.hp; k += kThreads) m = fmaxf(m, finite_abs(value(k)));
      m = warp_max(m);
      if (lane == 0) scratch[warp] = m;
      __syncthreads();
      m = scratch[0];
#pragma unroll
      for (int w = 1; w < kWarps; ++w) m = fmaxf(m, scratch[w]);
      const float scale = fp8_scale_from_amax(m);
      for (int64_t k = threadIdx.x; k < p.hp; k += kThreads)
        xs[x_slot<WK>(k)] = e4m3_to_f32(fp8_quantize_exact(value(k), scale));
      for (int64_t g = threadIdx.x; g < groups; g += kThreads) a_scale[g] = scale;
    } else {  // per 1 x 128 group: one warp per group, 4 values per lane
      for (int64_t g = warp; g < groups; g += kWarps) {
        const float scale = fp8_quantize_group_warp(
            g * kQuantBlock, lane, value, [&](int64_t k, int, uint8_t code) { xs[x_slot<WK>(k)] = e4m3_to_f32(code); });
        if (lane == 0) a_scale[g] = scale;
      }
    }
  }
  __syncthreads();

  const int64_t c0 = static_cast<int64_t>(blockIdx.x) * (kWarps * kCols) + warp * kCols;  // < Ip
  const int64_t rb = row_bytes<WK>(p.hp);
  const int64_t rows_per_expert = 2 * p.ip;
  int64_t row_of[2 * kCols];  // gate rows c0.., then up rows Ip + c0..
#pragma unroll
  for (int r = 0; r < kCols; ++r) {
    row_of[r] = c0 + r;
    row_of[kCols + r] = p.ip + c0 + r;
  }
  const uint8_t* w = p.w13 + static_cast<int64_t>(e) * rows_per_expert * rb;
  float acc[2 * kCols];
#pragma unroll
  for (int r = 0; r < 2 * kCols; ++r) acc[r] = 0.0f;
  const int64_t k_end = (p.hidden + E - 1) / E * E;  // past H, weights and inputs are zero padding
#pragma unroll 2
  for (int64_t k0 = lane * E, pos = lane * 4; k0 < k_end; k0 += 32 * E, pos += 32 * E) {
    uint4 chunk[2 * kCols];
#pragma unroll
    for (int r = 0; r < 2 * kCols; ++r) chunk[r] = load_stream(w + row_of[r] * rb + row_bytes<WK>(k0));
    float x[E];
#pragma unroll
    for (int j = 0; j < E / 4; ++j) {
      const float4 v = *reinterpret_cast<const float4*>(xs + pos + j * 128);
      x[4 * j] = v.x;
      x[4 * j + 1] = v.y;
      x[4 * j + 2] = v.z;
      x[4 * j + 3] = v.w;
    }
    const int64_t kb = k0 / kQuantBlock;
    const float sa = A8 ? a_scale[kb] : 1.0f;
#pragma unroll
    for (int r = 0; r < 2 * kCols; ++r) {
      float wv[E];
      decode_chunk<WK>(chunk[r], wv);
      float d = 0.0f;
#pragma unroll
      for (int i = 0; i < E; ++i) d = fmaf(wv[i], x[i], d);
      if constexpr (WK == WeightKind::Fp8) {
        // The mma tier's fold: part * (row scale * column scale), row scale 1 without FP8 activations.
        const float ws = __ldg(p.w13_scale + (static_cast<int64_t>(e) * (p.hp / kQuantBlock) + kb) * rows_per_expert + row_of[r]);
        acc[r] += d * (sa * ws);
      } else {
        const float s = e8m0_to_f32(__ldg(p.w13_mx + (static_cast<int64_t>(e) * (p.hp / 32) + k0 / 32) * rows_per_expert + row_of[r]));
        const float block = (d * kMxfp4Unscale) * s;
        acc[r] += A8 ? block * sa : block;
      }
    }
  }
#pragma unroll
  for (int r = 0; r < 2 * kCols; ++r) acc[r] = warp_sum_f32(acc[r]);
  const float* bias = p.b13 + static_cast<int64_t>(e) * rows_per_expert;
#pragma unroll
  for (int r = 0; r < kCols; ++r) {
    if (lane != r) continue;
    const int64_t c = c0 + r;
    // Padding columns: zero weights and bias, activation(0, 0) = 0 for every activation.
    const float v = c < p.inter ? gemm_detail::activate(p.activation, acc[r] + bias[c], acc[kCols + r] + bias[p.ip + c],
                                                        p.alpha, p.limit)
                                : 0.0f;
    if constexpr (A8) p.act_f32[a * p.ip + c] = v;
    else p.act[a * p.ip + c] = f32_to_bf16(v);
  }
}

// FP8 activations: one block per assignment quantizes its f32 activation row (Ip values, zero past I) like the
// mma tier's build_operand_kernel: the codes as exact bf16 values, the scales per 128-group.
__global__ void __launch_bounds__(kQuantThreads) quantize_act_kernel(const QParams p) {
  // Launched as a programmatic dependent (dependent_launch.cuh): wait for the kernel before us, then let the next
  // pass take SM slots while this one streams.
  device::wait_for_prerequisite_grids();
  device::allow_dependent_grids();
  __shared__ float scratch[kQuantThreads / 32];
  const int64_t a = blockIdx.x;
  if (local_expert(p.ids, p.local_of, p.num_experts, p.num_local, a) < 0) return;  // never read
  const float* src = p.act_f32 + a * p.ip;
  uint16_t* dst = p.act + a * p.ip;
  const int64_t groups = p.ip / kQuantBlock;
  float* scales = p.act_scale + a * groups;
  const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
  auto block_max = [&](float v) {
    v = warp_max(v);
    __syncthreads();  // scratch may still be read by the previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float m = scratch[0];
#pragma unroll
    for (int w = 1; w < kQuantThreads / 32; ++w) m = fmaxf(m, scratch[w]);
    return m;
  };
  if (p.act_quant == kActPerToken) {
    float m = 0.0f;
    for (int64_t c = threadIdx.x; c < p.ip; c += kQuantThreads) m = fmaxf(m, finite_abs(src[c]));
    const float scale = fp8_scale_from_amax(block_max(m));
    for (int64_t c = threadIdx.x; c < p.ip; c += kQuantThreads)
      dst[c] = f32_to_bf16(e4m3_to_f32(fp8_quantize_exact(src[c], scale)));
    for (int64_t g = threadIdx.x; g < groups; g += kQuantThreads) scales[g] = scale;
    return;
  }
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t c = g * kQuantBlock + threadIdx.x;
    const float v = src[c];
    const float scale = fp8_scale_from_amax(block_max(finite_abs(v)));
    dst[c] = f32_to_bf16(e4m3_to_f32(fp8_quantize_exact(v, scale)));
    if (threadIdx.x == 0) scales[g] = scale;
  }
}

// grid (ceil(H / (groups * kRows)), T); dynamic shared memory: groups * kRows * k floats. A warp item is kRows
// consecutive output columns of one slot j; the block's items cover its columns x all k slots, then one thread per
// column adds b2 and the slots' weighted contributions in slot order (the combine, deterministic, no atomics).
template <WeightKind WK, bool A8>
__global__ void __launch_bounds__(kThreads) down_kernel(const QParams p, int groups) {
  // Launched as a programmatic dependent (dependent_launch.cuh): wait for the kernel before us, then let the next
  // pass take SM slots while this one streams.
  device::wait_for_prerequisite_grids();
  device::allow_dependent_grids();
  constexpr int E = per_chunk<WK>();
  extern __shared__ float ydot[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int64_t t = blockIdx.y;
  const int cols = groups * kRows;
  const int64_t h0 = static_cast<int64_t>(blockIdx.x) * cols;
  const int items = groups * static_cast<int>(p.top_k);
  const int64_t rb = row_bytes<WK>(p.ip);
  const int64_t k_end = (p.inter + E - 1) / E * E;  // past I, weights and activations are zero padding
  for (int q = warp; q < items; q += kWarps) {
    const int cg = q / static_cast<int>(p.top_k), j = q % static_cast<int>(p.top_k);
    const int64_t a = t * p.top_k + j;
    const int32_t e = local_expert(p.ids, p.local_of, p.num_experts, p.num_local, a);
    float acc[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
    if (e >= 0) {  // uniform over the warp
      int64_t row_of[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const int64_t h = h0 + cg * kRows + r;
        row_of[r] = h < p.hidden ? h : p.hidden - 1;  // columns past H: any valid row, the result is dropped
      }
      const uint8_t* w = p.w2 + static_cast<int64_t>(e) * p.hp * rb;
      const uint16_t* act = p.act + a * p.ip;
#pragma unroll 2
      for (int64_t k0 = lane * E; k0 < k_end; k0 += 32 * E) {
        uint4 chunk[kRows];
#pragma unroll
        for (int r = 0; r < kRows; ++r) chunk[r] = load_stream(w + row_of[r] * rb + row_bytes<WK>(k0));
        uint32_t av[E / 2];  // bf16 pairs, K order
#pragma unroll
        for (int i = 0; i < E / 8; ++i) {
          const uint4 v = __ldg(reinterpret_cast<const uint4*>(act + k0) + i);
          av[4 * i] = v.x;
          av[4 * i + 1] = v.y;
          av[4 * i + 2] = v.z;
          av[4 * i + 3] = v.w;
        }
        float x[E];
#pragma unroll
        for (int s = 0; s < E; ++s) {
          const int n = natural_of<WK>(s);
          x[s] = __uint_as_float((n & 1) ? (av[n / 2] & 0xFFFF0000u) : (av[n / 2] << 16));
        }
        const int64_t kb = k0 / kQuantBlock;
        const float sa = A8 ? __ldg(p.act_scale + a * (p.ip / kQuantBlock) + kb) : 1.0f;
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          float wv[E];
          decode_chunk<WK>(chunk[r], wv);
          float d = 0.0f;
#pragma unroll
          for (int i = 0; i < E; ++i) d = fmaf(wv[i], x[i], d);
          if constexpr (WK == WeightKind::Fp8) {
            const float ws = __ldg(p.w2_scale + (static_cast<int64_t>(e) * (p.ip / kQuantBlock) + kb) * p.hp + row_of[r]);
            acc[r] += d * (sa * ws);
          } else {
            const float s = e8m0_to_f32(__ldg(p.w2_mx + (static_cast<int64_t>(e) * (p.ip / 32) + k0 / 32) * p.hp + row_of[r]));
            const float block = (d * kMxfp4Unscale) * s;
            acc[r] += A8 ? block * sa : block;
          }
        }
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r) acc[r] = warp_sum_f32(acc[r]);
    }
    if (lane == 0) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) ydot[(cg * kRows + r) * p.top_k + j] = acc[r];
    }
  }
  __syncthreads();
  const int64_t h = h0 + threadIdx.x;
  if (threadIdx.x >= cols || h >= p.hidden) return;
  combine_slots(p, t, h, ydot + threadIdx.x * p.top_k);
}

}  // namespace moekit::cuda::experts::decode::quant
