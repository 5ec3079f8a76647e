// The streaming tier's GEMMs (steps 3 and 5): a block streams 64 weight rows of one expert once through a
// shared-memory cp.async ring against the expert's grouped rows (mma.sync with the weights as A; FP8 on sm_90a,
// wgmma from the ring, wgmma_e4m3.cuh). Private to experts_stream.cu (experts_stream_common.cuh).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "compute_bits.cuh"
#include "device/grid_dependency.cuh"
#include "experts_gemm.cuh"
#include "experts_stream_common.cuh"
#include "experts_stream_ops.cuh"
#include "wgmma_e4m3.cuh"

namespace moekit::cuda::experts::stream {
namespace {  // private to experts_stream.cu, the one file that includes it

// ---- 3./5. The streaming GEMMs -----------------------------------------------------------------------------

struct GemmParams {
  const void* w;         // [L][rows_per_expert][K]: 16-bit elements, or e4m3 bytes (FP8)
  const float* w_scale;  // FP8: [L][K/128][rows_per_expert]; with w_scale_blocks [L][K/128][rows_per_expert / 128]
  const float* bias;     // gate_up: b13 [L][2Ip]
  const void* x;         // [A][K] grouped rows: compute-type bits, or e4m3 codes (FP8); per token (x_top_k):
                         // hidden, or the tokens' e4m3 codes [T][K]
  const float* x_scale;  // FP8: [A][K/128], or [T][K/128] per token
  int64_t x_valid_bytes;  // bytes of an x row read from memory; the ring's columns past them are zeros
  int32_t x_shared_row;   // every group reads x row 0 (one token: its hidden row, read in place)
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
  void* out;            // gate_up: act [A][Ip] (compute type; f32 with FP8); down: y [A][H] f32 (one token with
                        // K splits: [k_splits][A][H], planes y_split_stride apart)
  int64_t k;            // K (padded: Hp or Ip)
  int64_t rows_per_expert;
  int64_t ip, inter, hidden;
  int32_t activation;
  float alpha, limit;
  // gate_up at T > 1 with x held per token: grouped row i reads row rows[i] / x_top_k of x, x_row_bytes apart
  // (and, FP8, row rows[i] / x_top_k of x_scale). 16-bit: the hidden rows read in place (reads_hidden_directly:
  // H % 8 == 0, so a row's 16-byte chunks end at H or before it), zeros past H (x_valid_bytes); FP8: the tokens'
  // codes, Hp wide (x_per_token). 0: x holds the grouped rows, K wide. Last, so that the fields above keep their
  // offsets, and read only by the kernels that can take this path (x_from_token_rows).
  int64_t x_top_k;
  int64_t x_row_bytes;
  // Bytes of a weight row read from memory: the unpadded K (H for w13, I for w2) rounded up to a 16-byte chunk.
  // The ring's columns past them are zero-filled (cp.async src-size 0: nothing is read), so that padding columns
  // (Hp - H, Ip - I) cost no bandwidth: gpt-oss-120b's 2880 is stored as 2944, 2.2 % of its weight bytes. Their
  // x columns are zeros, so the products are the same as with the stored padding. H200, whole layer, same session
  // against reading the padding (bench/results/h200_ab_stream_weight_padding_zero_fill.md): gpt-oss-120b bf16
  // T=16/64/256 0.981/0.980/0.981x (1490.1 -> 1462.0 us), T=1 0.991x, fp8 T=16..256 0.986-0.992x; Mixtral-8x7B
  // (no padding) 0.996-1.004x on its streaming points.
  int64_t w_valid_bytes;
  // FP8: w_scale holds one scale per 128 x 128 block (experts_prepared.h's block_scale) rather than per row. The
  // ring still holds a scale per block row (4 consecutive block rows are 4 consecutive weight rows, in one block),
  // copied 4 bytes at a time from the one block scale: the scales' share of a stage's reads from memory drops from
  // 512 bytes per 16 KiB of weights (3.1 %) to the few sectors the block's neighbours share through L2.
  int32_t w_scale_blocks;
  // One-token down pass only: the K splits of each (slot, 64 output columns) (grid z; 1: none). Split z streams the
  // z-th run of ceil(stages / k_splits) stages of its rows and writes its partial sums to plane z of y, each plane
  // y_split_stride floats apart; the combine adds the planes in order (experts_stream.h, down_splits).
  int32_t k_splits;
  int64_t y_split_stride;
};

// Whether a GEMM kernel instance can read x per token (GemmParams::x_top_k): the gate_up kernels of the grouped
// path. A compile-time gate, so that the down and one-token kernels carry no such branch (it cost the FP8 down
// pass 12 registers: 3 -> 2 blocks per SM).
template <bool GATED, bool ONE>
__host__ __device__ constexpr bool x_from_token_rows() {
  return GATED && !ONE;
}

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
// rows): a shared-memory ring of STAGES stages (kStages for T > 1, kDownChunkedStages for the two-run down pass,
// kOneTokenStages at T = 1), each holding
// kStageBytes of every weight row and of every x row (plus, for FP8, the stage's weight and x block scales), filled
// with 16-byte cp.async, consecutive threads on consecutive chunks of a row, and read by each warp as the register
// fragments the mma takes (FP8 on sm_90a: by wgmma from shared memory, in its layout, StageShape). Why
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
// The grouped kernels' ring (T > 1; the two-run down pass and one token pick theirs). Tried and not kept (H200, same
// session, bench/results/h200_ab_stream_pass_ring_cut_not_kept.md): each pass re-cutting its kernel's ring into
// stages of its own tiles, so that the 32-row kernels' 8-row passes kept three stages in flight instead of two in
// the same shared memory: DeepSeek-V3 and gpt-oss-120b bf16 T=256 1.001x, Qwen3-30B-A3B fp8 T=64 1.012x.
constexpr int kStages = 3;
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

// Byte layout of one stage: its operands, weights [64][256] then x [8 * MAX_TILES][256], in the ring's first
// STAGES * kTensorBytes; FP8 only, its scales, weight scales [blocks][64] then x scales [blocks][8 * MAX_TILES]
// (f32), in the kScaleBytes of its slot after all the stages' operands (so that every stage's operands start on a
// 1024-byte boundary, as wgmma's swizzled operands need). On sm_90a the FP8 operands are stored for wgmma:
// [2 halves of 128 K columns][rows][128 bytes], 128-byte swizzle (wgmma_e4m3.cuh), a half being one scale block.
template <bool FP8, int MAX_TILES>
struct StageShape {
  static constexpr int kElem = FP8 ? 1 : 2;
  static constexpr int kScaleBlocks = kStageBytes / (kQuantBlock * kElem);  // FP8 scale blocks per stage
  static constexpr int kSlicesPerBlock = kQuantBlock * kElem / 64;          // 64-byte K slices per scale block
  static constexpr int kXRows = kRowsPerTile * MAX_TILES;
  static constexpr int kX = kBlockRows * kStageBytes;
  static constexpr int kTensorBytes = kX + kXRows * kStageBytes;
  static constexpr int kWScale = 0;  // in the stage's scale slot
  static constexpr int kXScale = kWScale + (FP8 ? kScaleBlocks * kBlockRows * 4 : 0);
  static constexpr int kScaleBytes = kXScale + (FP8 ? kScaleBlocks * kXRows * 4 : 0);
  static constexpr int kBytes = kTensorBytes + kScaleBytes;
  static_assert(kX % wgmma::kSwizzleAtomBytes == 0 && kTensorBytes % wgmma::kSwizzleAtomBytes == 0,
                "every stage's weights and x start on a swizzle atom");
  static_assert(kScaleBlocks * kSlicesPerBlock * 64 == kStageBytes, "a stage is whole scale blocks");
  static_assert(!FP8 || kScaleBlocks * kXRows <= kThreads, "one x scale per thread and stage");
};

template <bool FP8, int MAX_TILES, int STAGES = kStages>
constexpr int stream_smem_bytes() {
  return STAGES * StageShape<FP8, MAX_TILES>::kBytes;
}

// The ring of a T > 1 kernel whose pass takes `tiles` tiles of x, `stages` deep (host side: the tier's occupancy
// rules).
inline size_t stream_ring_bytes(bool fp8, int tiles, int stages = kStages) {
  const int stage = fp8 ? (tiles >= 4 ? StageShape<true, 4>::kBytes : tiles == 2 ? StageShape<true, 2>::kBytes
                                                                                  : StageShape<true, 1>::kBytes)
                        : (tiles >= 4 ? StageShape<false, 4>::kBytes : tiles == 2 ? StageShape<false, 2>::kBytes
                                                                                   : StageShape<false, 1>::kBytes);
  return static_cast<size_t>(stages) * static_cast<size_t>(stage);
}

// The two-run down kernels' ring depths (experts_stream.h, pass_rings), the 3-stage ring first.
constexpr int kDownChunkedStages[] = {3, 4, 5};
static_assert(kDownChunkedStages[0] == kStages, "down_ring_stages falls back to the first depth");

// Shared memory the runtime reserves per resident block on sm_80+, counted against the SM's.
constexpr int kReservedSmemPerBlock = 1024;

// The mma.sync layout (16-bit, and FP8 off sm_90a): chunk c of ring row r is stored at chunk c ^ chunk_swizzle(r).
// A quarter-warp's 16-byte shared loads cover
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
// tile j's C fragment: c0, c1 = (lo, rows 2q, 2q+1), c2, c3 = (hi, rows 2q, 2q+1). done(c, acc) takes each
// chunk's sums. Every thread of the block must call this (it copies and waits at block barriers), and it returns
// with the ring idle.
// CHUNKS (down only): the block streams `chunks` (1..CHUNKS) runs of 64 consecutive weight rows, chunk c being rows
// c * 64 on from the first, back to back through one ring: the next chunk's first stages are in flight while the
// current one's last are multiplied and its sums stored (done(0, ...) runs inside the loop), instead of a block
// draining its ring and the next block filling a new one.
// ONE: the one-token kernels (groups = slots, x rows zero-filled past x_valid_bytes); compiled apart so that the
// grouped kernels keep their registers and plain copies (with run-time branches instead, the FP8 kernels went
// from 100-118 to 138-156 registers, past the 128 that 4 blocks per SM allow, and measured 7-15 % slower).
template <class CT, bool FP8, bool GATED, int NT, int MAX_TILES, bool ONE, int STAGES, bool EARLY, int CHUNKS,
          class Done>
__device__ __forceinline__ void stream_rows(const GemmParams& p, unsigned char* smem, int32_t e, int64_t first, int n,
                                            int r0, int64_t unit0, int chunks, Done&& done) {
  using S = StageShape<FP8, MAX_TILES>;
  static_assert(NT <= MAX_TILES, "the ring holds MAX_TILES tiles of x");
  static_assert(CHUNKS == 1 || (CHUNKS == 2 && !GATED), "two chunks: down's consecutive 64-row runs only");
  // FP8 on sm_90a: the operands go to the tensor cores from shared memory as they are (wgmma), in wgmma's layout.
  // The kernels declare their ring 1024-byte aligned (the swizzle is of the address bits).
  constexpr bool kWgmma = FP8 && wgmma::kAvailable;
  static_assert(!kWgmma || (kThreads == 128 && kBlockRows == 64), "one warpgroup, the wgmma's 64 rows");
  static_assert(!kWgmma || (kQuantBlock == 128 && S::kScaleBlocks == 2 && kStageBytes == 2 * 128),
                "a stage is two 128-byte halves, one scale block each: chunk_at's copy_chunk >> 3");
  static_assert(!kWgmma || (S::kXRows * 128) % wgmma::kSwizzleAtomBytes == 0, "x halves on swizzle atoms");
  auto operands = [&](int64_t gs) { return smem + (gs % STAGES) * S::kTensorBytes; };
  auto scales = [&](int64_t gs) { return smem + STAGES * S::kTensorBytes + (gs % STAGES) * S::kScaleBytes; };
  const int tid = threadIdx.x, lane = tid & 31, warp = tid / 32, g = lane >> 2, q = lane & 3;
  const int64_t row_bytes = p.k * S::kElem;
  const int64_t row_stages = (row_bytes + kStageBytes - 1) / kStageBytes;
  // One-token down with K splits: this block's run of its rows' stages, [stage0, stage0 + stages) (empty where the
  // splits outnumber the stages: the block then writes zeros); every offset below is of the whole row.
  int64_t stage0 = 0, stages = row_stages;
  if constexpr (ONE && !GATED) {
    if (p.k_splits > 1) {
      const int64_t per_split = (row_stages + p.k_splits - 1) / p.k_splits;
      stage0 = static_cast<int64_t>(blockIdx.z) * per_split;
      stages = stage0 < row_stages ? (row_stages - stage0 < per_split ? row_stages - stage0 : per_split) : 0;
    }
  }
  const int64_t total = stages * (CHUNKS > 1 ? chunks : 1);  // the block's stream: chunk 0's stages, then chunk 1's
  const int64_t kbs = p.k / kQuantBlock;
  const int64_t chunk_bytes = kBlockRows * row_bytes;  // chunk 1's rows follow chunk 0's

  // Copy duties, fixed for the whole row: ring rows tid/16 + 8u, chunk tid%16 of each stage; 8u keeps the row's
  // swizzle, (tid/16 + 8u) & 7 == tid/16.
  const int copy_chunk = tid % kChunks, copy_row = tid / kChunks;
  const int copy_slot = copy_chunk ^ chunk_swizzle(copy_row);
  // Where this thread's 16-byte copy chunk of ring row `row` goes, in a region of `rows` rows.
  auto chunk_at = [&](int row, int rows) -> int {
    if constexpr (kWgmma) return (copy_chunk >> 3) * rows * 128 + wgmma::sw128_offset(row, copy_chunk & 7);
    else return row * kStageBytes + copy_slot * 16;
  };
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
    if (x_from_token_rows<GATED, ONE>() && p.x_top_k != 0)  // the grouped row's token's row
      x_src[u] = static_cast<const char*>(p.x) + p.rows[x_index] / p.x_top_k * p.x_row_bytes + copy_chunk * 16;
    else
      x_src[u] = static_cast<const char*>(p.x) + x_index * row_bytes + copy_chunk * 16;
  }
  // FP8 scales: threads 0..31 copy 4 weight scales each (4 consecutive block rows are 4 consecutive weight rows,
  // in one 128-row block: one block scale copied 4 times with w_scale_blocks), threads 0..16*NT-1 one x scale
  // each, per stage.
  // Row r's scale is at (r >> ws_shift) of its K block's scales, the 4 rows of a copy at ws_step apart.
  const int ws_shift = FP8 && p.w_scale_blocks != 0 ? 7 : 0, ws_step = ws_shift == 0 ? 1 : 0;
  const int64_t ws_row_count = p.rows_per_expert >> ws_shift;
  const float* ws_expert = FP8 ? p.w_scale + static_cast<int64_t>(e) * kbs * ws_row_count : nullptr;
  const int ws_block = tid / (kBlockRows / 4), ws_row = (tid % (kBlockRows / 4)) * 4;
  const bool copies_ws = FP8 && tid < S::kScaleBlocks * (kBlockRows / 4);
  const int64_t ws_weight_row = copies_ws ? block_weight_row<GATED>(p, unit0, ws_row) : 0;
  const int xs_block = tid / (kRowsPerTile * NT), xs_row = tid % (kRowsPerTile * NT);
  const bool copies_xs = FP8 && tid < S::kScaleBlocks * kRowsPerTile * NT;
  const int xs_r = r0 + xs_row;
  const int64_t xs_index = ONE && p.x_shared_row ? 0 : first + (xs_r < n ? xs_r : 0);
  const float* xs_src = nullptr;
  if constexpr (FP8)
    xs_src = p.x_scale + (x_from_token_rows<GATED, ONE>() && p.x_top_k != 0 ? p.rows[xs_index] / p.x_top_k
                                                                             : xs_index) * kbs;

