// run_experts for the CUDA module: one stream-ordered chain of launches, no host synchronisation, no
// allocation (the caller's workspace holds every intermediate), so a whole layer can be captured in a graph:
//   1. plan     launch_plan_metadata (routing_plan.cu): the padded expert-sorted order of the assignments in
//               64-row blocks (the contract's block_size_m), one expert per block, -1 for non-local experts;
//   2. gather   x[r] = hidden[t] (x the router weight with apply_router_weight_on_input), zero-padded to Hp,
//               in the compute type, or as FP8 codes + scales (the quantizer's exact math) with FP8 activations;
//   3. GEMM1    gate/up + biases + activation (experts_gemm.cuh, Gated epilogue) -> act [P, Ip];
//   4. (FP8 activations) quantize act rows the same way -> codes + scales;
//   5. GEMM2    + b2 -> y [A, H] f32, one row per real assignment;
//   6. combine  out[t] = sum over slots j = 0..k-1 in order of weight * y[t*k+j] for valid local experts
//               (deterministic: no atomics), rounded once to the output dtype.
// Prefill on Hopper (the "grouped" tier, grouped_gemm_sm90.h: bf16 weights, 16-bit activations, enough rows per
// expert) replaces 3 and 5 with CUTLASS grouped GEMMs: GEMM1 -> h [P, 2Ip] bf16, an activation pass (+ b13)
// -> act [P, Ip] bf16, GEMM2 -> y [P, Hp] bf16 in the padded order, and the combine finds an assignment's row
// through row_of[a] (written by the gather) and adds b2 there. With FP8 w8a8, h is f32 and the activation pass
// also does step 4 (e4m3 codes + scales for GEMM2). Its gather and activation pass give a warp a row or a row
// segment, its combine a block per token: the mma.sync tier's values.
// Semantics are the CPU backend's (core/src/cpu/cpu_experts.cpp); ids outside [0, E) and non-local experts are
// skipped and never index memory.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "compute_bits.cuh"
#include "experts.h"
#include "experts_decode.h"
#include "experts_gemm.cuh"
#include "experts_row_kernels.cuh"
#include "experts_stream.h"
#include "experts_stream_ops.cuh"
#include "grouped_gemm_sm90.h"
#include "kernel_launch.h"
#include "local_rows.h"
#include "measuring_knobs.h"
#include "plugin_error.h"
#include "portability.h"
#include "warp_ops.cuh"
#include "weight_rows.h"

