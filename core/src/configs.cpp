#include "moekit_core/configs.h"

#include <string>

#include "moekit_core/validate.h"

namespace moekit {

PlanSizes plan_sizes(int64_t num_tokens, int32_t top_k, int32_t num_experts, int32_t block_size) {
  const int64_t assignments = checked_mul(num_tokens, top_k, "num_tokens * top_k");
  // Each expert's run is padded up to a whole block: at most block_size-1 extra rows per expert.
  const int64_t padding = checked_mul(num_experts, block_size - 1, "num_experts * (block_size - 1)");
  const int64_t max_sorted = round_up(checked_add(assignments, padding, "max_sorted"), block_size);
  return PlanSizes{max_sorted, max_sorted / block_size};
}

// Overflow-free ceil(a / b) for a >= 0, b >= 1 (ceil_div's a + b - 1 can overflow for a caller's huge sizes).
static int64_t groups_of(int64_t a, int64_t b) { return a / b + (a % b != 0); }

QuantShapes quant_shapes(const QuantizerConfig& c, int64_t rows, int64_t cols) {
  if (rows < 0) invalid("rows: must be >= 0, got " + std::to_string(rows));
  if (cols < 0) invalid("cols: must be >= 0, got " + std::to_string(cols));
  const int64_t g = c.group_size;
  if ((c.scheme == QuantScheme::Fp8PerGroup || c.scheme == QuantScheme::Fp8Block) && g < 1)
    invalid("group_size: must be >= 1, got " + std::to_string(g));
  switch (c.scheme) {
    case QuantScheme::Fp8PerTensor: return {{rows, cols}, {1, 1}, DType::F8E4M3, DType::F32};
    case QuantScheme::Fp8PerToken: return {{rows, cols}, {rows, 1}, DType::F8E4M3, DType::F32};
    case QuantScheme::Fp8PerGroup: return {{rows, cols}, {rows, groups_of(cols, g)}, DType::F8E4M3, DType::F32};
    case QuantScheme::Fp8Block:
      return {{rows, cols}, {groups_of(rows, g), groups_of(cols, g)}, DType::F8E4M3, DType::F32};
    case QuantScheme::Mxfp4:
      // Two E2M1 values per byte and one E8M0 per 32 values: only whole scale blocks are representable.
      if (cols % 32 != 0) invalid("cols: MXFP4 needs a multiple of 32 columns, got " + std::to_string(cols));
      return {{rows, cols / 2}, {rows, cols / 32}, DType::FP4X2, DType::E8M0};
  }
  invalid("scheme: unknown quantization scheme");
}

}  // namespace moekit
