#include "cpu/cpu_expert_weights.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "cpu/cpu_ops.h"
#include "cpu/quantize_rows.h"
#include "moekit_core/error.h"
#include "moekit_core/numerics/half.h"
#include "moekit_core/platform_contract.h"
#include "moekit_core/validate.h"

namespace moekit::cpu {

namespace {

// Decodes one expert's [rows, cols] matrix of the caller's format into `dense` (float32, unpadded).
// `expert` indexes the leading dimension of the weight and scale tensors.
void decode_matrix(const ExpertsConfig& cfg, const TensorView& values, const TensorView& scales, int64_t expert,
                   int64_t rows, int64_t cols, float* dense) {
  const int64_t n = rows * cols;
  switch (cfg.weight_format) {
    case WeightFormat::F32: {
      const float* src = values.as<const float>() + expert * n;
      std::copy(src, src + n, dense);
      return;
    }
    case WeightFormat::BF16: {
      const uint16_t* src = values.as<const uint16_t>() + expert * n;
      for (int64_t i = 0; i < n; ++i) dense[i] = bf16_to_f32(src[i]);
      return;
    }
    case WeightFormat::F16: {
      const uint16_t* src = values.as<const uint16_t>() + expert * n;
      for (int64_t i = 0; i < n; ++i) dense[i] = f16_to_f32(src[i]);
      return;
    }
    case WeightFormat::Fp8Block: {
      const int64_t b = cpu_platform_contract().fp8_block;  // set_weights checked the scales against it
      const int64_t scale_count = ceil_div(rows, b) * ceil_div(cols, b);
      dequantize_fp8_block(values.as<const uint8_t>() + expert * n, scales.as<const float>() + expert * scale_count,
                           rows, cols, b, dense);
      return;
    }
    case WeightFormat::Mxfp4: {
      dequantize_mxfp4_rows(values.as<const uint8_t>() + expert * (n / 2),
                            scales.as<const uint8_t>() + expert * (n / 32), rows, cols, dense);
      return;
    }
  }
}

// Places a dense [rows, cols] block at (row0, 0) of a padded matrix with row stride `ld`.
void place(const float* dense, int64_t rows, int64_t cols, float* padded, int64_t row0, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r) std::copy(dense + r * cols, dense + (r + 1) * cols, padded + (row0 + r) * ld);
}

}  // namespace

std::unique_ptr<CpuExpertWeights> prepare_cpu_expert_weights(const ExecContext& ex, const ExpertsConfig& cfg,
                                                             const ExpertWeights& w) {
  const int64_t L = cfg.num_local_experts, H = cfg.hidden, I = cfg.intermediate;
  const int64_t Hp = cfg.hidden_pad, Ip = cfg.intermediate_pad;
  auto p = std::make_unique<CpuExpertWeights>();
  p->num_local = L;
  p->hidden_pad = Hp;
  p->intermediate_pad = Ip;
  // Sizes were validated (H, I <= 2^20, L <= 2^20) but their product can still be huge: check it.
  const int64_t w13_per = checked_mul(2 * Ip, Hp, "w13");
  p->w13.assign(static_cast<size_t>(checked_mul(L, w13_per, "w13")), 0.0f);
  p->w2.assign(static_cast<size_t>(checked_mul(L, w13_per / 2, "w2")), 0.0f);
  p->b13.assign(static_cast<size_t>(L * 2 * Ip), 0.0f);
  p->b2.assign(static_cast<size_t>(L * Hp), 0.0f);

  // Scratch for one decoded matrix per thread, allocated here: nothing may throw inside the parallel region.
  const int threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(ex.num_threads, L)));
  const int64_t dense_size = 2 * I * H;
  std::vector<float> scratch(static_cast<size_t>(checked_mul(threads, dense_size, "w13")));
#pragma omp parallel num_threads(threads)
  {
    float* dense_buf = scratch.data() + omp_get_thread_num() * dense_size;
#pragma omp for schedule(dynamic)
    for (int64_t e = 0; e < L; ++e) {
      float* w13 = p->w13.data() + e * w13_per;
      decode_matrix(cfg, w.w13, w.w13_scale, e, 2 * I, H, dense_buf);
      place(dense_buf, I, H, w13, 0, Hp);                      // gate rows
      place(dense_buf + I * H, I, H, w13, Ip, Hp);             // up rows, after the gate's padding
      decode_matrix(cfg, w.w2, w.w2_scale, e, H, I, dense_buf);
      place(dense_buf, H, I, p->w2.data() + e * Hp * Ip, 0, Ip);
      if (cfg.has_w13_bias) {
        const float* b = w.w13_bias.as<const float>() + e * 2 * I;
        std::copy(b, b + I, p->b13.data() + e * 2 * Ip);
        std::copy(b + I, b + 2 * I, p->b13.data() + e * 2 * Ip + Ip);
      }
      if (cfg.has_w2_bias) {
        const float* b = w.w2_bias.as<const float>() + e * H;
        std::copy(b, b + H, p->b2.data() + e * Hp);
      }
    }
  }
  return p;
}

const CpuExpertWeights& as_cpu_weights(const PreparedExperts& p) {
  const auto* c = dynamic_cast<const CpuExpertWeights*>(&p);
  if (c == nullptr) fail(Status::Internal, "experts: prepared weights do not belong to the CPU backend");
  return *c;
}

std::unique_ptr<PreparedExperts> prepare_experts(const ExecContext& ex, const ExpertsConfig& cfg,
                                                 const ExpertWeights& weights) {
  return prepare_cpu_expert_weights(ex, cfg, weights);
}

}  // namespace moekit::cpu
