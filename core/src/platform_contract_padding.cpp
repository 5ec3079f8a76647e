// Sizes derived from the platform contract (routing buffers, MX swizzle padding, the fused-MoE pad amounts),
// with core's overflow checks and argument errors. Core only: the device modules compile just
// platform_contract.cpp.
#include <string>

#include "moekit_core/error.h"
#include "moekit_core/platform_contract.h"
#include "moekit_core/validate.h"

namespace moekit {

PlanSizes routing_buffer_sizes(BackendKind kind, int64_t num_tokens, int32_t top_k, int32_t num_experts) {
  const PlatformContract c = platform_contract_for(kind);
  const PlanSizes minimum = plan_sizes(num_tokens, top_k, num_experts, c.block_size_m);
  const int64_t align = routing_rows_align(kind);
  const int64_t tiles = minimum.max_sorted / align + (minimum.max_sorted % align != 0);  // no a + b - 1 overflow
  const int64_t rows = checked_mul(tiles, align, "routing buffer rows");
  return PlanSizes{rows, rows / c.block_size_m};
}

int64_t mx_swizzle_hidden_pad(int64_t hidden) {
  if (hidden < 0) invalid("hidden: must be >= 0, got " + std::to_string(hidden));
  return round_up(hidden, kMxSwizzleHiddenAlign);
}

FusedMoePadZeros fused_moe_pad_zeros(int64_t hidden, int64_t hidden_pad, int64_t intermediate,
                                     int64_t intermediate_pad) {
  if (hidden < 0) invalid("hidden: must be >= 0, got " + std::to_string(hidden));
  if (intermediate < 0) invalid("intermediate: must be >= 0, got " + std::to_string(intermediate));
  if (hidden_pad < hidden)
    invalid("hidden_pad: the padded size " + std::to_string(hidden_pad) + " is below hidden " + std::to_string(hidden));
  if (intermediate_pad < intermediate)
    invalid("intermediate_pad: the padded size " + std::to_string(intermediate_pad) + " is below intermediate " +
            std::to_string(intermediate));
  const int64_t hidden_zeros = hidden_pad - hidden, intermediate_zeros = intermediate_pad - intermediate;
  return FusedMoePadZeros{hidden_zeros / kFusedMoeHiddenPadGranule * kFusedMoeHiddenPadGranule,
                          intermediate_zeros / kFusedMoeIntermediatePadGranule * kFusedMoeIntermediatePadGranule * 2};
}

}  // namespace moekit
