// The small-batch streaming tier (experts_stream.h): group, gather, gate_up, (quantize), down, combine.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "compute_bits.cuh"
#include "dependent_launch.h"
#include "device/grid_dependency.cuh"
#include "experts_gemm.cuh"
#include "experts_stream.h"
#include "experts_stream_ops.cuh"
#include "kernel_launch.h"
#include "plugin_error.h"
#include "warp_ops.cuh"

namespace moekit::cuda::experts::stream {

namespace {

constexpr int kWarps = 4;  // per GEMM block: gate_up 4 x 8 intermediate columns, down 4 x 16 output columns
constexpr int kThreads = kWarps * 32;
constexpr int kGroupThreads = 1024;
constexpr int kRowThreads = 128;  // row builders: a block per 16-bit / per-token row, or 4 warps of (row, group) items
constexpr int kRowsPerTile = 8;   // the mma's N
constexpr int kMaxTiles = 4;      // up to 32 rows of an expert per weight read
enum : int32_t { kActNone = 0, kActPerToken = 1, kActPerGroup = 2 };

int64_t round_up(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

bool quantized(const moekit_plugin_experts_config& cfg) { return cfg.act_quant != kActNone; }

// Workspace byte offsets. G = min(A, L) bounds the touched experts.
struct Layout {
  int64_t groups_max = 0;
  int64_t rows = 0, groups = 0, meta = 0, x = 0, x_scale = 0, act = 0, act_codes = 0, act_scale = 0, y = 0, total = 0;
};

Layout layout_for(const moekit_plugin_experts_config& cfg, int64_t A) {
  Layout l;
  const bool q = quantized(cfg);
  const int64_t L = cfg.num_local_experts, Hp = cfg.hidden_pad, Ip = cfg.intermediate_pad;
  l.groups_max = A < L ? A : L;
  int64_t at = 0;
  auto take = [&](int64_t bytes) {
    const int64_t start = at;
    at = round_up(at + bytes, 256);
    return start;
  };
  l.rows = take(A * 4);
  l.groups = take(3 * l.groups_max * 4);
  l.meta = take(2 * 4);
  l.x = take(A * Hp * (q ? 1 : 2));
  l.x_scale = take(q ? A * (Hp / kQuantBlock) * 4 : 0);
  l.act = take(A * Ip * (q ? 4 : 2));
  l.act_codes = take(q ? A * Ip : 0);
  l.act_scale = take(q ? A * (Ip / kQuantBlock) * 4 : 0);
  l.y = take(A * cfg.hidden * 4);
  l.total = at;
  return l;
}

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

// One block. Dynamic shared memory: count [L], first [L] int32, local expert of each assignment [A] int16.
__global__ void __launch_bounds__(kGroupThreads) group_kernel(const GroupParams p) {
  extern __shared__ int32_t group_shared[];
  device::wait_for_prerequisite_grids();  // the routing's topk_ids (every kernel of the tier waits first thing)
  device::allow_dependent_grids();
  const int L = p.num_local, A = p.assignments;
  int32_t* count = group_shared;
  int32_t* first = count + L;
  int16_t* le = reinterpret_cast<int16_t*>(first + L);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid / 32;
  for (int e = tid; e < L; e += kGroupThreads) count[e] = 0;
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
  // Stable scatter, kGroupThreads assignments at a time in order. A lane's rank among the lanes of its warp with
  // the same expert comes from __match_any_sync; the warps of a tile then take their places one after another
  // from the running start of each expert (first[], advanced by each warp's lowest lane per expert), so rows[]
  // keeps the assignment order within an expert. (A warp per expert walking all A assignments took 55 us for
  // DeepSeek-V3 T=256, 2048 assignments over 256 experts.)
  const unsigned lower_lanes = (1u << lane) - 1u;
  for (int base = 0; base < A; base += kGroupThreads) {
    const int a = base + tid;
    const int e = a < A ? le[a] : -1;
    const unsigned peers = __match_any_sync(0xFFFFFFFFu, e);
    const int leader = __ffs(peers) - 1;
    for (int turn = 0; turn < kGroupThreads / 32; ++turn) {
      if (warp == turn) {  // warp-uniform
        int start = 0;
        if (lane == leader && e >= 0) {
          start = first[e];
          first[e] = start + __popc(peers);
        }
        start = __shfl_sync(0xFFFFFFFFu, start, leader);
        if (e >= 0) p.rows[start + __popc(peers & lower_lanes)] = a;
      }
      __syncthreads();
    }
  }
}

// ---- 2./4. Row building: gather (+ FP8 quantization), activation quantization ------------------------------

// Source: the hidden row of the assignment (HiddenRows; src_f32 null) or an f32 row of the same index.
struct RowsParams : HiddenRows {
  const float* src_f32;  // [A][cols]
  const int32_t* rows;  // the assignment of each grouped row; null: grouped row i is assignment i (one token)
  const int32_t* meta;  // [1]: the grouped rows; null: `row_count`
  int64_t row_count;
  int64_t cols;  // padded row length (Hp or Ip)
  int32_t act_quant;
  void* out;      // [A][cols]: compute-type bits, or e4m3 codes (act_quant != none)
  float* scales;  // [A][cols / 128]
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
// to quantize_groups_kernel (launch_build_rows is the one launcher and picks). One block per grouped row i, rows
// past meta[1] untouched. Same math as the mma tier's build_operand_kernel: FP8
// scale = fp8_scale_from_amax(amax of the row), code = fp8_quantize(x, scale).
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
    for (int64_t c = threadIdx.x; c < p.cols; c += kRowThreads) dst[c] = fp8_quantize(value(c), scale);
    for (int64_t g = threadIdx.x; g < groups; g += kRowThreads) p.scales[i * groups + g] = scale;
  }
}

// Per-128-group FP8: a warp per (grouped row, group) over the whole grid, 4 columns per lane, no block barrier.
// (A block per row with a block-wide max per group took 39 us for DeepSeek-V3 T=16, 56 groups a row; a block
// per row with a warp per group still 16 us, each warp walking 14 groups one after the other.)
__global__ void __launch_bounds__(kRowThreads) quantize_groups_kernel(const RowsParams p) {
  device::wait_for_prerequisite_grids();
  device::allow_dependent_grids();
  const int64_t groups = p.cols / kQuantBlock;
  const int64_t work = grouped_rows(p) * groups;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (kRowThreads / 32);
  const int lane = threadIdx.x & 31;
  for (int64_t w = static_cast<int64_t>(blockIdx.x) * (kRowThreads / 32) + threadIdx.x / 32; w < work; w += warps) {
    const int64_t i = w / groups, g = w % groups;
    const RowValue value(p, i);
    uint8_t* dst = static_cast<uint8_t*>(p.out) + i * p.cols + g * kQuantBlock;
    const float scale =
        fp8_quantize_group_warp(g * kQuantBlock, lane, value, [&](int64_t, int j, uint8_t code) { dst[j] = code; });
    if (lane == 0) p.scales[i * groups + g] = scale;
  }
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

// ---- 3./5. The streaming GEMMs -----------------------------------------------------------------------------

struct GemmParams {
  const void* w;         // [L][rows_per_expert][K]: 16-bit elements, or e4m3 bytes (FP8)
  const float* w_scale;  // FP8: [L][K/128][rows_per_expert]
  const float* bias;     // gate_up: b13 [L][2Ip]
  const void* x;         // [A][K] grouped rows: compute-type bits, or e4m3 codes (FP8)
  const float* x_scale;  // FP8: [A][K/128]
  int64_t x_valid_bytes;  // bytes of an x row read from memory; the ring's columns past them are zeros
  int32_t x_shared_row;   // every group reads x row 0 (one token: its hidden row, read in place)
  // gate_up, T > 1, hidden rows read in place (reads_hidden_directly): grouped row i reads token rows[i] / top_k's
  // row of x, x_row_bytes apart (H 16-bit values, zeros past them); 0: x holds the grouped rows, K wide
  int64_t x_token_rows;
  int64_t x_row_bytes;
  // Groups: from the grouping pass (group_* and meta), or, in the one-token kernels, group j is slot j (one row,
  // grouped row j = assignment j), its expert looked up here (ids, local_of); a skipped slot's block writes
  // zeros (gate_up) or nothing (down).
  const int32_t* group_expert;
  const int32_t* group_first;
  const int32_t* group_count;
  const int32_t* meta;
  const int32_t* ids;
  const int32_t* local_of;
  int32_t num_experts, num_local;
  const int32_t* rows;  // down: the assignment of each grouped row (null for one token: row j is assignment j)
  void* out;            // gate_up: act [A][Ip] (compute type; f32 with FP8); down: y [A][H] f32
  int64_t k;            // K (padded: Hp or Ip)
  int64_t rows_per_expert;
  int64_t ip, inter, hidden;
  int32_t activation;
  float alpha, limit;
};

// The tensor-core step of one 16-byte chunk per row. Lane (g = lane/4, q = lane%4) loaded bytes [16q, 16q+16)
// of a 64-byte K slice: of weight rows g and g+8 (lo, hi) and of row g of the tile (xv). The mma's K order
// is a permutation of the slice's that is the same for A and B (it depends on q only), so each register pair
// feeds the mma as loaded: 16-bit, m16n8k16 twice ({x,y} then {z,w}: K pairs 2q, 2q+8); FP8, m16n8k32 twice
// (K quads 4q, 4q+16). The dot products are the same, only the order of the f32 additions inside differs.
template <class CT, bool FP8>
__device__ __forceinline__ void mma_chunk(float (&d)[4], uint4 lo, uint4 hi, uint4 xv) {
  const uint32_t a0[4] = {lo.x, hi.x, lo.y, hi.y};
  const uint32_t a1[4] = {lo.z, hi.z, lo.w, hi.w};
  if constexpr (FP8) {
    gemm_detail::mma16832_e4m3(d, a0, xv.x, xv.y);
    gemm_detail::mma16832_e4m3(d, a1, xv.z, xv.w);
  } else {
    gemm_detail::mma16816<CT>(d, a0, xv.x, xv.y);
    gemm_detail::mma16816<CT>(d, a1, xv.z, xv.w);
  }
}

// The operand pipeline of a block (kBlockRows = 64 weight rows, 16 per warp, against up to 8 * MAX_TILES grouped
// rows): a shared-memory ring of STAGES stages (kStages for T > 1, kOneTokenStages at T = 1), each holding
// kStageBytes of every weight row and of every x row (plus, for FP8, the stage's weight and x block scales), filled
// with 16-byte cp.async, consecutive threads on consecutive chunks of a row, and read by each warp as the register fragments the mma takes. Why
// (bench/probes/stream_bandwidth.cu, H200): reading 1.9-3.8 GB of expert-shaped rows, this copy pattern reached
// 4.52-4.60 TB/s, as fast as a flat contiguous read (4.53-4.55), while the register ring it replaced (each warp
// loading 64-byte pieces of its own 16 rows, 2-4 stages in flight, with or without the L2 prefetch hint)
// stopped at 4.08-4.33 TB/s, and the tier's GEMMs measured 4.0-4.17 TB/s under ncu; 128-byte stages were slower
// (4.21-4.36 TB/s). x and the scales come through the ring too, so that no load from global memory sits between
// a stage's barrier and its mma (with x and the FP8 scales read from global memory in the loop, FP8 layers were
// 3-22 % slower than the register ring, bf16 2-6 % faster).
// A stage is kStageBytes of each row: 128 K columns of 16-bit operands (one FP8 scale block's width) or 256 K
// columns of FP8 (two scale blocks; the last stage of a row may hold one).
constexpr int kBlockRows = kWarps * 16;
constexpr int kStageBytes = 256;
constexpr int kChunks = kStageBytes / 16;  // 16-byte chunks of a row per stage
constexpr int kRowsPerCopyRound = kThreads / kChunks;
constexpr int kStages = 3;  // the grouped kernels' ring (T > 1); one token picks its depth per pass, below
// One token: the ring depths its kernels are compiled for. There the grid is a block per (slot, 64 weight rows),
// often under a wave of resident blocks, and then a block's stream of its rows is bound by the round trips of its
// kStages - 1 stages in flight; the shared memory the grid leaves free buys depth (one_token_ring_stages). H200,
// whole layer T=1, same run against 3 stages everywhere: Mixtral-8x7B (down: 128 blocks of 28 KiB rows, 12
// stages) fp8 116.1 -> 110.6 us, bf16 (forced onto this tier) 174.3 us where the 3-stage ring took 221 in an
// earlier run; gpt-oss, Qwen3 and DeepSeek-V3 within +-2 % (4-6 stages, or 3 where the grid is near a wave).
constexpr int kOneTokenStages[] = {3, 4, 6, 12};
static_assert(kOneTokenStages[0] == kStages, "one_token_ring_stages falls back to the first depth");
static_assert(kOneTokenStages[0] < kOneTokenStages[1] && kOneTokenStages[1] < kOneTokenStages[2] &&
                  kOneTokenStages[2] < kOneTokenStages[3],
              "one_token_ring_stages walks the depths in increasing order");
static_assert(kBlockRows % kRowsPerCopyRound == 0 && kRowsPerTile == kRowsPerCopyRound, "whole rows per copy round");
static_assert(kQuantBlock % 32 == 0, "the per-group quantizer gives each lane kQuantBlock / 32 columns");

// Byte layout of one stage: weights [64][256], x [8 * MAX_TILES][256], FP8 only: weight scales [blocks][64] and x
// scales [blocks][8 * MAX_TILES] (f32).
template <bool FP8, int MAX_TILES>
struct StageShape {
  static constexpr int kElem = FP8 ? 1 : 2;
  static constexpr int kScaleBlocks = kStageBytes / (kQuantBlock * kElem);  // FP8 scale blocks per stage
  static constexpr int kSlicesPerBlock = kQuantBlock * kElem / 64;          // 64-byte K slices per scale block
  static constexpr int kXRows = kRowsPerTile * MAX_TILES;
  static constexpr int kX = kBlockRows * kStageBytes;
  static constexpr int kWScale = kX + kXRows * kStageBytes;
  static constexpr int kXScale = kWScale + (FP8 ? kScaleBlocks * kBlockRows * 4 : 0);
  static constexpr int kBytes = kXScale + (FP8 ? kScaleBlocks * kXRows * 4 : 0);
  static_assert(kScaleBlocks * kSlicesPerBlock * 64 == kStageBytes, "a stage is whole scale blocks");
  static_assert(!FP8 || kScaleBlocks * kXRows <= kThreads, "one x scale per thread and stage");
};

template <bool FP8, int MAX_TILES, int STAGES = kStages>
constexpr int stream_smem_bytes() {
  return STAGES * StageShape<FP8, MAX_TILES>::kBytes;
}

// Chunk c of ring row r is stored at chunk c ^ chunk_swizzle(r). A quarter-warp's 16-byte shared loads cover
// rows g = 2i, 2i+1 (of the weights or of an x tile) and chunks q + 4s (q = 0..3): the swizzle puts its 8 loads
// in 8 different bank groups (row g keeps the half {4s..4s+3} when g is even and takes the other half when g is
// odd). The copies (16 consecutive chunks of one row per 16 threads) stay conflict-free under any per-row XOR.
__device__ __forceinline__ int chunk_swizzle(int r) {
  const int g = r & 7;
  return ((g & 1) << 2) | ((g >> 1) & 3);
}

// Weight row of block row lr (0..63) for the block whose first unit is unit0: gate_up's warp w holds gate rows
// (unit0 + w) * 8 + 0..7 then the matching up rows Ip + the same; down's warp w holds rows (unit0 + w) * 16 + 0..15.
template <bool GATED>
__device__ __forceinline__ int64_t block_weight_row(const GemmParams& p, int64_t unit0, int lr) {
  const int64_t unit = unit0 + lr / 16;
  const int i = lr % 16;
  if constexpr (GATED) return i < 8 ? unit * 8 + i : p.ip + unit * 8 + (i - 8);
  return unit * 16 + i;
}

__device__ __forceinline__ void cp_async4(void* smem, const void* gmem) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(gemm_detail::smem_u32(smem)), "l"(gmem));
}

// One block: its 64 weight rows of expert e against rows [first + r0, first + r0 + 8*NT) of x (those past `n`
// are read as row `first` and dropped). Warp w computes block rows w*16 + g (lo) and w*16 + 8 + g (hi); acc[j]:
// tile j's C fragment: c0, c1 = (lo, rows 2q, 2q+1), c2, c3 = (hi, rows 2q, 2q+1). Every thread of the block
// must call this (it copies and waits at block barriers), and it returns with the ring idle.
// ONE: the one-token kernels (groups = slots, x rows zero-filled past x_valid_bytes); compiled apart so that the
// grouped kernels keep their registers and plain copies (with run-time branches instead, the FP8 kernels went
// from 100-118 to 138-156 registers, past the 128 that 4 blocks per SM allow, and measured 7-15 % slower).
template <class CT, bool FP8, bool GATED, int NT, int MAX_TILES, bool ONE, int STAGES, bool EARLY = false>
__device__ __forceinline__ void stream_rows(const GemmParams& p, unsigned char* smem, int32_t e, int64_t first, int n,
                                            int r0, int64_t unit0, float (&acc)[NT][4]) {
  using S = StageShape<FP8, MAX_TILES>;
  static_assert(NT <= MAX_TILES, "the ring holds MAX_TILES tiles of x");
  const int tid = threadIdx.x, lane = tid & 31, warp = tid / 32, g = lane >> 2, q = lane & 3;
  const int64_t row_bytes = p.k * S::kElem;
  const int64_t stages = (row_bytes + kStageBytes - 1) / kStageBytes;
  const int64_t kbs = p.k / kQuantBlock;

  // Copy duties, fixed for the whole row: ring rows tid/16 + 8u, chunk tid%16 of each stage; 8u keeps the row's
  // swizzle, (tid/16 + 8u) & 7 == tid/16.
  const int copy_chunk = tid % kChunks, copy_row = tid / kChunks;
  const int copy_slot = copy_chunk ^ chunk_swizzle(copy_row);
  constexpr int kWCopies = kBlockRows / kRowsPerCopyRound;
  const char* w_src[kWCopies];
  const char* wexpert = static_cast<const char*>(p.w) + static_cast<int64_t>(e) * p.rows_per_expert * row_bytes;
#pragma unroll
  for (int u = 0; u < kWCopies; ++u)
    w_src[u] = wexpert + block_weight_row<GATED>(p, unit0, copy_row + u * kRowsPerCopyRound) * row_bytes +
               copy_chunk * 16;
  const char* x_src[NT];  // x tile u's row copy_row (rows past n read row `first`)
#pragma unroll
  for (int u = 0; u < NT; ++u) {
    const int r = r0 + u * kRowsPerTile + copy_row;
    const int64_t x_index = ONE && p.x_shared_row ? 0 : first + (r < n ? r : 0);
    if (!ONE && p.x_token_rows != 0)  // the hidden row of the grouped row's token, in place
      x_src[u] = static_cast<const char*>(p.x) + p.rows[x_index] / p.x_token_rows * p.x_row_bytes + copy_chunk * 16;
    else
      x_src[u] = static_cast<const char*>(p.x) + x_index * row_bytes + copy_chunk * 16;
  }
  // FP8 scales: threads 0..31 copy 4 weight scales each (4 consecutive block rows are 4 consecutive weight rows),
  // threads 0..16*NT-1 one x scale each, per stage.
  const float* ws_expert = FP8 ? p.w_scale + static_cast<int64_t>(e) * kbs * p.rows_per_expert : nullptr;
  const int ws_block = tid / (kBlockRows / 4), ws_row = (tid % (kBlockRows / 4)) * 4;
  const bool copies_ws = FP8 && tid < S::kScaleBlocks * (kBlockRows / 4);
  const int64_t ws_weight_row = copies_ws ? block_weight_row<GATED>(p, unit0, ws_row) : 0;
  const int xs_block = tid / (kRowsPerTile * NT), xs_row = tid % (kRowsPerTile * NT);
  const bool copies_xs = FP8 && tid < S::kScaleBlocks * kRowsPerTile * NT;
  const int xs_r = r0 + xs_row;
  const float* xs_src =
      FP8 ? p.x_scale + (ONE && p.x_shared_row ? 0 : first + (xs_r < n ? xs_r : 0)) * kbs : nullptr;

  // A stage's copies in two parts: the weights (and their FP8 scales), which depend on nothing the previous kernel
  // writes, and the x rows (and their scales). EARLY issues the prologue's weight parts before the grid
  // dependency wait (stream_gemm_kernel).
  auto issue_weights = [&](int64_t st) {
    unsigned char* ring = smem + (st % STAGES) * S::kBytes;
    const int64_t off = st * kStageBytes;  // the sources carry the chunk's offset in the stage
    if (!FP8 || off + copy_chunk * 16 < row_bytes) {
#pragma unroll
      for (int u = 0; u < kWCopies; ++u)
        gemm_detail::cp_async16(ring + (copy_row + u * kRowsPerCopyRound) * kStageBytes + copy_slot * 16,
                                w_src[u] + off);
    }
    if constexpr (FP8) {
      const int64_t wkb = st * S::kScaleBlocks + ws_block;
      if (copies_ws && wkb < kbs)
        gemm_detail::cp_async16(reinterpret_cast<float*>(ring + S::kWScale) + ws_block * kBlockRows + ws_row,
                                ws_expert + wkb * p.rows_per_expert + ws_weight_row);
    }
  };
  auto issue_x = [&](int64_t st) {
    unsigned char* ring = smem + (st % STAGES) * S::kBytes;
    const int64_t off = st * kStageBytes;
    if (!FP8 || off + copy_chunk * 16 < row_bytes) {
#pragma unroll
      for (int u = 0; u < NT; ++u) {
        void* dst = ring + S::kX + (copy_row + u * kRowsPerTile) * kStageBytes + copy_slot * 16;
        if constexpr (ONE) {
          // Zeros past the row's valid bytes and for the tile's rows past n (dropped anyway: one row of 8 is
          // real here); src-size 0 reads nothing, the base address stands in for the source.
          const bool x_valid = r0 + u * kRowsPerTile + copy_row < n && off + copy_chunk * 16 < p.x_valid_bytes;
          gemm_detail::cp_async16_zfill(dst, x_valid ? x_src[u] + off : p.x, x_valid);
        } else if (p.x_token_rows != 0) {  // hidden rows in place: H values, zeros past them
          const bool x_valid = off + copy_chunk * 16 < p.x_valid_bytes;
          gemm_detail::cp_async16_zfill(dst, x_valid ? x_src[u] + off : p.x, x_valid);
        } else {
          gemm_detail::cp_async16(dst, x_src[u] + off);
        }
      }
    }
    if constexpr (FP8) {
      const int64_t xkb = st * S::kScaleBlocks + xs_block;
      if (copies_xs && xkb < kbs)
        cp_async4(reinterpret_cast<float*>(ring + S::kXScale) + xs_block * S::kXRows + xs_row, xs_src + xkb);
    }
  };
  auto issue = [&](int64_t st) {
    issue_weights(st);
    issue_x(st);
  };

#pragma unroll
  for (int j = 0; j < NT; ++j)
#pragma unroll
    for (int c = 0; c < 4; ++c) acc[j][c] = 0.0f;

  const int lo = warp * 16 + g, hi = lo + 8, swz = chunk_swizzle(g);  // lo, hi and j*8 + g all have swizzle g
  if constexpr (EARLY) {
    // The prologue's weights go out before the wait, uncommitted: they join group 0, so stage 0's wait covers
    // them all, and group s still holds stage s's x.
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s)
      if (s < stages) issue_weights(s);
    device::wait_for_prerequisite_grids();
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
      if (s < stages) issue_x(s);
      gemm_detail::cp_async_commit();
    }
  } else {
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
      if (s < stages) issue(s);
      gemm_detail::cp_async_commit();  // always, so that group s is stage s
    }
  }
  for (int64_t st = 0; st < stages; ++st) {
    gemm_detail::cp_async_wait<STAGES - 2>();  // this thread's copies of stage st have landed
    __syncthreads();                            // everyone's have, and stage st - 1's slot is free
    if (st + STAGES - 1 < stages) issue(st + STAGES - 1);
    gemm_detail::cp_async_commit();
    const unsigned char* ring = smem + (st % STAGES) * S::kBytes;
    const uint4* wlo = reinterpret_cast<const uint4*>(ring + lo * kStageBytes);
    const uint4* whi = reinterpret_cast<const uint4*>(ring + hi * kStageBytes);
    const uint4* xs = reinterpret_cast<const uint4*>(ring + S::kX + g * kStageBytes);
#pragma unroll
    for (int b = 0; b < S::kScaleBlocks; ++b) {
      if (FP8 && st * S::kScaleBlocks + b >= kbs) break;  // a row's last FP8 stage may hold one block; uniform
      float part[NT][4];
#pragma unroll
      for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int c = 0; c < 4; ++c) part[j][c] = 0.0f;
#pragma unroll
      for (int s = 0; s < S::kSlicesPerBlock; ++s) {
        const int at = ((b * S::kSlicesPerBlock + s) * 4 + q) ^ swz;
        const uint4 wl = wlo[at], wh = whi[at];
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          const uint4 xv = xs[j * kRowsPerTile * kChunks + at];
          if constexpr (FP8) mma_chunk<CT, FP8>(part[j], wl, wh, xv);
          else mma_chunk<CT, FP8>(acc[j], wl, wh, xv);
        }
      }
      if constexpr (FP8) {  // the mma tier's fold: block partial * (row scale * weight block scale)
        const float* wsc = reinterpret_cast<const float*>(ring + S::kWScale) + b * kBlockRows;
        const float* xsc = reinterpret_cast<const float*>(ring + S::kXScale) + b * S::kXRows;
        const float ws_lo = wsc[lo], ws_hi = wsc[hi];
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          const float sa0 = xsc[j * kRowsPerTile + 2 * q], sa1 = xsc[j * kRowsPerTile + 2 * q + 1];
          acc[j][0] += part[j][0] * (sa0 * ws_lo);
          acc[j][1] += part[j][1] * (sa1 * ws_lo);
          acc[j][2] += part[j][2] * (sa0 * ws_hi);
          acc[j][3] += part[j][3] * (sa1 * ws_hi);
        }
      }
    }
  }
  gemm_detail::cp_async_wait<0>();  // only empty groups are left; the next pass refills slot 0 on
  __syncthreads();                  // a ring every warp has finished reading
}

