// The metadata half of a routing plan, from topk_ids, with no host synchronisation:
//  - bitmatrix: one thread per (token, 32-expert word);
//  - expert counts, the padded expert-sorted order (vLLM moe_align_block_size semantics) and the per-block
//    expert ids: one block of 1024 threads. Counting uses warp-aggregated shared-memory atomics (__match_any),
//    so a skewed plan (every token on one expert) does not serialise on one counter. The scatter is STABLE,
//    like the CPU backend's: within an expert, flat indices t*k+j stay in increasing order. Each tile of
//    kPlanThreads ids gets, per warp, a per-expert count (shared histogram); an id's slot is its expert's
//    cursor + the counts of the lower warps + its rank among equal ids of its own warp.
// Ids outside [0, E) set no bit, count nothing and index nothing. Semantics: core/src/cpu/cpu_routing_plan.cpp.
#include <cuda_runtime.h>

#include <cub/block/block_scan.cuh>
#include <string>

#include "kernel_launch.h"
#include "plugin_error.h"
#include "warp_ops.cuh"

namespace moekit::cuda {

namespace {

// One block of 1024 threads: the plan pass is a single block (no global scratch, so nothing to allocate or to
// share between streams), and wide tiles cut its barrier count. Per-warp tile counts are <= 32: one byte each.
constexpr int kPlanThreads = 1024;
constexpr int kPlanWarps = kPlanThreads / 32;
constexpr int kScanItems = (kMaxDeviceExperts + kPlanThreads - 1) / kPlanThreads;  // experts per thread in the scan

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

__device__ __forceinline__ bool valid_expert(int32_t e, int32_t n) { return e >= 0 && e < n; }

__global__ void bitmatrix_kernel(const int32_t* ids, long long tokens, int k, int32_t experts, int words,
                                 uint32_t* bits) {
  const long long total = tokens * words;
  for (long long w = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; w < total;
       w += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long t = w / words;
    const int word = static_cast<int>(w - t * words);
    uint32_t v = 0;
    for (int j = 0; j < k; ++j) {
      const int32_t e = ids[t * k + j];
      if (valid_expert(e, experts) && e / 32 == word) v |= 1u << (e % 32);  // e >= 0 here
    }
    bits[w] = v;
  }
}

__global__ void fill_kernel(int32_t* data, long long n, int32_t value) {
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    data[i] = value;
}

__global__ void __launch_bounds__(kPlanThreads) plan_metadata_kernel(const __grid_constant__ PlanParams p) {
  extern __shared__ int32_t shared_words[];
  const int n = p.experts;
  int32_t* counts = shared_words;  // [E]
  int32_t* start = counts + n;     // [E] first slot of each expert's run
  int32_t* cursor = start + n;     // [E] next free slot of each run
  uint8_t* tile_hist = reinterpret_cast<uint8_t*>(cursor + n);  // [warps][E] ids per expert in this tile
  __shared__ int32_t padded_total;
  // Warp-scan variant: its temporary storage is one value per warp (the raking default needs one per thread,
  // which with E = 1024 would push the block past the 48 KiB of shared memory a kernel gets without opt-in).
  using BlockScan = cub::BlockScan<long long, kPlanThreads, cub::BLOCK_SCAN_WARP_SCANS>;
  __shared__ typename BlockScan::TempStorage scan_storage;

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const unsigned lanes_below = (1u << lane) - 1u;
  for (int e = tid; e < n; e += kPlanThreads) counts[e] = 0;
  for (int i = tid; i < kPlanWarps * n; i += kPlanThreads) tile_hist[i] = 0;
  __syncthreads();

  // 1. Counts. Every thread runs the same number of iterations: __match_any_sync needs the whole warp.
  const long long total_ids = p.assignments;
  for (long long base = 0; base < total_ids; base += kPlanThreads) {
    const long long i = base + tid;
    const int32_t e = i < total_ids ? p.ids[i] : -1;
    const bool valid = valid_expert(e, n);
    const unsigned peers = __match_any_sync(kFullWarp, valid ? e : -1);
    if (valid && (peers & lanes_below) == 0) atomicAdd(&counts[e], __popc(peers));
  }
  __syncthreads();

  // 2. Runs: start[e] = sum of the padded counts of the experts before e.
  const long long block = p.block_size;
  long long padded[kScanItems];
  long long thread_sum = 0;
  for (int q = 0; q < kScanItems; ++q) {
    const int e = tid * kScanItems + q;
    const long long c = e < n ? counts[e] : 0;
    padded[q] = (c + block - 1) / block * block;
    thread_sum += padded[q];
  }
  long long prefix = 0, total = 0;
  BlockScan(scan_storage).ExclusiveSum(thread_sum, prefix, total);
  for (int q = 0; q < kScanItems; ++q) {
    const int e = tid * kScanItems + q;
    if (e < n) start[e] = cursor[e] = static_cast<int32_t>(prefix);  // <= max_sorted <= INT32_MAX (core)
    prefix += padded[q];
  }
  if (tid == 0) padded_total = static_cast<int32_t>(total);
  __syncthreads();

  if (p.counts != nullptr)
    for (int e = tid; e < n; e += kPlanThreads) p.counts[e] = counts[e];
  if (p.sorted == nullptr) return;  // uniform across the block
  if (tid == 0) p.post_padded[0] = padded_total;

  // 3. Stable scatter (the padding slots were filled with T*k by fill_kernel, earlier on the stream).
  for (long long base = 0; base < total_ids; base += kPlanThreads) {
    const long long i = base + tid;
    const int32_t e = i < total_ids ? p.ids[i] : -1;
    const bool valid = valid_expert(e, n);
    const unsigned peers = __match_any_sync(kFullWarp, valid ? e : -1);
    const bool leader = (peers & lanes_below) == 0;
    if (valid && leader) tile_hist[warp * n + e] = static_cast<uint8_t>(__popc(peers));
    __syncthreads();
    if (valid) {
      int before = 0;
      for (int w = 0; w < warp; ++w) before += tile_hist[w * n + e];
      const long long slot = static_cast<long long>(cursor[e]) + before + __popc(peers & lanes_below);
      if (slot < p.sorted_len) p.sorted[slot] = static_cast<int32_t>(i);
    }
    __syncthreads();
    if (valid && leader) {
      tile_hist[warp * n + e] = 0;
      atomicAdd(&cursor[e], __popc(peers));
    }
    __syncthreads();
  }

  // 4. Expert of each block: the last expert whose run starts at or before the block's first slot (experts
  //    with empty runs share their start with the next one); -1 past the padded total or for non-local experts.
  for (long long b = tid; b < p.blocks_len; b += kPlanThreads) {
    const long long slot = b * block;
    int32_t owner = -1;
    if (slot < padded_total) {
      int lo = 0, hi = n;  // first expert whose run starts after `slot`
      while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (start[mid] <= slot) lo = mid + 1;
        else hi = mid;
      }
      const int e = lo - 1;  // >= 0: start[0] == 0 <= slot
      if (e >= 0 && ((p.local_mask[e / 32] >> (e % 32)) & 1u)) owner = e;
    }
    p.block_ids[b] = owner;
  }
}

}  // namespace