  // A stage's copies in two parts: the weights (and their FP8 scales), which depend on nothing the previous kernel
  // writes, and the x rows (and their scales). EARLY issues the prologue's weight parts before the grid
  // dependency wait (stream_gemm_kernel).
  // gs: a stage of the block's stream (slot gs % STAGES of the ring), stage stage0 + gs - c * stages of chunk c's
  // whole rows.
  auto chunk_of = [&](int64_t gs) -> int { return CHUNKS > 1 && gs >= stages ? 1 : 0; };
  auto issue_weights = [&](int64_t gs) {
    unsigned char* ring = operands(gs);
    const int c = chunk_of(gs);
    const int64_t st = stage0 + gs - c * stages;  // of the whole row
    const int64_t off = st * kStageBytes;  // the sources carry the chunk's offset in the stage
    if (!FP8 || off + copy_chunk * 16 < row_bytes) {
      // A padding chunk (past w_valid_bytes) reads nothing and lands as zeros; its address is still inside the
      // padded row, so no select of a stand-in address.
      const bool w_valid = off + copy_chunk * 16 < p.w_valid_bytes;
#pragma unroll
      for (int u = 0; u < kWCopies; ++u)
        gemm_detail::cp_async16_zfill(ring + chunk_at(copy_row + u * kRowsPerCopyRound, kBlockRows),
                                      w_src[u] + c * chunk_bytes + off, w_valid);
    }
    if constexpr (FP8) {
      const int64_t wkb = st * S::kScaleBlocks + ws_block;
      float* ws_dst = reinterpret_cast<float*>(scales(gs) + S::kWScale) + ws_block * kBlockRows + ws_row;
      if (copies_ws && wkb < kbs) {
        const float* src = ws_expert + wkb * ws_row_count + ((ws_weight_row + c * kBlockRows) >> ws_shift);
#pragma unroll
        for (int i = 0; i < 4; ++i) cp_async4(ws_dst + i, src + i * ws_step);
      }
    }
  };
  auto issue_x = [&](int64_t gs) {  // the same x for every chunk
    unsigned char* ring = operands(gs);
    const int64_t st = stage0 + gs - chunk_of(gs) * stages;  // of the whole row
    const int64_t off = st * kStageBytes;
    if (!FP8 || off + copy_chunk * 16 < row_bytes) {
#pragma unroll
      for (int u = 0; u < NT; ++u) {
        void* dst = ring + S::kX + chunk_at(copy_row + u * kRowsPerTile, S::kXRows);
        if constexpr (ONE) {
          // Zeros past the row's valid bytes and for the tile's rows past n (dropped anyway: one row of 8 is
          // real here); src-size 0 reads nothing, the base address stands in for the source.
          const bool x_valid = r0 + u * kRowsPerTile + copy_row < n && off + copy_chunk * 16 < p.x_valid_bytes;
          gemm_detail::cp_async16_zfill(dst, x_valid ? x_src[u] + off : p.x, x_valid);
        } else if (!FP8 && x_from_token_rows<GATED, ONE>() && p.x_top_k != 0) {  // hidden rows: zeros past H
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
        cp_async4(reinterpret_cast<float*>(scales(gs) + S::kXScale) + xs_block * S::kXRows + xs_row, xs_src + xkb);
    }
  };
  auto issue = [&](int64_t gs) {
    issue_weights(gs);
    issue_x(gs);
  };

  float acc[NT][4];
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
      if (s < total) issue_weights(s);
    device::wait_for_prerequisite_grids();
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
      if (s < total) issue_x(s);
      gemm_detail::cp_async_commit();
    }
  } else {
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
      if (s < total) issue(s);
      gemm_detail::cp_async_commit();  // always, so that group s is stage s
    }
  }
  int64_t chunk_stage = 0;  // two chunks: stage gs of the stream is stage chunk_stage of its chunk's rows
  for (int64_t gs = 0; gs < total; ++gs) {
    const int64_t st = stage0 + (CHUNKS > 1 ? chunk_stage : gs);  // of the whole row
    gemm_detail::cp_async_wait<STAGES - 2>();  // this thread's copies of stage gs have landed
    if constexpr (kWgmma) wgmma::fence_shared_for_async();  // and wgmma, reading through the async proxy, sees them
    __syncthreads();                            // everyone's have, and stage gs - 1's slot is free
    if (gs + STAGES - 1 < total) issue(gs + STAGES - 1);
    gemm_detail::cp_async_commit();
    const unsigned char* ring = operands(gs);
    // FP8: scale block b's partial sums join acc times (x row scale * weight block scale), as in the mma tier.
    auto fold = [&](int b, const float (&part)[NT][4]) {
      const float* wsc = reinterpret_cast<const float*>(scales(gs) + S::kWScale) + b * kBlockRows;
      const float* xsc = reinterpret_cast<const float*>(scales(gs) + S::kXScale) + b * S::kXRows;
      const float ws_lo = wsc[lo], ws_hi = wsc[hi];
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        const float sa0 = xsc[j * kRowsPerTile + 2 * q], sa1 = xsc[j * kRowsPerTile + 2 * q + 1];
        acc[j][0] += part[j][0] * (sa0 * ws_lo);
        acc[j][1] += part[j][1] * (sa1 * ws_lo);
        acc[j][2] += part[j][2] * (sa0 * ws_hi);
        acc[j][3] += part[j][3] * (sa1 * ws_hi);
      }
    };
    if constexpr (kWgmma) {
      // Scale block b is half b of the stage: 4 wgmma k-steps of 32 columns (32 bytes) inside its swizzled rows,
      // for the 64 weight rows against the pass's 8 * NT rows of x; the block's partial sums start from zero.
      float part[S::kScaleBlocks][NT][4];
      const uint32_t w_half0 = gemm_detail::smem_u32(ring), x_half0 = w_half0 + S::kX;
      wgmma::fence();
#pragma unroll
      for (int b = 0; b < S::kScaleBlocks; ++b) {
        if (st * S::kScaleBlocks + b >= kbs) break;  // a row's last FP8 stage may hold one block; uniform
#pragma unroll
        for (int k = 0; k < kQuantBlock / 32; ++k)
          wgmma::mma_e4m3<NT>(part[b], wgmma::sw128_desc(w_half0 + b * kBlockRows * 128 + k * 32),
                              wgmma::sw128_desc(x_half0 + b * S::kXRows * 128 + k * 32), k != 0);
      }
      wgmma::commit_and_wait_all();
#pragma unroll
      for (int b = 0; b < S::kScaleBlocks; ++b) {
        if (st * S::kScaleBlocks + b >= kbs) break;
        fold(b, part[b]);
      }
    } else {
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
        if constexpr (FP8) fold(b, part);
      }
    }
    if constexpr (CHUNKS > 1) {
      if (chunk_stage == stages - 1 && gs + 1 < total) {  // chunk 0 done; chunk 1's first stages are in flight
        done(0, acc);
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
          for (int c = 0; c < 4; ++c) acc[j][c] = 0.0f;
        chunk_stage = 0;
      } else {
        ++chunk_stage;
      }
    }
  }
  gemm_detail::cp_async_wait<0>();  // only empty groups are left; the next pass refills slot 0 on
  __syncthreads();                  // a ring every warp has finished reading
  done(CHUNKS > 1 ? chunks - 1 : 0, acc);
}

