// The CUDA expert runner's row kernels around its GEMMs (experts_run.cu launches them; included there only, so
// they keep internal linkage): the mma.sync tier's operand builder (gather + FP8 quantization, a block per row),
// its split-K finish (GEMM1's activation, GEMM2's bias) and combine; the grouped tier's gather and activation
// pass (+ FP8 re-quantization), a warp per row or row segment, its block-per-token combine, and the extent of each
// local expert's rows. Semantics are
// the CPU backend's (core/src/cpu/cpu_experts.cpp); ids outside [0, E) and non-local experts are skipped and never
// index memory.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "compute_bits.cuh"
#include "experts_gemm.cuh"
#include "experts_stream_ops.cuh"
#include "fp8_quantize_fast.cuh"
#include "moekit_plugin.h"
#include "portability.h"
#include "row_segments.h"
#include "warp_ops.cuh"

namespace moekit::cuda::experts {

namespace {

constexpr int kRowThreads = 128;  // gather / quantization: one block per row, a warp per 128-group

enum : int32_t { kActQuantNone = 0, kActQuantPerToken = 1, kActQuantPerGroup = 2 };

__device__ __forceinline__ float load_as_f32(const void* data, int32_t dtype, int64_t i) {
  if (dtype == MOEKIT_PLUGIN_BF16) return bf16_to_f32(static_cast<const uint16_t*>(data)[i]);
  if (dtype == MOEKIT_PLUGIN_F16) return f16_to_f32(static_cast<const uint16_t*>(data)[i]);
  return static_cast<const float*>(data)[i];
}

// Where a row of GEMM input comes from: the gathered hidden state of an assignment (GEMM1, HiddenRows) or an f32
// activation row (GEMM2 input with FP8 activations).
struct RowSource : HiddenRows {
  // f32 rows
  const float* rows_f32;
  // common
  int64_t cols;         // padded row length (Hp or Ip)
  int64_t assignments;  // A
};

struct RowPlan {
  const int32_t* sorted;
  const int32_t* block_ids;
  const int32_t* post_padded;
  int64_t rows;     // P
  int32_t* row_of;  // optional [A]: row of each assignment in the padded order (the grouped tier's combine)
  // Optional (the grouped tier's FP8 scales): with group_first, the scales of a row of local expert e go to the
  // compact per-group array CUTLASS's blockwise mainloop reads, scales[group_first[e] * groups + gi *
  // group_rows[e] + (r - group_first[e])], instead of scales[gi * P + r].
  const int32_t* group_first;
  const int32_t* group_rows;
  const int32_t* local_of;
  int32_t num_experts, num_local;
};

// Where the FP8 scales of padded row r go (see RowPlan): K group gi's at base + gi * stride; r is a real row of a
// local block. Looked up once per row: inside a loop over the row's groups these dependent loads (block id, local
// expert, the group's first row and rows) were reissued per group, since the compiler cannot tell the stores in
// between from them. ncu, H200, grouped tier, before: the FP8 gather moved 17.5 % of DRAM bandwidth (qwen3-30b-a3b
// T=16384: 760 us, against 328 us for the bf16 gather's twice as many bytes).
struct ScaleRow {
  int64_t base, stride;
  __device__ __forceinline__ int64_t at(int64_t gi) const { return base + gi * stride; }
};
__device__ __forceinline__ ScaleRow scale_row(const RowPlan& plan, int64_t r, int64_t groups) {
  if (plan.group_first == nullptr) return {r, plan.rows};
  const int32_t e = plan.local_of[plan.block_ids[r / kBM]];  // checked by the caller's block test
  const int64_t first = plan.group_first[e];
  return {first * groups + (r - first), plan.group_rows[e]};
}

// One block per real row r of the padded order: writes out[r, 0..cols) in the compute type and, with FP8
// activations, the values are FP8 codes (as exact compute-type numbers, or bytes with CODES) and
// scales[cols/128][P] (transposed, so that a 64-row block's scales of one K block are contiguous) hold their
// scales (per token: the row's one scale, repeated). Padding rows, rows of non-local blocks and rows past the
// padded total are left alone (no GEMM reads them).
// CODES: store the FP8 codes themselves (bytes, for the e4m3 mma) instead of their compute-type values.
template <class CT, bool CODES = false>
__global__ void __launch_bounds__(kRowThreads) build_operand_kernel(RowSource src, RowPlan plan, int32_t act_quant,
                                                                    void* out_raw, float* scales) {
  uint16_t* out = static_cast<uint16_t*>(out_raw);
  uint8_t* out_codes = static_cast<uint8_t*>(out_raw);
  __shared__ float scratch[kRowThreads / 32];
  const int64_t post = *plan.post_padded;
  const int64_t groups = src.cols / kQuantBlock;
  for (int64_t r = blockIdx.x; r < plan.rows && r < post; r += gridDim.x) {
    const int32_t ge = plan.block_ids[r / kBM];
    if (ge < 0) continue;  // uniform over the block
    if (plan.group_first != nullptr &&
        (ge >= plan.num_experts || plan.local_of[ge] < 0 || plan.local_of[ge] >= plan.num_local))
      continue;
    // Padding rows are skipped: the GEMMs neither load nor multiply them (experts_gemm.cuh, n_valid).
    const int64_t a = plan.sorted[r];
    if (a < 0 || a >= src.assignments) continue;  // uniform over the block
    if (plan.row_of != nullptr && threadIdx.x == 0) plan.row_of[a] = static_cast<int32_t>(r);
    const ScaleRow srow = act_quant != kActQuantNone ? scale_row(plan, r, groups) : ScaleRow{0, 0};
    int64_t base;  // element offset of the source row
    float row_scale = 1.0f;
    if (src.rows_f32 != nullptr) {
      base = r * src.cols;
    } else {
      base = (a / src.top_k) * src.hidden_cols;
      if (src.weight_on_input) row_scale = src.topk_weights[a];
    }
    auto value = [&](int64_t h) -> float {
      if (src.rows_f32 != nullptr) return src.rows_f32[base + h];
      // The CPU backend's x[h] = load(hidden) * scale (one f32 multiply; scale 1 leaves it unchanged).
      return h < src.hidden_cols ? load_as_f32(src.hidden, src.hidden_dtype, base + h) * row_scale : 0.0f;
    };
    uint16_t* dst = out + r * src.cols;
    uint8_t* dst_codes = out_codes + r * src.cols;
    if (act_quant == kActQuantNone) {  // 8 columns loaded before one 16-byte store (cols: a multiple of 128)
      for (int64_t h0 = threadIdx.x * 8; h0 < src.cols; h0 += kRowThreads * 8) {
        float v[8];
#pragma unroll
        for (int u = 0; u < 8; ++u) v[u] = value(h0 + u);
        *reinterpret_cast<uint4*>(dst + h0) = pack8_compute_bits<CT>(v);
      }
      continue;
    }
    if (act_quant == kActQuantPerToken) {
      float amax = 0.0f;
      for (int64_t h = threadIdx.x; h < src.cols; h += kRowThreads) amax = fmaxf(amax, finite_abs(value(h)));
      const float scale = fp8_scale_from_amax(block_max<kRowThreads>(amax, scratch));
      for (int64_t h = threadIdx.x; h < src.cols; h += kRowThreads) {
        const uint8_t code = fp8_quantize_exact(value(h), scale);
        if constexpr (CODES) dst_codes[h] = code;
        else dst[h] = to_compute_bits<CT>(e4m3_to_f32(code));
      }
      for (int64_t gi = threadIdx.x; gi < groups; gi += kRowThreads) scales[srow.at(gi)] = scale;
      continue;
    }
    // Per 1 x 128 group: a warp per group, 4 columns per lane, no block barrier (a block-wide max per group
    // serialised the 56 groups of a DeepSeek-V3 row).
    const int lane = threadIdx.x & 31;
    for (int64_t gi = threadIdx.x / 32; gi < groups; gi += kRowThreads / 32) {
      const float scale = fp8_quantize_group_warp(gi * kQuantBlock, lane, value, [&](int64_t h, int, uint8_t code) {
        if constexpr (CODES) dst_codes[h] = code;
        else dst[h] = to_compute_bits<CT>(e4m3_to_f32(code));
      });
      if (lane == 0) scales[srow.at(gi)] = scale;
    }
  }
}

// Split-K finish of GEMM1: act[r, c] = activation(sum_s gate partials + bg, sum_s up partials + bu), the splits
// added in order (deterministic); padding rows of local blocks get zeros.
struct FinishParams {
  const float* partial;  // [splits][P][rows]
  int32_t splits;
  int64_t rows_total;    // P
  int64_t n;             // weight rows per expert (2*Ip or Hp)
  const float* bias;     // [L][n]
  const int32_t* sorted;
  const int32_t* block_ids;
  const int32_t* post_padded;
  const int32_t* local_of;
  int32_t num_experts, num_local;
  int64_t assignments;
  // GEMM1
  int64_t ip;
  void* act;
  int32_t act_f32, act_f16;
  int32_t activation;
  float alpha, limit;
  // GEMM2
  float* y;
  int64_t hidden;
};

__device__ __forceinline__ float sum_splits(const FinishParams& p, int64_t r, int64_t col) {
  float v = 0.0f;
  for (int s = 0; s < p.splits; ++s) v += p.partial[(s * p.rows_total + r) * p.n + col];
  return v;
}

template <bool GATED>
__global__ void finish_splits_kernel(FinishParams p) {
  const int64_t post = *p.post_padded;
  for (int64_t r = blockIdx.x; r < p.rows_total && r < post; r += gridDim.x) {
    const int32_t ge = p.block_ids[r / kBM];
    if (ge < 0 || ge >= p.num_experts) continue;
    const int32_t e = p.local_of[ge];
    if (e < 0 || e >= p.num_local) continue;
    const int64_t a = p.sorted[r];
    const bool real = a >= 0 && a < p.assignments;
    const float* bias = p.bias + static_cast<int64_t>(e) * p.n;
    if constexpr (GATED) {
      for (int64_t c = threadIdx.x; c < p.ip; c += blockDim.x) {
        const float v = real ? gemm_detail::activate(p.activation, sum_splits(p, r, c) + bias[c],
                                                     sum_splits(p, r, p.ip + c) + bias[p.ip + c], p.alpha, p.limit)
                             : 0.0f;
        const int64_t i = r * p.ip + c;
        if (p.act_f32) static_cast<float*>(p.act)[i] = v;
        else if (p.act_f16) static_cast<uint16_t*>(p.act)[i] = f32_to_f16(v);
        else static_cast<uint16_t*>(p.act)[i] = f32_to_bf16(v);
      }
    } else {
      if (!real) continue;
      for (int64_t h = threadIdx.x; h < p.hidden; h += blockDim.x) p.y[a * p.hidden + h] = sum_splits(p, r, h) + bias[h];
    }
  }
}

// The grouped tier's gather and activation pass give a warp a row, or a segment of a row where its 256-column
// chunks stand alone (RowSegments, row_segments.h), kWarpRows warps per block, 8 columns per lane: 16-byte loads and
// stores, and an FP8 1 x 128 group is the 16 lanes of one half-warp, so its amax is four xor shuffles (no block
// barrier). ncu on the H200 (qwen3-30b-a3b T=16384) had the block-per-row build_operand_kernel at 1146 us for the
// FP8 gather (573 us bf16) and the activation + re-quantization passes at 341 + 452 us, for 0.3-0.9 GB of traffic
// each. The values, scales and codes are build_operand_kernel's: same f32 math per element,
// and a max does not depend on the order it is taken in.
constexpr int kWarpRows = 8;  // warps per block: 256 threads

__device__ __forceinline__ float half_warp_max(float v) {
  for (int o = 8; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
  return v;
}

// The row of the padded order a warp works on, or -1 to skip it (padding rows, non-local blocks, rows past the
// padded total): the checks of build_operand_kernel, uniform over the warp.
__device__ __forceinline__ int64_t grouped_real_assignment(const RowPlan& plan, int64_t r, int64_t assignments) {
  const int32_t ge = plan.block_ids[r / kBM];
  if (ge < 0 || ge >= plan.num_experts || plan.local_of[ge] < 0 || plan.local_of[ge] >= plan.num_local) return -1;
  const int64_t a = plan.sorted[r];
  return a >= 0 && a < assignments ? a : -1;
}

// Stores 8 values: FP8 codes (8 bytes) or compute-type bits (16 bytes).
template <class CT, bool CODES>
__device__ __forceinline__ void store8(void* out, int64_t i, const float* v, float scale) {
  if constexpr (CODES) {
    *reinterpret_cast<uint2*>(static_cast<uint8_t*>(out) + i) = fp8_quantize8(v, scale);
  } else {
    *reinterpret_cast<uint4*>(static_cast<uint16_t*>(out) + i) = pack8_compute_bits<CT>(v);
  }
}

// 8 consecutive f32 values (16-byte aligned: two 16-byte loads).
__device__ __forceinline__ void load8_f32(const float* at, float* v) {
  const float4 a = reinterpret_cast<const float4*>(at)[0], b = reinterpret_cast<const float4*>(at)[1];
  v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}

// hidden[base + h0 .. + 8) as f32, zero past H. vec: the host checked that every 8-column chunk below H is one
// aligned 16-byte load (16-bit hidden, H % 8 == 0) or two (f32, H % 4 == 0).
__device__ __forceinline__ void load8_hidden(const RowSource& src, int64_t base, int64_t h0, int32_t vec, float* v) {
  if (vec && h0 + 8 <= src.hidden_cols) {
    if (src.hidden_dtype == MOEKIT_PLUGIN_F32) {
      load8_f32(static_cast<const float*>(src.hidden) + base + h0, v);
    } else {
      const uint4 x4 = *reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(src.hidden) + base + h0);
      const uint16_t* x = reinterpret_cast<const uint16_t*>(&x4);
#pragma unroll
      for (int j = 0; j < 8; ++j) v[j] = src.hidden_dtype == MOEKIT_PLUGIN_BF16 ? bf16_to_f32(x[j]) : f16_to_f32(x[j]);
    }
    return;
  }
#pragma unroll
  for (int j = 0; j < 8; ++j)
    v[j] = h0 + j < src.hidden_cols ? load_as_f32(src.hidden, src.hidden_dtype, base + h0 + j) : 0.0f;
}

// One warp writes a row of cols values as e4m3 codes (codes[0, cols)) and their scales, store_scale(gi, scale)
// for each 128-group gi: per token (act_quant kActQuantPerToken: one scale from the row's amax, so load8 runs
// twice) or per 1 x 128 group (a half-warp per group). load8(h0, v) gives the row's 8 values at column h0.
// Chunks of 256 columns: lanes 0-15 hold one 128-group, lanes 16-31 the next; the loop is warp-uniform (the
// shuffles need every lane), lanes past the row's end only take part in them.
template <class Load8, class StoreScale>
__device__ __forceinline__ void quantize_row_warp(int lane, int64_t cols, int32_t act_quant, const Load8& load8,
                                                  uint8_t* codes, const StoreScale& store_scale) {
  if (act_quant == kActQuantPerToken) {
    float amax = 0.0f;
    for (int64_t h0 = lane * 8; h0 < cols; h0 += 256) {
      float v[8];
      load8(h0, v);
      amax = fmaxf(amax, finite_amax8(v));
    }
    const float scale = fp8_scale_from_amax(warp_max(amax));
    for (int64_t h0 = lane * 8; h0 < cols; h0 += 256) {
      float v[8];
      load8(h0, v);
      store8<__nv_bfloat16, true>(codes, h0, v, scale);
    }
    for (int64_t gi = lane; gi < cols / kQuantBlock; gi += 32) store_scale(gi, scale);
    return;
  }
#pragma unroll 2
  for (int64_t c0 = 0; c0 < cols; c0 += 256) {
    const int64_t h0 = c0 + lane * 8;
    const bool in = h0 < cols;
    float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (in) load8(h0, v);
    const float scale = fp8_scale_from_amax(half_warp_max(finite_amax8(v)));
    if (in && (lane & 15) == 0) store_scale(h0 / kQuantBlock, scale);
    if (in) store8<__nv_bfloat16, true>(codes, h0, v, scale);
  }
}

// 16-byte chunks [begin, stop) of a row, chunk c of `from` to chunk c of `to` through convert(chunk) (zeros for
// chunks at or past `valid`, which are not read), kGatherBatch loads per lane in flight before the first store: the
// grouped tier's row copies (the 16-bit gather, the FP8 codes of a token's k rows).
constexpr int kGatherBatch = 4;
template <class Convert>
__device__ __forceinline__ void copy_chunks16(const uint4* from, uint4* to, int64_t begin, int64_t stop, int64_t valid,
                                              int lane, const Convert& convert) {
  for (int64_t c0 = begin + lane; c0 < stop; c0 += 32 * kGatherBatch) {
    uint4 x[kGatherBatch];
#pragma unroll
    for (int u = 0; u < kGatherBatch; ++u) {
      const int64_t c = c0 + 32 * u;
      x[u] = c < valid && c < stop ? from[c] : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kGatherBatch; ++u) {
      const int64_t c = c0 + 32 * u;
      if (c >= stop) break;
      to[c] = convert(x[u]);
    }
  }
}

// Columns [first, end) of one gathered row (multiples of 8) from a 16-bit hidden row whose 8-column chunks are
// aligned 16-byte loads (vec; H % 8 == 0, so a chunk is all below H or all past it), through copy_chunks16, where
// one load per lane sat between stores before. Measured together with the bf16 activation pass's two chunks in
// flight (kActivationChunksInFlight, where the numbers are); ncu with caches flushed saw this kernel unchanged
// (DeepSeek-V3 bf16 T=4096: 197 -> 198 us, 3.74 TB/s counting the hidden reads that miss L2). Hidden already in
// the compute type, router weight not on the input: the bits are copied as they are (what the streaming tier reads
// in place); otherwise each value is converted to f32, scaled by the router weight and rounded to the compute
// type, as load8_hidden + store8 do. Chunks past H are zeros (times the router weight, as load8_hidden's zeros
// are).
template <class CT>
__device__ __forceinline__ void gather_row16(const HiddenRows& src, int64_t base, float row_scale, int64_t first,
                                             int64_t end, int lane, uint16_t* dst_row) {
  constexpr int32_t kCtDtype = std::is_same<CT, __half>::value ? MOEKIT_PLUGIN_F16 : MOEKIT_PLUGIN_BF16;
  const bool same_bits = src.hidden_dtype == kCtDtype && !src.weight_on_input;
  const bool bf16_in = src.hidden_dtype == MOEKIT_PLUGIN_BF16;
  copy_chunks16(reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(src.hidden) + base),
                reinterpret_cast<uint4*>(dst_row), first / 8, end / 8, src.hidden_cols / 8, lane, [&](uint4 x) {
                  if (same_bits) return x;
                  const uint16_t* bits = reinterpret_cast<const uint16_t*>(&x);
                  float v[8];
#pragma unroll
                  for (int j = 0; j < 8; ++j)
                    v[j] = (bf16_in ? bf16_to_f32(bits[j]) : f16_to_f32(bits[j])) * row_scale;
                  return pack8_compute_bits<CT>(v);
                });
}

// Grouped tier's gather (step 2): x[r, h] = hidden[t, h] (x the router weight with apply_router_weight_on_input),
// zero past H, in the compute type (CODES false, act_quant none) or as e4m3 codes + scales in CUTLASS's per-group
// layout (scale_row). With FP8 activations and k > 1 the runner quantizes each token once instead
// (token_quantize_kernel + grouped_gather_codes_kernel, below).
// WHOLE (16-bit path): whole rows (seg.per_row() == 1), compiled without the segment index math.
template <class CT, bool CODES, bool WHOLE = true>
__global__ void __launch_bounds__(kWarpRows * 32) grouped_gather_kernel(RowSource src, RowPlan plan,
                                                                        int32_t act_quant, int32_t vec,
                                                                        RowSegments seg, void* out,
                                                                        float* scales) {
  const int lane = threadIdx.x & 31;
  const int64_t post = *plan.post_padded;
  const int64_t warp = static_cast<int64_t>(blockIdx.x) * kWarpRows + threadIdx.x / 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarpRows;
  if constexpr (CODES) {  // FP8 rows quantized in place, a warp per row (a per-token scale needs the whole row)
    const int64_t groups = src.cols / kQuantBlock;
    for (int64_t r = warp; r < plan.rows && r < post; r += warps) {
      const int64_t a = grouped_real_assignment(plan, r, src.assignments);
      if (a < 0) continue;
      if (plan.row_of != nullptr && lane == 0) plan.row_of[a] = static_cast<int32_t>(r);
      const int64_t base = (a / src.top_k) * src.hidden_cols;
      const float row_scale = src.weight_on_input ? src.topk_weights[a] : 1.0f;
      // The CPU backend's x[h] = load(hidden) * scale (one f32 multiply; scale 1 leaves it unchanged).
      auto load8 = [&](int64_t h0, float* v) {
        load8_hidden(src, base, h0, vec, v);
#pragma unroll
        for (int j = 0; j < 8; ++j) v[j] *= row_scale;
      };
      const ScaleRow srow = scale_row(plan, r, groups);
      quantize_row_warp(lane, src.cols, act_quant, load8, static_cast<uint8_t*>(out) + r * src.cols,
                        [&](int64_t gi, float scale) { scales[srow.at(gi)] = scale; });
    }
  } else {  // row segments (RowSegments): rows of few tokens still fill the GPU
    const int64_t rows = plan.rows < post ? plan.rows : post;
    const int64_t per_row = WHOLE ? 1 : seg.per_row();
    for (int64_t item = warp; item < rows * per_row; item += warps) {
      const int64_t r = WHOLE ? item : item / per_row;
      const int64_t a = grouped_real_assignment(plan, r, src.assignments);
      if (a < 0) continue;
      const int64_t first = WHOLE ? 0 : (item - r * per_row) * seg.seg_chunks * kRowChunk;  // column
      if (first == 0 && plan.row_of != nullptr && lane == 0) plan.row_of[a] = static_cast<int32_t>(r);
      const int64_t base = (a / src.top_k) * src.hidden_cols;
      const float row_scale = src.weight_on_input ? src.topk_weights[a] : 1.0f;
      const int64_t end =
          WHOLE || first + seg.seg_chunks * kRowChunk >= src.cols ? src.cols : first + seg.seg_chunks * kRowChunk;
      if (vec && src.hidden_dtype != MOEKIT_PLUGIN_F32) {  // 16-bit hidden, 16-byte chunks: batched copies
        gather_row16<CT>(src, base, row_scale, first, end, lane, static_cast<uint16_t*>(out) + r * src.cols);
        continue;
      }
      for (int64_t h0 = first + lane * 8; h0 < end; h0 += kRowChunk) {
        float v[8];
        load8_hidden(src, base, h0, vec, v);
#pragma unroll
        for (int j = 0; j < 8; ++j) v[j] *= row_scale;
        store8<CT, false>(out, r * src.cols + h0, v, 1.0f);
      }
    }
  }
}

// FP8 gather, first step: each token's row quantized once (the gather kernel above would quantize it k times,
// once per assignment, and was bound by the issue of those instructions: ncu on the H200, qwen3-30b-a3b fp8
// T=16384, 606 us at 22 % of DRAM bandwidth and 78 % of the SMs' issue slots). codes [T, cols] bytes, scales
// [T, cols / 128]. Same values, so the same codes and scales as quantizing each assignment's row.
__global__ void __launch_bounds__(kWarpRows * 32) token_quantize_kernel(RowSource src, int64_t tokens,
                                                                        int32_t act_quant, int32_t vec,
                                                                        uint8_t* codes, float* scales) {
  const int lane = threadIdx.x & 31;
  const int64_t groups = src.cols / kQuantBlock;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * kWarpRows + threadIdx.x / 32; t < tokens;
       t += static_cast<int64_t>(gridDim.x) * kWarpRows) {
    const int64_t base = t * src.hidden_cols;
    quantize_row_warp(
        lane, src.cols, act_quant, [&](int64_t h0, float* v) { load8_hidden(src, base, h0, vec, v); },
        codes + t * src.cols, [&](int64_t gi, float scale) { scales[t * groups + gi] = scale; });
  }
}

