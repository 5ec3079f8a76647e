// The expert runner's grouped GEMM: tensor-core mma.sync (m16n8k16, bf16 or f16 operands, f32 accumulation),
// cp.async multi-stage pipeline, one CTA per (64-row block of the padded expert-sorted order, N tile).
// Works on sm_80 and newer (sm_90 runs it too; see experts_run.cu for the kernel choice).
//
//   C[r, n] = sum_k A[r, k] * W_e[n, k]      A: [P, K] compute type (gathered, padded rows), W_e: expert e's
//                                             padded weights [rows, K] in their stored format
// Two epilogues:
//   GATED (GEMM1): the CTA's 128 weight rows are 64 gate rows [c0, c0+64) and the 64 matching up rows
//     [Ip+c0, ...), so every thread holds gate and up of the same intermediate columns: act = f(gate + bg,
//     up + bu) is computed in registers and stored as the compute type (or f32 for the FP8 activation pass).
//   SCATTER (GEMM2): y[a, h] = C + b2[h] (f32) for rows whose sorted entry a is a real assignment (< A), h < H.
// SCALED: partial sums of each 128-wide K block are multiplied by a row scale (FP8 activations, per token or
//   per 1x128 group) and a column scale (FP8 128x128 weight blocks) before they join the accumulator, so the
//   operands in the tensor cores are the exact FP8 codes (e4m3 values are exact in bf16 and f16).
// Weight formats in shared memory: 16-bit (ldmatrix), FP8 bytes and MXFP4 nibbles (decoded to bf16 pairs in
//   registers right before the mma; MXFP4 scales arrive with each 32-wide K tile).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "experts_prepared.h"
#include "portability.h"

namespace moekit::cuda::experts {

// Tile configuration (reported in the run report's detail).
constexpr int kBM = 64;       // rows per CTA = the CUDA contract's block_size_m (one expert per block)
constexpr int kBN = 128;      // weight rows per CTA (GEMM1: 64 gate + 64 up)
constexpr int kBK = 32;       // K per pipeline stage
// cp.async stages in flight: 3 for the plain kernels (3 CTAs of 4 warps fit an SM: more warps to hide the
// mma.sync latencies when compute-bound; in flight per SM at decode stays 3 x 2 stages), 4 for the scaled ones
// (their ~250 registers allow only 2 CTAs per SM anyway, so each keeps more stages in flight).
__host__ __device__ constexpr int pipeline_stages(bool scaled) { return scaled ? 4 : 3; }
constexpr int kThreads = 128; // 4 warps: 2 (M) x 2 (N), warp tile 32 x 64
constexpr int kQuantBlock = 128;  // K block of the FP8 scales

enum class Epilogue { Gated, Scatter };

struct GemmParams {
  const void* a;             // [P, K] compute type
  const float* a_scale;      // [K/128][P] (transposed: a block's rows are contiguous) or null (SCALED only)
  const void* w;             // [L][rows][K] (MXFP4: [L][rows][K/2])
  const float* w_col_scale;  // FP8: [L][K/128][rows]
  const uint8_t* w_mx;       // MXFP4: [L][K/32][rows]
  const float* bias;         // [L][rows]
  const int32_t* sorted;     // [P]: flat assignment index, or >= A for padding
  const int32_t* block_ids;  // [m_blocks]: global expert of each 64-row block, -1 = skip
  const int32_t* post_padded;
  const int32_t* local_of;   // [E]
  int32_t num_experts, num_local;
  int64_t k;                 // reduction length (padded, multiple of 128)
  int64_t rows;              // weight rows per expert (2*Ip or Hp)
  int64_t ip;                // GEMM1: Ip (up rows start, act row stride)
  int64_t m_blocks;
  int32_t n_tiles;
  int32_t group_m;           // rasterisation: m blocks per group sharing weight tiles in L2
  void* out;                 // GEMM1: act [P, Ip]; GEMM2: y [A, H] f32
  int32_t act_f32;           // GEMM1: store f32 (input of the FP8 activation quantization)
  int32_t activation;        // MOEKIT_ACTIVATION_*
  float alpha, limit;
  int64_t assignments;       // A
  int64_t hidden;            // H
  // Split-K (decode regime: too few CTAs to keep every SM streaming weights): k_splits > 1 writes raw f32
  // partial sums to partial[split][P][rows] for real rows only; finish kernels (experts_row_kernels.cuh) add them in
  // split order, then apply the epilogue.
  int32_t k_splits;
  float* partial;
};

namespace gemm_detail {

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_u32(smem)), "l"(gmem));
}
// The same copy with the 16 bytes taken from memory only when `valid`, zeros otherwise (src-size 0: nothing is
// read at `gmem`; callers still pass an address inside the source allocation).
__device__ __forceinline__ void cp_async16_zfill(void* smem, const void* gmem, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(smem)), "l"(gmem),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p)));
}
template <class CT>
__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (sizeof(CT) == 2 && std::is_same<CT, __half>::value) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// FP8 x FP8 -> f32 (sm_89+: Ada and Hopper). The A8 kernels are only launched on such devices; the sm_80 build
// of this function traps.
__device__ __forceinline__ void mma16832_e4m3(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  (void)d, (void)a, (void)b0, (void)b1;
  __trap();
#endif
}

