// Routing, fused, for both modules, in one of two kernels: the lane-chunk kernel (route_topk_lanes.cuh), the
// default wherever expert groups are whole runs of lanes, and this warp-strided one for any other grouping.
// Here one warp (CUDA, 32 lanes) / wavefront (CDNA, 64 lanes) per token loads its logits row into shared memory,
// scores it (softmax or sigmoid), adds the correction bias, picks the topk_groups best groups, then the top_k
// best experts by iterated warp arg-max in the routing order (route_order.h), and writes ids and (renormalised,
// scaled) weights.
// Semantics are those of core/src/cpu/cpu_route.cpp, decision for decision:
//  - selection key = the logit itself unless a bias, grouping or a +Inf softmax maximum forces score + bias;
//  - NaN logits score NaN (softmax excludes them), rank below every number, and weigh 0;
//  - an infinite softmax maximum is shared equally by the experts holding it;
//  - weights: sum in double in selection order, scaled in double, rounded once to float.
// exp is evaluated in double and rounded to float. glibc's expf (the CPU backend) is computed the same way
// with at most 0.502 ulp error, so scores agree bit for bit except in rare half-way cases (1 ulp); the softmax
// sum's order differs too (warp tree vs serial), which can move a weight by 1 ulp. Ids agree exactly unless
// two keys derived from scores are within such an ulp.
//
// Include from exactly one translation unit per module (it defines the kernels); the module's launcher file
// (kernels/<platform>/route_topk.*) calls launch_route_topk_on, which picks, sizes and launches one.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "../moekit_plugin.h"
#include "../portability.h"
#include "index_math.h"
#include "limits.h"
#include "grid_dependency.cuh"
#include "warp_ops.cuh"