// FP8 gather, second step: each real row r of a local expert gets its token's codes (16-byte copies; cols is a
// multiple of 128) and scales, in CUTLASS's per-group layout (scale_row); row_of as in grouped_gather_kernel.
__global__ void __launch_bounds__(kWarpRows * 32) grouped_gather_codes_kernel(const uint8_t* token_codes,
                                                                              const float* token_scales,
                                                                              RowPlan plan, int64_t cols,
                                                                              int32_t top_k, int64_t assignments,
                                                                              uint8_t* out, float* scales) {
  const int lane = threadIdx.x & 31;
  const int64_t post = *plan.post_padded;
  const int64_t groups = cols / kQuantBlock, chunks = cols / 16;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpRows + threadIdx.x / 32; r < plan.rows && r < post;
       r += static_cast<int64_t>(gridDim.x) * kWarpRows) {
    const int64_t a = grouped_real_assignment(plan, r, assignments);
    if (a < 0) continue;
    if (plan.row_of != nullptr && lane == 0) plan.row_of[a] = static_cast<int32_t>(r);
    const int64_t t = static_cast<int32_t>(a) / top_k;  // a < 2^31 (the host checked A)
    copy_chunks16(reinterpret_cast<const uint4*>(token_codes + t * cols), reinterpret_cast<uint4*>(out + r * cols), 0,
                  chunks, chunks, lane, [](uint4 x) { return x; });
    const ScaleRow srow = scale_row(plan, r, groups);
    for (int64_t gi = lane; gi < groups; gi += 32) scales[srow.at(gi)] = token_scales[t * groups + gi];
  }
}

