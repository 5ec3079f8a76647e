// The streaming tier's grouping pass (step 1) and row builders (steps 2 and 4: the gather with its FP8
// quantization, the activation quantization). Private to experts_stream.cu (experts_stream_common.cuh).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "compute_bits.cuh"
#include "dependent_launch.h"
#include "device/block_scan.cuh"
#include "device/grid_dependency.cuh"
#include "device/stable_scatter.cuh"
#include "experts_stream.h"
#include "experts_stream_common.cuh"
#include "experts_stream_ops.cuh"
#include "kernel_launch.h"
#include "warp_ops.cuh"

namespace moekit::cuda::experts::stream {
namespace {  // private to experts_stream.cu, the one file that includes it

// ---- 1. Grouping -------------------------------------------------------------------------------------------

struct GroupParams {
  const int32_t* ids;  // [A]
  const int32_t* local_of;
  int32_t num_experts, num_local, assignments;
  int32_t* rows;          // [A]: the assignments of group 0, then group 1, ...
  int32_t* group_expert;  // [G] local expert of each group, increasing
  int32_t* group_first;   // [G] its first entry of rows
  int32_t* group_count;   // [G]
  int32_t* meta;          // [0] groups, [1] grouped rows
};

// One block of kGroupThreads. rows[] gets the assignments grouped by local expert, experts increasing and
// assignments increasing within one (a STABLE counting sort); skipped assignments (local_expert -1) go nowhere. The
// touched experts (count > 0) get group_expert / first / count entries in increasing order, meta the two totals.
// Baseline, the tile path alone (H200, ncu): 9.9 us at A = 2048, L = 256 (DeepSeek-V3 T=256), 9.0 us at A = 2048,
// L = 128, 4.4 us at A = 64: latency-bound (one block, barriers, the dependent loads ids -> local_of -> shared
// atomics), and on every layer's critical path.
//
// Run-table path (group_by_runs_applies: L <= kGroupRunExperts = 720, so that it stays within the 48 KiB default
// shared memory). Warp w owns the contiguous run of assignments [w * n * 32, (w + 1) * n * 32),
// n = ceil(A / kGroupThreads) <= kGroupItems steps of one assignment per lane: (warp, step, lane) is the assignment
// order, so one table of per-run counts, table[e][w], replaces a histogram per tile. Four block barriers (five when
// the staged rows overlay the table).
//  1. Each thread loads all its ids, then all their local_of entries (local_of's lines prefetched meanwhile), so
//     that the chains overlap; its warp zeroes column w of the table.
//  2. Per step, match_any(e) from one ballot per bit of e (MATCH.ANY from every warp at once serialises); an item's
//     rank within its expert's items of the run is the run's count so far (table[e][w]) + its equal lanes below it,
//     and the lowest of the equal lanes adds them. Only warp w touches column w: __syncwarp between steps. The ranks
//     stay in registers. __syncthreads.
//  3. Thread e turns row e (the 32 runs' counts, uint16 pairs read 4 bytes at a time) into exclusive prefixes in
//     place and gets count[e]; one block scan of count | touched << 16 (device::BlockExclusiveSum: warp shuffles,
//     the 32 warp totals through shared memory, one __syncthreads) gives first[e] and e's index among the touched
//     experts. Thread e writes first[e] into its row and its lists entry. __syncthreads.
//  4. Each item's position, first[e] + table[e][w] + rank; the rows are staged in shared memory at their positions
//     (__syncthreads) and copied out in order, so that the global stores are coalesced.
// Table: L rows of kGroupRow uint16 (32 run columns, first[e], a pad slot: 17 words, an odd count, so that the
// zeroing of step 1 and the row reads of step 3 (threads of consecutive experts) are free of bank conflicts, and the
// column accesses of steps 2 and 4 conflict only between lanes whose experts are equal mod 32). Every value fits
// 16 bits: counts, positions and assignments < A <= 16384.
//
// Tile path (L > 720, up to kMaxDeviceExperts): counts by shared atomics, a scan by warp 0, then the stable scatter
// kGroupThreads assignments at a time (stable_scatter.cuh: three barriers per tile).
//
// Dynamic shared memory (group_shared_bytes): run-table path: kGroupWarps int32 warp totals, the table, then the
// staged rows [A] uint16 (or, when the three exceed 48 KiB, the staged rows over the first two); tile path: count
// [L], first [L] int32, the local expert of each assignment [A] int16, then the scatter's per-warp histogram
// [warps][L] bytes (72 KiB at L = 1024, A = 16384: configure_kernels opts in).
constexpr int kGroupWarps = kGroupThreads / 32;
constexpr int kGroupItems = static_cast<int>((kMaxAssignments + kGroupThreads - 1) / kGroupThreads);  // 16
constexpr int kGroupRow = kGroupWarps + 2;
constexpr int64_t kGroupSmemLimit = 48 * 1024;  // the default, no opt-in
constexpr int kGroupRunExperts = static_cast<int>((kGroupSmemLimit - kGroupWarps * 4) / (kGroupRow * 2));  // 720
static_assert(kGroupWarps == 32 && (kGroupRow / 2) % 2 == 1, "a row is 32 run columns + 2 slots, an odd word count");
static_assert(kMaxAssignments <= 32768, "counts, prefixes, positions and assignments are 16-bit in shared memory");
static_assert(kGroupRunExperts <= kGroupThreads, "one thread per expert in step 3");
static_assert(2 * kMaxAssignments <= kGroupSmemLimit, "the staged rows fit over the table");

// Block-uniform (from the parameters alone): the run-table path, and whether its staged rows fit beside the table
// (else they overlay it, after one more barrier).
__host__ __device__ inline bool group_by_runs_applies(int64_t num_local, int64_t assignments) {
  return num_local <= kGroupRunExperts && assignments <= static_cast<int64_t>(kGroupItems) * kGroupThreads;
}
__host__ __device__ inline int64_t group_table_bytes(int64_t num_local) {
  return kGroupWarps * 4 + num_local * kGroupRow * 2;
}
__host__ __device__ inline bool group_stage_apart(int64_t num_local, int64_t assignments) {
  return group_table_bytes(num_local) + assignments * 2 <= kGroupSmemLimit;
}
inline size_t group_shared_bytes(int64_t num_local, int64_t assignments) {
  if (group_by_runs_applies(num_local, assignments)) {
    const int64_t table = group_table_bytes(num_local), stage = assignments * 2;
    return static_cast<size_t>(group_stage_apart(num_local, assignments) ? table + stage
                                                                         : (table > stage ? table : stage));
  }
  return static_cast<size_t>(num_local) * (8 + kGroupWarps * sizeof(device::TileHistogram)) +
         static_cast<size_t>(assignments) * 2;
}

using GroupScan = device::BlockExclusiveSum<kGroupThreads, int>;
static_assert(sizeof(GroupScan::Storage) == kGroupWarps * 4, "the scan's warp totals lead the shared memory");

// kItems >= steps: the size of the register arrays, a power of two, so that a small A runs no code for 16 items.
template <int kItems>
__device__ __forceinline__ void group_by_runs(const GroupParams& p, int32_t* shared, int steps) {
  const int L = p.num_local, A = p.assignments, E = p.num_experts;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid / 32;
  auto* scan_storage = reinterpret_cast<GroupScan::Storage*>(shared);   // [kGroupWarps] int32
  uint16_t* table = reinterpret_cast<uint16_t*>(shared + kGroupWarps);  // [L][kGroupRow]
  const bool stage_apart = group_stage_apart(L, A);
  uint16_t* stage = stage_apart ? table + L * kGroupRow : reinterpret_cast<uint16_t*>(shared);  // [A]
  const int run = warp * steps * 32;
  // 1. Local experts: local_expert's rule, split so that every load is issued before any is used; local_of's lines
  // are fetched meanwhile, so that its dependent loads do not wait for a second trip to memory.
  int32_t v[kItems];
#pragma unroll
  for (int i = 0; i < kItems; ++i) {
    const int a = run + i * 32 + lane;
    v[i] = i < steps && a < A ? p.ids[a] : -1;
  }
#pragma unroll 1  // loops of a few trips stay rolled: shorter code
  for (int i = tid * 32; E > 0 && i < E + 31; i += kGroupThreads * 32)  // one per 128-byte line, the last included
    asm volatile("prefetch.L1 [%0];" ::"l"(p.local_of + (i < E ? i : E - 1)));
#pragma unroll 1
  for (int e = lane; e < L; e += 32) table[e * kGroupRow + warp] = 0;
  __syncwarp();
#pragma unroll
  for (int i = 0; i < kItems; ++i) {
    const int id = v[i];
    const int e = id >= 0 && id < E ? p.local_of[id] : -1;
    v[i] = e >= 0 && e < L ? e : -1;
  }
  // 2. match_any(e) of each step for the lanes with e >= 0, from one ballot per bit of e; then the ranks within the
  // warp's run, step by step. v[i]: rank << 16 | e, or -1.
  device::LaneMask peers[kItems];
#pragma unroll
  for (int i = 0; i < kItems; ++i) peers[i] = device::ballot(v[i] >= 0);
  const int key_bits = L > 1 ? 32 - __clz(L - 1) : 0;  // block-uniform
#pragma unroll 1
  for (int b = 0; b < key_bits; ++b) {
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      if (i < steps) {
        const bool x = (v[i] >> b) & 1;
        const device::LaneMask m = device::ballot(x);
        peers[i] &= x ? m : ~m;  // the lanes whose bit b is this lane's
      }
    }
  }
  const device::LaneMask below = device::lanes_below(lane);
#pragma unroll
  for (int i = 0; i < kItems; ++i) {
    if (i < steps) {  // block-uniform
      const int e = v[i];
      int so_far = 0;  // step 0: the column was just zeroed
      if (i > 0) {
        if (e >= 0) so_far = table[e * kGroupRow + warp];
        __syncwarp();  // every lane has read its count before a leader writes
      }
      if (e >= 0) {
        const int before = device::popcount(peers[i] & below);
        if (before == 0) table[e * kGroupRow + warp] = static_cast<uint16_t>(so_far + device::popcount(peers[i]));
        v[i] = (so_far + before) << 16 | e;
      }
      __syncwarp();
    }
  }
  __syncthreads();
  // 3. Thread e: exclusive prefixes of its row over the runs, its count, then the block scan over experts.
  const int e = tid;  // L <= kGroupRunExperts <= kGroupThreads
  int count = 0;
  if (e < L) {
    uint32_t* row = reinterpret_cast<uint32_t*>(table + e * kGroupRow);
    uint32_t pair[kGroupWarps / 2];
#pragma unroll
    for (int j = 0; j < kGroupWarps / 2; ++j) pair[j] = row[j];
#pragma unroll
    for (int j = 0; j < kGroupWarps / 2; ++j) {  // low half: run 2j, high half: run 2j + 1
      row[j] = static_cast<uint32_t>(count) * 0x10001u + (pair[j] << 16);
      count += static_cast<int>((pair[j] + (pair[j] >> 16)) & 0xFFFFu);
    }
  }
  const int packed = count | (count > 0 ? 1 << 16 : 0);  // rows (<= 16384) | touched experts << 16
  int exclusive = 0, total = 0;  // every thread gets the total: the copy of step 4 needs it
  GroupScan::scan(*scan_storage, packed, exclusive, total);
  if (e < L) {
    const int first = exclusive & 0xFFFF;
    table[e * kGroupRow + kGroupWarps] = static_cast<uint16_t>(first);
    if (count > 0) {
      const int g = exclusive >> 16;
      p.group_expert[g] = e;
      p.group_first[g] = first;
      p.group_count[g] = count;
    }
  }
  if (tid == 0) {
    p.meta[0] = total >> 16;
    p.meta[1] = total & 0xFFFF;
  }
  __syncthreads();
  // 4. Positions first[e] + table[e][w] + rank; the rows staged in shared memory, then copied out in order.
#pragma unroll
  for (int i = 0; i < kItems; ++i) {
    const int row = (v[i] & 0xFFFF) * kGroupRow;
    v[i] = v[i] >= 0 ? table[row + kGroupWarps] + table[row + warp] + (v[i] >> 16) : -1;
  }
  if (!stage_apart) __syncthreads();  // every read of the table is done
#pragma unroll
  for (int i = 0; i < kItems; ++i)
    if (v[i] >= 0) stage[v[i]] = static_cast<uint16_t>(run + i * 32 + lane);
  __syncthreads();
#pragma unroll 1
  for (int i = tid; i < (total & 0xFFFF); i += kGroupThreads) p.rows[i] = stage[i];
}

__device__ __forceinline__ void group_by_tiles(const GroupParams& p, int32_t* group_shared) {
  const int L = p.num_local, A = p.assignments;
  int32_t* count = group_shared;
  int32_t* first = count + L;
  int16_t* le = reinterpret_cast<int16_t*>(first + L);
  device::TileHistogram* tile_hist = reinterpret_cast<device::TileHistogram*>(le + A);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid / 32;
  for (int e = tid; e < L; e += kGroupThreads) count[e] = 0;
  for (int i = tid; i < kGroupWarps * L; i += kGroupThreads) tile_hist[i] = 0;
  __syncthreads();
  for (int a = tid; a < A; a += kGroupThreads) {
    const int32_t e = local_expert(p.ids, p.local_of, p.num_experts, p.num_local, a);
    le[a] = static_cast<int16_t>(e);
    if (e >= 0) atomicAdd(&count[e], 1);  // a count: the order of the additions does not matter
  }
  __syncthreads();
  if (warp == 0) {  // exclusive scans of the counts and of the touched experts, a contiguous range per lane
    const int per = (L + 31) / 32, lo = lane * per, hi = lo + per < L ? lo + per : L;
    int rows = 0, touched = 0;
    for (int e = lo; e < hi; ++e) rows += count[e], touched += count[e] > 0;
    int rows_incl = rows, touched_incl = touched;
    for (int o = 1; o < 32; o <<= 1) {
      const int r = __shfl_up_sync(0xFFFFFFFFu, rows_incl, o), t = __shfl_up_sync(0xFFFFFFFFu, touched_incl, o);
      if (lane >= o) rows_incl += r, touched_incl += t;
    }
    int row_at = rows_incl - rows, group_at = touched_incl - touched;
    for (int e = lo; e < hi; ++e) {
      first[e] = row_at;
      if (count[e] > 0) {
        p.group_expert[group_at] = e;
        p.group_first[group_at] = row_at;
        p.group_count[group_at] = count[e];
        ++group_at;
      }
      row_at += count[e];
    }
    if (lane == 31) {
      p.meta[0] = touched_incl;
      p.meta[1] = rows_incl;
    }
  }
  __syncthreads();
  // Stable scatter, kGroupThreads assignments at a time in order (first[] is each expert's running start), so that
  // rows[] keeps the assignment order within an expert. H200 (ncu, whole kernel): with a barrier per warp of each
  // tile instead of the histogram's three, it took 5.2 / 6.4 / 10.5 us at 32 / 1024 / 2048 assignments (Mixtral-8x7B
  // T=16, gpt-oss-120b and DeepSeek-V3 T=256); a warp per expert walking all assignments, 55 us at 2048.
  for (int base = 0; base < A; base += kGroupThreads) {
    const int a = base + tid;
    const long long at = device::stable_scatter_position(a < A ? le[a] : -1, L, first, tile_hist);
    if (at >= 0) p.rows[at] = a;
  }
}

// The grouping by one block of kGroupThreads (group_kernel, or block 0 of group_and_quantize_tokens_kernel).
__device__ __forceinline__ void group_assignments(const GroupParams& p, int32_t* group_shared) {
  if (!group_by_runs_applies(p.num_local, p.assignments)) return group_by_tiles(p, group_shared);
  const int steps = (p.assignments + kGroupThreads - 1) / kGroupThreads;  // block-uniform, <= kGroupItems
  if (steps <= 1) return group_by_runs<1>(p, group_shared, steps);
  if (steps <= 2) return group_by_runs<2>(p, group_shared, steps);
  if (steps <= 4) return group_by_runs<4>(p, group_shared, steps);
  if (steps <= 8) return group_by_runs<8>(p, group_shared, steps);
  group_by_runs<kGroupItems>(p, group_shared, steps);
}

__global__ void __launch_bounds__(kGroupThreads) group_kernel(const GroupParams p) {
  extern __shared__ int32_t group_shared[];
  device::wait_for_prerequisite_grids();  // the routing's topk_ids (every kernel of the tier waits first thing)
  device::allow_dependent_grids();
  group_assignments(p, group_shared);
}

// ---- 2./4. Row building: gather (+ FP8 quantization), activation quantization ------------------------------

// Source: the hidden row of the assignment (HiddenRows; src_f32 null) or an f32 row of the same index.
struct RowsParams : HiddenRows {
  const float* src_f32;  // [A][cols]
  const int32_t* rows;  // the assignment of each grouped row; null: row i is assignment i (one token), or token i
                        // (top_k = 1: FP8 x per token, x_per_token)
  const int32_t* meta;  // [1]: the grouped rows; null: `row_count`
  int64_t row_count;
  int64_t cols;  // padded row length (Hp or Ip)
  int32_t act_quant;
  void* out;      // [rows][cols]: compute-type bits, or e4m3 codes (act_quant != none)
  float* scales;  // [rows][cols / 128]
};

__device__ __forceinline__ int64_t grouped_rows(const RowsParams& p) {
  return p.meta != nullptr ? p.meta[1] : p.row_count;
}

// Element c of grouped row i as the GEMM operand sees it (f32): the source f32 row, or x[c] = load(hidden) *
// router weight (one f32 multiply, the CPU backend's), zero past H.
struct RowValue {
  const RowsParams& p;
  int64_t i, base;
  float rw;
  __device__ RowValue(const RowsParams& params, int64_t row) : p(params), i(row) {
    const int64_t a = p.rows != nullptr ? p.rows[i] : i;
    base = (a / p.top_k) * p.hidden_cols;
    rw = p.src_f32 == nullptr && p.weight_on_input ? p.topk_weights[a] : 1.0f;
  }
  __device__ float operator()(int64_t c) const {
    if (p.src_f32 != nullptr) return p.src_f32[i * p.cols + c];
    return c < p.hidden_cols ? load_as_f32(p.hidden, p.hidden_dtype, base + c) * rw : 0.0f;
  }
};

// 16-bit rows or per-token FP8 only: any other act_quant is taken as per-token here, so per-128-group rows must go
// to quantize_row_groups (quantize_groups_kernel, whose one launcher launch_build_rows picks, or the token rows in
// group_and_quantize_tokens_kernel). One block per grouped row i, rows past meta[1] untouched. Same math as the mma
// tier's build_operand_kernel: FP8 scale = fp8_scale_from_amax(amax of the row), code = fp8_quantize(x, scale).
template <class CT>
__global__ void __launch_bounds__(kRowThreads) build_rows_kernel(const RowsParams p) {
  __shared__ float scratch[kRowThreads / 32];
  device::wait_for_prerequisite_grids();
  device::allow_dependent_grids();
  const int64_t n = grouped_rows(p);
  const int64_t groups = p.cols / kQuantBlock;
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const RowValue value(p, i);
    if (p.act_quant == kActNone) {
      // 8 columns per thread, all loaded before the one 16-byte store (cols is a multiple of 128): with a load
      // and a store per column every load waited for the previous one (gpt-oss T=64: 14.5 us for 256 rows).
      uint4* dst = reinterpret_cast<uint4*>(static_cast<uint16_t*>(p.out) + i * p.cols);
      for (int64_t c0 = threadIdx.x * 8; c0 < p.cols; c0 += kRowThreads * 8) {
        float v[8];
#pragma unroll
        for (int u = 0; u < 8; ++u) v[u] = value(c0 + u);
        dst[c0 / 8] = pack8_compute_bits<CT>(v);
      }
      continue;
    }
    uint8_t* dst = static_cast<uint8_t*>(p.out) + i * p.cols;
    float m = 0.0f;
    for (int64_t c = threadIdx.x; c < p.cols; c += kRowThreads) m = fmaxf(m, finite_abs(value(c)));
    const float scale = fp8_scale_from_amax(block_max<kRowThreads>(m, scratch));
    for (int64_t c = threadIdx.x; c < p.cols; c += kRowThreads) dst[c] = fp8_quantize_exact(value(c), scale);
    for (int64_t g = threadIdx.x; g < groups; g += kRowThreads) p.scales[i * groups + g] = scale;
  }
}