template <class CT, bool FP8, bool GATED, int NT, int MAX_TILES, bool ONE, int STAGES, bool EARLY = false>
__device__ __forceinline__ void stream_pass(const GemmParams& p, unsigned char* smem, int32_t e, int64_t first, int n,
                                            int r0, int64_t unit0) {
  const int lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
  const int64_t unit = unit0 + threadIdx.x / 32;
  // gate_up: 8 intermediate columns, gate rows c and up rows Ip + c; down: 16 output columns.
  const int64_t row_lo = GATED ? unit * 8 + g : unit * 16 + g;
  const int64_t row_hi = GATED ? p.ip + row_lo : row_lo + 8;
  float acc[NT][4];
  stream_rows<CT, FP8, GATED, NT, MAX_TILES, ONE, STAGES, EARLY>(p, smem, e, first, n, r0, unit0, acc);
  if constexpr (GATED) {
    const float* bias = p.bias + static_cast<int64_t>(e) * p.rows_per_expert;
    const float bg = bias[row_lo], bu = bias[row_hi];
    const bool real = row_lo < p.inter;  // padding columns are written as zeros
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int r = r0 + j * kRowsPerTile + 2 * q + c;
        if (r >= n) continue;
        const float v =
            real ? gemm_detail::activate(p.activation, acc[j][c] + bg, acc[j][2 + c] + bu, p.alpha, p.limit) : 0.0f;
        const int64_t at = (first + r) * p.ip + row_lo;
        if constexpr (FP8) static_cast<float*>(p.out)[at] = v;
        else static_cast<uint16_t*>(p.out)[at] = to_compute_bits<CT>(v);
      }
  } else {
    float* y = static_cast<float*>(p.out);
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int r = r0 + j * kRowsPerTile + 2 * q + c;
        if (r >= n) continue;
        const int64_t a = ONE ? first + r : p.rows[first + r];
        if (row_lo < p.hidden) y[a * p.hidden + row_lo] = acc[j][c];
        if (row_hi < p.hidden) y[a * p.hidden + row_hi] = acc[j][2 + c];
      }
  }
}