// Grouped tier, between the GEMMs: act[r, c] = activation(h[r, c] + bg[c], h[r, Ip + c] + bu[c]) for the real
// rows of local experts (the rows GEMM2 reads), 8 columns per lane. With FP8 activations (quant) h is GEMM1's f32
// output and the activation rows are quantized right here, as build_operand_kernel would from an f32 act row
// (same f32 values, same scales and codes): e4m3 codes into act and their scales in CUTLASS's per-group layout,
// so no f32 act row is written and read back.
struct GroupedActParams {
  const void* h;      // [P, 2Ip]: bf16, or f32 with quant (the FP8 GEMM1's output)
  void* act;          // [P, Ip]: bf16, or e4m3 codes with quant
  float* scales;      // quant: the codes' scales (scale_row of plan)
  const float* bias;  // [L][2Ip], or null without w13 biases (no loads and adds of zeros)
  RowPlan plan;
  int64_t assignments, ip;
  int32_t activation;
  float alpha, limit;
  RowSegments seg;    // grouped_activation_kernel's items (the per-token kernel takes whole rows)
};

// Row r's bf16 gate and up bits at columns [c, c + 8) (c < Ip), loaded apart from their use so that a warp has
// two chunks' loads in flight (grouped_activation_kernel, kActivationChunksInFlight).
struct GateUp8 {
  uint4 g, u;
};
__device__ __forceinline__ GateUp8 load_gate_up8(const GroupedActParams& p, int64_t r, int64_t c) {
  const uint4* hr = reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(p.h) + r * 2 * p.ip);
  return {hr[c / 8], hr[(p.ip + c) / 8]};
}

