// What both routing-plan passes (the single-block plan_metadata_kernel, routing_plan.cuh, and the chunked
// kernels, routing_plan_chunked.cuh) take and share: the kernel parameters built from the plugin's plan, and
// the rule that gives each block of the padded order its expert.
#pragma once

#include <cstdint>

#include "../moekit_plugin.h"
#include "../portability.h"
#include "index_math.h"
#include "limits.h"

namespace moekit::device {

struct PlanParams {
  const int32_t* ids;
  long long assignments;  // T * k (<= INT32_MAX: core checked)
  int32_t experts;
  int32_t block_size;
  int32_t* counts;         // [E] or null
  int32_t* sorted;         // [sorted_len] or null (then block_ids / post_padded are null too)
  long long sorted_len;
  int32_t* block_ids;      // [blocks_len]
  long long blocks_len;
  int32_t* post_padded;    // [1]
  uint32_t local_mask[kMaxDeviceExperts / 32];  // bit e: expert e is local (expert_map[e] >= 0)
};

// Host side: the plan kernels' parameters (the caller checked num_experts <= kMaxDeviceExperts when counts or
// the sorted order are wanted).
inline PlanParams make_plan_params(const moekit_plugin_router_config& cfg, const moekit_plugin_routing& plan) {
  PlanParams p{};
  p.ids = static_cast<const int32_t*>(plan.topk_ids.data);
  p.assignments = plan.topk_ids.shape[0] * static_cast<long long>(cfg.top_k);
  p.experts = cfg.num_experts;
  p.block_size = cfg.block_size;
  p.counts = static_cast<int32_t*>(plan.expert_counts.data);
  if (plan.sorted_token_ids.data != nullptr) {
    p.sorted = static_cast<int32_t*>(plan.sorted_token_ids.data);
    p.sorted_len = plan.sorted_token_ids.shape[0];
    p.block_ids = static_cast<int32_t*>(plan.block_expert_ids.data);
    p.blocks_len = plan.block_expert_ids.shape[0];
    p.post_padded = static_cast<int32_t*>(plan.num_tokens_post_padded.data);
  }
  const int32_t n = cfg.num_experts < kMaxDeviceExperts ? cfg.num_experts : kMaxDeviceExperts;
  for (int32_t e = 0; e < n; ++e)
    if (cfg.expert_map == nullptr || cfg.expert_map[e] >= 0) bitset_set(p.local_mask, n, e);
  return p;
}

// Expert of the block whose first slot is `slot`: the last expert whose run starts at or before it (experts
// with empty runs share their start with the next one); -1 past the padded total or for non-local experts.
// `start`: [n] ascending run starts, start[0] == 0.
MOEKIT_HOST_DEVICE inline int32_t block_owner(const int32_t* start, int32_t n, long long slot, int32_t padded_total,
                                              const uint32_t* local_mask) {
  if (slot >= padded_total || n <= 0) return -1;
  int32_t lo = 0, hi = n;  // first expert whose run starts after `slot`
  while (lo < hi) {
    const int32_t mid = lo + (hi - lo) / 2;
    if (start[mid] <= slot) lo = mid + 1;
    else hi = mid;
  }
  const int32_t e = lo - 1;  // >= 0 when start[0] == 0 <= slot; bitset_test rejects anything else
  return bitset_test(local_mask, n, e) ? e : -1;
}

}  // namespace moekit::device