// Tried for one token and measured slower (H200, same run, T=1): the down pass combining in thread-block clusters
// of its k slot blocks per 64 columns (distributed shared memory, no combine launch; not kept):
// DeepSeek-V3 bf16 187.5 vs 178.2 us, fp8 121.1 vs 113.4, gpt-oss and Qwen3 fp8 1.01-1.03x, Mixtral 1.00x, Qwen3
// bf16 forced onto this tier 44.9 vs 33.9 (a cluster's blocks are scheduled together and leave together).
// Tried for one token and measured slower (H200, same run, forced stream tier, T=1 bf16 / fp8): the down pass
// combining in its last-arriving block per 64 columns (atomic count + __threadfence, no combine launch), 1.10-1.40x
// (DeepSeek-V3 218.8 vs 182.3 us, Mixtral 308 vs 221); K splits of the down pass to fill a wave (partials added
// by the combine) helped only Mixtral bf16 (188 vs 222 us, which the decode tier runs in 177) and slowed gpt-oss
// (67.6 vs 65.1) and Qwen3 (40.1 vs 38.0; 3 splits of 2 stages), measured with an earlier build of this path.
// Tried and measured slower (H200, bench_ab, same session, T=1 FP8 w8a8, against the quantization launches): each
// one-token block quantizing its x row itself (the hidden row in gate_up, the slot's f32 activation row in down;
// codes and scales kept in the x tile's 7 unused rows of the ring, a warp per 128-group) so that the gather and
// the activation quantizer launches go: DeepSeek-V3 (down only) 111.5 -> 118.8 us, gpt-oss 48.5 -> 74.1, Mixtral
// 109.2 -> 172.0, Qwen3 30.1 -> 45.5. Every block of a slot (24-112 of them) re-quantized the whole row, a serial
// chain of L2 loads and warp reductions ahead of its first x stage; the launches it saved cost far less.
// Tried and measured slower (H200, same run): each block asking L2 for its 64 weight rows' first bytes (bulk
// prefetch, within half of L2) before its wait, so that the ring's first stages would come from L2: 0.99-1.16x
// over the 28 stream points of T = 1..64 (25 slower; Qwen3 FP8 T=64 1.16x).
// grid (units / kWarps, G): block y is a group (those past meta[0] exit), each warp one unit of weight rows, the
// block's 4 units streamed together (stream_rows). MAX_TILES: rows of the group per weight read / 8; larger
// groups are taken in passes. Dynamic shared memory: stream_smem_bytes<FP8, MAX_TILES, STAGES>().
template <class CT, bool FP8, bool GATED, int MAX_TILES, bool ONE, int STAGES = kStages>
__global__ void __launch_bounds__(kThreads) stream_gemm_kernel(const GemmParams p) {
  extern __shared__ __align__(16) unsigned char stream_smem[];
  // The one-token down pass starts its ring's weight copies before the grid dependency wait, so that they overlap
  // the previous kernel's tail: its expert comes from the routing ids, written at least two kernels back (the
  // routing kernel completed before gate_up passed its own wait, and this grid launches only after that; read
  // here through L2, __ldcg, not the non-coherent path), and the weights from nothing a kernel writes. The kernel
  // just before (gate_up, or the FP8 activation quantizer) writes only the activation rows and their scales,
  // which stream_rows copies after the wait. PTX documents visibility only after griddepcontrol.wait: reading the
  // ids before it rests on that transitive completion and L2 coherence, not on a documented guarantee. Every exit
  // still waits first (grid_dependency.cuh). On the H200 (whole layer, T = 1, same run): gpt-oss-120b bf16 62.6 ->
  // 59.8 us, Qwen3 bf16 on this tier 36.0 -> 34.0, the other presets and FP8 0.99x; compute-sanitizer memcheck and
  // racecheck clean on the one-token tests.
  constexpr bool kEarly = ONE && !GATED;
  if constexpr (!kEarly) device::wait_for_prerequisite_grids();
  device::allow_dependent_grids();
  const int group = blockIdx.y;
  int32_t e;  // every exit before stream_rows must be block-uniform, as these are
  int64_t first;
  int n;
  if constexpr (kEarly) {
    e = local_expert<IdLoads::kThroughL2>(p.ids, p.local_of, p.num_experts, p.num_local, group);
    first = group;
    n = 1;
  } else if constexpr (ONE) {
    e = local_expert(p.ids, p.local_of, p.num_experts, p.num_local, group);
    first = group;
    n = 1;
  } else {
    if (group >= p.meta[0]) return;
    e = p.group_expert[group];
    first = p.group_first[group];
    n = p.group_count[group];
  }
  const int64_t unit0 = static_cast<int64_t>(blockIdx.x) * kWarps;
  // All padding columns (activation(0, 0) = 0), or a skipped slot (whose zeros the FP8 activation pass then
  // quantizes instead of stale workspace): no weights to read.
  if (GATED && (e < 0 || unit0 * 8 >= p.inter)) {
    const int64_t unit = unit0 + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    for (int r = 0; r < n; ++r) {
      const int64_t at = (first + r) * p.ip + unit * 8;
      if (lane < 8) {
        if constexpr (FP8) static_cast<float*>(p.out)[at + lane] = 0.0f;
        else static_cast<uint16_t*>(p.out)[at + lane] = 0;
      }
    }
    return;
  }
  if (!GATED && ((ONE && e < 0) || unit0 * 16 >= p.hidden)) {  // a skipped slot, or columns past H only
    if constexpr (kEarly) device::wait_for_prerequisite_grids();
    return;
  }
  for (int r0 = 0; r0 < n; r0 += kRowsPerTile * MAX_TILES) {
    const int left = n - r0;
    if (MAX_TILES >= 4 && left > 2 * kRowsPerTile)
      stream_pass<CT, FP8, GATED, (MAX_TILES >= 4 ? 4 : 1), MAX_TILES, ONE, STAGES, kEarly>(p, stream_smem, e, first,
                                                                                           n, r0, unit0);
    else if (MAX_TILES >= 2 && left > kRowsPerTile)
      stream_pass<CT, FP8, GATED, (MAX_TILES >= 2 ? 2 : 1), MAX_TILES, ONE, STAGES, kEarly>(p, stream_smem, e, first,
                                                                                           n, r0, unit0);
    else
      stream_pass<CT, FP8, GATED, 1, MAX_TILES, ONE, STAGES, kEarly>(p, stream_smem, e, first, n, r0, unit0);
  }
}