namespace moekit::cuda::experts {

namespace {

constexpr int64_t kAlignBytes = 256;  // the CUDA contract's buffer_align_bytes
constexpr int kGroupM = 8;

int64_t round_up(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

// Split-K factor of one GEMM: 1 when its CTAs already fill the GPU twice over; otherwise enough splits for about
// six CTAs per SM (decode: a handful of experts must still be streamed by every SM), at most 8 and at most one
// split per 128-wide K block.
int splits_for(int64_t m_blocks, int64_t n_tiles, int64_t k, int sm_count) {
  const int64_t ctas = m_blocks * n_tiles;
  if (ctas >= 2 * static_cast<int64_t>(sm_count)) return 1;
  int64_t s = (6 * static_cast<int64_t>(sm_count) + ctas - 1) / ctas;
  s = s < 8 ? s : 8;
  s = s < k / kQuantBlock ? s : k / kQuantBlock;
  return static_cast<int>(s < 1 ? 1 : s);
}

// Rows per local expert (rows_per_local_expert: T * k / E) from which the grouped tier (CUTLASS sm_90a) runs instead of
// the mma.sync kernels. Measured on the H200 (both tiers, bf16, same run): at 32+ rows the grouped tier was as fast or
// faster on every preset (Mixtral T=1024: 1447 vs 2822 us), at 16 rows the split-K mma.sync path won (Mixtral T=64: 802
// vs 854 us). MOEKIT_CUDA_EXPERTS_TIER=mma|grouped|decode|stream (measuring_knobs.h) overrides the choice wherever the
// named tier can run the configuration (the GPU tests cover every tier on the same inputs; the benchmark compares
// them).
constexpr double kGroupedMinRowsPerExpert = 32.0;
// ... or from this many local experts past the streaming tier: with 128-256 experts the grouped tier was
// faster than mma.sync at every T = 16..256 too (same run, bf16 / fp8: DeepSeek-V3 T=16 2316 vs 2348 / 1799 vs 2074 us,
// Qwen3 T=16 273 vs 311 / 246 vs 306 us, gpt-oss T=64 1455 vs 1491 / 1176 vs 1361 us), while with Mixtral's 8
// experts the split-K mma.sync path kept T=16 and 64 (bf16 772 vs 830, 778 vs 823 us).
constexpr int32_t kGroupedMinExperts = 64;
// The streaming tier (experts_stream.h) runs wherever it takes the format and the routed rows per local expert
// (A / E: rows_per_local_expert) are at most 16, except 16-bit weights at T = 1 where the slots' weights are small
// (stream::one_token_outruns_decode): those stay on the decode tier. Earlier measurements (before the
// one-token path, with the grouping pass at T = 1, after the weights moved to a shared-memory ring; moekit bench,
// one layer incl. routing, median us, each pair from one run, bf16 / fp8 w8a8):
//   T=1    stream vs decode: DeepSeek-V3 220/136 vs 226/248, gpt-oss 80/58 vs 80/97, Mixtral 197/125 vs 195/232,
//          Qwen3 48/41 vs 37/45 (16-bit T=1: a tie on three presets, 1.3x slower on Qwen3: more launches)
//   T=2    (bf16) stream vs decode: DeepSeek-V3 394 vs 415, gpt-oss 134 vs 138, Mixtral 333 vs 338, Qwen3 62.1 vs 62.4
//   T=4    stream vs decode: DeepSeek-V3 651/365 vs 708/791, gpt-oss 205/131 vs 223/257, Mixtral 487/276 vs
//          643/685, Qwen3 95/73 vs 102/129
//   T=16, 64 (DeepSeek-V3 bf16, H = 7168) stream vs grouped: 2028/4509 vs 2406/5007
//   T=256  stream vs grouped: DeepSeek-V3 (8 rows per expert) 5097/2834 vs 5442/4046, gpt-oss (8) 1495/849 vs
//          1707/1337, Qwen3 (16) 361/278 vs 387/329
//   Mixtral T=64 (16 rows per expert) stream vs mma.sync: 729/465 vs 753/757; at T=256 (64 rows) 1719/1174 vs
//   847/684 (the table), hence the bound.
constexpr double kStreamMaxRowsPerExpert = 16.0;

enum class Tier : int32_t { Mma = 0, Grouped = 1, Decode = 2, Stream = 3 };

// Which tier runs, and why (for the report).
struct TierChoice {
  Tier tier = Tier::Mma;
  const char* why = "";
};

// MOEKIT_CUDA_NO_E4M3_MMA=1 forces the sm_80 path of FP8 activations x FP8 weights (codes decoded to bf16 in
// the main loop) on newer devices: the GPU tests use it to cover that path.
bool e4m3_mma_disabled() {
  const char* v = std::getenv("MOEKIT_CUDA_NO_E4M3_MMA");
  return v != nullptr && v[0] == '1';
}

// The grouped tier's tiles of GEMM1 and GEMM2: the runner's choice (`chosen`) unless MOEKIT_CUDA_GROUPED_TILES
// names others (`names`, parsed once by layout_for, so that an unknown name fails the workspace query too), for
// tile sweeps on a GPU host (bench/README.md); a tile the format lacks (64x256x64 with FP8 blocks) leaves that
// GEMM's tile as chosen (the report names the tiles that ran).
struct GroupedTiles {
  sm90::GroupedTile gemm1, gemm2;
};
GroupedTiles grouped_tiles_override(GroupedTiles chosen, bool fp8, const knobs::TileNames& names) {
  auto tile_of = [&](knobs::TileName name, sm90::GroupedTile runner_choice) {
    switch (name) {
      case knobs::TileName::k64x128x128: return sm90::GroupedTile::k64x128x128;
      case knobs::TileName::k64x256x64: return fp8 ? runner_choice : sm90::GroupedTile::k64x256x64;
      case knobs::TileName::k128: return sm90::GroupedTile::k128;
      case knobs::TileName::Chosen: break;
    }
    return runner_choice;
  };
  return {tile_of(names.gemm1, chosen.gemm1), tile_of(names.gemm2, chosen.gemm2)};
}

// Routed rows per local expert on average, T * k / E under uniform routing (local_rows.h; 0 without local experts):
// the tier and the grouped tiles are chosen by it.
double rows_per_local_expert(const moekit_plugin_experts_config& cfg, int64_t assignments) {
  return experts::rows_per_local_expert(assignments, cfg.num_local_experts, cfg.num_experts);
}

TierChoice choose_tier(const moekit_plugin_experts_config& cfg, int64_t tokens, int64_t top_k,
                       const DeviceShape& device) {
  const int compute_capability = device.compute_capability;
  const int64_t assignments = tokens * top_k;
  const bool bf16_weights = cfg.weight_format == 0 || cfg.weight_format == 2;  // BF16, or F32 held as bf16
  const bool fp8_w8a8 =
      cfg.weight_format == 3 && cfg.act_quant != kActQuantNone && device.e4m3_mma && !e4m3_mma_disabled();
  const bool decode_ok = tokens <= decode::kMaxTokens && decode::supports(cfg);
  const bool stream_ok =
      stream::supports(cfg, tokens, top_k, device.e4m3_mma && !e4m3_mma_disabled());
  const bool grouped_ok = sm90::compiled() && compute_capability == 90 &&
                          ((bf16_weights && cfg.act_quant == kActQuantNone) || fp8_w8a8);
  const knobs::TierName forced = knobs::parse_tier(std::getenv(knobs::kTierVariable));
  if (forced == knobs::TierName::Mma) return {Tier::Mma, "MOEKIT_CUDA_EXPERTS_TIER=mma"};
  if (forced == knobs::TierName::Grouped && grouped_ok) return {Tier::Grouped, "MOEKIT_CUDA_EXPERTS_TIER=grouped"};
  if (forced == knobs::TierName::Decode && decode_ok) return {Tier::Decode, "MOEKIT_CUDA_EXPERTS_TIER=decode"};
  if (forced == knobs::TierName::Stream && stream_ok) return {Tier::Stream, "MOEKIT_CUDA_EXPERTS_TIER=stream"};
  const double rows_per_expert = rows_per_local_expert(cfg, assignments);
  const bool sixteen_bit = cfg.weight_format == 0 || cfg.weight_format == 1 || cfg.weight_format == 2;
  if (stream_ok && sixteen_bit && tokens == 1 && stream::one_token_outruns_decode(cfg, top_k))
    return {Tier::Stream, "one token, 16-bit, >= 128 MiB over its slots"};
  if (decode_ok && sixteen_bit && tokens <= 1) return {Tier::Decode, "decode: 16-bit weights at T = 1"};
  if (stream_ok && rows_per_expert <= kStreamMaxRowsPerExpert)
    return {Tier::Stream, "streaming: <= 16 rows per local expert"};
  if (decode_ok) return {Tier::Decode, "decode: T <= 4, past the streaming tier"};
  if (!sm90::compiled()) return {Tier::Mma, "grouped tier not built"};
  if (compute_capability != 90) return {Tier::Mma, "grouped tier needs sm_90"};
  if (!grouped_ok) return {Tier::Mma, "grouped tier: bf16 (w16a16) or FP8 blocks (w8a8) only"};
  if (rows_per_expert >= kGroupedMinRowsPerExpert) return {Tier::Grouped, "prefill: >= 32 rows per expert"};
  if (cfg.num_local_experts >= kGroupedMinExperts) return {Tier::Grouped, ">= 64 local experts"};
  return {Tier::Mma, "< 32 rows per expert, < 64 local experts: split-K"};
}

// Byte offsets of the workspace pieces.
struct Layout {
  int64_t assignments = 0;  // A = T * k
  int64_t m_blocks = 0;     // upper bound of the padded order's 64-row blocks: ceil(A/64) + min(A, E)
  int64_t rows = 0;         // P = m_blocks * 64
  bool quant = false;
  TierChoice tier;
  knobs::TileNames tile_names;  // MOEKIT_CUDA_GROUPED_TILES, parsed once
  int splits1 = 1, splits2 = 1;  // split-K of GEMM1 / GEMM2
  int64_t partial = 0;
  int64_t sorted = 0, block_ids = 0, post = 0, a1 = 0, s1 = 0, act = 0, a2 = 0, s2 = 0, y = 0, total = 0;
  int64_t h = 0, row_of = 0, group_first = 0, group_rows = 0, grouped_scratch = 0,
          grouped_scratch_bytes = 0;  // grouped tier only
  bool codes_per_token = false;       // grouped FP8: see codes_per_token()
  int64_t token_codes = 0, token_scales = 0;
};

// The grouped tier's FP8 gather quantizes each token once and copies its codes to its k rows when k > 1: the rows
// of a token then hold the same values (core accepts apply_router_weight_on_input, which scales each row by its
// own router weight, only with top_k == 1). It quantizes every token, local rows or not, so under expert
// parallelism it needs enough local rows per token to pay (k * L / E under uniform routing; ncu, H200, Qwen3
// T=16384: quantizing a token 72 us, copying its 8 rows 135 us, against 606 us for quantizing the 8 rows):
// at least 1.5, else each local row is quantized on its own.
bool codes_per_token(const moekit_plugin_experts_config& cfg, int64_t k, const TierChoice& tier) {
  const double local_rows_per_token = expected_local(k, cfg.num_local_experts, cfg.num_experts);
  return tier.tier == Tier::Grouped && cfg.act_quant != kActQuantNone && k > 1 &&
         !cfg.apply_router_weight_on_input && local_rows_per_token >= 1.5;
}

Layout layout_for(const moekit_plugin_experts_config& cfg, int64_t T, int64_t k, const DeviceShape& device) {
  const int sm_count = device.sm_count;
  Layout l;
  l.assignments = T * k;  // core checked T * k for overflow
  if (l.assignments > INT32_MAX)
    throw_unsupported("num_tokens: num_tokens * top_k = " + std::to_string(l.assignments) +
                      " exceeds the 2^31 - 1 assignments the CUDA runner indexes");
  l.tier = choose_tier(cfg, T, k, device);
  // Parsed here, so that a misspelt tile name fails the workspace query (and a whole layer before its router
  // runs), not only the experts' run.
  l.tile_names = knobs::parse_tiles(std::getenv(knobs::kTilesVariable));
  knobs::parse_down_splits(std::getenv(knobs::kDownSplitsVariable));  // the streaming tier's; checked on every tier
  if (l.assignments == 0) return l;
  if (l.tier.tier == Tier::Decode) {
    l.act = 0;
    l.total = static_cast<int64_t>(decode::workspace_bytes(cfg, T, k));
    return l;
  }
  if (l.tier.tier == Tier::Stream) {
    l.total = static_cast<int64_t>(stream::workspace_bytes(cfg, T, k));
    return l;
  }
  const int64_t A = l.assignments, E = cfg.num_experts;
  l.m_blocks = (A + kBM - 1) / kBM + (A < E ? A : E);
  l.rows = l.m_blocks * kBM;
  if (l.rows > INT32_MAX) throw_unsupported("num_tokens: the padded expert-sorted order exceeds 2^31 - 1 rows");
  l.quant = cfg.act_quant != kActQuantNone;
  const int64_t P = l.rows, Hp = cfg.hidden_pad, Ip = cfg.intermediate_pad;
  int64_t at = 0;
  auto take = [&](int64_t bytes) {
    const int64_t start = at;
    at = round_up(at + bytes, kAlignBytes);
    return start;
  };
  l.sorted = take(P * 4);
  l.block_ids = take(l.m_blocks * 4);
  l.post = take(4);
  l.a1 = take(P * Hp * 2);
  l.s1 = take(l.quant ? P * (Hp / kQuantBlock) * 4 : 0);
  // The grouped tier's FP8 activation pass writes codes straight into a2: no f32 act rows.
  l.act = take(l.tier.tier == Tier::Grouped && l.quant ? 0 : P * Ip * (l.quant ? 4 : 2));
  l.a2 = take(l.quant ? P * Ip * 2 : 0);
  l.s2 = take(l.quant ? P * (Ip / kQuantBlock) * 4 : 0);
  if (l.tier.tier == Tier::Grouped) {
    l.h = take(P * 2 * Ip * (l.quant ? 4 : 2));  // f32 before the FP8 activation quantizer
    l.y = take(P * Hp * 2);
    l.row_of = take(A * 4);
    l.group_first = take(cfg.num_local_experts * 4);
    l.group_rows = take(cfg.num_local_experts * 4);
    l.codes_per_token = codes_per_token(cfg, k, l.tier);
    l.token_codes = take(l.codes_per_token ? T * Hp : 0);
    l.token_scales = take(l.codes_per_token ? T * (Hp / kQuantBlock) * 4 : 0);
    l.grouped_scratch_bytes = static_cast<int64_t>(sm90::scratch_bytes(cfg.num_local_experts, sm_count));
    l.grouped_scratch = take(l.grouped_scratch_bytes);
    l.total = at;
    return l;
  }
  l.y = take(A * cfg.hidden * 4);
  l.splits1 = splits_for(l.m_blocks, Ip / (kBN / 2), Hp, sm_count);
  l.splits2 = splits_for(l.m_blocks, Hp / kBN, Ip, sm_count);
  const int64_t partial1 = l.splits1 > 1 ? l.splits1 * P * 2 * Ip * 4 : 0;
  const int64_t partial2 = l.splits2 > 1 ? l.splits2 * P * Hp * 4 : 0;
  l.partial = take(partial1 > partial2 ? partial1 : partial2);
  l.total = at;
  return l;
}

template <class T>
T* at(void* base, int64_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

using GemmKernel = void (*)(GemmParams);

template <class CT, WeightKind WK>
GemmKernel pick(bool scaled, Epilogue epi) {
  if (epi == Epilogue::Gated)
    return scaled ? expert_gemm_kernel<CT, WK, true, Epilogue::Gated> : expert_gemm_kernel<CT, WK, false, Epilogue::Gated>;
  return scaled ? expert_gemm_kernel<CT, WK, true, Epilogue::Scatter>
                : expert_gemm_kernel<CT, WK, false, Epilogue::Scatter>;
}

void launch_gemm(const Prepared& p, bool scaled, bool a8, Epilogue epi, const GemmParams& gp, cudaStream_t stream) {
  GemmKernel kernel = nullptr;
  int smem = 0;
  if (a8) {
    kernel = epi == Epilogue::Gated ? expert_gemm_kernel<__nv_bfloat16, WeightKind::Fp8, true, Epilogue::Gated, true>
                                    : expert_gemm_kernel<__nv_bfloat16, WeightKind::Fp8, true, Epilogue::Scatter, true>;
    smem = pipeline_stages(true) * stage_bytes<WeightKind::Fp8, true>();
  } else if (p.kind == WeightKind::Half16 && p.compute == Compute::F16) {
    kernel = pick<__half, WeightKind::Half16>(scaled, epi);
    smem = pipeline_stages(scaled) * stage_bytes<WeightKind::Half16, false>();
  } else if (p.kind == WeightKind::Half16) {
    kernel = pick<__nv_bfloat16, WeightKind::Half16>(scaled, epi);
    smem = pipeline_stages(scaled) * stage_bytes<WeightKind::Half16, false>();
  } else if (p.kind == WeightKind::Fp8) {
    // FP8 weights always take the scaled path: their block scales multiply each K block's partial sums.
    kernel = expert_gemm_kernel<__nv_bfloat16, WeightKind::Fp8, true, Epilogue::Gated>;
    if (epi == Epilogue::Scatter) kernel = expert_gemm_kernel<__nv_bfloat16, WeightKind::Fp8, true, Epilogue::Scatter>;
    smem = pipeline_stages(true) * stage_bytes<WeightKind::Fp8, false>();
  } else {
    kernel = pick<__nv_bfloat16, WeightKind::Mxfp4>(scaled, epi);
    smem = pipeline_stages(scaled) * stage_bytes<WeightKind::Mxfp4, false>();
  }
  const int64_t ctas = gp.m_blocks * gp.n_tiles * gp.k_splits;
  kernel<<<static_cast<unsigned>(ctas), kThreads, smem, stream>>>(gp);
  check_launch(epi == Epilogue::Gated ? "expert_gemm_kernel (GEMM1)" : "expert_gemm_kernel (GEMM2)");
}

template <class CT, WeightKind WK, bool SCALED, bool A8 = false>
void allow_smem() {
  constexpr int bytes = pipeline_stages(SCALED) * stage_bytes<WK, A8>();
  check_cuda(cudaFuncSetAttribute(expert_gemm_kernel<CT, WK, SCALED, Epilogue::Gated, A8>,
                                  cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
             "cudaFuncSetAttribute (expert GEMM shared memory)");
  check_cuda(cudaFuncSetAttribute(expert_gemm_kernel<CT, WK, SCALED, Epilogue::Scatter, A8>,
                                  cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
             "cudaFuncSetAttribute (expert GEMM shared memory)");
}

moekit_plugin_tensor vector_tensor(void* data, int32_t dtype, int64_t n) {
  moekit_plugin_tensor t{};
  t.data = data;
  t.dtype = dtype;
  t.rank = 1;
  t.shape[0] = n;
  return t;
}

const char* format_label(const Prepared& p, bool quant, bool a8) {
  switch (p.kind) {
    case WeightKind::Fp8:
      return a8 ? "cuda-mma-e4m3-fp8block-w8a8" : quant ? "cuda-mma-fp8block-w8a8" : "cuda-mma-fp8block-w8a16";
    case WeightKind::Mxfp4: return quant ? "cuda-mma-mxfp4-w4a8" : "cuda-mma-mxfp4-w4a16";
    default: break;
  }
  if (p.weight_format == 2) return quant ? "cuda-mma-f32-as-bf16-a8" : "cuda-mma-f32-as-bf16";
  if (p.compute == Compute::F16) return quant ? "cuda-mma-f16-a8" : "cuda-mma-f16";
  return quant ? "cuda-mma-bf16-a8" : "cuda-mma-bf16";
}

// Rows of the padded order expected to carry data: the local assignments under uniform routing, A * L / E.
int64_t expected_local_rows(const moekit_plugin_experts_config& cfg, int64_t assignments) {
  return experts::expected_local_rows(assignments, cfg.num_local_experts, cfg.num_experts);
}

// The grouped tier's 16-bit gather over row segments (RowSegments): whole rows where there are enough of them.
template <class CT>
void launch_gather16(const RowSegments& seg, int64_t rows, const RowSource& gather, const RowPlan& row_plan,
                     int32_t vec, void* out, cudaStream_t stream) {
  auto kernel = seg.whole() ? grouped_gather_kernel<CT, false, true> : grouped_gather_kernel<CT, false, false>;
  kernel<<<grid_for(rows * seg.per_row(), kWarpRows), kWarpRows * 32, 0, stream>>>(gather, row_plan, kActQuantNone,
                                                                                   vec, seg, out, nullptr);
}

void copy_text(char* dst, size_t cap, const std::string& s) {
  const size_t n = s.size() < cap - 1 ? s.size() : cap - 1;
  s.copy(dst, n);
  dst[n] = '\0';
}

}  // namespace

// Short: it ends the module's device description, which reaches users through moekit_backend_info.detail
// (256 bytes) after about 90 characters of device, driver and runtime.
std::string tiers_summary() {
  return std::string("decode T<=4 (all formats) | stream T<=64 (16-bit, fp8 w8a8) | ") +
         (sm90::compiled() ? "CUTLASS sm_90a grouped (bf16, fp8 w8a8) | " : "no CUTLASS tier | ") +
         "mma.sync grouped (all formats)";
}

void configure_gemm_kernels() {
  // The wide kernels take 96 KiB of shared memory (4 stages x 24 KiB): above the 48 KiB default, so they opt in
  // once per device, outside any run (runs may be captured into a graph). So do the streaming tier's rings.
  stream::configure_kernels();
  allow_smem<__nv_bfloat16, WeightKind::Half16, false>();
  allow_smem<__nv_bfloat16, WeightKind::Half16, true>();
  allow_smem<__half, WeightKind::Half16, false>();
  allow_smem<__half, WeightKind::Half16, true>();
  allow_smem<__nv_bfloat16, WeightKind::Fp8, true, true>();
  allow_smem<__nv_bfloat16, WeightKind::Fp8, true>();
  allow_smem<__nv_bfloat16, WeightKind::Mxfp4, false>();
  allow_smem<__nv_bfloat16, WeightKind::Mxfp4, true>();
}

size_t workspace_size(const moekit_plugin_experts_config& cfg, int64_t num_tokens, int32_t top_k,
                      const DeviceShape& device) {
  return static_cast<size_t>(layout_for(cfg, num_tokens, top_k, device).total);
}

void run(const moekit_plugin_experts_config& cfg, const Prepared& p, const moekit_plugin_tensor& hidden,
         const moekit_plugin_routing& plan, const moekit_plugin_tensor& out, void* workspace, size_t workspace_bytes,
         const DeviceShape& device, moekit_plugin_run_report& report, cudaStream_t stream) {
  const int64_t T = hidden.shape[0];
  const int64_t k = plan.topk_ids.shape[1];
  const int sm_count = device.sm_count;
  const Layout l = layout_for(cfg, T, k, device);
  const bool grouped = l.tier.tier == Tier::Grouped;
  const bool quant = l.quant;
  // FP8 activations x FP8 weights run on the native e4m3 tensor-core mma where the device code has it (sm_89+
  // code, device_code.h); sm_80 code decodes the codes to bf16 (exact) in the main loop instead.
  // MOEKIT_CUDA_NO_E4M3_MMA=1 forces the sm_80 path on newer devices (the GPU tests use it to cover that path).
  const bool a8 = quant && p.kind == WeightKind::Fp8 && device.e4m3_mma && !e4m3_mma_disabled();
  // The grouped tier's tiles, by the groups' average size, and for GEMM2 by its grid's waves (grouped_tiles.h).
  const double rows_per_expert = rows_per_local_expert(cfg, l.assignments);
  const GroupedTiles tiles = grouped_tiles_override(
      {sm90::grouped_tile_for(a8, rows_per_expert),
       sm90::grouped_gemm2_tile_for(a8, rows_per_expert, cfg.num_local_experts, cfg.hidden_pad, sm_count)},
      a8, l.tile_names);

  // The counts need the ids on the host, which would cost a host synchronisation per run (and break graph
  // capture): the CUDA runner leaves them unknown (-1). Skipped ids are still never used.
  report.assignments = -1;
  report.non_local_assignments = -1;
  report.invalid_assignments = -1;
  report.experts_touched = -1;
  const int decode_pairs = l.tier.tier == Tier::Decode ? decode::down_pairs(cfg, p, T, k) : 0;
  if (l.tier.tier == Tier::Decode) {
    copy_text(report.kernel, sizeof report.kernel, decode::kernel_label(cfg, p));
    copy_text(report.detail, sizeof report.detail, decode::describe(p, decode_pairs) + "; " + l.tier.why);
  } else if (l.tier.tier == Tier::Stream) {
    copy_text(report.kernel, sizeof report.kernel, stream::kernel_label(cfg, p));
    copy_text(report.detail, sizeof report.detail,
              stream::describe(cfg, p, hidden, T, k, device) + "; " + l.tier.why);
  } else if (grouped) {
    copy_text(report.kernel, sizeof report.kernel,
              a8 ? "cuda-sm90-grouped-fp8block-w8a8"
                 : p.weight_format == 2 ? "cuda-sm90-grouped-f32-as-bf16" : "cuda-sm90-grouped-bf16");
    const bool w13_row_scales = a8 && p.w13_block_scale == nullptr && p.w13_up_scale == nullptr;
    copy_text(report.detail, sizeof report.detail,
              std::string(sm90::configuration(a8, tiles.gemm1, w13_row_scales)) +
                  (tiles.gemm2 != tiles.gemm1 ? std::string("; GEMM2 tile ") + sm90::tile_name(tiles.gemm2)
                                              : std::string()) +
                  "; " + l.tier.why + "; " + std::to_string(l.assignments) + " assignments");
  } else {
    copy_text(report.kernel, sizeof report.kernel, format_label(p, quant, a8));
    const int64_t max_experts = l.assignments < cfg.num_local_experts ? l.assignments : cfg.num_local_experts;
    const double per_expert = max_experts > 0 ? static_cast<double>(l.assignments) / max_experts : 0.0;
    char text[192];
    std::snprintf(text, sizeof text,
                  "BM=%d BN=%d BK=%d, %d stages, %d warps, mma.sync %s; split-K %d/%d; %lld assignments, "
                  ">=%.1f rows/expert",
                  kBM, kBN, p.kind == WeightKind::Half16 ? 64 : a8 ? 128 : kBK, pipeline_stages(quant || p.kind == WeightKind::Fp8), kThreads / 32, a8 ? "m16n8k32 e4m3" : "m16n8k16", l.splits1,
                  l.splits2, static_cast<long long>(l.assignments), per_expert);
    copy_text(report.detail, sizeof report.detail, std::string(text) + " (" + l.tier.why + ")");
  }
  if (l.assignments == 0) return;
  if (workspace_bytes < static_cast<size_t>(l.total) || workspace == nullptr)
    throw PluginError(MOEKIT_PLUGIN_INVALID_ARGUMENT, "workspace_bytes: smaller than experts_workspace_size");
  if (l.tier.tier == Tier::Decode) {
    decode::run(cfg, p, hidden, plan, out, workspace, decode_pairs, device.dependent_launch, stream);
    return;
  }
  if (l.tier.tier == Tier::Stream) {
    stream::run(cfg, p, hidden, plan, out, workspace, device, device.dependent_launch, stream);
    return;
  }
  if (cfg.num_experts > kMaxDeviceExperts)
    throw_unsupported("experts: the CUDA runner sorts at most " + std::to_string(kMaxDeviceExperts) +
                      " experts, got num_experts " + std::to_string(cfg.num_experts));

  int32_t* sorted = at<int32_t>(workspace, l.sorted);
  int32_t* block_ids = at<int32_t>(workspace, l.block_ids);
  int32_t* post = at<int32_t>(workspace, l.post);
  uint16_t* a1 = at<uint16_t>(workspace, l.a1);
  float* s1 = quant ? at<float>(workspace, l.s1) : nullptr;
  void* act = at<void>(workspace, l.act);
  uint16_t* a2 = quant ? at<uint16_t>(workspace, l.a2) : nullptr;
  float* s2 = quant ? at<float>(workspace, l.s2) : nullptr;
  float* y = at<float>(workspace, l.y);
  float* partial = at<float>(workspace, l.partial);

  // 1. The padded expert-sorted order (the router's plan pass; same order as the CPU plan).
  moekit_plugin_router_config rc{};
  rc.num_experts = cfg.num_experts;
  rc.top_k = static_cast<int32_t>(k);
  rc.num_expert_groups = 1;
  rc.topk_groups = 1;
  rc.routed_scaling_factor = 1.0f;
  rc.block_size = kBM;
  rc.expert_map = cfg.expert_map;
  moekit_plugin_routing order{};
  order.topk_ids = plan.topk_ids;
  order.sorted_token_ids = vector_tensor(sorted, MOEKIT_PLUGIN_I32, l.rows);
  order.block_expert_ids = vector_tensor(block_ids, MOEKIT_PLUGIN_I32, l.m_blocks);
  order.num_tokens_post_padded = vector_tensor(post, MOEKIT_PLUGIN_I32, 1);
  launch_plan_metadata(rc, order, stream);

  const int64_t Hp = cfg.hidden_pad, Ip = cfg.intermediate_pad;
  int32_t* row_of = grouped ? at<int32_t>(workspace, l.row_of) : nullptr;
  RowPlan row_plan{sorted, block_ids, post, l.rows, row_of, nullptr, nullptr, p.local_of, cfg.num_experts,
                   cfg.num_local_experts};
  int32_t* group_first = grouped ? at<int32_t>(workspace, l.group_first) : nullptr;
  int32_t* group_rows = grouped ? at<int32_t>(workspace, l.group_rows) : nullptr;
  if (grouped) {
    GroupExtentParams gx{block_ids, sorted, post, p.local_of, cfg.num_experts, cfg.num_local_experts,
                         l.m_blocks, l.assignments, group_first, group_rows};
    group_extent_kernel<<<1, kExtentThreads, 0, stream>>>(gx);
    check_launch("group_extent_kernel");
    if (a8) {  // FP8 scales in CUTLASS's per-group layout
      row_plan.group_first = group_first;
      row_plan.group_rows = group_rows;
    }
  }
  const unsigned row_grid = grid_for(l.rows, 1);
  const bool f16 = p.compute == Compute::F16;

  // 2. Gather.
  RowSource gather{};
  static_cast<HiddenRows&>(gather) = hidden_rows(hidden, cfg, plan, k);
  gather.cols = Hp;
  gather.assignments = l.assignments;
  if (grouped) {
    const unsigned warp_grid = grid_for(l.rows, kWarpRows);
    const RowSegments seg = row_segments(expected_local_rows(cfg, l.assignments), Hp, sm_count);
    const bool sixteen = hidden.dtype != MOEKIT_PLUGIN_F32;
    const int32_t vec = reinterpret_cast<uintptr_t>(hidden.data) % 16 == 0 && cfg.hidden % (sixteen ? 8 : 4) == 0;
    if (l.codes_per_token && !a8)  // grouped + FP8 activations is w8a8 on sm_90 (choose_tier): codes in a1
      throw PluginError(MOEKIT_PLUGIN_INTERNAL, "grouped FP8 gather without e4m3 codes");
    if (l.codes_per_token) {
      uint8_t* token_codes = at<uint8_t>(workspace, l.token_codes);
      float* token_scales = at<float>(workspace, l.token_scales);
      token_quantize_kernel<<<grid_for(T, kWarpRows), kWarpRows * 32, 0, stream>>>(gather, T, cfg.act_quant, vec,
                                                                                   token_codes, token_scales);
      check_launch("token_quantize_kernel");
      grouped_gather_codes_kernel<<<warp_grid, kWarpRows * 32, 0, stream>>>(
          token_codes, token_scales, row_plan, Hp, static_cast<int32_t>(k), l.assignments,
          reinterpret_cast<uint8_t*>(a1), s1);
      check_launch("grouped_gather_codes_kernel");
    } else if (a8)
      grouped_gather_kernel<__nv_bfloat16, true><<<warp_grid, kWarpRows * 32, 0, stream>>>(gather, row_plan,
                                                                                           cfg.act_quant, vec, seg,
                                                                                           a1, s1);
    else if (f16)
      launch_gather16<__half>(seg, l.rows, gather, row_plan, vec, a1, stream);
    else
      launch_gather16<__nv_bfloat16>(seg, l.rows, gather, row_plan, vec, a1, stream);
  } else if (a8) build_operand_kernel<__nv_bfloat16, true><<<row_grid, kRowThreads, 0, stream>>>(gather, row_plan, cfg.act_quant, a1, s1);
  else if (f16) build_operand_kernel<__half><<<row_grid, kRowThreads, 0, stream>>>(gather, row_plan, cfg.act_quant, a1, s1);
  else build_operand_kernel<__nv_bfloat16><<<row_grid, kRowThreads, 0, stream>>>(gather, row_plan, cfg.act_quant, a1, s1);
  check_launch("build_operand_kernel (gather)");

  CombineParams c{};
  c.ids = static_cast<const int32_t*>(plan.topk_ids.data);
  c.topk_weights = static_cast<const float*>(plan.topk_weights.data);
  c.local_of = p.local_of;
  c.num_experts = cfg.num_experts;
  c.tokens = T;
  c.top_k = k;
  c.hidden = cfg.hidden;
  c.weight_on_input = cfg.apply_router_weight_on_input;
  c.out = out.data;
  c.out_dtype = out.dtype;

  if (grouped) {
    // 3'-5'. CUTLASS grouped GEMM1 -> h, activation -> act, grouped GEMM2 -> y (padded order).
    uint16_t* h = at<uint16_t>(workspace, l.h);
    void* gscratch = at<void>(workspace, l.grouped_scratch);
    sm90::GroupedPlan gp;
    gp.first_row = group_first;
    gp.rows = group_rows;
    gp.num_local = cfg.num_local_experts;
    sm90::GroupedGemm gemm1;
    gemm1.a = a1;
    gemm1.w = p.w13;
    gemm1.d = h;
    gemm1.n = 2 * Ip;
    gemm1.k = Hp;
    gemm1.tile = tiles.gemm1;
    if (a8) {  // e4m3 codes of the gathered rows and of the weights, with their block scales
      gemm1.a_scale = s1;
      gemm1.d_f32 = true;
    }
    if (a8 && p.w13_block_scale != nullptr) {  // I % 128 == 0: one GEMM with block scales
      gemm1.w_scale_blocks = true;
      gemm1.w_scale = p.w13_block_scale;
    } else if (a8 && p.w13_up_scale != nullptr) {
      // Two windows with block scales (experts_prepared.h): per-row scales would cost the main loop a multiply
      // more per accumulator and 32 more shared loads per thread at every K block. Both windows write D's columns
      // [up_row0, Ip) with the same values (zero weights, or gate rows of the caller block whose scale both
      // take). They share the grouped scratch: stream order (no programmatic dependent launch between them) keeps
      // the second setup kernel behind the first GEMM.
      const int64_t up_row0 = w13_up_window_row0(cfg.intermediate, Ip);
      sm90::GroupedGemm up = gemm1;
      up.w_scale_blocks = true;
      up.w_scale = p.w13_up_scale;
      up.w_row0 = up.d_col0 = up_row0;
      up.w_expert_rows = up.ldd = 2 * Ip;
      up.n = 2 * Ip - up_row0;
      sm90::run(gp, up, gscratch, static_cast<size_t>(l.grouped_scratch_bytes), sm_count, stream);
      gemm1.w_scale_blocks = true;
      gemm1.w_scale = p.w13_gate_scale;
      gemm1.w_expert_rows = gemm1.ldd = 2 * Ip;
      gemm1.n = Ip;
    } else if (a8) {  // I % 16 != 0 or I < 64: per-row scales
      gemm1.w_scale = p.w13_col_scale;
    }
    sm90::run(gp, gemm1, gscratch, static_cast<size_t>(l.grouped_scratch_bytes), sm_count, stream);
    GroupedActParams ap{};
    ap.h = h;
    ap.act = a8 ? static_cast<void*>(a2) : act;  // FP8: codes for GEMM2, quantized as in step 4 below
    ap.scales = a8 ? s2 : nullptr;
    ap.bias = cfg.has_w13_bias ? p.b13 : nullptr;
    ap.plan = row_plan;
    ap.plan.row_of = nullptr;
    ap.assignments = l.assignments;
    ap.ip = Ip;
    ap.activation = cfg.activation;
    ap.alpha = cfg.swiglu_alpha;
    ap.limit = cfg.swiglu_limit;
    ap.seg = row_segments(expected_local_rows(cfg, l.assignments), Ip, sm_count);
    const unsigned seg_grid = grid_for(l.rows * ap.seg.per_row(), kWarpRows);
    if (a8 && cfg.act_quant == kActQuantPerToken) {  // the host's choice is the kernels' only guard
      grouped_activation_per_token_kernel<<<grid_for(l.rows, kWarpRows), kWarpRows * 32, 0, stream>>>(ap);
    } else if (a8) {
      auto kernel = ap.seg.whole() ? grouped_activation_kernel<true, true> : grouped_activation_kernel<true, false>;
      kernel<<<seg_grid, kWarpRows * 32, 0, stream>>>(ap);
    } else {
      auto kernel = ap.seg.whole() ? grouped_activation_kernel<false, true> : grouped_activation_kernel<false, false>;
      kernel<<<seg_grid, kWarpRows * 32, 0, stream>>>(ap);
    }
    check_launch("grouped_activation_kernel");
    sm90::GroupedGemm gemm2;
    gemm2.a = ap.act;
    gemm2.w = p.w2;
    gemm2.d = y;
    gemm2.n = Hp;
    gemm2.k = Ip;
    gemm2.tile = tiles.gemm2;
    if (a8) {
      gemm2.a_scale = s2;
      gemm2.w_scale = p.w2_block_scale;
      gemm2.w_scale_blocks = true;
    }
    sm90::run(gp, gemm2, gscratch, static_cast<size_t>(l.grouped_scratch_bytes), sm_count, stream);
    c.y_bf16 = reinterpret_cast<const uint16_t*>(y);
    c.row_of = row_of;
    c.bias = cfg.has_w2_bias ? p.b2 : nullptr;
    c.y_stride = Hp;
    combine_rows_kernel<<<grid_for(T, 1), kCombineThreads, 0, stream>>>(c);
    check_launch("combine_rows_kernel");
    return;
  }

  // 3. GEMM1 with the activation.
  const bool scaled = quant || p.kind == WeightKind::Fp8;
  GemmParams g1{};
  g1.a = a1;
  g1.a_scale = s1;
  g1.w = p.w13;
  g1.w_col_scale = p.w13_col_scale;
  g1.w_mx = p.w13_mx;
  g1.bias = p.b13;
  g1.sorted = sorted;
  g1.block_ids = block_ids;
  g1.post_padded = post;
  g1.local_of = p.local_of;
  g1.num_experts = cfg.num_experts;
  g1.num_local = cfg.num_local_experts;
  g1.k = Hp;
  g1.rows = 2 * Ip;
  g1.ip = Ip;
  g1.m_blocks = l.m_blocks;
  g1.n_tiles = static_cast<int32_t>(Ip / (kBN / 2));
  g1.group_m = kGroupM;
  g1.out = act;
  g1.act_f32 = quant ? 1 : 0;
  g1.activation = cfg.activation;
  g1.alpha = cfg.swiglu_alpha;
  g1.limit = cfg.swiglu_limit;
  g1.assignments = l.assignments;
  g1.hidden = cfg.hidden;
  g1.k_splits = l.splits1;
  g1.partial = partial;
  launch_gemm(p, scaled, a8, Epilogue::Gated, g1, stream);
  FinishParams fin{};
  fin.rows_total = l.rows;
  fin.sorted = sorted;
  fin.block_ids = block_ids;
  fin.post_padded = post;
  fin.local_of = p.local_of;
  fin.num_experts = cfg.num_experts;
  fin.num_local = cfg.num_local_experts;
  fin.assignments = l.assignments;
  fin.partial = partial;
  if (l.splits1 > 1) {
    FinishParams f1 = fin;
    f1.splits = l.splits1;
    f1.n = 2 * Ip;
    f1.bias = p.b13;
    f1.ip = Ip;
    f1.act = act;
    f1.act_f32 = quant ? 1 : 0;
    f1.act_f16 = f16 ? 1 : 0;
    f1.activation = cfg.activation;
    f1.alpha = cfg.swiglu_alpha;
    f1.limit = cfg.swiglu_limit;
    finish_splits_kernel<true><<<row_grid, 256, 0, stream>>>(f1);
    check_launch("finish_splits_kernel (GEMM1)");
  }

  // 4. FP8 activations: quantize the intermediate rows like GEMM1's input.
  if (quant) {
    RowSource rows{};
    rows.rows_f32 = static_cast<const float*>(act);
    rows.cols = Ip;
    rows.assignments = l.assignments;
    if (a8) build_operand_kernel<__nv_bfloat16, true><<<row_grid, kRowThreads, 0, stream>>>(rows, row_plan, cfg.act_quant, a2, s2);
    else if (f16) build_operand_kernel<__half><<<row_grid, kRowThreads, 0, stream>>>(rows, row_plan, cfg.act_quant, a2, s2);
    else build_operand_kernel<__nv_bfloat16><<<row_grid, kRowThreads, 0, stream>>>(rows, row_plan, cfg.act_quant, a2, s2);
    check_launch("build_operand_kernel (activation quantization)");
  }

  // 5. GEMM2 -> y.
  GemmParams g2 = g1;
  g2.a = quant ? static_cast<const void*>(a2) : static_cast<const void*>(act);
  g2.a_scale = s2;
  g2.w = p.w2;
  g2.w_col_scale = p.w2_col_scale;
  g2.w_mx = p.w2_mx;
  g2.bias = p.b2;
  g2.k = Ip;
  g2.rows = Hp;
  g2.n_tiles = static_cast<int32_t>(Hp / kBN);
  g2.out = y;
  g2.k_splits = l.splits2;
  launch_gemm(p, scaled, a8, Epilogue::Scatter, g2, stream);
  if (l.splits2 > 1) {
    FinishParams f2 = fin;
    f2.splits = l.splits2;
    f2.n = Hp;
    f2.bias = p.b2;
    f2.y = y;
    f2.hidden = cfg.hidden;
    finish_splits_kernel<false><<<row_grid, 256, 0, stream>>>(f2);
    check_launch("finish_splits_kernel (GEMM2)");
  }

  // 6. Combine in slot order.
  c.y = y;
  const int64_t combine_blocks = T * ((cfg.hidden + kMmaCombineThreads - 1) / kMmaCombineThreads);
  combine_kernel<<<grid_for(combine_blocks, 1), kMmaCombineThreads, 0, stream>>>(c);
  check_launch("combine_kernel");
}

}  // namespace moekit::cuda::experts
