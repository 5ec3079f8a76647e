// The fast routing kernel: the same decisions as route_topk_kernel (route_topk.cuh, whose comment states the
// semantics), with a token's experts split into one contiguous chunk of C per lane and held in registers.
//
// Why a second kernel: at small T the routing launch is one warp working alone on one token, so its time is
// its dependent-instruction count. The warp-strided kernel keeps rows in shared memory, compares candidates
// with NaN/tie branches, and finds groups' best two experts with a serial loop per lane: about 9,000
// instructions for a DeepSeek-V3 token (ncu on the H200: 30.6 us; Qwen3-30B-A3B 12.5 us). Here every candidate
// is one 64-bit rank code (route_order.h), so "the better of two" is an integer max, a lane's chunk is a few
// register compares, and with contiguous chunks an expert group is a run of whole lanes whose best two
// experts come from a shuffle reduction over that run.
//
// Applies when the grouping (if any) splits into whole lane runs: group size a multiple of C and the lanes per
// group a power of two (lane_chunks_apply). The presets all qualify; any other grouping takes the warp-strided
// kernel. Results are those of route_topk_kernel except the softmax sum's association (per-lane chunks, then
// the warp tree, instead of strided lanes then the tree), which the weights' ulp bound already covers.
#pragma once

#include <cstdint>

#include "../portability.h"
#include "../route_order.h"
#include "warp_ops.cuh"