// Calls fn(j, c, r) for each of this thread's accumulator columns that holds a real row: tile j's column 2q + c
// of the mma's C fragment is the pass's row r = r0 + j * kRowsPerTile + 2q + c, real when r < n.
template <int NT, class Fn>
__device__ __forceinline__ void for_each_row_of_fragment(int r0, int q, int n, Fn&& fn) {
#pragma unroll
  for (int j = 0; j < NT; ++j)
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const int r = r0 + j * kRowsPerTile + 2 * q + c;
      if (r < n) fn(j, c, r);
    }
}

template <class CT, bool FP8, bool GATED, int NT, int MAX_TILES, bool ONE, int STAGES, bool EARLY, int CHUNKS>
__device__ __forceinline__ void stream_pass(const GemmParams& p, unsigned char* smem, int32_t e, int64_t first, int n,
                                            int r0, int64_t unit0, int chunks) {
  const int lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
  const int64_t unit = unit0 + threadIdx.x / 32;
  // gate_up: 8 intermediate columns, gate rows c and up rows Ip + c; down: 16 output columns (of chunk 0).
  const int64_t row_lo = GATED ? unit * 8 + g : unit * 16 + g;
  const int64_t row_hi = GATED ? p.ip + row_lo : row_lo + 8;
  if constexpr (GATED) {
    stream_rows<CT, FP8, GATED, NT, MAX_TILES, ONE, STAGES, EARLY, CHUNKS>(
        p, smem, e, first, n, r0, unit0, chunks, [&](int, const float (&acc)[NT][4]) {
          const float* bias = p.bias + static_cast<int64_t>(e) * p.rows_per_expert;
          const float bg = bias[row_lo], bu = bias[row_hi];
          const bool real = row_lo < p.inter;  // padding columns are written as zeros
          for_each_row_of_fragment<NT>(r0, q, n, [&](int j, int c, int r) {
            const float v = real ? gemm_detail::activate(p.activation, acc[j][c] + bg, acc[j][2 + c] + bu, p.alpha,
                                                         p.limit)
                                 : 0.0f;
            const int64_t at = (first + r) * p.ip + row_lo;
            if constexpr (FP8) static_cast<float*>(p.out)[at] = v;
            else static_cast<uint16_t*>(p.out)[at] = to_compute_bits<CT>(v);
          });
        });
  } else {
    float* y = static_cast<float*>(p.out);
    if constexpr (ONE) y += static_cast<int64_t>(blockIdx.z) * p.y_split_stride;  // this K split's plane
    stream_rows<CT, FP8, GATED, NT, MAX_TILES, ONE, STAGES, EARLY, CHUNKS>(
        p, smem, e, first, n, r0, unit0, chunks, [&](int chunk, const float (&acc)[NT][4]) {
          const int64_t lo = row_lo + chunk * kBlockRows, hi = row_hi + chunk * kBlockRows;
          for_each_row_of_fragment<NT>(r0, q, n, [&](int j, int c, int r) {
            const int64_t a = ONE ? first + r : p.rows[first + r];
            if (lo < p.hidden) y[a * p.hidden + lo] = acc[j][c];
            if (hi < p.hidden) y[a * p.hidden + hi] = acc[j][2 + c];
          });
        });
  }
}

