// The small-batch streaming tier (experts_stream.h): the workspace layout and the host side that launches its
// kernels (group, gather, gate_up, (quantize), down, combine: experts_stream_rows.cuh, _gemm.cuh, _combine.cuh).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <string>

#include "compute_bits.cuh"
#include "dependent_launch.h"
#include "device/grid_dependency.cuh"
#include "experts_gemm.cuh"
#include "experts_stream.h"
#include "experts_stream_combine.cuh"
#include "experts_stream_common.cuh"
#include "experts_stream_gemm.cuh"
#include "experts_stream_ops.cuh"
#include "experts_stream_rows.cuh"
#include "kernel_launch.h"
#include "local_rows.h"
#include "measuring_knobs.h"
#include "plugin_error.h"
#include "warp_ops.cuh"

namespace moekit::cuda::experts::stream {

namespace {

// Workspace byte offsets. G = min(A, L) bounds the touched experts.
struct Layout {
  int64_t groups_max = 0;
  int64_t rows = 0, groups = 0, meta = 0, x = 0, x_scale = 0, act = 0, act_codes = 0, act_scale = 0, y = 0, total = 0;
};

Layout layout_for(const moekit_plugin_experts_config& cfg, int64_t num_tokens, int64_t top_k) {
  const int64_t A = num_tokens * top_k;
  // One token: room for every K split's plane of y (kOneTokenDownSplits; k of H f32 each), whatever the run picks.
  const int64_t y_planes = one_token(num_tokens) ? kOneTokenDownSplits : 1;
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
  l.y = take(y_planes * A * cfg.hidden * 4);
  l.total = at;
  return l;
}

// ---- Host ----------------------------------------------------------------------------------------------------

// One GEMM kernel's opt-in to a ring of `smem` bytes, with all of the SM's L1 / shared memory as shared memory.
void opt_in_ring(void (*kernel)(GemmParams), int smem) {
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem),
             "cudaFuncSetAttribute (stream GEMM shared memory)");
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                  cudaSharedmemCarveoutMaxShared),
             "cudaFuncSetAttribute (stream GEMM carveout)");
}

// The rings are larger than the 48 KiB default: each GEMM kernel opts in once per device, outside any run (runs may be
// captured into a graph), with all of the SM's unified L1 / shared memory as shared memory, so that 4 blocks of the
// common MAX_TILES = 1 ring (55-57 KiB each) fit an H200 SM; the operands bypass L1 anyway. Rings deeper than the
// 3-stage one that the device does not allow a block are not opted in: one_token_ring_stages and down_ring_stages never
// pick them there (each asks for the ring plus the 1 KiB reservation within the SM's shared memory, and every sm_80+
// device's per-block limit is that SM figure less 1 KiB). A 3-stage ring that does not fit is an error here, not at the
// first launch.
template <class CT, bool FP8, int MAX_TILES, bool ONE = false, int STAGES = kStages>
void allow_smem(int max_block_smem) {
  constexpr int smem = stream_smem_bytes<FP8, MAX_TILES, STAGES>();
  if (smem > max_block_smem) {
    if (ONE && STAGES > kStages) return;
    throw_unsupported("stream tier: a " + std::to_string(smem) + "-byte shared-memory ring exceeds the device's " +
                      std::to_string(max_block_smem) + " bytes per block");
  }
  // At T > 1, FP8 gate_up runs its bounded kernel and down also has its two-chunk kernel (kDownChunks); one token
  // keeps the plain kernels, a chunk per block.
  if constexpr (FP8 && !ONE) opt_in_ring(stream_gate_up_fp8_kernel<CT, MAX_TILES>, smem);
  else opt_in_ring(stream_gemm_kernel<CT, FP8, true, MAX_TILES, ONE, STAGES>, smem);
  opt_in_ring(stream_gemm_kernel<CT, FP8, false, MAX_TILES, ONE, STAGES>, smem);
  if constexpr (!ONE) opt_in_ring(stream_down_chunked_kernel<CT, FP8, MAX_TILES, kStages>, smem);
}