// v = activation(gate + bg, up + bu) for columns [c, c + 8). bias: the row's expert's b13 or null.
__device__ __forceinline__ void activate8(const GroupedActParams& p, float* g, float* u, const float* bias, int64_t c,
                                          float* v) {
  if (bias != nullptr) {
#pragma unroll
    for (int j = 0; j < 8; j += 4) {
      const float4 bg = *reinterpret_cast<const float4*>(bias + c + j);
      const float4 bu = *reinterpret_cast<const float4*>(bias + p.ip + c + j);
      g[j] += bg.x, g[j + 1] += bg.y, g[j + 2] += bg.z, g[j + 3] += bg.w;
      u[j] += bu.x, u[j + 1] += bu.y, u[j + 2] += bu.z, u[j + 3] += bu.w;
    }
  }
#pragma unroll
  for (int j = 0; j < 8; ++j) v[j] = gemm_detail::activate(p.activation, g[j], u[j], p.alpha, p.limit);
}

// Row r's activation at columns [c, c + 8) (c < Ip; Ip is a multiple of 128) from GEMM1's f32 output (FP8
// activations), loaded here.
__device__ __forceinline__ void grouped_activation8_f32(const GroupedActParams& p, int64_t r, const float* bias,
                                                        int64_t c, float* v) {
  float g[8], u[8];
  const float* hr = static_cast<const float*>(p.h) + r * 2 * p.ip;
  load8_f32(hr + c, g);
  load8_f32(hr + p.ip + c, u);
  activate8(p, g, u, bias, c, v);
}

