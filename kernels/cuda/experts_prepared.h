// The CUDA expert runner's own copy of the weights (what prepare_experts builds and run_experts reads).
//
// Layout per local expert e, padded with zeros to the CUDA contract's hidden_pad Hp and intermediate_pad Ip
// (both multiples of 128, so every 32-wide K tile and every 128x128 FP8 block along K is whole):
//  - w13 [2*Ip, Hp]: rows [0, I) gate, rows [Ip, Ip + I) up (the CPU backend's placement, cpu_expert_weights.h);
//  - w2 [Hp, Ip].
// Element formats, by the caller's weight format:
//  - BF16 -> bf16, F16 -> f16 (copied), F32 -> bf16 (rounded to nearest even once, at prepare time: the
//    tensor cores take bf16/f16 operands; the tests' tolerance accounts for this rounding);
//  - FP8_BLOCK -> the e4m3 bytes unchanged, plus col_scale [Kb = K/128][rows] f32 per expert: the block scale
//    of each weight row (looked up through the row's unpadded index, so a 128-row block that straddles the
//    gate/up seam when I % 128 != 0 still gets the right scale per row); applied to the f32 partial sums of
//    each 128-wide K block; and block_scale [Kb][rows / 128], one scale per padded 128 x 128 block, for the sm90
//    grouped GEMMs and the streaming tier: always for w2, for w13 only when I % 128 == 0 (else null: a padded up
//    block would span two caller blocks). There, when I % 16 == 0 and I >= 64, gate_scale [Kb][Ip / 128] covers
//    the gate rows [0, Ip) and up_scale [Kb][ceil((2Ip - up_row0) / 128)] the up window [up_row0, 2Ip), up_row0 =
//    Ip - I % 128: its 128-row blocks start where the caller's do (padded up row u is caller row I + u), and the
//    rows it takes before Ip (gate padding, or with I % 128 > 64 gate rows of the caller block across the seam)
//    share that block's scale, so the grouped tier's GEMM1 runs as two windows with block scales;
//  - MXFP4 -> the packed nibbles unchanged ([rows, K/2]) plus mx_scale [K/32][rows] e8m0 per expert,
//    transposed so that one K tile's scales for a tile of rows are contiguous; decoded in the GEMM main loop
//    to bf16, which is exact (e2m1 values have one mantissa bit; e8m0 is a power of two).
// Biases are f32 and always present (zeros without biases), b13 [2*Ip] with the w13 row placement, b2 [Hp].
#pragma once

#include <cstdint>
#include <vector>

namespace moekit::cuda::experts {

enum class Compute : int32_t { BF16 = 0, F16 = 1 };
enum class WeightKind : int32_t { Half16 = 0, Fp8 = 1, Mxfp4 = 2 };

struct Prepared {
  int32_t weight_format = 0;  // the caller's (MOEKIT_WEIGHTS_*)
  WeightKind kind = WeightKind::Half16;
  Compute compute = Compute::BF16;
  int32_t num_experts = 0;  // E
  int32_t num_local = 0;    // L
  int64_t hidden = 0, intermediate = 0, hidden_pad = 0, intermediate_pad = 0;
  void* w13 = nullptr;
  void* w2 = nullptr;
  float* w13_col_scale = nullptr;    // FP8: [L][Hp/128][2Ip]
  float* w2_col_scale = nullptr;     // FP8: [L][Ip/128][Hp]
  float* w13_block_scale = nullptr;  // FP8 with I % 128 == 0: [L][Hp/128][2Ip/128]
  float* w2_block_scale = nullptr;   // FP8: [L][Ip/128][Hp/128]
  float* w13_gate_scale = nullptr;   // FP8, I % 128 != 0, I % 16 == 0, I >= 64: [L][Hp/128][Ip/128]
  float* w13_up_scale = nullptr;     // the same: [L][Hp/128][ceil((2Ip - up_row0) / 128)], up_row0 =
                                     // w13_up_window_row0 (weight_rows.h)
  uint8_t* w13_mx = nullptr;         // MXFP4: [L][Hp/32][2Ip]
  uint8_t* w2_mx = nullptr;          // MXFP4: [L][Ip/32][Hp]
  float* b13 = nullptr;              // [L][2Ip]
  float* b2 = nullptr;               // [L][Hp]
  int32_t* local_of = nullptr;       // [E]: global expert id -> local id, -1 = not local
  std::vector<void*> allocations;  // everything above, freed by free_prepared
};

}  // namespace moekit::cuda::experts
