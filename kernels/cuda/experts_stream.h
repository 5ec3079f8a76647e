// The streaming tier of the CUDA expert runner ("cuda-stream-*"): up to 16 routed rows per local expert, from
// decode (T = 1, except 16-bit weights there) to T = 256 on the large presets. There the layer is weight
// streaming: the decode tier's one pass over an expert per assignment reads the same bytes several times once
// experts are shared, and the GEMM tiers' 64- or 128-row tiles carry a few real rows. This tier reads each
// touched expert's weights once and applies them to all of its rows:
//   1. group    one block sorts the assignments by local expert (stable counting sort: within an expert the
//               flat indices t*k+j stay increasing; the routing plan's scatter, stable_scatter.cuh) into rows[],
//               with one (expert, first row, row count) group per touched expert; skipped ids (outside [0, E),
//               non-local experts) are in no group;
//   2. gather   x[i] = the hidden row of rows[i] (x the router weight when it is applied on the input), in the
//               compute type, or as e4m3 codes + scales (per token / per 128-group, the quantizer's math); skipped
//               where gate_up can read the hidden rows in place (reads_hidden_directly); with FP8 activations at
//               T > 1 (router weight not on the input) each token's row is quantized once, and gate_up reads
//               grouped row i's codes from token rows[i] / k (x_per_token): the same codes, k times fewer rows;
//               per 1 x 128 group those token rows need no grouping and are quantized in step 1's launch
//               (group_and_quantize_tokens_kernel: block 0 groups, the others quantize);
//   3. gate_up  per (group, 32 intermediate columns) a block of 4 warps streams the 32 gate and 32 up weight
//               rows once through a shared-memory ring and multiplies them by up to 32 rows of x on the tensor
//               cores (mma.sync with the weights as the 16-row A operand and the rows as N: "swap AB"; FP8 on
//               sm_90a, wgmma with the 64 weight rows as A straight from the ring), then
//               adds b13 and applies the activation;
//   4. (FP8 activations) the activation rows are quantized like the gather;
//   5. down     per (group, 64 output columns) a block streams 64 rows of w2 once against the group's
//               activation rows -> y[a, h] f32 for each assignment a (at T > 1 two such runs of 64 rows back to
//               back per block where the grid would otherwise end in a thin second wave: down_chunks; at T = 1
//               in two K splits where the grid is small, a plane of y each: kOneTokenDownSplits);
//   6. combine  out[t] = sum over slots j = 0..k-1 in order of weight * (y[t*k+j] + b2) (y the sum of the K
//               split planes, in order, at T = 1), rounded once: the CPU
//               backend's order, no atomics (deterministic).
// One token (T = 1, decode): its k slots name k experts (distinct under any top-k routing; a repeated id is just
// run twice), so step 1 is skipped: group j is slot j, read from the routing ids by the GEMM blocks themselves,
// and x is the token's hidden row, read by gate_up in place when it is already the compute type
// (reads_hidden_directly; step 2 is skipped too), else gathered per slot.
// Stream-ordered, allocation-free, no host synchronisation: capturable in a CUDA graph. Groups with more rows than
// a pass (8, 16 or 32, rows_per_pass) are taken in several passes (each reads the weights again, mostly from L2):
// no row is dropped.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "experts.h"
#include "experts_prepared.h"
#include "moekit_plugin.h"