// ---- 6. Combine ----------------------------------------------------------------------------------------------

struct CombineParams {
  const int32_t* ids;
  const float* topk_weights;
  const int32_t* local_of;
  int32_t num_experts, num_local;
  int64_t tokens, top_k, hidden, hp;
  int32_t weight_on_input;
  const float* y;  // [A][H]
  const float* b2;  // [L][Hp], or null without w2 biases (no loads and adds of zeros)
  void* out;
  int32_t out_dtype;
};

constexpr int kCombineThreads = 256;

// The CPU backend's combine: acc += weight * (y + b2) over the slots in order, one rounding to the output type;
// tokens without a valid local expert get zeros. A block per (token, 256 x VEC columns): with a block per token, T=16
// filled 16 SMs and the combine took 119 us of DeepSeek-V3's layer. The token's slots (local expert, weight) are
// looked up once per block into shared memory, so that each thread's y and b2 loads depend on no global load
// (with the id -> local expert -> y chain per thread and slot it took 42 us for DeepSeek-V3 T=256).
// Dynamic shared memory: combine_padded_slots(top_k) int32 experts, then as many f32 weights. The padding is
// there because ptxas loads the expert ids of the unrolled loop's last (top_k % 4) iterations with one 16-byte
// LDS: harmless on the hardware, but a read past a top_k-sized array (compute-sanitizer memcheck flagged it).
constexpr int kCombineUnroll = 4;
__host__ __device__ constexpr int64_t combine_padded_slots(int64_t top_k) {
  return (top_k + kCombineUnroll - 1) / kCombineUnroll * kCombineUnroll;
}