// Byte offset of 16-byte chunk `ch` of row `row` in a tile of CHUNKS chunks per row (4: 64-byte rows, 8: 128-byte
// rows), XOR-swizzled so that the 8 rows an ldmatrix reads hit 8 different bank groups.
template <int CHUNKS>
__device__ __forceinline__ int swz(int row, int ch) {
  if constexpr (CHUNKS == 8) return row * 128 + ((ch ^ (row & 7)) << 4);
  else return row * 64 + ((ch ^ ((row >> 1) & 3)) << 4);
}

// e4m3 byte -> bf16 bits, exact (e4m3 values are a subset of bf16). NaN (S.1111.111) -> quiet NaN.
__device__ __forceinline__ uint32_t e4m3_to_bf16_bits(uint32_t b) {
  const uint32_t sign = (b & 0x80u) << 8;
  const uint32_t em = b & 0x7Fu;
  if (em == 0x7Fu) return sign | 0x7FC0u;
  if (em >= 8u) return sign | ((em << 4) + (120u << 7));  // rebias 7 -> 127, mantissa 3 -> 7 bits
  return sign | (__float_as_uint(static_cast<float>(em) * 0.001953125f) >> 16);  // subnormal: em * 2^-9
}
// Two consecutive e4m3 bytes (low byte = lower k) -> a bf16x2 register (low half = lower k).
__device__ __forceinline__ uint32_t fp8x2_to_bf16x2(uint32_t two) {
  return e4m3_to_bf16_bits(two & 0xFFu) | (e4m3_to_bf16_bits((two >> 8) & 0xFFu) << 16);
}
// One MXFP4 byte (low nibble = even k) with its block scale -> bf16x2, exact (see experts_prepared.h).
__device__ __forceinline__ uint32_t mxfp4x2_to_bf16x2(uint32_t byte, float scale) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(e2m1_to_f32(static_cast<uint8_t>(byte & 0xFu)) * scale,
                                                 e2m1_to_f32(static_cast<uint8_t>(byte >> 4)) * scale);
  return *reinterpret_cast<const uint32_t*>(&v);
}

__device__ __forceinline__ float sigmoid_mul(float g, float scale_g) { return g / (1.0f + expf(-scale_g)); }

// The CPU backend's activations (cpu_activation.h) on f32 values.
__device__ __forceinline__ float activate(int activation, float gate, float up, float alpha, float limit) {
  if (activation == 0) return sigmoid_mul(gate, gate) * up;
  if (activation == 1) return 0.5f * gate * (1.0f + erff(gate * 0.70710678118654752f)) * up;
  const float g = gate < limit ? gate : limit;
  const float u = up < -limit ? -limit : (up > limit ? limit : up);
  return sigmoid_mul(g, alpha * g) * (u + 1.0f);
}

}  // namespace gemm_detail

// "Wide" kernels (16-bit weights, and A8: FP8 activations x FP8 weights) stream 128 contiguous bytes of every
// weight row per stage (K tile 64 in 16-bit, 128 in FP8): long DRAM bursts, and one swizzled layout and loader
// for A and B. FP8 weights with 16-bit activations and MXFP4 keep K tile 32 with 64-byte A rows and their own
// weight tiles, decoded in registers.
template <WeightKind WK, bool A8>
__host__ __device__ constexpr bool is_wide() {
  return WK == WeightKind::Half16 || A8;
}
// Wide stages also carry the FP8 scales of their K block (kBN column scales, then kBM row scales, f32), so the
// scaled kernels read them from shared memory at the fold instead of waiting on global loads.
constexpr int kScaleBytes = (kBN + kBM) * 4;
template <WeightKind WK, bool A8>
__host__ __device__ constexpr int stage_bytes() {
  return is_wide<WK, A8>() ? (kBM + kBN) * 128 + kScaleBytes
                           : kBM * 64 + (WK == WeightKind::Fp8 ? kBN * kBK : kBN * kBK / 2 + kBN);
}

