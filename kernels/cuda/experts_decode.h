// The decode tier of the CUDA expert runner: a handful of tokens (T <= kMaxTokens). Decode is
// weight streaming: each assignment's expert matrices are read once and multiplied by one activation vector, so
// the tile machinery of the GEMM tiers (plan, gather, 64-row tiles, split-K partials and their finish passes)
// is pure overhead there. Two launches, no plan:
//   1. gate_up:  one warp per (assignment, intermediate column c) streams gate row c and up row c of the
//                expert's w13 with 16-byte loads, dots them with the token's hidden row (rounded to the compute
//                type in shared memory, as the GEMM tiers' gather does), adds b13, applies the activation and
//                stores act[a, c] in the compute type;
//   2. down:     one warp per (token, output column h, slot j) streams row h of the slot's w2 and dots it with
//                act[t*k + j]; one thread per (token, h) then adds b2 and accumulates weight * y over j = 0..k-1
//                in slot order: the combine is fused, without atomics (deterministic, the same sums as the
//                other tiers' combine).
// Ids outside [0, E) and non-local experts are skipped before any weight address is formed; tokens without a
// valid local expert get zeros. Stream-ordered, allocation-free, capturable in a CUDA graph.
// FP8-block and MXFP4 weights (w8a16 / w8a8 / w4a16 / w4a8) take the same two passes with their own kernels
// (experts_decode_quant.cuh: weights decoded in registers, block scales folded per 128-wide K block as in the mma
// tier); with FP8 activations a third, small pass quantizes the activation rows between them.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include <string>

#include "experts_prepared.h"
#include "moekit_plugin.h"

namespace moekit::cuda::experts::decode {

// Largest T the decode tier takes: up to here, reading an expert once per assignment (rather than once per
// expert) costs less than the plan and tiles the GEMM tiers need.
constexpr int64_t kMaxTokens = 4;

// Whether the decode tier can run this configuration: 16-bit weights (or f32 held as bf16) with 16-bit
// activations; FP8-block or MXFP4 weights with 16-bit or FP8 (per token, per 128-group) activations.
bool supports(const moekit_plugin_experts_config& cfg);
// Workspace bytes: act [T * k, Ip] in the compute type (bf16 for quantized weights); with FP8 activations also
// the f32 GEMM1 output and the activation scales.
size_t workspace_bytes(const moekit_plugin_experts_config& cfg, int64_t num_tokens, int64_t top_k);
// The run report's kernel name for this configuration, e.g. "cuda-decode-bf16", "cuda-decode-fp8block-w8a8",
// "cuda-decode-mxfp4-w4a16".
const char* kernel_label(const moekit_plugin_experts_config& cfg, const Prepared& p);
// 16-bit weights: the (column, slot) pairs each warp of the down pass takes for this T (from the device's
// occupancy, so computed once per run); 0 for quantized weights, whose passes do not vary.
int down_pairs(const moekit_plugin_experts_config& cfg, const Prepared& p, int64_t num_tokens, int64_t top_k);
// The run report's detail: how the passes split the work (pairs: down_pairs()).
std::string describe(const Prepared& p, int pairs);
// pairs: down_pairs() for this run. overlap: launch each pass as a programmatic dependent of the kernel before it
// (dependent_launch.h; sm_90+), so that routing -> gate_up -> down do not each wait out a full launch gap.
void run(const moekit_plugin_experts_config& cfg, const Prepared& p, const moekit_plugin_tensor& hidden,
         const moekit_plugin_routing& plan, const moekit_plugin_tensor& out, void* workspace, int pairs, bool overlap,
         cudaStream_t stream);

}  // namespace moekit::cuda::experts::decode