// VEC columns per thread (4 where H % 4 == 0: 16-byte loads of y and b2, rows of y being H f32 long): the same sums.
template <int VEC>
__global__ void __launch_bounds__(kCombineThreads) combine_kernel(const CombineParams p) {
  extern __shared__ int32_t combine_slots[];
  device::wait_for_prerequisite_grids();
  int32_t* slot_expert = combine_slots;
  float* slot_weight = reinterpret_cast<float*>(combine_slots + combine_padded_slots(p.top_k));
  constexpr int64_t kColumns = static_cast<int64_t>(kCombineThreads) * VEC;  // per block item
  const int64_t chunks = (p.hidden + kColumns - 1) / kColumns;
  for (int64_t b = blockIdx.x; b < p.tokens * chunks; b += gridDim.x) {
    const int64_t t = b / chunks, h = (b % chunks) * kColumns + threadIdx.x * VEC;
    __syncthreads();  // the previous item's slots have been read
    for (int64_t j = threadIdx.x; j < p.top_k; j += kCombineThreads) {
      const int64_t a = t * p.top_k + j;
      slot_expert[j] = local_expert(p.ids, p.local_of, p.num_experts, p.num_local, a);
      slot_weight[j] = p.weight_on_input ? 1.0f : p.topk_weights[a];
    }
    __syncthreads();
    if (h >= p.hidden) continue;
    float acc[VEC] = {};
#pragma unroll kCombineUnroll
    for (int64_t j = 0; j < p.top_k; ++j) {
      const int32_t e = slot_expert[j];
      if (e < 0) continue;
      float v[VEC];
      const float* y = p.y + (t * p.top_k + j) * p.hidden + h;
      if constexpr (VEC == 4) {
        const float4 y4 = *reinterpret_cast<const float4*>(y);
        v[0] = y4.x, v[1] = y4.y, v[2] = y4.z, v[3] = y4.w;
      } else {
        v[0] = y[0];
      }
      if (p.b2 != nullptr) {  // y + b2, then weighted: the CPU backend's order
        const float* bias = p.b2 + static_cast<int64_t>(e) * p.hp + h;
        if constexpr (VEC == 4) {
          const float4 b4 = *reinterpret_cast<const float4*>(bias);
          v[0] += b4.x, v[1] += b4.y, v[2] += b4.z, v[3] += b4.w;
        } else {
          v[0] += bias[0];
        }
      }
#pragma unroll
      for (int i = 0; i < VEC; ++i) acc[i] += slot_weight[j] * v[i];
    }
#pragma unroll
    for (int i = 0; i < VEC; ++i) store_from_f32(p.out, p.out_dtype, t * p.hidden + h + i, acc[i]);
  }
}