// The same from GEMM1's bf16 output, gate and up bits loaded before (load_gate_up8).
__device__ __forceinline__ void grouped_activation8(const GroupedActParams& p, const GateUp8& x,
                                                    const float* bias, int64_t c, float* v) {
  float g[8], u[8];
  const uint16_t* gb = reinterpret_cast<const uint16_t*>(&x.g);
  const uint16_t* ub = reinterpret_cast<const uint16_t*>(&x.u);
#pragma unroll
  for (int j = 0; j < 8; ++j) g[j] = bf16_to_f32(gb[j]), u[j] = bf16_to_f32(ub[j]);
  activate8(p, g, u, bias, c, v);
}

__device__ __forceinline__ const float* grouped_w13_bias(const GroupedActParams& p, int64_t r) {
  if (p.bias == nullptr) return nullptr;
  return p.bias + static_cast<int64_t>(p.plan.local_of[p.plan.block_ids[r / kBM]]) * 2 * p.ip;
}

// Chunks whose loads a warp of the bf16 activation pass has in flight before it uses them: two. H200, whole
// layer, bench/results/h200_ab_grouped_glue_batched_loads.md (together with the gather's batched copies, against
// one chunk): two sessions, DeepSeek-V3 T=4096 0.985 / 0.992x, gpt-oss-120b T=4096 0.987 / 0.988x, T=1024 0.997 /
// 0.996x, Mixtral-8x7B T=4096 0.993 / 0.948x (a noisy machine), Qwen3-30B-A3B T=1024 0.990 / 0.995x and T=4096
// 0.981 / 1.007x. The FP8 pass (f32 h, 64 bytes per lane and chunk) keeps one: with two it took 78 registers, 3
// blocks per SM instead of 4, and 7 of 8 FP8 points were 1.005-1.028x slower; with the next chunk's loads issued
// before this chunk's math and the kernel bounded to 4 blocks per SM, the 13 FP8 points at T = 256..16384 that run
// this pass were within 0.985-1.059x (geometric mean of all 16 measured 1.004x; Mixtral-8x7B T=4096 1.059x;
// bench/results/h200_ab_grouped_fp8_act_prefetch_not_kept.md).
constexpr int kActivationChunksInFlight = 2;