namespace moekit::device {

// Kernel parameters; the correction bias travels by value (host memory valid only for the call; a captured graph
// keeps its own copy).
struct RouteParams {
  const void* logits;
  float* weights;
  int32_t* ids;
  long long tokens;
  int32_t dtype;
  int32_t experts;
  int32_t top_k;
  int32_t softmax;
  int32_t renormalize;
  int32_t groups;
  int32_t topk_groups;
  int32_t has_bias;
  float scaling;
  float bias[kMaxBiasExperts];
};

// Shared memory of one warp, in 4-byte words: logits, scores, keys, selected ids ([E] each), group scores
// and group flags ([G] each).
MOEKIT_HOST_DEVICE inline int route_warp_scratch_words(int experts, int groups) { return 4 * experts + 2 * groups; }

// Host side: the kernel's parameters from the plugin's (validated) arguments. The caller checked
// num_experts <= kMaxDeviceExperts and, with a bias, <= kMaxBiasExperts.
inline RouteParams make_route_params(const moekit_plugin_router_config& cfg, const moekit_plugin_tensor& logits,
                                     const moekit_plugin_routing& plan) {
  RouteParams p{};
  p.logits = logits.data;
  p.weights = static_cast<float*>(plan.topk_weights.data);
  p.ids = static_cast<int32_t*>(plan.topk_ids.data);
  p.tokens = logits.shape[0];
  p.dtype = logits.dtype;
  p.experts = cfg.num_experts;
  p.top_k = cfg.top_k;
  p.softmax = cfg.scoring == MOEKIT_PLUGIN_SCORING_SOFTMAX;
  p.renormalize = cfg.renormalize;
  p.groups = cfg.num_expert_groups < 1 ? 1 : cfg.num_expert_groups;
  p.topk_groups = cfg.topk_groups;
  p.scaling = cfg.routed_scaling_factor;
  p.has_bias = cfg.correction_bias != nullptr;
  if (p.has_bias) std::memcpy(p.bias, cfg.correction_bias, sizeof(float) * static_cast<size_t>(cfg.num_experts));
  return p;
}

// Host side: warps per block and dynamic shared bytes within `shared_budget`; warps == 0 if even one warp
// does not fit (cannot happen for E <= kMaxDeviceExperts with a 48 KiB budget).
struct RouteLaunchShape {
  int warps;
  size_t shared_bytes;
};
inline RouteLaunchShape route_launch_shape(int experts, int groups, int shared_budget) {
  const int per_warp = route_warp_scratch_words(experts, groups) * 4;
  const int bias_bytes = experts * 4;
  int warps = (shared_budget - bias_bytes) / per_warp;
  if (warps > 8) warps = 8;
  if (warps < 1) return RouteLaunchShape{0, 0};
  return RouteLaunchShape{warps, static_cast<size_t>(bias_bytes + warps * per_warp)};
}

MOEKIT_DEVICE_INLINE float exp_f32(float x) { return static_cast<float>(exp(static_cast<double>(x))); }

// The CPU backend's sigmoid, 1 / (1 + e^-v) for v >= 0 and e^v / (1 + e^v) below, written with one exponential of
// -|v| (the same argument in both branches, so the same bits for every number, -0 included: e^-0 = 1; NaN stays
// NaN, its sign aside, and weighs 0 either way), so that a lane's several sigmoids are straight-line code whose
// double-precision exponentials the compiler can interleave. With a branch per value each exponential ran alone:
// DeepSeek-V3's routing spent about 1,000 of its 2,950 instructions per token there (ncu source counters, H200).
MOEKIT_DEVICE_INLINE float sigmoid_f32(float v) {
  const float ex = exp_f32(-fabsf(v));
  return v >= 0.0f ? 1.0f / (1.0f + ex) : ex / (1.0f + ex);
}

// Scores one row in place: s[i] from x[i]. Returns true if the softmax maximum is +Inf.
__device__ inline bool score_row(const RouteParams& p, const float* x, float* s, int lane) {
  const int n = p.experts;
  if (!p.softmax) {
    for (int i = lane; i < n; i += kWarpSize) s[i] = sigmoid_f32(x[i]);
    return false;
  }
  float m = -INFINITY;
  bool any_number = false;
  for (int i = lane; i < n; i += kWarpSize)
    if (!is_nan(x[i])) {
      any_number = true;
      m = fmaxf(m, x[i]);
    }
  m = warp_max(m);
  any_number = warp_any(any_number);
  if (!any_number) {
    for (int i = lane; i < n; i += kWarpSize) s[i] = NAN;
    return false;
  }
  if (is_inf(m)) {
    int holders = 0;
    for (int i = lane; i < n; i += kWarpSize) holders += x[i] == m;
    holders = warp_sum(holders);
    const float share = 1.0f / static_cast<float>(holders);
    for (int i = lane; i < n; i += kWarpSize) s[i] = is_nan(x[i]) ? NAN : (x[i] == m ? share : 0.0f);
    return m > 0.0f;
  }
  double sum = 0.0;
  for (int i = lane; i < n; i += kWarpSize) {
    const float e = is_nan(x[i]) ? NAN : exp_f32(x[i] - m);
    s[i] = e;
    if (!is_nan(e)) sum += e;
  }
  const double inv = 1.0 / warp_sum(sum);  // >= 1 term equal to 1: the maximum
  for (int i = lane; i < n; i += kWarpSize) s[i] = static_cast<float>(s[i] * inv);
  return false;
}

// Marks group_selected[g] for the topk_groups best groups (group score: sum of its two best keys).
__device__ inline void select_groups(const RouteParams& p, const float* key, float* group_score,
                                     int32_t* group_selected, int lane) {
  const int groups = p.groups;
  const int size = p.experts / groups;
  for (int g = lane; g < groups; g += kWarpSize) {
    const float* k = key + g * size;
    int best = 0;
    for (int i = 1; i < size; ++i)
      if (ranks_before(k[i], i, k[best], best)) best = i;
    float score = k[best];
    if (size > 1) {
      int second = best == 0 ? 1 : 0;
      for (int i = 0; i < size; ++i)
        if (i != best && ranks_before(k[i], i, k[second], second)) second = i;
      score = k[best] + k[second];  // NaN if either is NaN: the group then ranks last
    }
    group_score[g] = score;
    group_selected[g] = 0;
  }
  warp_sync();
  for (int r = 0; r < p.topk_groups; ++r) {
    Candidate c{0.0f, -1};
    for (int g = lane; g < groups; g += kWarpSize)
      if (!group_selected[g]) c = better(c, Candidate{group_score[g], g});
    c = warp_best(c);
    if (lane == 0 && c.id >= 0 && c.id < groups) group_selected[c.id] = 1;
    warp_sync();
  }
}

// Writes token t's ids and weights from its k selected experts (selected[j], -1 for none) in selection order:
// weights sum in double in that order, NaN weighs 0, scaled in double and rounded once (the CPU backend's
// math). score_of(j) is the score of selected[j], read only for a valid id.
template <class ScoreOf>
__device__ inline void write_token_route(const RouteParams& p, long long t, const int32_t* selected, int lane,
                                         ScoreOf score_of) {
  const int k = p.top_k;
  double sum = 0.0;
  if (lane == 0)
    for (int j = 0; j < k; ++j) {
      const float w = valid_expert(selected[j], p.experts) ? score_of(j) : 0.0f;
      sum += is_nan(w) ? 0.0f : w;
    }
  sum = shfl(sum, 0);
  const double norm = (p.renormalize && sum > 0.0) ? 1.0 / sum : 1.0;
  for (int j = lane; j < k; j += kWarpSize) {
    const int32_t id = selected[j];
    float w = valid_expert(id, p.experts) ? score_of(j) : 0.0f;
    if (is_nan(w)) w = 0.0f;
    p.weights[t * k + j] = static_cast<float>(static_cast<double>(w) * norm * static_cast<double>(p.scaling));
    p.ids[t * k + j] = id;
  }
}

__global__ void route_topk_kernel(const MOEKIT_GRID_CONSTANT RouteParams p) {
  allow_dependent_grids();  // a decode pass launched after routing may take its SM slots now (it waits for us)
  extern __shared__ float route_shared[];
  const int n = p.experts;
  const int warps = warps_per_block(), warp = warp_id(), lane = lane_id();
  float* bias = route_shared;  // [E], shared by the block's warps
  float* x = route_shared + n + warp * route_warp_scratch_words(n, p.groups);
  float* s = x + n;
  float* keys = s + n;
  int32_t* selected = reinterpret_cast<int32_t*>(keys + n);
  float* group_score = reinterpret_cast<float*>(selected + n);
  int32_t* group_selected = reinterpret_cast<int32_t*>(group_score + p.groups);
  if (p.has_bias)
    for (int i = static_cast<int>(threadIdx.x); i < n; i += static_cast<int>(blockDim.x)) bias[i] = p.bias[i];
  __syncthreads();

  const bool grouped = p.groups > 1;
  const int group_size = n / p.groups;
  const int k = p.top_k;
  for (long long t = static_cast<long long>(blockIdx.x) * warps + warp; t < p.tokens;
       t += static_cast<long long>(gridDim.x) * warps) {
    for (int i = lane; i < n; i += kWarpSize) x[i] = load_as_f32(p.logits, p.dtype, t * n + i);
    warp_sync();
    const bool infinite_max = score_row(p, x, s, lane);
    // Without bias and grouping the logit order is the exact score order (softmax and sigmoid are strictly
    // increasing), free of the ties float rounding of the scores could create.
    const bool use_keys = p.has_bias || grouped || infinite_max;
    if (use_keys)
      for (int i = lane; i < n; i += kWarpSize) keys[i] = s[i] + (p.has_bias ? bias[i] : 0.0f);
    const float* key = use_keys ? keys : x;
    warp_sync();
    if (grouped) select_groups(p, key, group_score, group_selected, lane);

    // Top-k by k rounds of warp arg-max; bit q of `taken` marks expert lane + W q (owner_lane / owner_slot).
    uint32_t taken = 0;
    for (int j = 0; j < k; ++j) {
      Candidate c{0.0f, -1};
      for (int q = 0, i = lane; i < n; ++q, i += kWarpSize) {
        if ((taken >> q) & 1u) continue;
        if (grouped && !group_selected[i / group_size]) continue;
        c = better(c, Candidate{key[i], i});
      }
      c = warp_best(c);
      if (owner_lane(c.id, kWarpSize) == lane) {
        const int slot = owner_slot(c.id, kWarpSize);
        if (slot >= 0) taken |= 1u << static_cast<unsigned>(slot);
      }
      if (lane == 0) selected[j] = c.id;  // c.id >= 0: core checked top_k <= eligible experts
    }
    warp_sync();

    write_token_route(p, t, selected, lane, [&](int j) { return s[selected[j]]; });
    warp_sync();  // the next token overwrites this warp's rows
  }
}

}  // namespace moekit::device