// ---- Host ----------------------------------------------------------------------------------------------------

// The rings are larger than the 48 KiB default: each GEMM kernel opts in once per device, outside any run (runs
// may be captured into a graph), with all of the SM's unified L1 / shared memory as shared memory, so that 4
// blocks of the common MAX_TILES = 1 ring (55-57 KiB each) fit an H200 SM; the operands bypass L1 anyway. Rings
// deeper than the 3-stage one that the device does not allow a block are not opted in: one_token_ring_stages never
// picks them there (it asks for the ring plus the 1 KiB reservation within the SM's shared memory, and every sm_80+
// device's per-block limit is that SM figure less 1 KiB). A 3-stage ring that does not fit is an error here, not at
// the first launch.
template <class CT, bool FP8, int MAX_TILES, bool ONE = false, int STAGES = kStages>
void allow_smem(int max_block_smem) {
  constexpr int smem = stream_smem_bytes<FP8, MAX_TILES, STAGES>();
  if (smem > max_block_smem) {
    if (ONE && STAGES > kStages) return;
    throw_unsupported("stream tier: a " + std::to_string(smem) + "-byte shared-memory ring exceeds the device's " +
                      std::to_string(max_block_smem) + " bytes per block");
  }
  for (auto* kernel : {stream_gemm_kernel<CT, FP8, true, MAX_TILES, ONE, STAGES>,
                       stream_gemm_kernel<CT, FP8, false, MAX_TILES, ONE, STAGES>}) {
    check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem),
               "cudaFuncSetAttribute (stream GEMM shared memory)");
    check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                    cudaSharedmemCarveoutMaxShared),
               "cudaFuncSetAttribute (stream GEMM carveout)");
  }
}

constexpr int kOneTokenDepths = static_cast<int>(sizeof kOneTokenStages / sizeof kOneTokenStages[0]);

// One token (8 rows, one tile): every ring depth of kOneTokenStages, from index I on.
template <class CT, bool FP8, int I = 0>
void allow_smem_one_token(int max_block_smem) {
  if constexpr (I < kOneTokenDepths) {
    allow_smem<CT, FP8, 1, true, kOneTokenStages[I]>(max_block_smem);
    allow_smem_one_token<CT, FP8, I + 1>(max_block_smem);
  }
}

template <class CT, bool FP8>
void allow_smem_all_tiles(int max_block_smem) {
  allow_smem_one_token<CT, FP8>(max_block_smem);
  allow_smem<CT, FP8, 1>(max_block_smem);
  allow_smem<CT, FP8, 2>(max_block_smem);
  allow_smem<CT, FP8, 4>(max_block_smem);
}

template <class CT, bool FP8, bool GATED, int MAX_TILES, bool ONE, int STAGES>
void launch_gemm(const GemmParams& g, dim3 grid, bool overlap, cudaStream_t stream, const char* what) {
  constexpr int smem = stream_smem_bytes<FP8, MAX_TILES, STAGES>();  // opted in by configure_kernels()
  launch_dependent(overlap, stream_gemm_kernel<CT, FP8, GATED, MAX_TILES, ONE, STAGES>, grid, dim3(kThreads), smem,
                   stream, what, g);
}

// One token: the kernel of the pass's ring depth, found among kOneTokenStages from index I on.
template <class CT, bool FP8, bool GATED, int I = 0>
void launch_one_token_gemm(int stages, const GemmParams& g, dim3 grid, bool overlap, cudaStream_t stream,
                           const char* what) {
  if constexpr (I == kOneTokenDepths) {
    throw_internal("stream tier: no one-token kernel for a " + std::to_string(stages) + "-stage ring");
  } else if (stages == kOneTokenStages[I]) {
    launch_gemm<CT, FP8, GATED, 1, true, kOneTokenStages[I]>(g, grid, overlap, stream, what);
  } else {
    launch_one_token_gemm<CT, FP8, GATED, I + 1>(stages, g, grid, overlap, stream, what);
  }
}

// Grid x of the two GEMM passes: gate_up a block per 32 intermediate columns, down a block per 64 output columns.
int64_t gate_up_column_blocks(int64_t ip) { return ip / 8 / kWarps; }
int64_t down_column_blocks(int64_t hp) { return hp / 16 / kWarps; }

// One GEMM pass: the one-token kernel of its ring depth, or the grouped kernel of the pass's tiles.
template <class CT, bool FP8, bool GATED>
void launch_pass(bool one, int one_token_stages, int tiles, const GemmParams& g, dim3 grid, bool overlap,
                 cudaStream_t stream, const char* what) {
  if (one) launch_one_token_gemm<CT, FP8, GATED>(one_token_stages, g, grid, overlap, stream, what);
  else if (tiles >= 4) launch_gemm<CT, FP8, GATED, 4, false, kStages>(g, grid, overlap, stream, what);
  else if (tiles == 2) launch_gemm<CT, FP8, GATED, 2, false, kStages>(g, grid, overlap, stream, what);
  else launch_gemm<CT, FP8, GATED, 1, false, kStages>(g, grid, overlap, stream, what);
}

template <class CT, bool FP8>
void launch_gemms(bool one, const OneTokenRings& rings, int tiles, const GemmParams& g1, const GemmParams& g2,
                  const RowsParams* act_quant, unsigned groups, int64_t max_rows, bool overlap, cudaStream_t stream) {
  const dim3 grid1(static_cast<unsigned>(gate_up_column_blocks(g1.ip)), groups);
  launch_pass<CT, FP8, true>(one, rings.gate_up, tiles, g1, grid1, overlap, stream, "stream gate_up kernel");
  if (act_quant != nullptr)
    launch_build_rows<CT>(*act_quant, max_rows, overlap, stream, "stream activation quantization");
  const dim3 grid2(static_cast<unsigned>(down_column_blocks(g2.rows_per_expert)), groups);
  launch_pass<CT, FP8, false>(one, rings.down, tiles, g2, grid2, overlap, stream, "stream down kernel");
}