// bf16 activations or FP8 per 1 x 128 group: every 256-column chunk of a row stands alone (a half-warp per
// group), so a warp takes a row segment at a time (RowSegments, p.seg).
// WHOLE: whole rows (p.seg.per_row() == 1), compiled without the segment index math.
template <bool QUANT, bool WHOLE>
__global__ void __launch_bounds__(kWarpRows * 32) grouped_activation_kernel(GroupedActParams p) {
  const int lane = threadIdx.x & 31;
  const RowPlan& plan = p.plan;
  const int64_t post = *plan.post_padded;
  const int64_t rows = plan.rows < post ? plan.rows : post;
  const int64_t per_row = WHOLE ? 1 : p.seg.per_row(), groups = p.ip / kQuantBlock;
  for (int64_t item = static_cast<int64_t>(blockIdx.x) * kWarpRows + threadIdx.x / 32; item < rows * per_row;
       item += static_cast<int64_t>(gridDim.x) * kWarpRows) {
    const int64_t r = WHOLE ? item : item / per_row;
    if (grouped_real_assignment(plan, r, p.assignments) < 0) continue;
    const float* bias = grouped_w13_bias(p, r);
    const ScaleRow srow = QUANT ? scale_row(plan, r, groups) : ScaleRow{0, 0};
    const int64_t first = WHOLE ? 0 : (item - r * per_row) * p.seg.seg_chunks * kRowChunk;
    const int64_t end =
        WHOLE || first + p.seg.seg_chunks * kRowChunk >= p.ip ? p.ip : first + p.seg.seg_chunks * kRowChunk;
    if constexpr (QUANT) {
      // Warp-uniform chunks (the half-warp shuffles need every lane); lanes past Ip only take part in them.
      for (int64_t c0 = first; c0 < end; c0 += kRowChunk) {
        const int64_t c = c0 + lane * 8;
        const bool in = c < p.ip;  // uniform over each half-warp (Ip % 128 == 0)
        float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        if (in) grouped_activation8_f32(p, r, bias, c, v);
        const float scale = fp8_scale_from_amax(half_warp_max(finite_amax8(v)));
        if (in && (lane & 15) == 0) p.scales[srow.at(c / kQuantBlock)] = scale;
        if (in) store8<__nv_bfloat16, true>(p.act, r * p.ip + c, v, scale);
      }
    } else {
      constexpr int kInFlight = kActivationChunksInFlight;
      for (int64_t c0 = first; c0 < end; c0 += kInFlight * kRowChunk) {
        GateUp8 x[kInFlight] = {};
#pragma unroll
        for (int u = 0; u < kInFlight; ++u) {
          const int64_t c = c0 + u * kRowChunk + lane * 8;
          if (c0 + u * kRowChunk < end && c < p.ip) x[u] = load_gate_up8(p, r, c);
        }
#pragma unroll
        for (int u = 0; u < kInFlight; ++u) {
          const int64_t c = c0 + u * kRowChunk + lane * 8;
          if (c0 + u * kRowChunk >= end || c >= p.ip) continue;
          float v[8];
          grouped_activation8(p, x[u], bias, c, v);
          store8<__nv_bfloat16, false>(p.act, r * p.ip + c, v, 1.0f);
        }
      }
    }
  }
}

