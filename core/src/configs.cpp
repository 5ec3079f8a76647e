#include "moekit_core/configs.h"

#include "moekit_core/validate.h"

namespace moekit {

PlanSizes plan_sizes(int64_t num_tokens, int32_t top_k, int32_t num_experts, int32_t block_size) {
  const int64_t assignments = checked_mul(num_tokens, top_k, "num_tokens * top_k");
  // Each expert's run is padded up to a whole block: at most block_size-1 extra rows per expert.
  const int64_t padding = checked_mul(num_experts, block_size - 1, "num_experts * (block_size - 1)");
  const int64_t max_sorted = round_up(checked_add(assignments, padding, "max_sorted"), block_size);
  return PlanSizes{max_sorted, max_sorted / block_size};
}

QuantShapes quant_shapes(const QuantizerConfig& c, int64_t rows, int64_t cols) {
  const int64_t g = c.group_size;
  switch (c.scheme) {
    case QuantScheme::Fp8PerTensor: return {{rows, cols}, {1, 1}, DType::F8E4M3, DType::F32};
    case QuantScheme::Fp8PerToken: return {{rows, cols}, {rows, 1}, DType::F8E4M3, DType::F32};
    case QuantScheme::Fp8PerGroup: return {{rows, cols}, {rows, ceil_div(cols, g)}, DType::F8E4M3, DType::F32};
    case QuantScheme::Fp8Block:
      return {{rows, cols}, {ceil_div(rows, g), ceil_div(cols, g)}, DType::F8E4M3, DType::F32};
    case QuantScheme::Mxfp4: return {{rows, cols / 2}, {rows, cols / 32}, DType::FP4X2, DType::E8M0};
  }
  invalid("scheme: unknown quantization scheme");
}

}  // namespace moekit