// A8: A holds FP8 codes (bytes) and the weights are FP8: native e4m3 mma (m16n8k32), K tile 64.
template <class CT, WeightKind WK, bool SCALED, Epilogue EPI, bool A8 = false>
__global__ void __launch_bounds__(kThreads) expert_gemm_kernel(const __grid_constant__ GemmParams p) {
  using namespace gemm_detail;
  static_assert(!A8 || (WK == WeightKind::Fp8 && SCALED), "A8 is the FP8 x FP8 path");
  extern __shared__ __align__(128) uint8_t smem[];
  constexpr int kStages = pipeline_stages(SCALED);
  constexpr bool kRows64 = is_wide<WK, A8>();  // weight tile in the A tile's swizzled layout
  constexpr int kChunks = kRows64 ? 8 : 4;     // 16-byte chunks per tile row
  constexpr int kAStage = kBM * kChunks * 16;
  constexpr int kStage = stage_bytes<WK, A8>();
  constexpr int kElem = A8 ? 1 : 2;                        // bytes per A element
  constexpr int kKTile = kChunks * 16 / kElem;             // K per pipeline stage
  constexpr int kKSteps = kKTile / (A8 ? 32 : 16);         // mma K steps per stage
  constexpr int kAChunks = kBM * kChunks / kThreads;       // A chunks per thread per stage
  constexpr int kBChunks = kBN * kChunks / kThreads;       // weight chunks per thread per stage (wide)

  // Rasterisation: CTAs of `group_m` consecutive m blocks walk the N tiles together, so a weight tile is
  // fetched from HBM once per group and the group's A rows stay in L2.
  const int64_t tiles = p.m_blocks * p.n_tiles;
  const int split = static_cast<int>(blockIdx.x / tiles);
  const int64_t cta = blockIdx.x - static_cast<int64_t>(split) * tiles;
  const int64_t per_group = static_cast<int64_t>(p.group_m) * p.n_tiles;
  const int64_t group = cta / per_group;
  const int64_t first_m = group * p.group_m;
  const int64_t gm = min(static_cast<int64_t>(p.group_m), p.m_blocks - first_m);
  const int64_t in_group = cta - group * per_group;
  const int64_t m_block = first_m + in_group % gm;
  const int n_tile = static_cast<int>(in_group / gm);

  const int64_t row0 = m_block * kBM;
  if (row0 >= *p.post_padded) return;
  const int32_t global_e = p.block_ids[m_block];
  if (global_e < 0 || global_e >= p.num_experts) return;
  const int32_t e = p.local_of[global_e];
  if (e < 0 || e >= p.num_local) return;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp & 1, wn = warp >> 1;
  const int64_t K = p.k;
  constexpr int kTilesPerQuant = kQuantBlock / kKTile;
  const int kb_total = static_cast<int>(K / kQuantBlock);
  const int kt_begin = (split * kb_total / p.k_splits) * kTilesPerQuant;  // splits cut at 128-wide K blocks
  const int KT = ((split + 1) * kb_total / p.k_splits) * kTilesPerQuant - kt_begin;
  const int kb_count = static_cast<int>(K / kQuantBlock);

  // Weight row of CTA-local row s (0..127).
  auto weight_row = [&](int s) -> int64_t {
    if constexpr (EPI == Epilogue::Gated) {
      const int64_t c0 = static_cast<int64_t>(n_tile) * (kBN / 2);
      return s < kBN / 2 ? c0 + s : p.ip + c0 + (s - kBN / 2);
    } else {
      return static_cast<int64_t>(n_tile) * kBN + s;
    }
  };
  // CTA-local row of n fragment f (0..7) of this warp.
  auto frag_row = [&](int f) -> int {
    if constexpr (EPI == Epilogue::Gated) return f < 4 ? wn * 32 + f * 8 : kBN / 2 + wn * 32 + (f - 4) * 8;
    else return wn * 64 + f * 8;
  };

  // Rows of this block that hold real assignments: a prefix (each expert's run is padded at its end and a block
  // lies in one run). Padding rows are neither loaded (their shared-memory rows stay zero) nor multiplied
  // (a warp skips m fragments without real rows): at decode, a block carries one or two real rows.
  const int n_valid = __syncthreads_count(tid < kBM && p.sorted[row0 + (tid < kBM ? tid : 0)] < p.assignments);
  bool a_chunk_valid[kAChunks];
#pragma unroll
  for (int i = 0; i < kAChunks; ++i) {
    const int row = (tid + i * kThreads) / kChunks;
    a_chunk_valid[i] = row < n_valid;
    if (!a_chunk_valid[i])
      for (int s = 0; s < kStages; ++s)
        *reinterpret_cast<uint4*>(smem + s * kStage + swz<kChunks>(row, (tid + i * kThreads) % kChunks)) =
            make_uint4(0, 0, 0, 0);
  }
  bool frag_valid[2];
#pragma unroll
  for (int mi = 0; mi < 2; ++mi) frag_valid[mi] = wm * 32 + mi * 16 < n_valid;

  const uint8_t* a_base = static_cast<const uint8_t*>(p.a) + row0 * K * kElem;
  const int64_t expert_w = static_cast<int64_t>(e) * p.rows;  // first weight row of this expert

  auto load_stage = [&](int stage, int kt) {
    uint8_t* sA = smem + stage * kStage;
    uint8_t* sB = sA + kAStage;
    const int64_t k0 = static_cast<int64_t>(kt) * kKTile;
#pragma unroll
    for (int i = 0; i < kAChunks; ++i) {
      const int c = tid + i * kThreads;
      const int row = c / kChunks, ch = c % kChunks;
      if (a_chunk_valid[i]) cp_async16(sA + swz<kChunks>(row, ch), a_base + (row * K + k0) * kElem + ch * 16);
    }
    if constexpr (kRows64) {
      const uint8_t* w = static_cast<const uint8_t*>(p.w);
#pragma unroll
      for (int i = 0; i < kBChunks; ++i) {
        const int c = tid + i * kThreads;
        const int row = c / kChunks, ch = c % kChunks;
        cp_async16(sB + swz<kChunks>(row, ch), w + ((expert_w + weight_row(row)) * K + k0) * kElem + ch * 16);
      }
      if constexpr (SCALED) {
        const int kb = kt / kTilesPerQuant;
        float* s_col = reinterpret_cast<float*>(sB + kBN * 128);
        float* s_row = s_col + kBN;
        if (tid < kBN / 4) {  // 4 column scales per chunk; 4 consecutive CTA rows are consecutive weight rows
          if (p.w_col_scale != nullptr)
            cp_async16(s_col + tid * 4,
                       p.w_col_scale + (static_cast<int64_t>(e) * kb_count + kb) * p.rows + weight_row(tid * 4));
        } else if (tid < kBN / 4 + kBM / 4) {
          const int r = (tid - kBN / 4) * 4;
          if (p.a_scale != nullptr) cp_async16(s_row + r, p.a_scale + kb * p.m_blocks * kBM + row0 + r);
        }
      }
    } else if constexpr (WK == WeightKind::Fp8) {
      const uint8_t* w = static_cast<const uint8_t*>(p.w);
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int c = tid + i * kThreads;
        const int row = c >> 1, ch = c & 1;
        cp_async16(sB + row * kBK + ch * 16, w + (expert_w + weight_row(row)) * K + k0 + ch * 16);
      }
    } else {
      const uint8_t* w = static_cast<const uint8_t*>(p.w);
      cp_async16(sB + tid * 16, w + (expert_w + weight_row(tid)) * (K / 2) + k0 / 2);
      if (tid < kBN / 16) {  // 8 chunks of 16 scales; each chunk's rows are contiguous in weight_row
        const int s0 = tid * 16;
        cp_async16(sB + kBN * kBK / 2 + s0,
                   p.w_mx + (static_cast<int64_t>(e) * (K / 32) + kt) * p.rows + weight_row(s0));
      }
    }
  };

  float acc[2][8][4];