// Per-128-group FP8: a warp per (grouped row, group) over the whole grid (the merged kernel below: its blocks past
// the first), 4 columns per lane, no block barrier.
// (A block per row with a block-wide max per group took 39 us for DeepSeek-V3 T=16, 56 groups a row; a block
// per row with a warp per group still 16 us, each warp walking 14 groups one after the other.) ncu on the H200 has
// it at 13.8 us for Qwen3-30B-A3B T=256's gather (2048 rows of 2048, before x per token) and 7.0 for its
// activation rows. Tried and not kept (bench/results/h200_ab_stream_fp8_quantizer_vec_not_kept.md): a warp per
// (row, 256 columns), a half-warp per group, 16-byte loads and 8-byte code stores: Qwen3 FP8 T=256 251.5 -> 249.1
// us, but Mixtral-8x7B FP8 T=64 468 -> 515 us in both rounds (not understood; the other points 0.997-1.004).
//
// Warp `first` of `warps` quantizing (row, group) items (quantize_groups_kernel, or the token rows beside the
// grouping in group_and_quantize_tokens_kernel).
__device__ __forceinline__ void quantize_row_groups(const RowsParams& p, int64_t first, int64_t warps) {
  const int64_t groups = p.cols / kQuantBlock;
  const int64_t work = grouped_rows(p) * groups;
  const int lane = threadIdx.x & 31;
  for (int64_t w = first; w < work; w += warps) {
    const int64_t i = w / groups, g = w % groups;
    const RowValue value(p, i);
    uint8_t* dst = static_cast<uint8_t*>(p.out) + i * p.cols + g * kQuantBlock;
    const float scale =
        fp8_quantize_group_warp(g * kQuantBlock, lane, value, [&](int64_t, int j, uint8_t code) { dst[j] = code; });
    if (lane == 0) p.scales[i * groups + g] = scale;
  }
}

