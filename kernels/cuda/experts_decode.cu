// The decode tier (experts_decode.h): two weight-streaming launches for T <= kMaxTokens.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>

#include "experts_decode.h"

#include "dependent_launch.h"
#include "experts_decode_quant.cuh"
#include "experts_gemm.cuh"
#include "experts_stream_ops.cuh"
#include "kernel_launch.h"
#include "plugin_error.h"
#include "warp_ops.cuh"

namespace moekit::cuda::experts::decode {

namespace {

constexpr int kWarps = 8;  // rows (columns of the output) per block: one per warp
constexpr int kThreads = kWarps * 32;
constexpr int kVec = 8;    // 16-bit elements per 16-byte load
// The hidden row lives in shared memory as 16-bit values: up to 48 KiB, the default limit.
constexpr int64_t kMaxHiddenPad = 24576;

int64_t round_up(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

struct Params {
  const void* x;        // hidden states [T, H] in x_dtype
  int32_t x_dtype;
  const int32_t* ids;  // [T, k]
  const float* weights;
  const int32_t* local_of;
  const uint16_t* w13;  // [L][2Ip][Hp]
  const float* b13;     // [L][2Ip]
  const uint16_t* w2;   // [L][Hp][Ip]
  const float* b2;      // [L][Hp]
  uint16_t* act;        // [T*k][Ip]
  void* out;            // [T, H]
  int32_t out_dtype;
  int32_t num_experts, num_local;
  int64_t tokens, top_k, hidden, inter, hp, ip;
  int64_t hidden_vec, inter_vec;  // H and I rounded up to kVec: past them, weights and inputs are zero padding
  int32_t weight_on_input;
  int32_t activation;
  float alpha, limit;
};

template <class CT>
__device__ __forceinline__ float to_f32(uint16_t bits) {
  if constexpr (std::is_same<CT, __half>::value) return f16_to_f32(bits);
  else return bf16_to_f32(bits);
}

template <class CT>
__device__ __forceinline__ uint16_t from_f32(float v) {
  if constexpr (std::is_same<CT, __half>::value) return f32_to_f16(v);
  else return f32_to_bf16(v);
}

template <class CT>
__device__ __forceinline__ float dot8(uint4 a, uint4 b) {
  const uint16_t* x = reinterpret_cast<const uint16_t*>(&a);
  const uint16_t* y = reinterpret_cast<const uint16_t*>(&b);
  float s = 0.0f;
#pragma unroll
  for (int i = 0; i < kVec; ++i) s = fmaf(to_f32<CT>(x[i]), to_f32<CT>(y[i]), s);
  return s;
}

// Weight rows each warp streams at once: one dot product per row, all rows' loads of an iteration in flight
// together. Measured on the H200 with one row (gate_up: one gate/up pair) per warp at T=1: Qwen3 w2 pass 25 MB in
// 26.5 us (0.95 TB/s), w13 pass 50 MB in 23 us (2.2 TB/s): each warp had too few loads in flight.
// Re-measured on the H200 (whole layer, T=1, bf16, one run, before the per-launch choice below): unrolling the
// k loop x2 / x4, 4 columns per warp or 8 pairs per warp was equal or slower than 2 columns / 4 pairs / no
// unroll (Qwen3 36.4 -> 36.1-43.8 us, gpt-oss 81.5 -> 83.8-103.5, DeepSeek-V3 228.0 -> 227.8-246.6, Mixtral
// 192.6 -> 192.6-221.6): more loads per warp is not what this pass lacks. Again (H200, same session, 2026-11):
// the loads of 4 / 2 steps of each row issued before the first dot product took Qwen3 from 34.3 to 38.3 / 36.5 us
// (twice the registers, half the blocks per SM; bench/results/h200_ab_decode_steps_in_flight_not_kept.md).
// gate_up: intermediate columns per warp (2 weight rows each; see down_pairs_for). down: (column, slot) pairs per
// warp, a template parameter chosen per launch by down_pairs_for().
constexpr int kGateUpColumns = 1;
constexpr int kMaxDownPairs = 4;

// grid (ceil(Ip / (kWarps * kGateUpColumns)), T * k); dynamic shared memory: Hp 16-bit values.
template <class CT>
__global__ void __launch_bounds__(kThreads) gate_up_kernel(Params p) {
  // Launched as a programmatic dependent (dependent_launch.cuh): wait for the kernel before us, then let the next
  // pass take SM slots while this one streams.
  device::wait_for_prerequisite_grids();
  device::allow_dependent_grids();
  extern __shared__ uint4 smem_x[];
  uint16_t* x = reinterpret_cast<uint16_t*>(smem_x);
  const int64_t a = blockIdx.y;
  const int32_t e = local_expert(p.ids, p.local_of, p.num_experts, p.num_local, a);
  if (e < 0) return;  // uniform over the block; act of a skipped assignment is never read
  const int64_t t = a / p.top_k;
  // The token's row in the compute type, zero-padded: the GEMM tiers' gather (x the router weight when it is
  // applied on the input).
  const float scale = p.weight_on_input ? p.weights[a] : 1.0f;
  for (int64_t h = threadIdx.x; h < p.hidden_vec; h += kThreads)
    x[h] = from_f32<CT>(h < p.hidden ? load_as_f32(p.x, p.x_dtype, t * p.hidden + h) * scale : 0.0f);
  __syncthreads();
  const int lane = threadIdx.x & 31;
  const int64_t c0 = (static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32) * kGateUpColumns;
  // Columns past I are padding (zero weights and bias, activation(0, 0) = 0 for every activation): their rows
  // are not read; columns past Ip do not exist.
  bool real[kGateUpColumns];
  const uint16_t* gate[kGateUpColumns];
  const uint16_t* up[kGateUpColumns];
  float g[kGateUpColumns], u[kGateUpColumns];
#pragma unroll
  for (int i = 0; i < kGateUpColumns; ++i) {
    real[i] = c0 + i < p.inter;
    gate[i] = p.w13 + (static_cast<int64_t>(e) * 2 * p.ip + (real[i] ? c0 + i : 0)) * p.hp;
    up[i] = gate[i] + p.ip * p.hp;
    g[i] = 0.0f;
    u[i] = 0.0f;
  }
  for (int64_t k0 = lane * kVec; k0 < p.hidden_vec; k0 += 32 * kVec) {
    const uint4 xv = *reinterpret_cast<const uint4*>(x + k0);
    uint4 gv[kGateUpColumns], uv[kGateUpColumns];
#pragma unroll
    for (int i = 0; i < kGateUpColumns; ++i) {
      if (real[i]) gv[i] = load_stream(gate[i] + k0), uv[i] = load_stream(up[i] + k0);
    }
#pragma unroll
    for (int i = 0; i < kGateUpColumns; ++i) {
      if (real[i]) g[i] += dot8<CT>(gv[i], xv), u[i] += dot8<CT>(uv[i], xv);
    }
  }
  const float* bias = p.b13 + static_cast<int64_t>(e) * 2 * p.ip;
#pragma unroll
  for (int i = 0; i < kGateUpColumns; ++i) {
    const int64_t c = c0 + i;
    const float gs = warp_sum_f32(g[i]), us = warp_sum_f32(u[i]);
    if (lane != 0 || c >= p.ip) continue;
    p.act[a * p.ip + c] =
        real[i] ? from_f32<CT>(gemm_detail::activate(p.activation, gs + bias[c], us + bias[p.ip + c], p.alpha, p.limit))
                : static_cast<uint16_t>(0);
  }
}

// grid (ceil(H / cols), T) with cols = max(1, kWarps * kDownPairs / k) output columns per block; dynamic shared
// memory: cols * k floats. The block's warps take the (column, slot) pairs kDownPairs at a time and stream
// their w2 rows together; then one thread per column adds its slots' contributions in slot order.
// Tried and measured slower (H200, T=1 bf16, same run): asking L2 for the block's w2 rows (bulk prefetch,
// within half of L2) before the wait, while gate_up still streams, 1.01-1.03x; gate_up asking L2 for its rows
// 1-4 KiB ahead of its loads, 1.08-1.29x; looking up the token's slots and the first rows and loading the
// first 512-byte step of each row before the wait (as the streaming tier's one-token down pass does), Qwen3-30B-A3B
// 35.8 -> 43.8 us (bench/results/h200_ab_early_slot_lookups_not_kept.md).
template <class CT, int kDownPairs>
__global__ void __launch_bounds__(kThreads) down_combine_kernel(Params p, int cols) {
  // Launched as a programmatic dependent (dependent_launch.cuh): wait for the kernel before us, then let the next
  // pass take SM slots while this one streams.
  device::wait_for_prerequisite_grids();
  device::allow_dependent_grids();
  extern __shared__ float ydot[];
  const int lane = threadIdx.x & 31;
  const int64_t t = blockIdx.y;
  const int64_t h0 = static_cast<int64_t>(blockIdx.x) * cols;
  const int pairs = cols * static_cast<int>(p.top_k);
  for (int q0 = (threadIdx.x / 32) * kDownPairs; q0 < pairs; q0 += kWarps * kDownPairs) {
    bool live[kDownPairs];
    const uint16_t* row[kDownPairs];
    const uint16_t* act[kDownPairs];
    float y[kDownPairs];
#pragma unroll
    for (int i = 0; i < kDownPairs; ++i) {  // every condition is uniform over the warp
      const int q = q0 + i;
      const int64_t h = h0 + q / p.top_k;
      const int64_t a = t * p.top_k + q % p.top_k;
      const int32_t e = q < pairs && h < p.hidden ? local_expert(p.ids, p.local_of, p.num_experts, p.num_local, a) : -1;
      live[i] = e >= 0;
      row[i] = live[i] ? p.w2 + (static_cast<int64_t>(e) * p.hp + h) * p.ip : p.w2;
      act[i] = live[i] ? p.act + a * p.ip : p.act;
      y[i] = 0.0f;
    }
    for (int64_t k0 = lane * kVec; k0 < p.inter_vec; k0 += 32 * kVec) {
      uint4 wv[kDownPairs];
#pragma unroll
      for (int i = 0; i < kDownPairs; ++i) {
        if (live[i]) wv[i] = load_stream(row[i] + k0);
      }
#pragma unroll
      for (int i = 0; i < kDownPairs; ++i) {
        if (live[i]) y[i] += dot8<CT>(wv[i], *reinterpret_cast<const uint4*>(act[i] + k0));
      }
    }
#pragma unroll
    for (int i = 0; i < kDownPairs; ++i) {
      const float sum = warp_sum_f32(y[i]);
      if (lane == 0 && q0 + i < pairs) ydot[q0 + i] = sum;
    }
  }
  __syncthreads();
  const int64_t h = h0 + threadIdx.x;
  if (threadIdx.x >= cols || h >= p.hidden) return;
  combine_slots(p, t, h, ydot + threadIdx.x * p.top_k);
}

// Output columns per down block: the block's kWarps warps take kDownPairs (column, slot) pairs each.
int down_columns(int down_pairs, int64_t k) {
  return k < kWarps * down_pairs ? static_cast<int>(kWarps * down_pairs / k) : 1;
}

template <class CT>
auto down_combine_kernel_for(int pairs) {
  switch (pairs) {
    case 1: return down_combine_kernel<CT, 1>;
    case 2: return down_combine_kernel<CT, 2>;
    default: return down_combine_kernel<CT, kMaxDownPairs>;
  }
}

// SM slots for blocks of `kernel` at once: multiprocessors x resident blocks per multiprocessor.
template <class Kernel>
int64_t resident_blocks(Kernel kernel, size_t smem) {
  int device = 0, sms = 0, per_sm = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  check_cuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, smem),
             "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
  return static_cast<int64_t>(sms) * per_sm;
}

// Per-warp work of the two passes (gate_up's is fixed, down's depends on the layer's grid). Both are
// latency-bound weight streams (a warp has the loads of one 512-byte step of each of its rows in flight), so
// what counts is how many warps run at once and whether the grid ends in a partial wave. Measured on the H200
// (ncu, T = 1, bf16, per pass):
//  - gate_up: 1 column per warp (32 registers, 8 blocks per SM) was as fast as 2 (50 registers, 4 blocks) or
//    faster: gpt-oss 47.8 vs 48.6 us, Mixtral 121.6 vs 127.3, Qwen3 22.2 vs 22.8, DeepSeek-V3 127.7 vs 126.1.
//  - down (pairs 1 / 2 / 4 per warp; 30 / 38 / 56 registers): Mixtral 60.5 / 72.0 / 78.8 us (grids of 0.97 /
//    0.65 / 0.48 waves), gpt-oss 28.3 / 23.9 / 37.1 (1.36 / 0.91 / 0.68), Qwen3 18.1 / 21.0 / 18.5 (1.94 / 1.29 /
//    0.97), DeepSeek-V3 83.7 / 77.2 / 87.3 (6.8 / 4.5 / 3.4); 8 pairs was the slowest everywhere. So: the
//    fewest pairs whose grid fits in one wave, and 2 pairs when none does.
template <class CT>
int down_pairs_for(int64_t T, int64_t k, int64_t hidden) {
  for (int pairs : {1, 2, 4}) {
    const int cols = down_columns(pairs, k);
    const int64_t blocks = (hidden + cols - 1) / cols * T;
    if (blocks <= resident_blocks(down_combine_kernel_for<CT>(pairs), static_cast<size_t>(cols * k) * sizeof(float)))
      return pairs;
  }
  return 2;
}

bool quantized_weights(const moekit_plugin_experts_config& cfg) {
  return cfg.weight_format == 3 || cfg.weight_format == 4;  // FP8_BLOCK, MXFP4
}

// Workspace pieces of the quantized-weight path: act [A][Ip] bf16; with FP8 activations also its scales
// [A][Ip/128] f32 and the f32 GEMM1 output [A][Ip].
struct QuantLayout {
  int64_t act = 0, scales = 0, act_f32 = 0, total = 0;
};

QuantLayout quant_layout(const moekit_plugin_experts_config& cfg, int64_t assignments) {
  QuantLayout l;
  const int64_t ip = cfg.intermediate_pad;
  l.act = 0;
  l.total = round_up(assignments * ip * 2, 256);
  if (cfg.act_quant != quant::kActNone) {
    l.scales = l.total;
    l.total = round_up(l.total + assignments * (ip / kQuantBlock) * 4, 256);
    l.act_f32 = l.total;
    l.total += assignments * ip * 4;
  }
  return l;
}

template <WeightKind WK, bool A8>
void launch_quantized(const quant::QParams& q, int64_t assignments, bool overlap, cudaStream_t stream) {
  constexpr int64_t span = 32 * quant::per_chunk<WK>();
  const int64_t x_len = round_up(q.hp, span);
  const dim3 grid1(static_cast<unsigned>(q.ip / (quant::kWarps * quant::kCols)), static_cast<unsigned>(assignments));
  launch_dependent(overlap, quant::gate_up_kernel<WK, A8>, grid1, dim3(quant::kThreads), static_cast<size_t>(x_len) * 4,
                   stream, "decode gate_up_kernel (quantized weights)", q, x_len);
  if constexpr (A8)
    launch_dependent(overlap, quant::quantize_act_kernel, dim3(static_cast<unsigned>(assignments)),
                     dim3(quant::kQuantThreads), 0, stream, "decode quantize_act_kernel", q);
  const int groups = q.top_k < quant::kWarps ? static_cast<int>(quant::kWarps / q.top_k) : 1;
  const int64_t cols = static_cast<int64_t>(groups) * quant::kRows;
  const dim3 grid2(static_cast<unsigned>((q.hidden + cols - 1) / cols), static_cast<unsigned>(q.tokens));
  launch_dependent(overlap, quant::down_kernel<WK, A8>, grid2, dim3(quant::kThreads),
                   static_cast<size_t>(cols * q.top_k) * sizeof(float), stream, "decode down_kernel (quantized weights)",
                   q, groups);
}

void run_quantized(const moekit_plugin_experts_config& cfg, const Prepared& prep, const moekit_plugin_tensor& hidden,
                   const moekit_plugin_routing& plan, const moekit_plugin_tensor& out, void* workspace, bool overlap,
                   cudaStream_t stream) {
  const int64_t T = hidden.shape[0], k = plan.topk_ids.shape[1];
  const QuantLayout l = quant_layout(cfg, T * k);
  char* ws = static_cast<char*>(workspace);
  quant::QParams q{};
  q.x = hidden.data;
  q.x_dtype = hidden.dtype;
  q.ids = static_cast<const int32_t*>(plan.topk_ids.data);
  q.weights = static_cast<const float*>(plan.topk_weights.data);
  q.local_of = prep.local_of;
  q.w13 = static_cast<const uint8_t*>(prep.w13);
  q.w13_scale = prep.w13_col_scale;
  q.w13_mx = prep.w13_mx;
  q.b13 = prep.b13;
  q.w2 = static_cast<const uint8_t*>(prep.w2);
  q.w2_scale = prep.w2_col_scale;
  q.w2_mx = prep.w2_mx;
  q.b2 = prep.b2;
  q.act = reinterpret_cast<uint16_t*>(ws + l.act);
  q.act_scale = cfg.act_quant != quant::kActNone ? reinterpret_cast<float*>(ws + l.scales) : nullptr;
  q.act_f32 = cfg.act_quant != quant::kActNone ? reinterpret_cast<float*>(ws + l.act_f32) : nullptr;
  q.out = out.data;
  q.out_dtype = out.dtype;
  q.num_experts = cfg.num_experts;
  q.num_local = cfg.num_local_experts;
  q.tokens = T;
  q.top_k = k;
  q.hidden = cfg.hidden;
  q.inter = cfg.intermediate;
  q.hp = cfg.hidden_pad;
  q.ip = cfg.intermediate_pad;
  q.act_quant = cfg.act_quant;
  q.weight_on_input = cfg.apply_router_weight_on_input;
  q.activation = cfg.activation;
  q.alpha = cfg.swiglu_alpha;
  q.limit = cfg.swiglu_limit;
  const bool a8 = cfg.act_quant != quant::kActNone;
  if (prep.kind == WeightKind::Fp8) {
    if (a8) launch_quantized<WeightKind::Fp8, true>(q, T * k, overlap, stream);
    else launch_quantized<WeightKind::Fp8, false>(q, T * k, overlap, stream);
  } else {
    if (a8) launch_quantized<WeightKind::Mxfp4, true>(q, T * k, overlap, stream);
    else launch_quantized<WeightKind::Mxfp4, false>(q, T * k, overlap, stream);
  }
}

}  // namespace

bool supports(const moekit_plugin_experts_config& cfg) {
  const bool sixteen_bit = cfg.weight_format == 0 || cfg.weight_format == 1 || cfg.weight_format == 2;
  if (sixteen_bit) return cfg.act_quant == 0 && cfg.hidden_pad <= kMaxHiddenPad;
  const bool act_ok = cfg.act_quant == quant::kActNone || cfg.act_quant == quant::kActPerToken ||
                      cfg.act_quant == quant::kActPerGroup;
  return quantized_weights(cfg) && act_ok && cfg.hidden_pad <= quant::kMaxHiddenPad;
}

size_t workspace_bytes(const moekit_plugin_experts_config& cfg, int64_t num_tokens, int64_t top_k) {
  if (quantized_weights(cfg)) return static_cast<size_t>(quant_layout(cfg, num_tokens * top_k).total);
  return static_cast<size_t>(num_tokens * top_k * cfg.intermediate_pad * 2);
}

const char* kernel_label(const moekit_plugin_experts_config& cfg, const Prepared& p) {
  const bool a8 = cfg.act_quant != quant::kActNone;
  switch (p.kind) {
    case WeightKind::Fp8: return a8 ? "cuda-decode-fp8block-w8a8" : "cuda-decode-fp8block-w8a16";
    case WeightKind::Mxfp4: return a8 ? "cuda-decode-mxfp4-w4a8" : "cuda-decode-mxfp4-w4a16";
    default: break;
  }
  if (p.compute == Compute::F16) return "cuda-decode-f16";
  return p.weight_format == 2 ? "cuda-decode-f32-as-bf16" : "cuda-decode-bf16";
}

int down_pairs(const moekit_plugin_experts_config& cfg, const Prepared& p, int64_t num_tokens, int64_t top_k) {
  if (p.kind != WeightKind::Half16) return 0;
  return p.compute == Compute::F16 ? down_pairs_for<__half>(num_tokens, top_k, cfg.hidden)
                                   : down_pairs_for<__nv_bfloat16>(num_tokens, top_k, cfg.hidden);
}

std::string describe(const Prepared& p, int pairs) {
  if (p.kind != WeightKind::Half16)
    return "decode GEMV: warp per (assignment, column) on w13, activation fused; warp per (token, column) on w2, "
           "combine fused";
  return "decode GEMV: warp per (assignment, column) on w13, activation fused; " + std::to_string(pairs) +
         " (column, slot) pair(s) per warp on w2, slot-ordered combine fused";
}

void run(const moekit_plugin_experts_config& cfg, const Prepared& prep, const moekit_plugin_tensor& hidden,
         const moekit_plugin_routing& plan, const moekit_plugin_tensor& out, void* workspace, int pairs, bool overlap,
         cudaStream_t stream) {
  const int64_t T = hidden.shape[0], k = plan.topk_ids.shape[1];
  if (T > kMaxTokens || !supports(cfg) ||
      (prep.kind == WeightKind::Half16) == quantized_weights(cfg))
    throw_internal("decode tier chosen for a configuration it does not take");
  if (prep.kind != WeightKind::Half16) {
    run_quantized(cfg, prep, hidden, plan, out, workspace, overlap, stream);
    return;
  }
  if (pairs < 1 || pairs > kMaxDownPairs) throw_internal("decode tier run without down_pairs()");
  Params p{};
  p.x = hidden.data;
  p.x_dtype = hidden.dtype;
  p.ids = static_cast<const int32_t*>(plan.topk_ids.data);
  p.weights = static_cast<const float*>(plan.topk_weights.data);
  p.local_of = prep.local_of;
  p.w13 = static_cast<const uint16_t*>(prep.w13);
  p.b13 = prep.b13;
  p.w2 = static_cast<const uint16_t*>(prep.w2);
  p.b2 = prep.b2;
  p.act = static_cast<uint16_t*>(workspace);
  p.out = out.data;
  p.out_dtype = out.dtype;
  p.num_experts = cfg.num_experts;
  p.num_local = cfg.num_local_experts;
  p.tokens = T;
  p.top_k = k;
  p.hidden = cfg.hidden;
  p.inter = cfg.intermediate;
  p.hp = cfg.hidden_pad;
  p.ip = cfg.intermediate_pad;
  p.hidden_vec = round_up(cfg.hidden, kVec);
  p.inter_vec = round_up(cfg.intermediate, kVec);
  p.weight_on_input = cfg.apply_router_weight_on_input;
  p.activation = cfg.activation;
  p.alpha = cfg.swiglu_alpha;
  p.limit = cfg.swiglu_limit;
  const int64_t columns_per_block = kWarps * kGateUpColumns;
  const dim3 grid1(static_cast<unsigned>((p.ip + columns_per_block - 1) / columns_per_block),
                   static_cast<unsigned>(T * k));
  const size_t smem = static_cast<size_t>(p.hidden_vec) * 2;
  auto launch = [&](auto compute_type) {
    using CT = decltype(compute_type);
    launch_dependent(overlap, gate_up_kernel<CT>, grid1, dim3(kThreads), smem, stream, "decode gate_up_kernel", p);
    const int cols = down_columns(pairs, k);
    const dim3 grid2(static_cast<unsigned>((p.hidden + cols - 1) / cols), static_cast<unsigned>(T));
    const size_t smem2 = static_cast<size_t>(cols * k) * sizeof(float);
    launch_dependent(overlap, down_combine_kernel_for<CT>(pairs), grid2, dim3(kThreads), smem2, stream,
                     "decode down_combine_kernel", p, cols);
  };
  if (prep.compute == Compute::F16) launch(__half{});
  else launch(__nv_bfloat16{});
}

}  // namespace moekit::cuda::experts::decode
