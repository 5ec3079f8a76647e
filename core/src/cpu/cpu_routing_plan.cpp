#include "cpu/cpu_routing_plan.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cpu/cpu_ops.h"
#include "moekit_core/error.h"

namespace moekit::cpu {

namespace {

inline bool valid_expert(int32_t id, int32_t num_experts) { return id >= 0 && id < num_experts; }

void write_bitmatrix(const ExecContext& ex, const int32_t* ids, int64_t tokens, int32_t k, int32_t num_experts,
                     uint32_t* bits) {
  const int64_t words = (int64_t{num_experts} + 31) / 32;
#pragma omp parallel for num_threads(ex.num_threads) schedule(static)
  for (int64_t t = 0; t < tokens; ++t) {
    uint32_t* row = bits + t * words;
    std::fill(row, row + words, 0u);
    for (int32_t j = 0; j < k; ++j) {
      const int32_t e = ids[t * k + j];
      if (!valid_expert(e, num_experts)) continue;
      row[e / 32] |= uint32_t{1} << (e % 32);  // e >= 0 here: division and shift are well defined
    }
  }
}

// Assignments per expert. Serial: one pass over T*k ints is memory-bound and deterministic.
std::vector<int64_t> count_assignments(const int32_t* ids, int64_t assignments, int32_t num_experts) {
  std::vector<int64_t> counts(static_cast<size_t>(num_experts), 0);
  for (int64_t i = 0; i < assignments; ++i)
    if (valid_expert(ids[i], num_experts)) ++counts[static_cast<size_t>(ids[i])];
  return counts;
}

template <class T>
void parallel_fill(const ExecContext& ex, T* data, int64_t n, T value) {
#pragma omp parallel for num_threads(ex.num_threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) data[i] = value;
}

// vLLM moe_align_block_size: flat indices grouped by expert ascending (increasing index within an expert),
// each expert's run padded to a multiple of block_size with the fill value T*k; blocks carry their expert's
// global id, or -1 for non-local experts and for blocks past the padded total.
void write_sorted_order(const ExecContext& ex, const RouterConfig& cfg, const int32_t* ids, int64_t assignments,
                        const std::vector<int64_t>& counts, RoutingPlan& plan) {
  const int64_t block = cfg.block_size;
  const int32_t num_experts = cfg.num_experts;
  std::vector<int64_t> run_start(static_cast<size_t>(num_experts));
  int64_t padded_total = 0;
  for (int32_t e = 0; e < num_experts; ++e) {
    run_start[static_cast<size_t>(e)] = padded_total;
    const int64_t c = counts[static_cast<size_t>(e)];
    padded_total += (c + block - 1) / block * block;
  }
  int32_t* sorted = plan.sorted_token_ids.as<int32_t>();
  int32_t* block_experts = plan.block_expert_ids.as<int32_t>();
  const int64_t sorted_len = plan.sorted_token_ids.shape[0];
  const int64_t blocks_len = plan.block_expert_ids.shape[0];
  // Core checked the buffers against plan_sizes, which bounds padded_total; re-check before writing.
  if (padded_total > sorted_len || padded_total / block > blocks_len)
    fail(Status::Internal, "routing plan: padded total exceeds the validated sorted-order buffers");

  parallel_fill(ex, sorted, sorted_len, static_cast<int32_t>(assignments));
  std::vector<int64_t> cursor = run_start;
  for (int64_t i = 0; i < assignments; ++i) {
    const int32_t e = ids[i];
    if (valid_expert(e, num_experts)) sorted[cursor[static_cast<size_t>(e)]++] = static_cast<int32_t>(i);
  }

  parallel_fill(ex, block_experts, blocks_len, int32_t{-1});
  for (int32_t e = 0; e < num_experts; ++e) {
    const bool local = cfg.expert_map.empty() || cfg.expert_map[static_cast<size_t>(e)] >= 0;
    if (!local) continue;
    const int64_t first = run_start[static_cast<size_t>(e)] / block;
    const int64_t end = (run_start[static_cast<size_t>(e)] + (counts[static_cast<size_t>(e)] + block - 1) / block * block) / block;
    for (int64_t b = first; b < end; ++b) block_experts[b] = e;
  }
  plan.num_tokens_post_padded.as<int32_t>()[0] = static_cast<int32_t>(padded_total);
}

}  // namespace

void write_plan_metadata(const ExecContext& ex, const RouterConfig& cfg, RoutingPlan& plan) {
  const int32_t* ids = plan.topk_ids.as<const int32_t>();
  const int64_t tokens = plan.topk_ids.shape[0];
  const int64_t assignments = tokens * cfg.top_k;  // validated to fit int32 by Router::plan_sizes
  if (plan.bitmatrix.present())
    write_bitmatrix(ex, ids, tokens, cfg.top_k, cfg.num_experts, plan.bitmatrix.as<uint32_t>());
  const bool want_sorted = plan.sorted_token_ids.present();
  if (!plan.expert_counts.present() && !want_sorted) return;
  const std::vector<int64_t> counts = count_assignments(ids, assignments, cfg.num_experts);
  if (plan.expert_counts.present()) {
    int32_t* out = plan.expert_counts.as<int32_t>();
    for (int32_t e = 0; e < cfg.num_experts; ++e) out[e] = static_cast<int32_t>(counts[static_cast<size_t>(e)]);
  }
  if (want_sorted) write_sorted_order(ex, cfg, ids, assignments, counts, plan);
}

void build_plan(const ExecContext& ex, const RouterConfig& cfg, RoutingPlan& plan) {
  write_plan_metadata(ex, cfg, plan);
}

}  // namespace moekit::cpu