namespace moekit::cuda::experts::stream {

// Largest T * k the grouping block takes (the local expert of each assignment is kept in 16-bit shared memory).
constexpr int64_t kMaxAssignments = 16384;

// Whether the tier runs this configuration: 16-bit weights (or f32 held as bf16) with 16-bit activations, or
// FP8 128-block weights with FP8 activations (per token or per 128-group) where the device has the e4m3 mma
// (`e4m3_mma`). Other formats (FP8 w8a16, MXFP4, 16-bit weights with FP8 activations) are declined.
bool supports(const moekit_plugin_experts_config& cfg, int64_t num_tokens, int64_t top_k, bool e4m3_mma);
// Opts the tier's GEMM kernels into their shared-memory rings (above the 48 KiB default); once per device,
// before any run (runs may be captured into a graph).
void configure_kernels();
size_t workspace_bytes(const moekit_plugin_experts_config& cfg, int64_t num_tokens, int64_t top_k);
// "cuda-stream-bf16", "cuda-stream-f16", "cuda-stream-f32-as-bf16" or "cuda-stream-fp8block-w8a8".
const char* kernel_label(const moekit_plugin_experts_config& cfg, const Prepared& p);
// Rows of one expert that a block multiplies per weight read: 8, 16 or 32, picked from the average rows per
// expert, A' / min(A', L) for the A' = A * L / E rows expected on local experts (local_rows.h); run() takes groups
// in passes of this many rows, and the run report names it.
int rows_per_pass(const moekit_plugin_experts_config& cfg, int64_t num_tokens, int64_t top_k);
// Whether run() takes the one-token path (no grouping pass), and whether gate_up reads the hidden rows in place
// instead of a gathered copy (step 2 skipped, at any T): 16-bit activations of the compute type, router weight not
// on the input, H a multiple of 8 and a 16-byte aligned tensor (the ring's 16-byte copies; zeros past H).
bool one_token(int64_t num_tokens);
bool reads_hidden_directly(const moekit_plugin_experts_config& cfg, const Prepared& p,
                           const moekit_plugin_tensor& hidden);
// Whether the gather quantizes each token's row once, codes and scales per token, for gate_up to read through
// rows[i] / k (FP8 activations, T > 1, router weight not on the input: then every slot of a token has the same
// row), instead of every assignment's row: where T * k >= kTokenCodesMinAssignments. One token keeps a copy per
// slot (run()). H200, whole layer, same session, 3 rounds (bench/results/h200_ab_stream_fp8_token_codes.md), per
// token against per assignment at every T > 1: Qwen3-30B-A3B / DeepSeek-V3 T=256 (2048 assignments) 0.984 /
// 0.986x (DeepSeek-V3 2789 -> 2751 us; ncu before: its gather 41 us), gpt-oss-120b T=256 (1024) 0.997x; at 128-512
// assignments 0.998-1.009x, 3 of 9 points slower (Qwen3 T=16 1.009x, Mixtral-8x7B T=16 1.007x): there the
// quantization saved little and gate_up's x addresses wait for a rows[] load.
// With per-group activations these token rows are quantized in the grouping's launch (one launch fewer).
constexpr int64_t kTokenCodesMinAssignments = 1024;
bool x_per_token(const moekit_plugin_experts_config& cfg, const Prepared& p, int64_t num_tokens, int64_t top_k);
// T > 1: the 64-row runs of w2 each down block streams back to back through its ring (experts_stream_gemm.cuh): 2
// where the one-run grid (expected touched local experts under uniform routing x Hp / 64 blocks) takes at most two
// waves of resident blocks (the ring's shared memory per SM), else 1. There the second wave's few blocks per SM
// held too few copies in flight; with two runs per block the grid is resident at once. H200, whole layer, same
// run, 2 runs against 1: Mixtral-8x7B T=16 (512 one-run blocks, 396 resident) bf16 650.3 vs 654.8 us, fp8 360.9
// vs 379.3; on grids of 4+ waves 2 runs were 0.2-3.3 % slower (gpt-oss-120b fp8 T=16 362.3 vs 350.4 us,
// DeepSeek-V3 bf16 T=256 5108.9 vs 5099.4). Tried and not kept: two runs wherever a run is short (w2 rows of at
// most 8 ring stages, whatever the grid): Qwen3-30B-A3B FP8 T=256 250.9 -> 246.5 us, but T=16/64 and DeepSeek-V3
// FP8 T=16/64 1.010-1.015x slower (bench/results/h200_ab_stream_short_w2_runs_not_kept.md).
// A pure function of its arguments (the run report names the choice).
int down_chunks(const moekit_plugin_experts_config& cfg, const Prepared& p, int64_t num_tokens, int64_t top_k,
                const DeviceShape& device);
// One token, 16-bit weights: whether this tier is expected to outrun the decode tier: the measured crossover, at
// least kOneTokenStreamMinBytes of weights over the expected local slots (k * L / E). Below it the decode tier's
// two launches (the combine fused into its down pass, a warp per column) won; above it this tier's streaming
// GEMMs did. H200, whole layer, same run, bf16 T=1, this tier vs decode: Qwen3-30B-A3B (75 MB) 36.2 vs 34.7 us;
// gpt-oss-120b (199 MB) 63.5 vs 65.8, Mixtral-8x7B (705 MB) 174.3 vs 180.3, DeepSeek-V3 (705 MB) 181.2 vs 201.0.
// A pure function of the configuration, so that the workspace query and the run agree. Measured on the H200 only:
// other devices take the same threshold.
constexpr int64_t kOneTokenStreamMinBytes = int64_t{128} << 20;
bool one_token_outruns_decode(const moekit_plugin_experts_config& cfg, int64_t top_k);
// One token: the shared-memory ring depth (stages) of each GEMM pass, and the down pass's K splits (below). The
// deepest ring the kernels are compiled for whose resident blocks still take the pass's whole grid (a block per
// slot and 32 intermediate / 64 output columns, per K split; slots of non-local experts, k * L / E expected, exit
// at once) and that the row's (split's) length can use; 3 (the T > 1 ring) where the grid takes more than a wave.
// A pure function of its arguments and the knob, like the tier rule. PassRings also carries the T > 1 choices
// (pass_rings, below).
struct PassRings {
  int gate_up = 3;
  int down = 3;
  int down_runs = 1;    // 64-row runs of w2 per down block (down_chunks; 1 for one token)
  int down_splits = 1;  // one token: K splits of the down pass (kOneTokenDownSplits; 1 at T > 1)
};
// One token: the down pass's K splits where its grid (expected local slots x Hp / 64 blocks) is at most two blocks per
// SM and each split keeps at least kOneTokenDownSplitMinStages stages (256-byte pieces) of the w2 row. There the SMs
// held one block, or one or two: one 4-warp block bound by its instruction stream (ncu, H200, Mixtral-8x7B fp8: 128
// blocks of a 12-stage ring, a warp issuing every 4.1 cycles, 3.12 TB/s), not by DRAM. Split z streams the z-th part of
// each w2 row into its own plane of y, and the combine adds the planes in order (deterministic).
// MOEKIT_CUDA_STREAM_DOWN_SPLITS=1|2 (measuring_knobs.h) forces the count. H200, whole layer T=1, same session, 3
// rounds against one pass (bench/results/h200_ab_stream_one_token_down_splits.md): Mixtral-8x7B fp8 0.950x (105.6 ->
// 100.3 us), bf16 1.003x (within the spread); gpt-oss-120b fp8 / bf16 0.971 / 0.973x. Earlier, in another device call
// (2 rounds, a build whose rule split only grids of one block per SM), forced on the others' fp8 passes: Qwen3-30B-A3B
// (256 blocks, rows of 3 stages) 1.041x and DeepSeek-V3 (896 blocks) 1.034x slower.
constexpr int kOneTokenDownSplitMinStages = 4;
constexpr int kOneTokenDownSplits = 2;
PassRings one_token_rings(const moekit_plugin_experts_config& cfg, const Prepared& p, int64_t top_k,
                          const DeviceShape& device);
// The ring depths and w2 runs of run()'s two GEMM passes: one_token_rings at T = 1; else 3 for gate_up, down_chunks
// runs for down, and with two runs the deepest ring of kDownChunkedStages (3, 4 or 5 stages) whose resident blocks
// still take the whole down grid (expected touched experts x Hp / 128 blocks), 3 otherwise. A pure function of its
// arguments; the run report names the choices.
PassRings pass_rings(const moekit_plugin_experts_config& cfg, const Prepared& p, int64_t num_tokens, int64_t top_k,
                     const DeviceShape& device);
// The run report's detail: the path, rows per weight read, ring depth and where x comes from.
std::string describe(const moekit_plugin_experts_config& cfg, const Prepared& p, const moekit_plugin_tensor& hidden,
                     int64_t num_tokens, int64_t top_k, const DeviceShape& device);
// `overlap`: launch each kernel with programmatic dependent launch (sm_90+, dependent_launch.h), so that its
// blocks become resident while the previous kernel drains; every kernel waits for its predecessor first thing.
void run(const moekit_plugin_experts_config& cfg, const Prepared& p, const moekit_plugin_tensor& hidden,
         const moekit_plugin_routing& plan, const moekit_plugin_tensor& out, void* workspace, const DeviceShape& device,
         bool overlap, cudaStream_t stream);

}  // namespace moekit::cuda::experts::stream