// FP8 per token: one scale from the whole row's amax, so a warp takes a row (h is read twice).
__global__ void __launch_bounds__(kWarpRows * 32) grouped_activation_per_token_kernel(GroupedActParams p) {
  const int lane = threadIdx.x & 31;
  const RowPlan& plan = p.plan;
  const int64_t post = *plan.post_padded;
  const int64_t groups = p.ip / kQuantBlock;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpRows + threadIdx.x / 32; r < plan.rows && r < post;
       r += static_cast<int64_t>(gridDim.x) * kWarpRows) {
    if (grouped_real_assignment(plan, r, p.assignments) < 0) continue;
    const float* bias = grouped_w13_bias(p, r);
    float amax = 0.0f;
    for (int64_t c = lane * 8; c < p.ip; c += 256) {
      float v[8];
      grouped_activation8_f32(p, r, bias, c, v);
      amax = fmaxf(amax, finite_amax8(v));
    }
    const float scale = fp8_scale_from_amax(warp_max(amax));
    for (int64_t c = lane * 8; c < p.ip; c += 256) {
      float v[8];
      grouped_activation8_f32(p, r, bias, c, v);
      store8<__nv_bfloat16, true>(p.act, r * p.ip + c, v, scale);
    }
    const ScaleRow srow = scale_row(plan, r, groups);
    for (int64_t gi = lane; gi < groups; gi += 32) p.scales[srow.at(gi)] = scale;
  }
}

// Grouped tier: first row and real rows of each local expert's run of blocks in the padded order (one block;
// the thread that owns an expert's first block measures its run). Experts without blocks keep rows = 0.
// Every index is checked: block ids outside [0, E), local ids outside [0, L) and assignments outside [0, A)
// never address memory.
struct GroupExtentParams {
  const int32_t* block_ids;
  const int32_t* sorted;
  const int32_t* post_padded;
  const int32_t* local_of;
  int32_t num_experts, num_local;
  int64_t m_blocks, assignments;
  int32_t* first_row;
  int32_t* rows;
};

// Two passes over the blocks, one thread per block: the first block of an expert's run writes its first row, the
// last one its end row (into rows); then rows = end - first. (ncu on the H200, qwen3-30b-a3b T=16384: the
// previous one-thread-per-run walk took 30 us of a ~4 ms layer.)
constexpr int kExtentThreads = 1024;

__global__ void __launch_bounds__(kExtentThreads) group_extent_kernel(GroupExtentParams p) {
  for (int32_t e = threadIdx.x; e < p.num_local; e += blockDim.x) {
    p.first_row[e] = 0;
    p.rows[e] = 0;
  }
  __syncthreads();
  int64_t blocks = *p.post_padded / kBM;
  if (blocks > p.m_blocks) blocks = p.m_blocks;
  for (int64_t b = threadIdx.x; b < blocks; b += blockDim.x) {
    const int32_t ge = p.block_ids[b];
    if (ge < 0 || ge >= p.num_experts) continue;
    const int32_t e = p.local_of[ge];
    if (e < 0 || e >= p.num_local) continue;
    if (b == 0 || p.block_ids[b - 1] != ge) p.first_row[e] = static_cast<int32_t>(b * kBM);
    if (b + 1 < blocks && p.block_ids[b + 1] == ge) continue;  // not the last block of its expert
    int64_t real = 0;  // padding sits at the end of an expert's last block
#pragma unroll 16
    for (int64_t i = 0; i < kBM; ++i) {
      const int32_t a = p.sorted[b * kBM + i];
      if (a >= 0 && a < p.assignments) real = i + 1;
    }
    p.rows[e] = static_cast<int32_t>(b * kBM + real);  // the end row, for now
  }
  __syncthreads();  // makes this block's global writes visible to all its threads
  for (int32_t e = threadIdx.x; e < p.num_local; e += blockDim.x)
    if (p.rows[e] > 0) p.rows[e] -= p.first_row[e];
}

struct CombineParams {
  const float* y;            // [A, H] (mma.sync tier)
  const uint16_t* y_bf16;    // grouped tier: bf16 [P, y_stride] in the padded order, read through row_of
  const int32_t* row_of;     // grouped tier: [A] row of each assignment in y_bf16; null: y is indexed by assignment
  const float* bias;         // grouped tier: b2 [L][y_stride], added here (GEMM2 has no bias epilogue); null: none
  int64_t y_stride;
  const int32_t* ids;        // [T, k]
  const float* topk_weights; // [T, k]
  const int32_t* local_of;   // [E]
  int32_t num_experts;
  int64_t tokens, top_k, hidden;
  int32_t weight_on_input;
  void* out;
  int32_t out_dtype;
};

// A block per (token, blockDim.x columns): a block per token left most SMs idle at small T. Launched with
// kMmaCombineThreads threads.
constexpr int kMmaCombineThreads = 256;
__global__ void combine_kernel(CombineParams p) {
  const int64_t chunks = (p.hidden + blockDim.x - 1) / blockDim.x;
  for (int64_t b = blockIdx.x; b < p.tokens * chunks; b += gridDim.x) {
    const int64_t t = b / chunks, h = (b % chunks) * blockDim.x + threadIdx.x;
    if (h < p.hidden) {
      float acc = 0.0f;
      for (int64_t j = 0; j < p.top_k; ++j) {
        const int64_t a = t * p.top_k + j;
        const int32_t id = p.ids[a];
        if (id < 0 || id >= p.num_experts || p.local_of[id] < 0) continue;
        const float w = p.weight_on_input ? 1.0f : p.topk_weights[a];
        acc += w * p.y[a * p.hidden + h];
      }
      const int64_t i = t * p.hidden + h;
      if (p.out_dtype == MOEKIT_PLUGIN_BF16) static_cast<uint16_t*>(p.out)[i] = f32_to_bf16(acc);
      else if (p.out_dtype == MOEKIT_PLUGIN_F16) static_cast<uint16_t*>(p.out)[i] = f32_to_f16(acc);
      else static_cast<float*>(p.out)[i] = acc;
    }
  }
}