void launch_plan_metadata(const moekit_plugin_router_config& cfg, const moekit_plugin_routing& plan,
                          cudaStream_t stream) {
  const int32_t n = cfg.num_experts;
  const int32_t k = cfg.top_k;
  const int64_t tokens = plan.topk_ids.shape[0];
  const auto* ids = static_cast<const int32_t*>(plan.topk_ids.data);
  const bool want_counts = plan.expert_counts.data != nullptr;
  const bool want_sorted = plan.sorted_token_ids.data != nullptr;
  if ((want_counts || want_sorted) && n > kMaxDeviceExperts)
    throw_unsupported("routing plan: the CUDA module counts and sorts at most " + std::to_string(kMaxDeviceExperts) +
                      " experts, got num_experts " + std::to_string(n) + " (use the CPU backend)");

  if (plan.bitmatrix.data != nullptr && tokens > 0) {
    const int words = (n + 31) / 32;
    bitmatrix_kernel<<<grid_for(tokens * words, 256), 256, 0, stream>>>(ids, tokens, k, n, words,
                                                                         static_cast<uint32_t*>(plan.bitmatrix.data));
    check_launch("bitmatrix_kernel");
  }
  if (!want_counts && !want_sorted) return;

  PlanParams p{};
  p.ids = ids;
  p.assignments = tokens * k;
  p.experts = n;
  p.block_size = cfg.block_size;
  p.counts = static_cast<int32_t*>(plan.expert_counts.data);
  if (want_sorted) {
    p.sorted = static_cast<int32_t*>(plan.sorted_token_ids.data);
    p.sorted_len = plan.sorted_token_ids.shape[0];
    p.block_ids = static_cast<int32_t*>(plan.block_expert_ids.data);
    p.blocks_len = plan.block_expert_ids.shape[0];
    p.post_padded = static_cast<int32_t*>(plan.num_tokens_post_padded.data);
    if (p.sorted_len > 0) {
      fill_kernel<<<grid_for(p.sorted_len, 256), 256, 0, stream>>>(p.sorted, p.sorted_len,
                                                                   static_cast<int32_t>(p.assignments));
      check_launch("fill_kernel");
    }
  }
  for (int32_t e = 0; e < n; ++e)
    if (cfg.expert_map == nullptr || cfg.expert_map[e] >= 0) p.local_mask[e / 32] |= 1u << (e % 32);

  const size_t shared = static_cast<size_t>(n) * (3 * sizeof(int32_t) + kPlanWarps * sizeof(uint8_t)) + 16;
  plan_metadata_kernel<<<1, kPlanThreads, shared, stream>>>(p);
  check_launch("plan_metadata_kernel");
}

}  // namespace moekit::cuda
