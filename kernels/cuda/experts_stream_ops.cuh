// Device primitives of the CUDA expert tiers that stream weights from HBM without a tile pipeline (the decode
// tier, experts_decode.cu / experts_decode_quant.cuh, and the small-batch streaming tier, experts_stream.cu):
// one definition each instead of a copy per file. The per-128-group FP8 activation quantizer and the hidden-row
// source (HiddenRows) are shared with the mma and grouped tiers' row builders too (experts_row_kernels.cuh).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "device/warp_ops.cuh"
#include "experts_gemm.cuh"
#include "fp8_quantize_fast.cuh"
#include "moekit_plugin.h"

namespace moekit::cuda::experts {

// Where GEMM1's input rows come from: assignment a reads token a / top_k's hidden row, scaled by its router weight
// with apply_router_weight_on_input. The part that the row sources of the mma and grouped tiers (RowSource,
// experts_row_kernels.cuh) and of the streaming tier (RowsParams, experts_stream_rows.cuh) share, as their base (same
// field names and offsets as when each had its own copy), filled in one place (hidden_rows).
struct HiddenRows {
  const void* hidden;
  int32_t hidden_dtype;
  int64_t hidden_cols;  // H
  const float* topk_weights;
  int32_t weight_on_input;
  int64_t top_k;
};

inline HiddenRows hidden_rows(const moekit_plugin_tensor& hidden, const moekit_plugin_experts_config& cfg,
                              const moekit_plugin_routing& plan, int64_t top_k) {
  return {hidden.data, hidden.dtype, cfg.hidden, static_cast<const float*>(plan.topk_weights.data),
          cfg.apply_router_weight_on_input, top_k};
}

// Sum over the 32 lanes in f32. The shared warp_sum (device/warp_ops.cuh) has int and double overloads only: a
// float argument would be promoted to double there. A plain float overload is kept out of warp_ops.cuh on
// purpose, because route_topk's sums rely on the double one.
__device__ __forceinline__ float warp_sum_f32(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
  return v;
}

// Streaming load of 16 weight bytes: read once, so kept out of L1. Not volatile, so that the compiler may issue
// later iterations' loads before this one's arithmetic. (The stream tier used to take an L2 256-byte prefetch
// variant of this load; it now copies its weights through shared memory, experts_stream_gemm.cuh.)
__device__ __forceinline__ uint4 load_stream(const void* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

// How local_expert reads: plain loads, or (kThroughL2) the ids through L2 (__ldcg: written by an earlier kernel
// that this one may not have waited for yet, see the one-token down pass) and local_of through the read-only path.
enum class IdLoads { kPlain, kThroughL2 };

// The expert of assignment a as a local id, or -1 when the assignment is skipped (id outside [0, E), or an
// expert that is not local): the CPU backend's rule. No weight address is formed for a skipped assignment.
template <IdLoads kLoads = IdLoads::kPlain>
__device__ __forceinline__ int32_t local_expert(const int32_t* ids, const int32_t* local_of, int32_t num_experts,
                                                int32_t num_local, int64_t a) {
  const int32_t id = kLoads == IdLoads::kThroughL2 ? __ldcg(ids + a) : ids[a];
  if (id < 0 || id >= num_experts) return -1;
  const int32_t e = kLoads == IdLoads::kThroughL2 ? __ldg(local_of + id) : local_of[id];
  return e >= 0 && e < num_local ? e : -1;
}

// FP8 e4m3 quantization of one 1 x kQuantBlock group of a row by one warp: the per-128-group activation
// quantizer of the mma tier (build_operand_kernel), the streaming tier (quantize_row_groups) and the decode tier
// (gate_up_kernel). Lane `lane` holds the group's elements j = u * 32 + lane, u = 0..3, at row columns first + j;
// amax over finite values (a warp max), scale = fp8_scale_from_amax(amax), code = fp8_quantize(x, scale): the CPU
// backend's formulas (moekit_core/numerics/fp8.h), bit-exact. value(c) is the row's f32 input at column c;
// store(c, j, code) puts the code of column c, element j of the group, where the caller keeps it (the streaming
// tier indexes from the group's start with j: indexing its row with c compiles to different, if equivalent, code).
// Returns the group's scale (the same in every lane); the caller stores it in its own layout.
template <class Value, class Store>
__device__ __forceinline__ float fp8_quantize_group_warp(int64_t first, int lane, const Value& value,
                                                         const Store& store) {
  float v[kQuantBlock / 32];
  float amax = 0.0f;
#pragma unroll
  for (int u = 0; u < kQuantBlock / 32; ++u) {
    v[u] = value(first + u * 32 + lane);
    amax = fmaxf(amax, finite_abs(v[u]));
  }
  const float scale = fp8_scale_from_amax(device::warp_max(amax));
  const float inv_scale = __frcp_rn(scale);  // fp8_quantize_one: fp8_quantize's bits, fewer instructions
#pragma unroll
  for (int u = 0; u < kQuantBlock / 32; ++u)
    store(first + u * 32 + lane, u * 32 + lane, fp8_quantize_one(v[u], scale, inv_scale));
  return scale;
}

// The decode tiers' fused combine for token t, output column h: out[t, h] = the sum over slots j = 0..k-1, in slot
// order, of weight_j * (y[j] + b2[e_j, h]) (weight 1 when it was applied on the input), rounded once into the
// output dtype; skipped slots add nothing. y[j] is slot j's dot product for this column. P: the 16-bit or the
// quantized decode parameters (same field names).
template <class P>
__device__ __forceinline__ void combine_slots(const P& p, int64_t t, int64_t h, const float* y) {
  float acc = 0.0f;
  for (int64_t j = 0; j < p.top_k; ++j) {
    const int64_t a = t * p.top_k + j;
    const int32_t e = local_expert(p.ids, p.local_of, p.num_experts, p.num_local, a);
    if (e < 0) continue;
    const float w = p.weight_on_input ? 1.0f : p.weights[a];
    acc += w * (y[j] + p.b2[static_cast<int64_t>(e) * p.hp + h]);
  }
  device::store_from_f32(p.out, p.out_dtype, t * p.hidden + h, acc);
}

}  // namespace moekit::cuda::experts