// The two-run down kernels' deeper rings (kDownChunkedStages from index I on), where the device allows a block
// the ring: down_ring_stages picks them only within the SM's shared memory, as one_token_ring_stages does.
template <class CT, bool FP8, int MAX_TILES, int I = 1>
void allow_smem_down_chunked(int max_block_smem) {
  if constexpr (I < static_cast<int>(std::size(kDownChunkedStages))) {
    constexpr int smem = stream_smem_bytes<FP8, MAX_TILES, kDownChunkedStages[I]>();
    if (smem <= max_block_smem)
      opt_in_ring(stream_down_chunked_kernel<CT, FP8, MAX_TILES, kDownChunkedStages[I]>, smem);
    allow_smem_down_chunked<CT, FP8, MAX_TILES, I + 1>(max_block_smem);
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
  allow_smem_down_chunked<CT, FP8, 1>(max_block_smem);
  allow_smem_down_chunked<CT, FP8, 2>(max_block_smem);
  allow_smem_down_chunked<CT, FP8, 4>(max_block_smem);
}

template <class CT, bool FP8, bool GATED, int MAX_TILES, bool ONE, int STAGES>
void launch_gemm(const GemmParams& g, dim3 grid, bool overlap, cudaStream_t stream, const char* what) {
  constexpr int smem = stream_smem_bytes<FP8, MAX_TILES, STAGES>();  // opted in by configure_kernels()
  launch_dependent(overlap, stream_gemm_kernel<CT, FP8, GATED, MAX_TILES, ONE, STAGES>, grid, dim3(kThreads), smem,
                   stream, what, g);
}

template <class CT, int MAX_TILES>
void launch_gate_up_fp8(const GemmParams& g, dim3 grid, bool overlap, cudaStream_t stream, const char* what) {
  constexpr int smem = stream_smem_bytes<true, MAX_TILES, kStages>();  // opted in by configure_kernels()
  launch_dependent(overlap, stream_gate_up_fp8_kernel<CT, MAX_TILES>, grid, dim3(kThreads), smem, stream, what, g);
}

// Two runs of w2 per block: the kernel of the pass's ring depth, found among kDownChunkedStages from index I on.
template <class CT, bool FP8, int MAX_TILES, int I = 0>
void launch_down_chunked(int stages, const GemmParams& g, dim3 grid, bool overlap, cudaStream_t stream,
                         const char* what) {
  if constexpr (I == static_cast<int>(std::size(kDownChunkedStages))) {
    throw_internal("stream tier: no two-run down kernel for a " + std::to_string(stages) + "-stage ring");
  } else if (stages == kDownChunkedStages[I]) {
    constexpr int smem = stream_smem_bytes<FP8, MAX_TILES, kDownChunkedStages[I]>();  // opted in (configure_kernels)
    launch_dependent(overlap, stream_down_chunked_kernel<CT, FP8, MAX_TILES, kDownChunkedStages[I]>, grid,
                     dim3(kThreads), smem, stream, what, g);
  } else {
    launch_down_chunked<CT, FP8, MAX_TILES, I + 1>(stages, g, grid, overlap, stream, what);
  }
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

// Grid x of the two GEMM passes: gate_up a block per 32 intermediate columns, down a block per 64 output columns
// (one token) or per `chunks` runs of 64 (T > 1: kDownChunks; Hp is a multiple of 128).
int64_t gate_up_column_blocks(int64_t ip) { return ip / 8 / kWarps; }
int64_t down_column_blocks(int64_t hp, int chunks = 1) { return hp / 16 / kWarps / chunks; }

// One GEMM pass: the one-token kernel of its ring depth, or the grouped kernel of the pass's tiles (FP8 gate_up: its
// bounded kernel; down: of `chunks` runs of 64 rows per block, two runs in a ring `stages` deep).
template <class CT, bool FP8, bool GATED>
void launch_pass(bool one, int stages, int tiles, int chunks, const GemmParams& g, dim3 grid, bool overlap,
                 cudaStream_t stream, const char* what) {
  if (one) {
    launch_one_token_gemm<CT, FP8, GATED>(stages, g, grid, overlap, stream, what);
  } else if constexpr (FP8 && GATED) {
    if (tiles >= 4) launch_gate_up_fp8<CT, 4>(g, grid, overlap, stream, what);
    else if (tiles == 2) launch_gate_up_fp8<CT, 2>(g, grid, overlap, stream, what);
    else launch_gate_up_fp8<CT, 1>(g, grid, overlap, stream, what);
  } else if (!GATED && chunks == kDownChunks) {
    if (tiles >= 4) launch_down_chunked<CT, FP8, 4>(stages, g, grid, overlap, stream, what);
    else if (tiles == 2) launch_down_chunked<CT, FP8, 2>(stages, g, grid, overlap, stream, what);
    else launch_down_chunked<CT, FP8, 1>(stages, g, grid, overlap, stream, what);
  } else {
    if (tiles >= 4) launch_gemm<CT, FP8, GATED, 4, false, kStages>(g, grid, overlap, stream, what);
    else if (tiles == 2) launch_gemm<CT, FP8, GATED, 2, false, kStages>(g, grid, overlap, stream, what);
    else launch_gemm<CT, FP8, GATED, 1, false, kStages>(g, grid, overlap, stream, what);
  }
}

template <class CT, bool FP8>
void launch_gemms(bool one, const PassRings& rings, int tiles, const GemmParams& g1,
                  const GemmParams& g2, const RowsParams* act_quant, unsigned groups, int64_t max_rows, bool overlap,
                  cudaStream_t stream) {
  const dim3 grid1(static_cast<unsigned>(gate_up_column_blocks(g1.ip)), groups);
  launch_pass<CT, FP8, true>(one, rings.gate_up, tiles, 1, g1, grid1, overlap, stream, "stream gate_up kernel");
  // Tried and not kept: gate_up's last block per 128 columns quantizing them instead of this launch (atomic
  // arrivals, fences): geomean 1.005x over the FP8 points T=16..256, Qwen3 T=256 1.036x
  // (bench/results/h200_ab_stream_fp8_fused_act_quant_not_kept.md).
  if (act_quant != nullptr)
    launch_build_rows<CT>(*act_quant, max_rows, overlap, stream, "stream activation quantization");
  const dim3 grid2(static_cast<unsigned>(down_column_blocks(g2.rows_per_expert, rings.down_runs)), groups,
                   static_cast<unsigned>(rings.down_splits));
  launch_pass<CT, FP8, false>(one, rings.down, tiles, rings.down_runs, g2, grid2, overlap, stream,
                              "stream down kernel");
}

// One token: the deepest ring of kOneTokenStages that still lets the pass's blocks (`blocks`, expected live)
// be resident at once on the device, and no deeper than the row has stages to keep in flight (STAGES - 1 ahead);
// kStages where even that grid takes more than a wave. 1 KiB per block is the runtime's reservation on sm_80+.
int one_token_ring_stages(bool fp8, int64_t blocks, int64_t row_stages, const DeviceShape& device) {
  const size_t stage_bytes = fp8 ? StageShape<true, 1>::kBytes : StageShape<false, 1>::kBytes;
  int best = kStages;
  for (int stages : kOneTokenStages) {
    if (stages - 1 > std::max<int64_t>(row_stages, kStages - 1)) break;
    const int64_t per_sm = static_cast<int64_t>(device.smem_per_sm / (stages * stage_bytes + kReservedSmemPerBlock));
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
  // The grouping block's shared memory grows with L and A past the 48 KiB default (72 KiB at the tier's limits).
  const size_t group_smem = group_shared_bytes(kMaxDeviceExperts, kMaxAssignments);
  if (group_smem > static_cast<size_t>(max_block_smem))
    throw_unsupported("stream tier: the grouping pass's " + std::to_string(group_smem) +
                      " bytes of shared memory exceed the device's " + std::to_string(max_block_smem) +
                      " bytes per block");
  auto allow_group_smem = [&](auto kernel) {
    check_cuda(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(group_smem)),
        "cudaFuncSetAttribute (stream grouping shared memory)");
  };
  allow_group_smem(group_kernel);
  allow_group_smem(group_and_quantize_tokens_kernel);
}

bool supports(const moekit_plugin_experts_config& cfg, int64_t num_tokens, int64_t top_k, bool e4m3_mma) {
  if (num_tokens * top_k > kMaxAssignments || cfg.num_local_experts > kMaxDeviceExperts) return false;
  const bool sixteen_bit = cfg.weight_format == 0 || cfg.weight_format == 1 || cfg.weight_format == 2;
  if (sixteen_bit) return cfg.act_quant == kActNone;
  return cfg.weight_format == 3 && e4m3_mma && (cfg.act_quant == kActPerToken || cfg.act_quant == kActPerGroup);
}

size_t workspace_bytes(const moekit_plugin_experts_config& cfg, int64_t num_tokens, int64_t top_k) {
  return static_cast<size_t>(layout_for(cfg, num_tokens, top_k).total);
}

const char* kernel_label(const moekit_plugin_experts_config& cfg, const Prepared& p) {
  if (p.kind == WeightKind::Fp8) return "cuda-stream-fp8block-w8a8";
  if (p.compute == Compute::F16) return "cuda-stream-f16";
  return cfg.weight_format == 2 ? "cuda-stream-f32-as-bf16" : "cuda-stream-bf16";
}

int rows_per_pass(const moekit_plugin_experts_config& cfg, int64_t num_tokens, int64_t top_k) {
  // The rows expected on local experts (all A without expert parallelism; A * L / E with it, local_rows.h) over
  // the local experts they touch at most.
  const double local = experts::expected_local(num_tokens * top_k, cfg.num_local_experts, cfg.num_experts);
  const double G = std::min(local, static_cast<double>(cfg.num_local_experts));
  const double avg = G > 0.0 ? local / G : 1.0;
  // Wide enough for most groups of uniform routing to take one pass. H200, forced stream tier, same run: Qwen3
  // T=64 (4 rows on average) 317/197 us (bf16/fp8) with 8 rows a pass, 304/189 with 16; DeepSeek-V3 T=256 (8
  // rows) 7134/3869 with 8, 5113/2796 with 16, 5097/2834 with 32; Mixtral T=64 (16 rows) 988/550 with 16,
  // 726/466 with 32. The ring grows with the pass (experts_stream_gemm.cuh, StageShape), hence 8 rows at <= 2.
  const int tiles = avg <= 2.0 ? 1 : avg <= 6.0 ? 2 : kMaxTiles;
  return tiles * kRowsPerTile;
}

bool one_token(int64_t num_tokens) { return num_tokens == 1; }

bool x_per_token(const moekit_plugin_experts_config& cfg, const Prepared& p, int64_t num_tokens, int64_t top_k) {
  return p.kind == WeightKind::Fp8 && quantized(cfg) && !one_token(num_tokens) && !cfg.apply_router_weight_on_input &&
         num_tokens * top_k >= kTokenCodesMinAssignments;
}

bool reads_hidden_directly(const moekit_plugin_experts_config& cfg, const Prepared& p,
                           const moekit_plugin_tensor& hidden) {
  if (p.kind != WeightKind::Half16 || quantized(cfg) || cfg.apply_router_weight_on_input) return false;
  const int32_t compute_dtype = p.compute == Compute::F16 ? MOEKIT_PLUGIN_F16 : MOEKIT_PLUGIN_BF16;
  return hidden.dtype == compute_dtype && cfg.hidden % 8 == 0 && reinterpret_cast<uintptr_t>(hidden.data) % 16 == 0;
}

namespace {
// One token: the slots expected to name a local expert under uniform routing, k * L / E (at least 1).
int64_t expected_local_slots(const moekit_plugin_experts_config& cfg, int64_t top_k) {
  return std::max<int64_t>(1, experts::expected_local_rows(top_k, cfg.num_local_experts, cfg.num_experts));
}
}  // namespace

namespace {
// Local experts that uniform routing of T tokens, k slots each, is expected to touch.
double expected_touched_experts(const moekit_plugin_experts_config& cfg, int64_t num_tokens, int64_t top_k) {
  const int64_t E = cfg.num_experts > 0 ? cfg.num_experts : 1;
  const double pick = std::min(1.0, static_cast<double>(top_k) / static_cast<double>(E));
  return static_cast<double>(cfg.num_local_experts) * (1.0 - std::pow(1.0 - pick, static_cast<double>(num_tokens)));
}

// Blocks of a T > 1 pass's ring (`tiles` of x, `stages` deep) resident on the whole device.
double resident_blocks(bool fp8, int tiles, int stages, const DeviceShape& device) {
  const size_t ring = stream_ring_bytes(fp8, tiles, stages);
  return static_cast<double>(device.sm_count) *
         static_cast<double>(device.smem_per_sm / (ring + kReservedSmemPerBlock));
}
}  // namespace

int down_chunks(const moekit_plugin_experts_config& cfg, const Prepared& p, int64_t num_tokens, int64_t top_k,
                const DeviceShape& device) {
  if (one_token(num_tokens)) return 1;
  const double blocks =
      expected_touched_experts(cfg, num_tokens, top_k) * static_cast<double>(down_column_blocks(cfg.hidden_pad));
  const int tiles = rows_per_pass(cfg, num_tokens, top_k) / kRowsPerTile;
  return blocks <= 2.0 * resident_blocks(p.kind == WeightKind::Fp8, tiles, kStages, device) ? kDownChunks : 1;
}

namespace {
// T > 1, two runs of w2 per down block (`runs`, down_chunks == 2, a grid of at most one wave of 3-stage rings): the
// deepest ring of kDownChunkedStages (3, 4 or 5 stages) whose resident blocks still take the whole down grid
// (expected touched experts x Hp / 128 blocks), so that each block keeps more of its long w2 rows in flight; 3
// otherwise. ncu (H200, Mixtral-8x7B fp8 T=64, 3-stage ring): the down pass's 256 blocks, two per SM, kept DRAM 62 %
// busy.
int down_ring_stages(const moekit_plugin_experts_config& cfg, const Prepared& p, int64_t num_tokens, int64_t top_k,
                     const DeviceShape& device, int runs) {
  if (runs != kDownChunks) return kStages;
  const double blocks = expected_touched_experts(cfg, num_tokens, top_k) *
                        static_cast<double>(down_column_blocks(cfg.hidden_pad, kDownChunks));
  if (blocks <= 0.0) return kStages;  // no local experts: nothing is launched
  const int tiles = rows_per_pass(cfg, num_tokens, top_k) / kRowsPerTile;
  int best = kStages;
  for (int stages : kDownChunkedStages)
    if (resident_blocks(p.kind == WeightKind::Fp8, tiles, stages, device) >= blocks) best = stages;
  return best;
}
}  // namespace

bool one_token_outruns_decode(const moekit_plugin_experts_config& cfg, int64_t top_k) {
  const int64_t local_slots = expected_local_slots(cfg, top_k);
  const int64_t expert_bytes = 3 * cfg.hidden_pad * cfg.intermediate_pad * 2;  // w13 and w2, 16-bit
  return local_slots * expert_bytes >= kOneTokenStreamMinBytes;
}

PassRings one_token_rings(const moekit_plugin_experts_config& cfg, const Prepared& p, int64_t top_k,
                              const DeviceShape& device) {
  const bool fp8 = p.kind == WeightKind::Fp8;
  const int64_t elem = fp8 ? 1 : 2;
  const int64_t local_slots = expected_local_slots(cfg, top_k);  // the others' blocks exit at once
  auto row_stages = [&](int64_t k) { return (k * elem + kStageBytes - 1) / kStageBytes; };
  PassRings r;
  r.gate_up = one_token_ring_stages(fp8, gate_up_column_blocks(cfg.intermediate_pad) * local_slots,
                                    row_stages(cfg.hidden_pad), device);
  const int64_t down_blocks = down_column_blocks(cfg.hidden_pad) * local_slots;
  // Validated for every tier by the runner's layout (experts_run.cu), before any workspace query or run gets here.
  static_assert(knobs::kMaxDownSplits <= kOneTokenDownSplits, "layout_for reserves kOneTokenDownSplits planes of y");
  const int forced = knobs::parse_down_splits(std::getenv(knobs::kDownSplitsVariable));
  const int64_t down_row_stages = row_stages(cfg.intermediate_pad);
  const bool split = down_blocks <= 2 * static_cast<int64_t>(device.sm_count) &&
                     down_row_stages >= kOneTokenDownSplits * kOneTokenDownSplitMinStages;
  r.down_splits = forced != 0 ? forced : split ? kOneTokenDownSplits : 1;
  // Each split's blocks stream 1 / splits of the row's stages.
  r.down = one_token_ring_stages(fp8, down_blocks * r.down_splits,
                                 (down_row_stages + r.down_splits - 1) / r.down_splits, device);
  return r;
}

PassRings pass_rings(const moekit_plugin_experts_config& cfg, const Prepared& p, int64_t num_tokens, int64_t top_k,
                     const DeviceShape& device) {
  if (one_token(num_tokens)) return one_token_rings(cfg, p, top_k, device);
  PassRings r;
  r.down_runs = down_chunks(cfg, p, num_tokens, top_k, device);
  r.down = down_ring_stages(cfg, p, num_tokens, top_k, device, r.down_runs);
  return r;
}

std::string describe(const moekit_plugin_experts_config& cfg, const Prepared& p, const moekit_plugin_tensor& hidden,
                     int64_t num_tokens, int64_t top_k, const DeviceShape& device) {
  const PassRings rings = pass_rings(cfg, p, num_tokens, top_k, device);
  // FP8: the tensor-core instruction (the report's detail holds 191 characters: keep it short).
  const std::string mma = p.kind != WeightKind::Fp8 ? "" : device.fp8_wgmma ? ", wgmma" : ", mma.sync";
  if (!one_token(num_tokens))
    return std::string("expert-major streaming: block per (expert, 64 weight rows") +
           (rings.down_runs > 1 ? "; w2 2x64" : "") + ") per " +
           std::to_string(rows_per_pass(cfg, num_tokens, top_k)) + " rows, rings " + std::to_string(rings.gate_up) +
           "/" + std::to_string(rings.down) + " (w13/w2), x " +
           (reads_hidden_directly(cfg, p, hidden) ? "in place"
            : x_per_token(cfg, p, num_tokens, top_k) ? "per token"
                                                     : "gathered") +
           ", slot-ordered combine" + mma;
  // Short (both): the report's detail holds 191 characters, and the tier's reason follows.
  return std::string("expert-major streaming, one token: block per (slot, 64 weight rows), x ") +
         (reads_hidden_directly(cfg, p, hidden) ? "in place" : "gathered") + ", rings " +
         std::to_string(rings.gate_up) + " (w13) / " + std::to_string(rings.down) + " (w2" +
         (rings.down_splits > 1 ? ", " + std::to_string(rings.down_splits) + " K splits" : std::string()) +
         "), slot-ordered combine" + mma;
}

void run(const moekit_plugin_experts_config& cfg, const Prepared& prep, const moekit_plugin_tensor& hidden,
         const moekit_plugin_routing& plan, const moekit_plugin_tensor& out, void* workspace, const DeviceShape& device,
         bool overlap, cudaStream_t stream) {
  const int64_t T = hidden.shape[0], k = plan.topk_ids.shape[1], A = T * k;
  const bool fp8 = prep.kind == WeightKind::Fp8;
  if (!supports(cfg, T, k, fp8) || prep.kind == WeightKind::Mxfp4 || (fp8 && !quantized(cfg)))
    throw_internal("stream tier chosen for a configuration it does not take");
  if (A == 0) return;
  const Layout l = layout_for(cfg, T, k);
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
  const bool q = quantized(cfg);
  const bool f16 = prep.compute == Compute::F16;
  RowsParams gather{};
  static_cast<HiddenRows&>(gather) = hidden_rows(hidden, cfg, plan, k);
  const bool token_x = x_per_token(cfg, prep, T, k);
  gather.rows = one || token_x ? nullptr : rows;
  gather.meta = one || token_x ? nullptr : meta;
  // One token: a copy of its row per slot, not one row that all k slots read: with every gate_up block reading
  // the same few L2 lines at once, FP8 layers were 2-4 % slower (H200, T=1: DeepSeek-V3 132.6 vs 129.3 us,
  // gpt-oss 56.4 vs 53.9, Qwen3 35.5 vs 34.5).
  gather.row_count = token_x ? T : A;
  if (token_x) gather.top_k = 1;  // row i is token i
  gather.cols = Hp;
  gather.act_quant = cfg.act_quant;
  gather.out = ws + l.x;
  gather.scales = q ? reinterpret_cast<float*>(ws + l.x_scale) : nullptr;
  // FP8 per-group token rows (x_per_token) are quantized beside the grouping, in its launch: H200, same session,
  // against the two launches, Qwen3-30B-A3B fp8 T=256 0.990x, DeepSeek-V3 / gpt-oss-120b T=256 1.000x. Taking x per
  // token at every T > 1 so that smaller layers merge too measured 0.988-1.007x at 128-512 assignments (Mixtral-8x7B
  // T=64 slower; bench/results/h200_ab_stream_fp8_group_with_token_x.md): those keep the per-assignment gather,
  // which reads the grouping's rows and follows it.
  const bool group_with_x = token_x && cfg.act_quant == kActPerGroup;  // token_x: T > 1
  const size_t group_smem = one ? 0 : group_shared_bytes(cfg.num_local_experts, A);
  if (group_with_x) {
    launch_dependent(overlap, group_and_quantize_tokens_kernel, dim3(group_and_quantize_blocks(T, Hp)),
                     dim3(kGroupThreads), group_smem, stream, "stream group_and_quantize_tokens_kernel", gp, gather);
  } else if (!one) {
    launch_dependent(overlap, group_kernel, dim3(1), dim3(kGroupThreads), group_smem, stream, "stream group_kernel",
                     gp);
  }
  if (direct_x) {
    // gate_up reads the tokens' hidden rows itself (zeros past H): no gathered copy of x. H200, DeepSeek-V3 bf16
    // T=256 (ncu, boost clocks): the gather took 24.5 us of a 5.1 ms layer, writing 29 MB that gate_up read back.
  } else if (group_with_x) {
    // Quantized above, in the grouping's launch.
  } else if (f16) {
    launch_build_rows<__half>(gather, gather.row_count, overlap, stream, "stream gather");
  } else {
    launch_build_rows<__nv_bfloat16>(gather, gather.row_count, overlap, stream, "stream gather");
  }

  GemmParams g1{};
  g1.w = prep.w13;
  // FP8: per-block weight scales where the prepared copy exists (w2 always, w13 when I % 128 == 0).
  g1.w_scale_blocks = prep.w13_block_scale != nullptr;
  g1.w_scale = g1.w_scale_blocks ? prep.w13_block_scale : prep.w13_col_scale;
  g1.bias = prep.b13;
  g1.x = direct_x ? hidden.data : ws + l.x;
  g1.x_scale = gather.scales;
  g1.x_valid_bytes = direct_x ? cfg.hidden * 2 : Hp * (q ? 1 : 2);
  g1.x_shared_row = one && direct_x;
  g1.x_top_k = (!one && direct_x) || token_x ? k : 0;
  g1.x_row_bytes = token_x ? Hp : cfg.hidden * 2;
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
  const int64_t w_elem = prep.kind == WeightKind::Fp8 ? 1 : 2;
  g1.w_valid_bytes = round_up(cfg.hidden * w_elem, 16);  // whole 16-byte copies
  GemmParams g2 = g1;
  g2.w = prep.w2;
  g2.w_scale_blocks = prep.w2_block_scale != nullptr;  // every FP8 layer
  g2.w_scale = prep.w2_block_scale;
  g2.bias = nullptr;
  g2.x = q ? ws + l.act_codes : ws + l.act;
  g2.x_scale = q ? reinterpret_cast<float*>(ws + l.act_scale) : nullptr;
  g2.x_valid_bytes = Ip * (q ? 1 : 2);
  g2.w_valid_bytes = round_up(cfg.intermediate * w_elem, 16);
  g2.x_shared_row = 0;
  g2.x_top_k = 0;
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
  const PassRings rings = pass_rings(cfg, prep, T, k, device);
  g1.k_splits = 1;
  g2.k_splits = rings.down_splits;
  g2.y_split_stride = A * cfg.hidden;
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
  c.y_split_stride = A * cfg.hidden;  // the down pass's K split planes (one token)
  c.b2 = cfg.has_w2_bias ? prep.b2 : nullptr;
  c.out = out.data;
  c.out_dtype = out.dtype;
  const bool vec4 = cfg.hidden % 4 == 0;  // y's rows and b2's (Hp long) then start 16-byte aligned
  const int64_t combine_columns = kCombineThreads * (vec4 ? 4 : 1);
  const int64_t combine_blocks = T * ((cfg.hidden + combine_columns - 1) / combine_columns);
  static_assert(kOneTokenDownSplits == 2, "a combine kernel per plane count");
  const bool split = rings.down_splits > 1;
  auto* combine = vec4 ? (split ? combine_kernel<4, 2> : combine_kernel<4, 1>)
                       : (split ? combine_kernel<1, 2> : combine_kernel<1, 1>);
  launch_dependent(overlap, combine, dim3(grid_for(combine_blocks, 1)), dim3(kCombineThreads), 0, stream,
                   "stream combine_kernel", c);
}

}  // namespace moekit::cuda::experts::stream