// The grouped tier's combine: the same sums as combine_kernel (slot order, b2 added to each expert output before
// it is weighted), reading y_bf16 through row_of, 8 columns per thread with 16-byte loads (rows of y and b2 are
// Hp long, a multiple of 128; columns past H are never stored).
__device__ __forceinline__ void store_out(const CombineParams& p, int64_t i, float v) {
  if (p.out_dtype == MOEKIT_PLUGIN_BF16) static_cast<uint16_t*>(p.out)[i] = f32_to_bf16(v);
  else if (p.out_dtype == MOEKIT_PLUGIN_F16) static_cast<uint16_t*>(p.out)[i] = f32_to_f16(v);
  else static_cast<float*>(p.out)[i] = v;
}

// A token's slots are read once per block into shared memory (row of y or -1, weight, local expert), so the
// column loop issues its 16-byte loads of the k rows back to back. (ncu on the H200, qwen3-30b-a3b T=16384:
// 242 us for 0.6 GB when each column chunk re-read the slot's ids, weight and row.)
// Tried and not kept (bench/results/h200_ab_combine_raw_loads_not_kept.md): the column loop loading 4 staged
// slots' raw y and b2 operands before their adds (its SASS has each slot's load after the previous slot's adds):
// Mixtral-8x7B fp8 T=1024 0.952x, DeepSeek-V3 fp8 T=4096 0.978x, but gpt-oss-120b bf16 T=4096 1.048x and Qwen3
// fp8 T=4096 1.019x in both rounds.
constexpr int kCombineThreads = 128;
constexpr int kCombineMaxSlots = 64;  // top_k above this takes combine_rows_kernel's per-chunk lookups

__global__ void __launch_bounds__(kCombineThreads) combine_rows_kernel(CombineParams p) {
  __shared__ int32_t slot_row[kCombineMaxSlots];
  __shared__ int32_t slot_expert[kCombineMaxSlots];
  __shared__ float slot_weight[kCombineMaxSlots];
  const bool staged = p.top_k <= kCombineMaxSlots;
  for (int64_t t = blockIdx.x; t < p.tokens; t += gridDim.x) {
    if (staged) {
      __syncthreads();  // the previous token's slots may still be read
      for (int64_t j = threadIdx.x; j < p.top_k; j += blockDim.x) {
        const int64_t a = t * p.top_k + j;
        const int32_t id = p.ids[a];
        const bool skip = id < 0 || id >= p.num_experts || p.local_of[id] < 0;
        slot_row[j] = skip ? -1 : p.row_of[a];
        slot_expert[j] = skip ? 0 : p.local_of[id];
        slot_weight[j] = p.weight_on_input ? 1.0f : p.topk_weights[a];
      }
      __syncthreads();
    }
    for (int64_t h0 = threadIdx.x * 8; h0 < p.hidden; h0 += blockDim.x * 8) {
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
#pragma unroll 4
      for (int64_t j = 0; j < p.top_k; ++j) {
        int64_t row;
        int32_t e;
        float w;
        if (staged) {
          row = slot_row[j];
          if (row < 0) continue;
          e = slot_expert[j];
          w = slot_weight[j];
        } else {
          const int64_t a = t * p.top_k + j;
          const int32_t id = p.ids[a];
          if (id < 0 || id >= p.num_experts || p.local_of[id] < 0) continue;
          row = p.row_of[a];
          e = p.local_of[id];
          w = p.weight_on_input ? 1.0f : p.topk_weights[a];
        }
        const uint4 y4 = *reinterpret_cast<const uint4*>(p.y_bf16 + row * p.y_stride + h0);
        const uint16_t* y = reinterpret_cast<const uint16_t*>(&y4);
        float yb[8];
#pragma unroll
        for (int i = 0; i < 8; ++i) yb[i] = bf16_to_f32(y[i]);
        if (p.bias != nullptr) {  // null without w2 biases: no loads and adds of zeros
          const float* b = p.bias + static_cast<int64_t>(e) * p.y_stride + h0;
          const float4 b0 = *reinterpret_cast<const float4*>(b), b1 = *reinterpret_cast<const float4*>(b + 4);
          yb[0] += b0.x, yb[1] += b0.y, yb[2] += b0.z, yb[3] += b0.w;
          yb[4] += b1.x, yb[5] += b1.y, yb[6] += b1.z, yb[7] += b1.w;
        }
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[i] += w * yb[i];
      }
      const int64_t o = t * p.hidden + h0;
      if (h0 + 8 <= p.hidden && p.out_dtype != MOEKIT_PLUGIN_F32 && p.hidden % 8 == 0 &&
          reinterpret_cast<uintptr_t>(p.out) % 16 == 0) {
        uint4 o4;
        uint16_t* ob = reinterpret_cast<uint16_t*>(&o4);
#pragma unroll
        for (int i = 0; i < 8; ++i) ob[i] = p.out_dtype == MOEKIT_PLUGIN_BF16 ? f32_to_bf16(acc[i]) : f32_to_f16(acc[i]);
        *reinterpret_cast<uint4*>(static_cast<uint16_t*>(p.out) + o) = o4;
      } else {
        for (int i = 0; i < 8 && h0 + i < p.hidden; ++i) store_out(p, o + i, acc[i]);
      }
    }
  }
}

}  // namespace

}  // namespace moekit::cuda::experts