namespace moekit::device {

// Experts per lane for E experts: the smallest power of two with C * warp >= E.
inline int lane_chunk_for(int experts) {
  int chunk = 1;
  while (chunk * kWarpSize < experts) chunk *= 2;
  return chunk;
}
constexpr int kMaxLaneChunk = (kMaxDeviceExperts + kWarpSize - 1) / kWarpSize;

// Can the lane-chunk kernel route this config? Without grouping always; with groups, each group must be a
// power-of-two run of whole lanes (so that xor shuffles below the run length stay inside the run).
inline bool lane_chunks_apply(int experts, int groups, int chunk) {
  if (groups <= 1) return true;
  if (experts % groups != 0) return false;
  const int size = experts / groups;
  if (size % chunk != 0) return false;
  const int lanes = size / chunk;
  return lanes <= kWarpSize && (lanes & (lanes - 1)) == 0;
}

// Shared memory, in 4-byte words: the bias [E], then per warp the selected ids and their scores ([k] each).
inline size_t lanes_shared_bytes(int experts, int top_k, int warps) {
  return 4u * (static_cast<size_t>(experts) + 2u * static_cast<size_t>(top_k) * static_cast<size_t>(warps));
}

// Scores a lane's chunk (s from x) like score_row; `valid[q]` marks the chunk's slots inside [0, E).
// Returns true if the softmax maximum is +Inf.
template <int C>
__device__ inline bool score_chunk(const RouteParams& p, const float (&x)[C], const bool (&valid)[C], float (&s)[C]) {
  if (!p.softmax) {
#pragma unroll
    for (int q = 0; q < C; ++q) s[q] = sigmoid_f32(x[q]);
    return false;
  }
  float m = -INFINITY;
  bool any_number = false;
#pragma unroll
  for (int q = 0; q < C; ++q)
    if (valid[q] && !is_nan(x[q])) {
      any_number = true;
      m = fmaxf(m, x[q]);
    }
  m = warp_max(m);
  any_number = warp_any(any_number);
  if (!any_number) {
#pragma unroll
    for (int q = 0; q < C; ++q) s[q] = NAN;
    return false;
  }
  if (is_inf(m)) {
    int holders = 0;
#pragma unroll
    for (int q = 0; q < C; ++q) holders += valid[q] && x[q] == m;
    holders = warp_sum(holders);
    const float share = 1.0f / static_cast<float>(holders);
#pragma unroll
    for (int q = 0; q < C; ++q) s[q] = is_nan(x[q]) ? NAN : (x[q] == m ? share : 0.0f);
    return m > 0.0f;
  }
  double sum = 0.0;
#pragma unroll
  for (int q = 0; q < C; ++q) {
    const float e = is_nan(x[q]) ? NAN : exp_f32(x[q] - m);
    s[q] = e;
    if (valid[q] && !is_nan(e)) sum += e;
  }
  const double inv = 1.0 / warp_sum(sum);  // >= 1 term equal to 1: the maximum
#pragma unroll
  for (int q = 0; q < C; ++q) s[q] = static_cast<float>(s[q] * inv);
  return false;
}

// Lanes of at most this many experts sort their chunk once, best first (sort_chunk), so that each of the k
// selection rounds reads the lane's best remaining code from code[0] and the winning lane shifts its chunk by one;
// without the sort every round recomputed every lane's best over its C codes and searched the winner's slot:
// about 130 instructions a round for C = 8 (ncu source counters, H200, DeepSeek-V3: 1,040 of the 2,950
// instructions per token in 8 rounds). The sort costs C/2 log2 C (log2 C + 1) / 2 compare-exchanges (24 for
// C = 8), which for C = 16 already equals what it saves at k = 8: larger chunks keep the unsorted rounds.
constexpr int kSortedLaneChunkMax = 8;

// Sorts a lane's (code, score) pairs by code, largest first: a bitonic network with compile-time indices, so the
// pairs stay in registers. Codes are distinct (the expert id is part of each) except the zeros of empty slots.
template <int C>
__device__ inline void sort_chunk(uint64_t (&code)[C], float (&s)[C]) {
#pragma unroll
  for (int size = 2; size <= C; size <<= 1)
#pragma unroll
    for (int stride = size / 2; stride > 0; stride >>= 1)
#pragma unroll
      for (int i = 0; i < C; ++i) {
        const int j = i ^ stride;
        if (j <= i) continue;
        const bool descending = (i & size) == 0;  // every run descending in the last merge (size == C)
        const bool swap = descending ? code[i] < code[j] : code[i] > code[j];
        const uint64_t ci = code[i], cj = code[j];
        const float si = s[i], sj = s[j];
        code[i] = swap ? cj : ci;
        code[j] = swap ? ci : cj;
        s[i] = swap ? sj : si;
        s[j] = swap ? si : sj;
      }
}

// Clears the codes of a lane whose group is not among the topk_groups best (group score: the sum of its two
// best keys, as in select_groups). Precondition: lane_chunks_apply; kSorted: the chunk is sorted (sort_chunk).
template <int C, bool kSorted>
__device__ inline void keep_best_groups(const RouteParams& p, int lane, uint64_t (&code)[C]) {
  const int first = lane * C;
  const int group_size = p.experts / p.groups;
  const int run = group_size / C;  // lanes per group, a power of two
  uint64_t best = 0, second = 0;
  if constexpr (kSorted) {
    best = code[0];
    if constexpr (C > 1) second = code[1];
  } else {
#pragma unroll
    for (int q = 0; q < C; ++q) {
      const uint64_t c = code[q];
      if (c > best) {
        second = best;
        best = c;
      } else if (c > second) {
        second = c;
      }
    }
  }
  for (int offset = 1; offset < run; offset <<= 1) {
    const uint64_t other_best = shfl_xor(best, offset), other_second = shfl_xor(second, offset);
    const uint64_t low_best = other_best < best ? other_best : best;
    const uint64_t high_second = other_second > second ? other_second : second;
    best = other_best > best ? other_best : best;
    second = low_best > high_second ? low_best : high_second;
  }
  const bool in_range = first < p.experts;
  const int group = in_range ? first / group_size : -1;
  const bool leader = in_range && first % group_size == 0;
  const float score = group_size > 1 ? rank_code_key(best) + rank_code_key(second) : rank_code_key(best);
  uint64_t group_code = leader ? rank_code(score, group) : 0;
  bool selected = false;
  for (int r = 0; r < p.topk_groups; ++r) {
    const uint64_t winner = warp_max_u64(group_code);
    if (winner == 0) break;  // warp-uniform: every lane holds the same winner
    selected = selected || (in_range && rank_code_id(winner) == group);
    if (group_code == winner) group_code = 0;
  }
  if (!selected)
#pragma unroll
    for (int q = 0; q < C; ++q) code[q] = 0;
}

template <int C>
__global__ void route_topk_lanes_kernel(const MOEKIT_GRID_CONSTANT RouteParams p) {
  allow_dependent_grids();  // a decode pass launched after routing may take its SM slots now (it waits for us)
  extern __shared__ float route_shared[];
  const int n = p.experts, k = p.top_k;
  const int warps = warps_per_block(), warp = warp_id(), lane = lane_id();
  float* bias = route_shared;  // [E], shared by the block's warps
  int32_t* selected = reinterpret_cast<int32_t*>(route_shared + n) + warp * 2 * k;
  float* selected_score = reinterpret_cast<float*>(selected + k);
  if (p.has_bias)
    for (int i = static_cast<int>(threadIdx.x); i < n; i += static_cast<int>(blockDim.x)) bias[i] = p.bias[i];
  __syncthreads();

  const bool grouped = p.groups > 1;
  const int first = lane * C;
  bool valid[C];
#pragma unroll
  for (int q = 0; q < C; ++q) valid[q] = first + q < n;
  for (long long t = static_cast<long long>(blockIdx.x) * warps + warp; t < p.tokens;
       t += static_cast<long long>(gridDim.x) * warps) {
    float x[C], s[C];
#pragma unroll
    for (int q = 0; q < C; ++q) x[q] = valid[q] ? load_as_f32(p.logits, p.dtype, t * n + first + q) : 0.0f;
    const bool infinite_max = score_chunk<C>(p, x, valid, s);
    // As in route_topk_kernel: the logit order is the score order unless bias, grouping or an infinite
    // softmax maximum make the key score + bias.
    const bool use_keys = p.has_bias || grouped || infinite_max;
    uint64_t code[C];
#pragma unroll
    for (int q = 0; q < C; ++q) {
      const float key = use_keys ? s[q] + (p.has_bias && valid[q] ? bias[first + q] : 0.0f) : x[q];
      code[q] = valid[q] ? rank_code(key, first + q) : 0;
    }
    constexpr bool kSorted = C <= kSortedLaneChunkMax;
    if constexpr (kSorted) sort_chunk<C>(code, s);
    if (grouped) keep_best_groups<C, kSorted>(p, lane, code);

    // k rounds of a warp max over the lanes' best remaining codes; the owner lane retires the winner.
    for (int j = 0; j < k; ++j) {
      uint64_t mine = 0;
      if constexpr (kSorted) {
        mine = code[0];
      } else {
#pragma unroll
        for (int q = 0; q < C; ++q) mine = code[q] > mine ? code[q] : mine;
      }
      const uint64_t winner = warp_max_u64(mine);
      if (winner != 0 && winner == mine) {
        if constexpr (kSorted) {
          selected_score[j] = s[0];
#pragma unroll
          for (int q = 0; q + 1 < C; ++q) {
            code[q] = code[q + 1];
            s[q] = s[q + 1];
          }
          code[C - 1] = 0;
        } else {
#pragma unroll
          for (int q = 0; q < C; ++q)
            if (code[q] == winner) {
              code[q] = 0;
              selected_score[j] = s[q];
            }
        }
      }
      if (lane == 0) selected[j] = winner != 0 ? rank_code_id(winner) : -1;  // core checked top_k <= eligible
    }
    warp_sync();

    write_token_route(p, t, selected, lane, [&](int j) { return selected_score[j]; });
    warp_sync();  // the next token overwrites this warp's selection
  }
}

}  // namespace moekit::device
