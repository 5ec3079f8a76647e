// The prefill tier of the CUDA expert runner on Hopper: CUTLASS 3.x grouped GEMMs (sm_90a: TMA loads,
// warp-specialised wgmma main loop, persistent group tile scheduler), one group per local expert, over the
// padded expert-sorted order that the plan pass builds (experts_run.cu).
//
// This header carries no CUTLASS type: grouped_gemm_sm90.cu is the only translation unit that includes CUTLASS,
// and it is compiled for sm_90a alone (kernels/cuda/CMakeLists.txt). When the module is built without CUTLASS,
// or without an sm_90a target, grouped_gemm_sm90_stub.cpp answers compiled() == false and the runner keeps its
// mma.sync kernels (the run report says which tier ran and why).
//
// Each grouped GEMM is two launches, both stream-ordered and capturable in a CUDA graph:
//   1. a one-block setup kernel turns the plan's group extents (first row and real rows per local expert,
//      computed on the device by experts_run.cu: the host never learns the counts) into CUTLASS's per-group
//      problem sizes and operand pointers;
//   2. the CUTLASS kernel, D[rows of e] = A[rows of e] @ W[e]^T, with A row-major [P, K] (the gathered
//      operand), W[e] row-major [N, K] (the prepared weights: w13 or w2, or a window of their rows) and D
//      row-major [P, N] (bf16, or f32 for the FP8 GEMM1; or a window of D's columns).
// Rows of an expert are contiguous in the padded order (its blocks follow each other), so one group is one dense
// GEMM; padding rows and non-local experts' blocks are neither read nor written.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "grouped_tiles.h"

namespace moekit::cuda::experts::sm90 {

// The groups on the device (experts_run.cu's workspace): local expert e's rows are [first_row[e],
// first_row[e] + rows[e]) of the padded expert-sorted order; rows[e] = 0 for an expert without assignments.
struct GroupedPlan {
  const int32_t* first_row;  // [num_local]
  const int32_t* rows;       // [num_local]
  int32_t num_local = 0;     // groups
};

struct GroupedGemm {
  const void* a = nullptr;       // bf16 or e4m3 [P, k]
  const void* w = nullptr;       // bf16 or e4m3 [num_local][w_expert_rows, k]
  void* d = nullptr;             // [P, ldd]: bf16, or f32 with d_f32 (FP8 kernel only)
  bool d_f32 = false;
  int64_t n = 0, k = 0;          // k % 128 == 0 and n % 16 == 0
  // FP8 (e4m3 x e4m3, w8a8): non-null a_scale selects the blockwise-scaled kernel.
  const float* a_scale = nullptr;  // per row and 128-wide K block, one compact [k/128][rows[e]] array per group
                                   // at first_row[e] * (k/128) (CUTLASS derives the layout from m and k)
  const float* w_scale = nullptr;  // [num_local][k/128][n]: per weight row and K block, or with w_scale_blocks
                                   // [num_local][k/128][ceil(n/128)]: per 128-row block of the window below
  bool w_scale_blocks = false;     // required for bf16 output (GEMM2)
  // A window of the weights and of D: rows [w_row0, w_row0 + n) of each expert's w_expert_rows weight rows (0: n)
  // into columns [d_col0, d_col0 + n) of D rows ldd elements apart (0: n). GEMM1 with FP8 blocks where
  // I % 128 != 0 runs as two windows (experts_run.cu). d_col0 and ldd must keep D's rows 16-byte aligned (TMA);
  // a window other than the whole weights takes block scales only.
  int64_t w_row0 = 0, w_expert_rows = 0, d_col0 = 0, ldd = 0;
  GroupedTile tile = GroupedTile::k128;
};

// True when this build carries the CUTLASS sm_90a kernels.
bool compiled();
// A short description of the tile configuration (of the FP8 or the bf16 kernel of that tile; FP8 GEMM1 with W's
// scales per row where w13_row_scales), for the run report.
const char* configuration(bool fp8, GroupedTile tile, bool w13_row_scales);
// Device scratch one grouped GEMM needs (per-group arrays + CUTLASS's own workspace), 256-byte multiple.
size_t scratch_bytes(int32_t num_local, int sm_count);
// Runs one grouped GEMM on `stream`. Throws PluginError (UNSUPPORTED when not compiled(), DEVICE_ERROR when
// CUTLASS refuses the arguments or the launch fails).
void run(const GroupedPlan& plan, const GroupedGemm& gemm, void* scratch, size_t scratch_bytes_available,
         int sm_count, cudaStream_t stream);

}  // namespace moekit::cuda::experts::sm90
