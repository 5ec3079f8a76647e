// The CPU expert runner's own copy of the weights.
//
// The CPU backend keeps every expert's weights dequantized to float32, whatever format the caller gave
// (bf16/f16/f32, FP8 128x128 blocks, MXFP4): memory is 4 bytes per parameter (plus padding). Two reasons:
//  - exact reference semantics: each weight is decoded once with the format's exact formula (value * scale),
//    so the only differences from the float64 reference are float32 accumulation, never a re-rounding;
//  - speed: the GEMMs run through OpenBLAS cblas_sgemm, which wants float32 operands. Decoding on the fly
//    per GEMM would cost more than the GEMM on a CPU.
//
// Layout per local expert e (padded with zeros to hidden_pad Hp and intermediate_pad Ip):
//  - w13 [2*Ip, Hp]: rows [0, I) gate, rows [Ip, Ip + I) up; padding rows/columns are 0, so a padded
//    intermediate column has gate = up = 0 and every activation maps it to 0.
//  - w2 [Hp, Ip]
//  - b13 [2*Ip] (same row placement as w13) and b2 [Hp]; all zeros without biases, so the runner may add
//    them unconditionally.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "moekit_core/backend.h"

namespace moekit::cpu {

struct CpuExpertWeights final : PreparedExperts {
  int64_t num_local = 0;
  int64_t hidden_pad = 0;        // Hp
  int64_t intermediate_pad = 0;  // Ip
  std::vector<float> w13;        // [L, 2*Ip, Hp]
  std::vector<float> w2;         // [L, Hp, Ip]
  std::vector<float> b13;        // [L, 2*Ip]
  std::vector<float> b2;         // [L, Hp]

  const float* w13_of(int64_t local) const { return w13.data() + local * 2 * intermediate_pad * hidden_pad; }
  const float* w2_of(int64_t local) const { return w2.data() + local * hidden_pad * intermediate_pad; }
  const float* b13_of(int64_t local) const { return b13.data() + local * 2 * intermediate_pad; }
  const float* b2_of(int64_t local) const { return b2.data() + local * hidden_pad; }
};

// Copies/dequantizes validated weights (see moekit_expert_weights) into the layout above.
std::unique_ptr<CpuExpertWeights> prepare_cpu_expert_weights(const ExecContext& ex, const ExpertsConfig& cfg,
                                                             const ExpertWeights& w);

// The CPU view of prepared weights; throws Internal if `p` came from another backend.
const CpuExpertWeights& as_cpu_weights(const PreparedExperts& p);

}  // namespace moekit::cpu
