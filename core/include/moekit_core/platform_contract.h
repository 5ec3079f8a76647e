// The platform contract: every block size, alignment and padding a backend uses, computed in one pure
// function per platform so that routing buffers, padded weights and kernels agree on one set of numbers.
// Unit-tested on the CPU for every platform (tests/core/platform_contract*_test.cpp), including non-standard
// shapes run through the CPU router plan and expert runner with each platform's padding.
#pragma once

#include <cstdint>

#include "moekit_core/configs.h"
#include "moekit_core/types.h"

namespace moekit {

struct PlatformContract {
  int32_t block_size_m;        // rows per block of the padded expert-sorted order (router's default block_size)
  int32_t hidden_align;        // hidden_pad = round_up(H, hidden_align)
  int32_t intermediate_align;  // intermediate_pad = round_up(I, intermediate_align)
  int32_t buffer_align_bytes;  // workspace pointer alignment
  int32_t mx_block;            // values per MXFP4 e8m0 scale
  int32_t fp8_block;           // FP8 group / weight-block edge
};

// One function per platform.
// CPU: small blocks (a CPU GEMM gains nothing from big ones), 64-byte cache-line alignment, padding to 32 values
// so MXFP4 rows never straddle a scale.
PlatformContract cpu_platform_contract();
// CUDA (sm_80 / sm_90): 64-row blocks (the grouped GEMM's tile height), routing buffers rounded to 128 rows,
// 128-value padding (whole FP8 128-blocks and 128-wide TMA boxes).
PlatformContract cuda_platform_contract();
// HIP (CDNA, wave64): 256-row blocks, routing buffers rounded to 512 rows, 256-value padding (the MX scale
// swizzle of gfx950 works on 256-value hidden groups; one contract for every CDNA target keeps weights
// prepared once portable across gfx90a / gfx942 / gfx950).
PlatformContract hip_platform_contract();
PlatformContract platform_contract_for(BackendKind kind);

// Rows the padded routing buffers (sorted_token_ids, and block_expert_ids in blocks) are rounded up to, on top
// of plan_sizes: a GEMM that reads the sorted order in tiles of up to this many rows starting at any block
// boundary stays inside the buffer. A multiple of block_size_m. CPU 16, CUDA 128, HIP 512.
int32_t routing_rows_align(BackendKind kind);

// Sorted-order buffer sizes for T tokens on `kind` with block c.block_size_m: plan_sizes rounded up to
// routing_rows_align(kind). Always >= plan_sizes(T, k, E, block), which is what core validates buffers against.
PlanSizes routing_buffer_sizes(BackendKind kind, int64_t num_tokens, int32_t top_k, int32_t num_experts);

// Padded weight dimensions. moekit's hidden_pad / intermediate_pad (ExpertsConfig, moekit_experts_padded_sizes)
// are the padded SIZES: round_up(H, hidden_align), round_up(I, intermediate_align).
struct PaddedSizes {
  int64_t hidden_pad;
  int64_t intermediate_pad;
};
PaddedSizes padded_sizes(const PlatformContract& c, int64_t hidden, int64_t intermediate);

// The MX scale swizzle of gfx950 (CDNA4) needs the hidden size padded to a multiple of 256 values; this is what
// the HIP contract's hidden_align guarantees. Exposed for the tests and for weight preparation.
constexpr int64_t kMxSwizzleHiddenAlign = 256;
int64_t mx_swizzle_hidden_pad(int64_t hidden);

// The fused-MoE kernels of the ROCm ecosystem (aiter / CK two-stage MoE, as vLLM drives them) take pad AMOUNTS,
// not padded sizes, under the same names: hidden_pad = Hp - H and intermediate_pad = Ip - I, and skip that many
// all-zero columns only in whole tiles:
//   hidden_pad_zeros       = floor((Hp - H) / 128) * 128          (GEMM1's K tail, skipped in 128-wide K tiles)
//   intermediate_pad_zeros = floor((Ip - I) / 64) * 64 * 2        (GEMM1's N tail over the gate/up pair: both
//                                                                  halves of w13 carry Ip - I zero rows)
// Rounding DOWN is what keeps them safe: a kernel may compute on a few zero columns it could have skipped, but
// never skips a real one (hidden_pad_zeros <= Hp - H, intermediate_pad_zeros <= 2 (Ip - I)). Values for
// hidden < 0 or a padded size below the real one are rejected (InvalidArgument naming the argument).
struct FusedMoePadZeros {
  int64_t hidden_pad_zeros;
  int64_t intermediate_pad_zeros;
};
constexpr int64_t kFusedMoeHiddenPadGranule = 128;
constexpr int64_t kFusedMoeIntermediatePadGranule = 64;
FusedMoePadZeros fused_moe_pad_zeros(int64_t hidden, int64_t hidden_pad, int64_t intermediate, int64_t intermediate_pad);

}  // namespace moekit
