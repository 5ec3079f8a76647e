// The CPU side of the routing comparisons in route_test.cpp (the CUDA module through the public C API) and
// route_kernels_test.cu (the shared routing kernels launched directly): host buffers for a routing plan and the
// CPU backend's run on the same logits, the reference every CUDA result is compared with.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gpu_test_util.h"

namespace moekit_gpu_test {

// The sizes of one run's plan.
struct PlanShape {
  int64_t tokens;
  int32_t experts, top_k;
  int64_t max_sorted, max_blocks;  // 0 for a run that asks for no sorted order
  int64_t words() const { return (experts + 31) / 32; }
};

inline PlanShape plan_shape(moekit_router r, int64_t tokens, int32_t experts, int32_t top_k) {
  PlanShape s{tokens, experts, top_k, 0, 0};
  int32_t block = 0;
  EXPECT_EQ(moekit_router_plan_sizes(r, tokens, &block, &s.max_sorted, &s.max_blocks), MOEKIT_OK);
  return s;
}

// Which parts of the plan a run asks for besides the top-k ids and weights.
struct PlanParts {
  bool bitmatrix = true, counts = true, sorted = true;
};
inline constexpr PlanParts kTopkOnly{false, false, false};

// All plan buffers of one run, on the host.
struct PlanData {
  std::vector<float> weights;
  std::vector<int32_t> ids, counts, sorted, blocks, post_padded;
  std::vector<uint32_t> bits;
};

// A plan in host vectors, sentinel-filled so that an unwritten entry shows up (at least one element each so that
// data pointers are never null).
struct HostPlan {
  PlanData d;
  moekit_routing r{};  // points into d
  HostPlan(const HostPlan&) = delete;
  HostPlan& operator=(const HostPlan&) = delete;
  HostPlan(const PlanShape& s, PlanParts parts) {
    const auto n = [](int64_t v) { return static_cast<size_t>(v > 0 ? v : 1); };
    d.weights.assign(n(s.tokens * s.top_k), -7.0f);
    d.ids.assign(n(s.tokens * s.top_k), -7);
    d.bits.assign(n(s.tokens * s.words()), 0xDEADBEEFu);
    d.counts.assign(n(s.experts), -7);
    d.sorted.assign(n(s.max_sorted), -7);
    d.blocks.assign(n(s.max_blocks), -7);
    d.post_padded.assign(1, -7);
    r.struct_size = sizeof r;
    r.topk_weights = host_tensor(d.weights.data(), MOEKIT_DTYPE_F32, {s.tokens, s.top_k});
    r.topk_ids = host_tensor(d.ids.data(), MOEKIT_DTYPE_I32, {s.tokens, s.top_k});
    if (parts.bitmatrix) r.bitmatrix = host_tensor(d.bits.data(), MOEKIT_DTYPE_U32, {s.tokens, s.words()});
    if (parts.counts) r.expert_counts = host_tensor(d.counts.data(), MOEKIT_DTYPE_I32, {s.experts});
    if (parts.sorted) {
      r.sorted_token_ids = host_tensor(d.sorted.data(), MOEKIT_DTYPE_I32, {s.max_sorted});
      r.block_expert_ids = host_tensor(d.blocks.data(), MOEKIT_DTYPE_I32, {s.max_blocks});
      r.num_tokens_post_padded = host_tensor(d.post_padded.data(), MOEKIT_DTYPE_I32, {1});
    }
  }
};

// The CPU router's routing of `logits` (encoded, [s.tokens, s.experts] of `dtype`) into `plan`. The logits are
// copied because a tensor points at mutable data, and given 4 bytes when empty so that T = 0 still passes a
// non-null pointer. A fatal failure here: wrap the call in ASSERT_NO_FATAL_FAILURE.
inline void run_cpu_reference(moekit_router cpu, const std::vector<uint8_t>& logits, moekit_dtype dtype,
                              const PlanShape& s, HostPlan& plan, const std::string& where) {
  std::vector<uint8_t> host_logits = logits;
  if (host_logits.empty()) host_logits.resize(4);
  const moekit_tensor l = host_tensor(host_logits.data(), dtype, {s.tokens, s.experts});
  ASSERT_EQ(moekit_router_run(cpu, &l, &plan.r, nullptr), MOEKIT_OK) << where << ": " << moekit_last_error();
}

}  // namespace moekit_gpu_test