// One token: the deepest ring of kOneTokenStages that still lets the pass's blocks (`blocks`, expected live)
// be resident at once on the device, and no deeper than the row has stages to keep in flight (STAGES - 1 ahead);
// kStages where even that grid takes more than a wave. 1 KiB per block is the runtime's reservation on sm_80+.
int one_token_ring_stages(bool fp8, int64_t blocks, int64_t row_stages, const DeviceShape& device) {
  constexpr size_t kReservedPerBlock = 1024;
  const size_t stage_bytes = fp8 ? StageShape<true, 1>::kBytes : StageShape<false, 1>::kBytes;
  int best = kStages;
  for (int stages : kOneTokenStages) {
    if (stages - 1 > std::max<int64_t>(row_stages, kStages - 1)) break;
    const int64_t per_sm = static_cast<int64_t>(device.smem_per_sm / (stages * stage_bytes + kReservedPerBlock));
    if (per_sm >= 1 && per_sm * device.sm_count >= blocks) best = stages;
  }
  return best;
}

}  // namespace

void configure_kernels() {
  int device = 0, max_block_smem = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  check_cuda(cudaDeviceGetAttribute(&max_block_smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
             "cudaDeviceGetAttribute (shared memory per block)");
  allow_smem_all_tiles<__nv_bfloat16, false>(max_block_smem);
  allow_smem_all_tiles<__half, false>(max_block_smem);
  allow_smem_all_tiles<__nv_bfloat16, true>(max_block_smem);
}

bool supports(const moekit_plugin_experts_config& cfg, int64_t num_tokens, int64_t top_k, bool e4m3_mma) {
  if (num_tokens * top_k > kMaxAssignments || cfg.num_local_experts > kMaxDeviceExperts) return false;
  const bool sixteen_bit = cfg.weight_format == 0 || cfg.weight_format == 1 || cfg.weight_format == 2;
  if (sixteen_bit) return cfg.act_quant == kActNone;
  return cfg.weight_format == 3 && e4m3_mma && (cfg.act_quant == kActPerToken || cfg.act_quant == kActPerGroup);
}

size_t workspace_bytes(const moekit_plugin_experts_config& cfg, int64_t num_tokens, int64_t top_k) {
  return static_cast<size_t>(layout_for(cfg, num_tokens * top_k).total);
}

const char* kernel_label(const moekit_plugin_experts_config& cfg, const Prepared& p) {
  if (p.kind == WeightKind::Fp8) return "cuda-stream-fp8block-w8a8";
  if (p.compute == Compute::F16) return "cuda-stream-f16";
  return cfg.weight_format == 2 ? "cuda-stream-f32-as-bf16" : "cuda-stream-bf16";
}

int rows_per_pass(const moekit_plugin_experts_config& cfg, int64_t num_tokens, int64_t top_k) {
  const int64_t A = num_tokens * top_k, L = cfg.num_local_experts;
  const int64_t G = A < L ? A : L;
  const double avg = G > 0 ? static_cast<double>(A) / static_cast<double>(G) : 1.0;
  // Wide enough for most groups of uniform routing to take one pass. H200, forced stream tier, same run: Qwen3
  // T=64 (4 rows on average) 317/197 us (bf16/fp8) with 8 rows a pass, 304/189 with 16; DeepSeek-V3 T=256 (8
  // rows) 7134/3869 with 8, 5113/2796 with 16, 5097/2834 with 32; Mixtral T=64 (16 rows) 988/550 with 16,
  // 726/466 with 32. The ring grows with the pass (experts_stream.cu, StageShape), hence 8 rows at <= 2.
  const int tiles = avg <= 2.0 ? 1 : avg <= 6.0 ? 2 : kMaxTiles;
  return tiles * kRowsPerTile;
}

bool one_token(int64_t num_tokens) { return num_tokens == 1; }

bool reads_hidden_directly(const moekit_plugin_experts_config& cfg, const Prepared& p,
                           const moekit_plugin_tensor& hidden) {
  if (p.kind != WeightKind::Half16 || quantized(cfg) || cfg.apply_router_weight_on_input) return false;
  const int32_t compute_dtype = p.compute == Compute::F16 ? MOEKIT_PLUGIN_F16 : MOEKIT_PLUGIN_BF16;
  return hidden.dtype == compute_dtype && cfg.hidden % 8 == 0 && reinterpret_cast<uintptr_t>(hidden.data) % 16 == 0;
}

namespace {
// One token: the slots expected to name a local expert under uniform routing, k * L / E (at least 1).
int64_t expected_local_slots(const moekit_plugin_experts_config& cfg, int64_t top_k) {
  const int64_t E = cfg.num_experts > 0 ? cfg.num_experts : 1;
  return std::max<int64_t>(1, top_k * cfg.num_local_experts / E);
}
}  // namespace

bool one_token_outruns_decode(const moekit_plugin_experts_config& cfg, int64_t top_k) {
  const int64_t local_slots = expected_local_slots(cfg, top_k);
  const int64_t expert_bytes = 3 * cfg.hidden_pad * cfg.intermediate_pad * 2;  // w13 and w2, 16-bit
  return local_slots * expert_bytes >= kOneTokenStreamMinBytes;
}

OneTokenRings one_token_rings(const moekit_plugin_experts_config& cfg, const Prepared& p, int64_t top_k,
                              const DeviceShape& device) {
  const bool fp8 = p.kind == WeightKind::Fp8;
  const int64_t elem = fp8 ? 1 : 2;
  const int64_t local_slots = expected_local_slots(cfg, top_k);  // the others' blocks exit at once
  auto row_stages = [&](int64_t k) { return (k * elem + kStageBytes - 1) / kStageBytes; };
  OneTokenRings r;
  r.gate_up = one_token_ring_stages(fp8, gate_up_column_blocks(cfg.intermediate_pad) * local_slots,
                                    row_stages(cfg.hidden_pad), device);
  r.down = one_token_ring_stages(fp8, down_column_blocks(cfg.hidden_pad) * local_slots,
                                 row_stages(cfg.intermediate_pad), device);
  return r;
}

std::string describe(const moekit_plugin_experts_config& cfg, const Prepared& p, const moekit_plugin_tensor& hidden,
                     int64_t num_tokens, int64_t top_k, const DeviceShape& device) {
  if (!one_token(num_tokens))
    return "expert-major streaming: block per (expert, 64 weight rows) per " +
           std::to_string(rows_per_pass(cfg, num_tokens, top_k)) + " rows, " + std::to_string(kStages) +
           "-stage cp.async ring, mma.sync, x " + (reads_hidden_directly(cfg, p, hidden) ? "in place" : "gathered") +
           ", slot-ordered combine";
  // Short (both): the report's detail holds 191 characters, and the tier's reason follows.
  const OneTokenRings rings = one_token_rings(cfg, p, top_k, device);
  return std::string("expert-major streaming, one token: block per (slot, 64 weight rows), x ") +
         (reads_hidden_directly(cfg, p, hidden) ? "in place" : "gathered") + ", rings " +
         std::to_string(rings.gate_up) + " (w13) / " + std::to_string(rings.down) + " (w2), slot-ordered combine";
}

void run(const moekit_plugin_experts_config& cfg, const Prepared& prep, const moekit_plugin_tensor& hidden,
         const moekit_plugin_routing& plan, const moekit_plugin_tensor& out, void* workspace, const DeviceShape& device,
         bool overlap, cudaStream_t stream) {
  const int64_t T = hidden.shape[0], k = plan.topk_ids.shape[1], A = T * k;
  const bool fp8 = prep.kind == WeightKind::Fp8;
  if (!supports(cfg, T, k, fp8) || prep.kind == WeightKind::Mxfp4 || (fp8 && !quantized(cfg)))
    throw_internal("stream tier chosen for a configuration it does not take");
  if (A == 0) return;
  const Layout l = layout_for(cfg, A);
  const bool one = one_token(T);
  const bool direct_x = reads_hidden_directly(cfg, prep, hidden);
  char* ws = static_cast<char*>(workspace);
  int32_t* rows = reinterpret_cast<int32_t*>(ws + l.rows);
  int32_t* groups = reinterpret_cast<int32_t*>(ws + l.groups);
  int32_t* meta = reinterpret_cast<int32_t*>(ws + l.meta);
  const int64_t G = l.groups_max, Hp = cfg.hidden_pad, Ip = cfg.intermediate_pad;

  GroupParams gp{};
  gp.ids = static_cast<const int32_t*>(plan.topk_ids.data);
  gp.local_of = prep.local_of;
  gp.num_experts = cfg.num_experts;
  gp.num_local = cfg.num_local_experts;
  gp.assignments = static_cast<int32_t>(A);
  gp.rows = rows;
  gp.group_expert = groups;
  gp.group_first = groups + G;
  gp.group_count = groups + 2 * G;
  gp.meta = meta;
  if (!one) {
    const size_t group_smem = static_cast<size_t>(cfg.num_local_experts) * 8 + static_cast<size_t>(A) * 2;
    launch_dependent(overlap, group_kernel, dim3(1), dim3(kGroupThreads), group_smem, stream, "stream group_kernel",
                     gp);
  }

  const bool q = quantized(cfg);
  const bool f16 = prep.compute == Compute::F16;
  RowsParams gather{};
  static_cast<HiddenRows&>(gather) = hidden_rows(hidden, cfg, plan, k);
  gather.rows = one ? nullptr : rows;
  gather.meta = one ? nullptr : meta;
  // One token: a copy of its row per slot, not one row that all k slots read: with every gate_up block reading
  // the same few L2 lines at once, FP8 layers were 2-4 % slower (H200, T=1: DeepSeek-V3 132.6 vs 129.3 us,
  // gpt-oss 56.4 vs 53.9, Qwen3 35.5 vs 34.5).
  gather.row_count = A;
  gather.cols = Hp;
  gather.act_quant = cfg.act_quant;
  gather.out = ws + l.x;
  gather.scales = q ? reinterpret_cast<float*>(ws + l.x_scale) : nullptr;
  if (direct_x) {
    // gate_up reads the tokens' hidden rows itself (zeros past H): no gathered copy of x. H200, DeepSeek-V3 bf16
    // T=256 (ncu, boost clocks): the gather took 24.5 us of a 5.1 ms layer, writing 29 MB that gate_up read back.
  } else if (f16) {
    launch_build_rows<__half>(gather, gather.row_count, overlap, stream, "stream gather");
  } else {
    launch_build_rows<__nv_bfloat16>(gather, gather.row_count, overlap, stream, "stream gather");
  }

  GemmParams g1{};
  g1.w = prep.w13;
  g1.w_scale = prep.w13_col_scale;
  g1.bias = prep.b13;
  g1.x = direct_x ? hidden.data : ws + l.x;
  g1.x_scale = gather.scales;
  g1.x_valid_bytes = direct_x ? cfg.hidden * 2 : Hp * (q ? 1 : 2);
  g1.x_shared_row = one && direct_x;
  g1.x_token_rows = !one && direct_x ? k : 0;
  g1.x_row_bytes = cfg.hidden * 2;
  g1.group_expert = gp.group_expert;
  g1.group_first = gp.group_first;
  g1.group_count = gp.group_count;
  g1.meta = meta;
  g1.ids = gp.ids;
  g1.local_of = prep.local_of;
  g1.num_experts = cfg.num_experts;
  g1.num_local = cfg.num_local_experts;
  g1.rows = one ? nullptr : rows;
  g1.out = ws + l.act;
  g1.k = Hp;
  g1.rows_per_expert = 2 * Ip;
  g1.ip = Ip;
  g1.inter = cfg.intermediate;
  g1.hidden = cfg.hidden;
  g1.activation = cfg.activation;
  g1.alpha = cfg.swiglu_alpha;
  g1.limit = cfg.swiglu_limit;
  GemmParams g2 = g1;
  g2.w = prep.w2;
  g2.w_scale = prep.w2_col_scale;
  g2.bias = nullptr;
  g2.x = q ? ws + l.act_codes : ws + l.act;
  g2.x_scale = q ? reinterpret_cast<float*>(ws + l.act_scale) : nullptr;
  g2.x_valid_bytes = Ip * (q ? 1 : 2);
  g2.x_shared_row = 0;
  g2.x_token_rows = 0;
  g2.out = ws + l.y;
  g2.k = Ip;
  g2.rows_per_expert = Hp;
  RowsParams act_quant{};
  act_quant.src_f32 = reinterpret_cast<const float*>(ws + l.act);
  act_quant.rows = g1.rows;
  act_quant.meta = one ? nullptr : meta;
  act_quant.row_count = A;
  act_quant.cols = Ip;
  act_quant.act_quant = cfg.act_quant;
  act_quant.out = ws + l.act_codes;
  act_quant.scales = const_cast<float*>(g2.x_scale);
  act_quant.top_k = k;

  const int tiles = rows_per_pass(cfg, T, k) / kRowsPerTile;
  const unsigned group_grid = static_cast<unsigned>(one ? k : G);  // one token: a block row per slot
  const OneTokenRings rings = one ? one_token_rings(cfg, prep, k, device) : OneTokenRings{};
  if (G == 0) {
    // No local experts: nothing to multiply; the combine writes zeros.
  } else if (fp8) {
    launch_gemms<__nv_bfloat16, true>(one, rings, tiles, g1, g2, &act_quant, group_grid, A, overlap, stream);
  } else if (f16) {
    launch_gemms<__half, false>(one, rings, tiles, g1, g2, nullptr, group_grid, A, overlap, stream);
  } else {
    launch_gemms<__nv_bfloat16, false>(one, rings, tiles, g1, g2, nullptr, group_grid, A, overlap, stream);
  }

  CombineParams c{};
  c.ids = gp.ids;
  c.topk_weights = gather.topk_weights;
  c.local_of = prep.local_of;
  c.num_experts = cfg.num_experts;
  c.num_local = cfg.num_local_experts;
  c.tokens = T;
  c.top_k = k;
  c.hidden = cfg.hidden;
  c.hp = Hp;
  c.weight_on_input = cfg.apply_router_weight_on_input;
  c.y = reinterpret_cast<const float*>(ws + l.y);
  c.b2 = cfg.has_w2_bias ? prep.b2 : nullptr;
  c.out = out.data;
  c.out_dtype = out.dtype;
  const bool vec4 = cfg.hidden % 4 == 0;  // y's rows and b2's (Hp long) then start 16-byte aligned
  const int64_t combine_columns = kCombineThreads * (vec4 ? 4 : 1);
  const int64_t combine_blocks = T * ((cfg.hidden + combine_columns - 1) / combine_columns);
  launch_dependent(overlap, vec4 ? combine_kernel<4> : combine_kernel<1>, dim3(grid_for(combine_blocks, 1)),
                   dim3(kCombineThreads), static_cast<size_t>(combine_padded_slots(k)) * 8, stream,
                   "stream combine_kernel", c);
}

}  // namespace moekit::cuda::experts::stream