#pragma unroll
  for (int mi = 0; mi < 2; ++mi)
#pragma unroll
    for (int f = 0; f < 8; ++f)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[mi][f][r] = 0.0f;
  float part[SCALED ? 2 : 1][SCALED ? 8 : 1][4];
  float row_scale[2][2];
  float2 col_scale[8];
  if constexpr (SCALED) {
#pragma unroll
    for (int mi = 0; mi < 2; ++mi)
#pragma unroll
      for (int f = 0; f < 8; ++f)
#pragma unroll
        for (int r = 0; r < 4; ++r) part[mi][f][r] = 0.0f;
  }

#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < KT) load_stage(s, kt_begin + s);
    cp_async_commit();
  }

  const int g = lane >> 2, q = lane & 3;
  for (int i = 0; i < KT; ++i) {
    const int kt = kt_begin + i;
    cp_async_wait<kStages - 2>();
    __syncthreads();
    {
      const int nk = i + kStages - 1;
      if (nk < KT) load_stage(nk % kStages, kt_begin + nk);
      cp_async_commit();
    }
    if constexpr (SCALED && !kRows64) {
      if (kt % (kQuantBlock / kKTile) == 0) {  // this K block's scales, consumed at its end (latency hidden)
        const int kb = kt / (kQuantBlock / kKTile);
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
          for (int h = 0; h < 2; ++h)
            row_scale[mi][h] = p.a_scale == nullptr ? 1.0f
                               : wm * 32 + mi * 16 + g + h * 8 < n_valid
                                   ? p.a_scale[kb * p.m_blocks * kBM + row0 + wm * 32 + mi * 16 + g + h * 8]
                                   : 0.0f;  // padding rows' scales are never written
#pragma unroll
        for (int f = 0; f < 8; ++f)
          col_scale[f] = p.w_col_scale != nullptr
                             ? *reinterpret_cast<const float2*>(
                                   p.w_col_scale + (static_cast<int64_t>(e) * kb_count + kb) * p.rows +
                                   weight_row(frag_row(f) + q * 2))
                             : make_float2(1.0f, 1.0f);
      }
    }

    const uint8_t* sA = smem + (i % kStages) * kStage;
    const uint8_t* sB = sA + kAStage;
#pragma unroll
    for (int kk = 0; kk < kKSteps; ++kk) {
      uint32_t af[2][4];
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
        ldmatrix_x4(af[mi], sA + swz<kChunks>(wm * 32 + mi * 16 + (lane & 15), kk * 2 + (lane >> 4)));
      uint32_t bf[8][2];
      if constexpr (kRows64) {
#pragma unroll
        for (int f = 0; f < 8; f += 2) {
          uint32_t r[4];
          ldmatrix_x4(r, sB + swz<kChunks>(frag_row(f) + ((lane >> 4) << 3) + (lane & 7), kk * 2 + ((lane >> 3) & 1)));
          bf[f][0] = r[0];
          bf[f][1] = r[1];
          bf[f + 1][0] = r[2];
          bf[f + 1][1] = r[3];
        }
      } else if constexpr (WK == WeightKind::Fp8) {
#pragma unroll
        for (int f = 0; f < 8; ++f) {
          const uint8_t* row = sB + (frag_row(f) + g) * kBK + kk * 16 + q * 2;
          bf[f][0] = fp8x2_to_bf16x2(*reinterpret_cast<const uint16_t*>(row));
          bf[f][1] = fp8x2_to_bf16x2(*reinterpret_cast<const uint16_t*>(row + 8));
        }
      } else {
        const uint8_t* scales = sB + kBN * kBK / 2;
#pragma unroll
        for (int f = 0; f < 8; ++f) {
          const int n = frag_row(f) + g;
          const float s = e8m0_to_f32(scales[n]);
          const uint8_t* row = sB + n * (kBK / 2) + kk * 8 + q;
          bf[f][0] = mxfp4x2_to_bf16x2(row[0], s);
          bf[f][1] = mxfp4x2_to_bf16x2(row[4], s);
        }
      }
#pragma unroll
      for (int mi = 0; mi < 2; ++mi) {
        if (!frag_valid[mi]) continue;  // warp-uniform
#pragma unroll
        for (int f = 0; f < 8; ++f) {
          if constexpr (A8) mma16832_e4m3(part[mi][f], af[mi], bf[f][0], bf[f][1]);
          else if constexpr (SCALED) mma16816<CT>(part[mi][f], af[mi], bf[f][0], bf[f][1]);
          else mma16816<CT>(acc[mi][f], af[mi], bf[f][0], bf[f][1]);
        }
      }
    }

    if constexpr (SCALED) {
      if (kt % (kQuantBlock / kKTile) == kQuantBlock / kKTile - 1) {
        if constexpr (kRows64) {  // this stage's copy of the K block's scales
          const float* s_col = reinterpret_cast<const float*>(sB + kBN * 128);
          const float* s_row = s_col + kBN;
#pragma unroll
          for (int mi = 0; mi < 2; ++mi)
#pragma unroll
            for (int h = 0; h < 2; ++h)
              row_scale[mi][h] = p.a_scale == nullptr                     ? 1.0f
                                 : wm * 32 + mi * 16 + g + h * 8 < n_valid ? s_row[wm * 32 + mi * 16 + g + h * 8]
                                                                           : 0.0f;  // padding: never written
#pragma unroll
          for (int f = 0; f < 8; ++f)
            col_scale[f] = p.w_col_scale != nullptr ? *reinterpret_cast<const float2*>(s_col + frag_row(f) + q * 2)
                                                    : make_float2(1.0f, 1.0f);
        }
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
          for (int f = 0; f < 8; ++f)
#pragma unroll
            for (int r = 0; r < 4; ++r) {
              const float cs = (r & 1) ? col_scale[f].y : col_scale[f].x;
              acc[mi][f][r] += part[mi][f][r] * (row_scale[mi][r >> 1] * cs);
              part[mi][f][r] = 0.0f;
            }
      }
    }
  }
  cp_async_wait<0>();

  // Epilogue.
  if (p.k_splits > 1) {  // raw partial sums of real rows; the finish kernel adds the splits and the epilogue
    float* part_out = p.partial + (static_cast<int64_t>(split) * p.m_blocks * kBM + row0) * p.rows;
#pragma unroll
    for (int mi = 0; mi < 2; ++mi)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = wm * 32 + mi * 16 + g + h * 8;
        if (row >= n_valid) continue;
#pragma unroll
        for (int f = 0; f < 8; ++f)
          *reinterpret_cast<float2*>(part_out + row * p.rows + weight_row(frag_row(f) + q * 2)) =
              make_float2(acc[mi][f][h * 2], acc[mi][f][h * 2 + 1]);
      }
    return;
  }
  const float* bias = p.bias + static_cast<int64_t>(e) * p.rows;
  if constexpr (EPI == Epilogue::Gated) {
#pragma unroll
    for (int mi = 0; mi < 2; ++mi)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int64_t row = row0 + wm * 32 + mi * 16 + g + h * 8;
#pragma unroll
        for (int f = 0; f < 4; ++f) {
          const int64_t col = static_cast<int64_t>(n_tile) * (kBN / 2) + wn * 32 + f * 8 + q * 2;  // < Ip
          float v[2];
#pragma unroll
          for (int j = 0; j < 2; ++j)
            v[j] = activate(p.activation, acc[mi][f][h * 2 + j] + bias[col + j],
                            acc[mi][f + 4][h * 2 + j] + bias[p.ip + col + j], p.alpha, p.limit);
          if (p.act_f32) {
            *reinterpret_cast<float2*>(static_cast<float*>(p.out) + row * p.ip + col) = make_float2(v[0], v[1]);
          } else if constexpr (std::is_same<CT, __half>::value) {
            *reinterpret_cast<__half2*>(static_cast<__half*>(p.out) + row * p.ip + col) = __floats2half2_rn(v[0], v[1]);
          } else {
            *reinterpret_cast<__nv_bfloat162*>(static_cast<__nv_bfloat16*>(p.out) + row * p.ip + col) =
                __floats2bfloat162_rn(v[0], v[1]);
          }
        }
      }
  } else {
#pragma unroll
    for (int mi = 0; mi < 2; ++mi)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int64_t row = row0 + wm * 32 + mi * 16 + g + h * 8;
        const int64_t a = p.sorted[row];
        if (a < 0 || a >= p.assignments) continue;  // padding slot
        float* y = static_cast<float*>(p.out) + a * p.hidden;
#pragma unroll
        for (int f = 0; f < 8; ++f) {
          const int64_t col = static_cast<int64_t>(n_tile) * kBN + wn * 64 + f * 8 + q * 2;
#pragma unroll
          for (int j = 0; j < 2; ++j)
            if (col + j < p.hidden) y[col + j] = acc[mi][f][h * 2 + j] + bias[col + j];
        }
      }
  }
}

}  // namespace moekit::cuda::experts