// Tried for one token and measured slower (H200, same run, T=1): the down pass combining in thread-block clusters
// of its k slot blocks per 64 columns (distributed shared memory, no combine launch; not kept):
// DeepSeek-V3 bf16 187.5 vs 178.2 us, fp8 121.1 vs 113.4, gpt-oss and Qwen3 fp8 1.01-1.03x, Mixtral 1.00x, Qwen3
// bf16 forced onto this tier 44.9 vs 33.9 (a cluster's blocks are scheduled together and leave together).
// Tried for one token and measured slower (H200, same run, forced stream tier, T=1 bf16 / fp8): the down pass
// combining in its last-arriving block per 64 columns (atomic count + __threadfence, no combine launch), 1.10-1.40x
// (DeepSeek-V3 218.8 vs 182.3 us, Mixtral 308 vs 221). K splits of the down pass to fill a wave (partials added
// by the combine), in an earlier build on 3-stage rings, helped only Mixtral bf16 (188 vs 222 us, which the decode
// tier ran in 177) and slowed gpt-oss (67.6 vs 65.1) and Qwen3 (40.1 vs 38.0; 3 splits of 2 stages); on today's
// deeper rings two splits are kept where the grid is small (experts_stream.h, kOneTokenDownSplits).
// Tried and measured slower (H200, bench_ab, same session, T=1 FP8 w8a8, against the quantization launches): each
// one-token block quantizing its x row itself (the hidden row in gate_up, the slot's f32 activation row in down;
// codes and scales kept in the x tile's 7 unused rows of the ring, a warp per 128-group) so that the gather and
// the activation quantizer launches go: DeepSeek-V3 (down only) 111.5 -> 118.8 us, gpt-oss 48.5 -> 74.1, Mixtral
// 109.2 -> 172.0, Qwen3 30.1 -> 45.5. Every block of a slot (24-112 of them) re-quantized the whole row, a serial
// chain of L2 loads and warp reductions ahead of its first x stage; the launches it saved cost far less.
// Tried and measured slower (H200, same run): each block asking L2 for its 64 weight rows' first bytes (bulk
// prefetch, within half of L2) before its wait, so that the ring's first stages would come from L2: 0.99-1.16x
// over the 28 stream points of T = 1..64 (25 slower; Qwen3 FP8 T=64 1.16x).
// grid (units / kWarps, G, K splits): block y is a group (those past meta[0] exit), each warp one unit of weight rows,
// the block's 4 units streamed together (stream_rows); z, the one-token down pass's K split (1 elsewhere). MAX_TILES:
// rows of the group per weight read / 8; larger groups are taken in passes. Dynamic shared memory:
// stream_smem_bytes<FP8, MAX_TILES, STAGES>().
template <class CT, bool FP8, bool GATED, int MAX_TILES, bool ONE, int STAGES, int CHUNKS>
__device__ __forceinline__ void stream_gemm(const GemmParams& p, unsigned char* stream_smem) {
  // The down pass starts its ring's weight copies before the grid dependency wait, so that they overlap the
  // previous kernel's tail: its expert comes from the routing ids (one token) or the grouping pass's groups, both
  // written at least two kernels back (that kernel completed before gate_up, or the gather between them, passed
  // its own wait, and this grid launches only after every block of the kernel just before has passed its wait;
  // read here through L2, __ldcg, not the non-coherent path), and the weights from nothing a kernel writes. The
  // kernel just before (gate_up, or the FP8 activation quantizer) writes only the activation rows and their
  // scales, which stream_rows copies after the wait. PTX documents visibility only after griddepcontrol.wait:
  // reading the ids and groups before it rests on that transitive completion and L2 coherence, not on a documented
  // guarantee. Every exit still waits first (grid_dependency.cuh). On the H200 (whole layer, T = 1, same run):
  // gpt-oss-120b bf16 62.6 -> 59.8 us, Qwen3 bf16 on this tier 36.0 -> 34.0, the other presets and FP8 0.99x;
  // compute-sanitizer memcheck and racecheck clean on the one-token tests.
  constexpr bool kEarly = !GATED;
  if constexpr (!kEarly) device::wait_for_prerequisite_grids();
  device::allow_dependent_grids();
  const int group = blockIdx.y;
  int32_t e;  // every exit before stream_rows must be block-uniform, as these are
  int64_t first;
  int n;
  if constexpr (ONE) {
    e = kEarly ? local_expert<IdLoads::kThroughL2>(p.ids, p.local_of, p.num_experts, p.num_local, group)
               : local_expert(p.ids, p.local_of, p.num_experts, p.num_local, group);
    first = group;
    n = 1;
  } else {
    if (group >= (kEarly ? __ldcg(p.meta) : p.meta[0])) {
      if constexpr (kEarly) device::wait_for_prerequisite_grids();
      return;
    }
    e = kEarly ? __ldcg(p.group_expert + group) : p.group_expert[group];
    first = kEarly ? __ldcg(p.group_first + group) : p.group_first[group];
    n = kEarly ? __ldcg(p.group_count + group) : p.group_count[group];
  }
  const int64_t unit0 = static_cast<int64_t>(blockIdx.x) * kWarps * CHUNKS;
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
  // Down: chunk 1 (the next 64 rows) where any of its columns is below H (its rows are below Hp then: Hp is a
  // multiple of 64).
  const int chunks = CHUNKS > 1 && (unit0 + kWarps) * 16 < p.hidden ? CHUNKS : 1;
  for (int r0 = 0; r0 < n; r0 += kRowsPerTile * MAX_TILES) {
    const int left = n - r0;
    if (MAX_TILES >= 4 && left > 2 * kRowsPerTile)
      stream_pass<CT, FP8, GATED, (MAX_TILES >= 4 ? 4 : 1), MAX_TILES, ONE, STAGES, kEarly, CHUNKS>(
          p, stream_smem, e, first, n, r0, unit0, chunks);
    else if (MAX_TILES >= 2 && left > kRowsPerTile)
      stream_pass<CT, FP8, GATED, (MAX_TILES >= 2 ? 2 : 1), MAX_TILES, ONE, STAGES, kEarly, CHUNKS>(
          p, stream_smem, e, first, n, r0, unit0, chunks);
    else
      stream_pass<CT, FP8, GATED, 1, MAX_TILES, ONE, STAGES, kEarly, CHUNKS>(p, stream_smem, e, first, n, r0, unit0,
                                                                            chunks);
  }
}