#include "route_topk_lanes.cuh"

namespace moekit::device {

// Which routing kernel a launch uses: the lane-chunk kernel (route_topk_lanes.cuh) wherever it applies, else
// the warp-strided one. The GPU tests force each on the same configs.
enum class RouteKernel { kAuto, kWarpStrided, kLaneChunks };

template <int C, class Runtime>
bool launch_route_lanes_if(int chunk, const RouteParams& p, unsigned blocks, int warps, size_t shared,
                           typename Runtime::Stream stream) {
  if constexpr (C <= kMaxLaneChunk) {
    if (chunk != C) return false;
    route_topk_lanes_kernel<C><<<blocks, static_cast<unsigned>(warps * kWarpSize), shared, stream>>>(p);
    Runtime::check_launch("route_topk_lanes_kernel");
    return true;
  }
  return false;
}

// Host side: the lane-chunk kernel for `chunk` experts per lane, over `blocks` blocks of `warps` warps.
template <class Runtime>
void launch_route_lanes(int chunk, const RouteParams& p, unsigned blocks, int warps, size_t shared,
                        typename Runtime::Stream stream) {
  const bool launched = launch_route_lanes_if<1, Runtime>(chunk, p, blocks, warps, shared, stream) ||
                        launch_route_lanes_if<2, Runtime>(chunk, p, blocks, warps, shared, stream) ||
                        launch_route_lanes_if<4, Runtime>(chunk, p, blocks, warps, shared, stream) ||
                        launch_route_lanes_if<8, Runtime>(chunk, p, blocks, warps, shared, stream) ||
                        launch_route_lanes_if<16, Runtime>(chunk, p, blocks, warps, shared, stream) ||
                        launch_route_lanes_if<32, Runtime>(chunk, p, blocks, warps, shared, stream);
  if (!launched)
    Runtime::internal("route: no lane-chunk kernel for " + std::to_string(chunk) + " experts per lane");
}

// Host launcher; Runtime is the module's policy (stream type, launch check, error reporting).
template <class Runtime>
void launch_route_topk_on(const moekit_plugin_router_config& cfg, const moekit_plugin_tensor& logits,
                          const moekit_plugin_routing& plan, typename Runtime::Stream stream,
                          RouteKernel kernel = RouteKernel::kAuto) {
  const int32_t n = cfg.num_experts;
  if (n > kMaxDeviceExperts)
    Runtime::unsupported(std::string("route: the ") + Runtime::kName + " module routes at most " +
                         std::to_string(kMaxDeviceExperts) + " experts, got num_experts " + std::to_string(n) +
                         " (use the CPU backend)");
  if (cfg.correction_bias != nullptr && n > kMaxBiasExperts)
    Runtime::unsupported(std::string("route: the ") + Runtime::kName + " module takes a correction_bias for at most " +
                         std::to_string(kMaxBiasExperts) + " experts, got num_experts " + std::to_string(n) +
                         " (use the CPU backend)");
  const int64_t tokens = logits.shape[0];
  if (tokens == 0) return;
  const RouteParams p = make_route_params(cfg, logits, plan);
  const int chunk = lane_chunk_for(n);
  const bool lanes_apply = lane_chunks_apply(n, p.groups, chunk);
  if (kernel == RouteKernel::kLaneChunks && !lanes_apply)
    Runtime::unsupported("route: the lane-chunk kernel does not apply to " + std::to_string(p.groups) + " groups of " +
                         std::to_string(n) + " experts");
  if (lanes_apply && kernel != RouteKernel::kWarpStrided) {
    // 8 warps per block, fewer only if a huge top_k would overflow the shared budget.
    int warps = 8;
    while (warps > 1 && lanes_shared_bytes(n, p.top_k, warps) > static_cast<size_t>(kRouteSharedBudget)) --warps;
    const size_t shared = lanes_shared_bytes(n, p.top_k, warps);
    if (shared > static_cast<size_t>(kRouteSharedBudget)) Runtime::internal("route: top_k exceeds the shared budget");
    launch_route_lanes<Runtime>(chunk, p, grid_blocks(tokens, warps, 132 * 64), warps, shared, stream);
    return;
  }
  const RouteLaunchShape shape = route_launch_shape(n, p.groups, kRouteSharedBudget);
  if (shape.warps < 1) Runtime::internal("route: shared-memory plan exceeds the budget");  // E <= 1024 fits
  const unsigned blocks = grid_blocks(tokens, shape.warps, 132 * 64);
  route_topk_kernel<<<blocks, shape.warps * kWarpSize, shape.shared_bytes, stream>>>(p);
  Runtime::check_launch("route_topk_kernel");
}

}  // namespace moekit::device
