// Routing, fused: one warp per token loads its logits row into shared memory, scores it (softmax or sigmoid),
// adds the correction bias, picks the topk_groups best groups, then the top_k best experts by iterated warp
// arg-max in the routing order (route_order.h), and writes ids and (renormalised, scaled) weights.
// Semantics are those of core/src/cpu/cpu_route.cpp, decision for decision:
//  - selection key = the logit itself unless a bias, grouping or a +Inf softmax maximum forces score + bias;
//  - NaN logits score NaN (softmax excludes them), rank below every number, and weigh 0;
//  - an infinite softmax maximum is shared equally by the experts holding it;
//  - weights: sum in double in selection order, scaled in double, rounded once to float.
// exp is evaluated in double and rounded to float. glibc's expf (the CPU backend) is computed the same way
// with at most 0.502 ulp error, so scores agree bit for bit except in rare half-way cases (1 ulp); the softmax
// sum's order differs too (warp tree vs serial), which can move a weight by 1 ulp. Ids agree exactly unless
// two keys derived from scores are within such an ulp.
#include <cuda_runtime.h>

#include <cmath>
#include <cstring>
#include <string>

#include "kernel_launch.h"
#include "plugin_error.h"
#include "portability.h"
#include "warp_ops.cuh"

namespace moekit::cuda {

namespace {

using device::is_inf;
using device::is_nan;
using device::ranks_before;

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
  // The correction bias travels by value in the kernel parameters (CUDA >= 12.1 allows 32 KiB of them): no
  // device copy to manage, and a captured graph carries the values with it.
  float bias[kMaxDeviceExperts];
};

// Shared memory of one warp, in 4-byte words: logits, scores, keys, selected ids ([E] each), group scores
// and group flags ([G] each).
__host__ __device__ inline int warp_scratch_words(int experts, int groups) { return 4 * experts + 2 * groups; }

__device__ __forceinline__ float exp_f32(float x) { return static_cast<float>(exp(static_cast<double>(x))); }

// Scores one row in place: s[i] from x[i]. Returns true if the softmax maximum is +Inf.
__device__ bool score_row(const RouteParams& p, const float* x, float* s, int lane) {
  const int n = p.experts;
  if (!p.softmax) {
    for (int i = lane; i < n; i += 32) {
      const float v = x[i];
      if (v >= 0.0f) {
        s[i] = 1.0f / (1.0f + exp_f32(-v));
      } else {
        const float ex = exp_f32(v);  // NaN falls here and stays NaN
        s[i] = ex / (1.0f + ex);
      }
    }
    return false;
  }
  float m = -INFINITY;
  bool any_number = false;
  for (int i = lane; i < n; i += 32)
    if (!is_nan(x[i])) {
      any_number = true;
      m = fmaxf(m, x[i]);
    }
  m = warp_max(m);
  any_number = __any_sync(kFullWarp, any_number);
  if (!any_number) {
    for (int i = lane; i < n; i += 32) s[i] = NAN;
    return false;
  }
  if (is_inf(m)) {
    int holders = 0;
    for (int i = lane; i < n; i += 32) holders += x[i] == m;
    holders = warp_sum(holders);
    const float share = 1.0f / static_cast<float>(holders);
    for (int i = lane; i < n; i += 32) s[i] = is_nan(x[i]) ? NAN : (x[i] == m ? share : 0.0f);
    return m > 0.0f;
  }
  double sum = 0.0;
  for (int i = lane; i < n; i += 32) {
    const float e = is_nan(x[i]) ? NAN : exp_f32(x[i] - m);
    s[i] = e;
    if (!is_nan(e)) sum += e;
  }
  const double inv = 1.0 / warp_sum(sum);  // >= 1 term equal to 1: the maximum
  for (int i = lane; i < n; i += 32) s[i] = static_cast<float>(s[i] * inv);
  return false;
}

// Marks group_selected[g] for the topk_groups best groups (group score: sum of its two best keys).
__device__ void select_groups(const RouteParams& p, const float* key, float* group_score, int32_t* group_selected,
                              int lane) {
  const int groups = p.groups;
  const int size = p.experts / groups;
  for (int g = lane; g < groups; g += 32) {
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
  __syncwarp();
  for (int r = 0; r < p.topk_groups; ++r) {
    Candidate c{0.0f, -1};
    for (int g = lane; g < groups; g += 32)
      if (!group_selected[g]) c = better(c, Candidate{group_score[g], g});
    c = warp_best(c);
    if (lane == 0 && c.id >= 0) group_selected[c.id] = 1;
    __syncwarp();
  }
}

__global__ void route_topk_kernel(const __grid_constant__ RouteParams p) {
  extern __shared__ float shared[];
  const int n = p.experts;
  const int warps = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* bias = shared;  // [E], shared by the block's warps
  float* x = shared + n + warp * warp_scratch_words(n, p.groups);
  float* s = x + n;
  float* keys = s + n;
  int32_t* selected = reinterpret_cast<int32_t*>(keys + n);
  float* group_score = reinterpret_cast<float*>(selected + n);
  int32_t* group_selected = reinterpret_cast<int32_t*>(group_score + p.groups);
  if (p.has_bias)
    for (int i = threadIdx.x; i < n; i += blockDim.x) bias[i] = p.bias[i];
  __syncthreads();

  const bool grouped = p.groups > 1;
  const int group_size = n / p.groups;
  const int k = p.top_k;
  for (long long t = static_cast<long long>(blockIdx.x) * warps + warp; t < p.tokens;
       t += static_cast<long long>(gridDim.x) * warps) {
    for (int i = lane; i < n; i += 32) x[i] = load_as_f32(p.logits, p.dtype, t * n + i);
    __syncwarp();
    const bool infinite_max = score_row(p, x, s, lane);
    // Without bias and grouping the logit order is the exact score order (softmax and sigmoid are strictly
    // increasing), free of the ties float rounding of the scores could create.
    const bool use_keys = p.has_bias || grouped || infinite_max;
    if (use_keys)
      for (int i = lane; i < n; i += 32) keys[i] = s[i] + (p.has_bias ? bias[i] : 0.0f);
    const float* key = use_keys ? keys : x;
    __syncwarp();
    if (grouped) select_groups(p, key, group_score, group_selected, lane);

    // Top-k by k rounds of warp arg-max; bit q of `taken` marks expert lane + 32 q (E <= 1024: q < 32).
    uint32_t taken = 0;
    for (int j = 0; j < k; ++j) {
      Candidate c{0.0f, -1};
      for (int q = 0, i = lane; i < n; ++q, i += 32) {
        if ((taken >> q) & 1u) continue;
        if (grouped && !group_selected[i / group_size]) continue;
        c = better(c, Candidate{key[i], i});
      }
      c = warp_best(c);
      if (c.id >= 0 && c.id % 32 == lane) taken |= 1u << (c.id / 32);
      if (lane == 0) selected[j] = c.id;  // c.id >= 0: core checked top_k <= eligible experts
    }
    __syncwarp();

    double sum = 0.0;
    if (lane == 0)
      for (int j = 0; j < k; ++j) {
        const int32_t id = selected[j];
        const float w = id >= 0 ? s[id] : 0.0f;
        sum += is_nan(w) ? 0.0f : w;
      }
    sum = __shfl_sync(kFullWarp, sum, 0);
    const double norm = (p.renormalize && sum > 0.0) ? 1.0 / sum : 1.0;
    for (int j = lane; j < k; j += 32) {
      const int32_t id = selected[j];
      float w = id >= 0 ? s[id] : 0.0f;
      if (is_nan(w)) w = 0.0f;
      p.weights[t * k + j] = static_cast<float>(static_cast<double>(w) * norm * static_cast<double>(p.scaling));
      p.ids[t * k + j] = id;
    }
    __syncwarp();  // the next token overwrites this warp's rows
  }
}

constexpr int kSharedBudget = 48 * 1024;  // the default dynamic shared-memory limit: no opt-in needed

}  // namespace

void launch_route_topk(const moekit_plugin_router_config& cfg, const moekit_plugin_tensor& logits,
                       const moekit_plugin_routing& plan, cudaStream_t stream) {
  const int32_t n = cfg.num_experts;
  if (n > kMaxDeviceExperts)
    throw_unsupported("route: the CUDA module routes at most " + std::to_string(kMaxDeviceExperts) +
                      " experts, got num_experts " + std::to_string(n) + " (use the CPU backend)");
  const int64_t tokens = logits.shape[0];
  if (tokens == 0) return;
  RouteParams p{};
  p.logits = logits.data;
  p.weights = static_cast<float*>(plan.topk_weights.data);
  p.ids = static_cast<int32_t*>(plan.topk_ids.data);
  p.tokens = tokens;
  p.dtype = logits.dtype;
  p.experts = n;
  p.top_k = cfg.top_k;
  p.softmax = cfg.scoring == MOEKIT_PLUGIN_SCORING_SOFTMAX;
  p.renormalize = cfg.renormalize;
  p.groups = cfg.num_expert_groups < 1 ? 1 : cfg.num_expert_groups;
  p.topk_groups = cfg.topk_groups;
  p.scaling = cfg.routed_scaling_factor;
  p.has_bias = cfg.correction_bias != nullptr;
  if (p.has_bias) std::memcpy(p.bias, cfg.correction_bias, sizeof(float) * static_cast<size_t>(n));

  const int per_warp = warp_scratch_words(n, p.groups) * 4;
  const int bias_bytes = n * 4;
  int warps = (kSharedBudget - bias_bytes) / per_warp;
  if (warps > 8) warps = 8;
  if (warps < 1) throw_internal("route: shared-memory plan exceeds the budget");  // E <= 1024 keeps it within
  const size_t shared = static_cast<size_t>(bias_bytes + warps * per_warp);
  const unsigned blocks = grid_for(tokens, warps, 132 * 64);
  route_topk_kernel<<<blocks, warps * 32, shared, stream>>>(p);
  check_launch("route_topk_kernel");
}

std::string kernel_set_summary(int device) {
  cudaFuncAttributes attr{};
  int major = 0, minor = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
  std::string s = "device code ";
  if (cudaFuncGetAttributes(&attr, route_topk_kernel) == cudaSuccess)
    s += "sm_" + std::to_string(attr.binaryVersion) + " (PTX " + std::to_string(attr.ptxVersion) + ")";
  else
    s += "unknown";
  s += " for sm_" + std::to_string(major) + std::to_string(minor) + ", module built for " MOEKIT_CUDA_ARCHS;
  return s;
}

}  // namespace moekit::cuda