__global__ void __launch_bounds__(kRowThreads) quantize_groups_kernel(const RowsParams p) {
  device::wait_for_prerequisite_grids();
  device::allow_dependent_grids();
  constexpr int kWarpsPerBlock = kRowThreads / 32;
  quantize_row_groups(p, static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32,
                      static_cast<int64_t>(gridDim.x) * kWarpsPerBlock);
}

// FP8 activations per 1 x 128 group with x held per token (x_per_token): the tokens' rows do not depend on the
// grouping, so one launch does both. Block 0 groups the assignments (group_kernel's work, its dynamic shared
// memory); the other blocks quantize the T token rows, a warp per (row, group), meanwhile. One launch and its
// dependency instead of two on every layer's critical path. At 1024 threads and 57 registers one block fits an SM
// (the quantizer kernel's 128-thread blocks had 64 warps per SM), and every block reserves the grouping's shared
// memory: T token rows are few warps' work, and the merged launch measured 0.990-1.000x of the two
// (experts_stream.cu, run).
__global__ void __launch_bounds__(kGroupThreads) group_and_quantize_tokens_kernel(const GroupParams g,
                                                                                  const RowsParams x) {
  extern __shared__ int32_t group_shared[];
  device::wait_for_prerequisite_grids();
  device::allow_dependent_grids();
  constexpr int kWarpsPerBlock = kGroupThreads / 32;
  if (blockIdx.x == 0) return group_assignments(g, group_shared);
  quantize_row_groups(x, static_cast<int64_t>(blockIdx.x - 1) * kWarpsPerBlock + threadIdx.x / 32,
                      static_cast<int64_t>(gridDim.x - 1) * kWarpsPerBlock);
}

// Blocks of group_and_quantize_tokens_kernel for `rows` token rows of `cols` columns: the grouping block and
// enough for a warp per (row, group).
inline unsigned group_and_quantize_blocks(int64_t rows, int64_t cols) {
  constexpr int kWarpsPerBlock = kGroupThreads / 32;
  return 1 + grid_for(rows * (cols / kQuantBlock), kWarpsPerBlock);
}

// Gather or activation quantization of the grouped rows, by format.
template <class CT>
void launch_build_rows(const RowsParams& p, int64_t max_rows, bool overlap, cudaStream_t stream, const char* what) {
  constexpr int kWarpsPerBlock = kRowThreads / 32;  // quantize_groups_kernel's work items are warps
  if (p.act_quant == kActPerGroup)
    launch_dependent(overlap, quantize_groups_kernel, dim3(grid_for(max_rows * (p.cols / kQuantBlock), kWarpsPerBlock)),
                     dim3(kRowThreads), 0, stream, what, p);
  else
    launch_dependent(overlap, build_rows_kernel<CT>, dim3(grid_for(max_rows, 1)), dim3(kRowThreads), 0, stream, what, p);
}

}  // namespace
}  // namespace moekit::cuda::experts::stream