template <class CT, bool FP8, bool GATED, int MAX_TILES, bool ONE, int STAGES = kStages>
__global__ void __launch_bounds__(kThreads) stream_gemm_kernel(const GemmParams p) {
  extern __shared__ __align__(1024) unsigned char stream_smem[];
  stream_gemm<CT, FP8, GATED, MAX_TILES, ONE, STAGES, 1>(p, stream_smem);
}

// Resident blocks per SM that the STAGES-deep ring of MAX_TILES tiles leaves room for on an H200 (228 KiB per SM, 1 KiB
// reserved per block), at most 4: the bound the kernels below are compiled for, so that registers do not hold them
// under what shared memory allows. (stream_gemm_kernel keeps no bound: even a bound of 1 changes ptxas's register
// choices, and its other instances fit anyway.)
template <bool FP8, int MAX_TILES, int STAGES = kStages>
constexpr int ring_resident_blocks() {
  const int fit = (228 * 1024) / (stream_smem_bytes<FP8, MAX_TILES, STAGES>() + kReservedSmemPerBlock);
  return fit < 4 ? fit : 4;
}

// FP8 gate_up at T > 1: stream_gemm_kernel's instance bounded to its ring's residency. Unbounded, the 4-tile
// kernel took 176 registers, 2 blocks per SM where its ring allows 3: ncu (H200, Qwen3-30B-A3B fp8 T=256) 12 %
// achieved occupancy, DRAM 63 % busy, where the bf16 gate_up's 151 registers kept 3 blocks (18 %, DRAM 86 %).
template <class CT, int MAX_TILES>
__global__ void __launch_bounds__(kThreads, (ring_resident_blocks<true, MAX_TILES>()))
    stream_gate_up_fp8_kernel(const GemmParams p) {
  extern __shared__ __align__(1024) unsigned char stream_smem[];
  stream_gemm<CT, true, true, MAX_TILES, false, kStages, 1>(p, stream_smem);
}

// Down at T > 1, kDownChunks runs of 64 weight rows per block through a ring of STAGES (kDownChunkedStages):
// grid (Hp / (64 * kDownChunks), G). Without the bound the second epilogue took these kernels to 138-216
// registers, one block per SM fewer than their rings allow.
template <class CT, bool FP8, int MAX_TILES, int STAGES>
__global__ void __launch_bounds__(kThreads, (ring_resident_blocks<FP8, MAX_TILES, STAGES>()))
    stream_down_chunked_kernel(const GemmParams p) {
  extern __shared__ __align__(1024) unsigned char stream_smem[];
  stream_gemm<CT, FP8, false, MAX_TILES, false, STAGES, kDownChunks>(p, stream_smem);
}

}  // namespace
}  // namespace moekit::cuda::experts::stream
