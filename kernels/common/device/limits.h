// Size limits of the shared device kernels (host and device code of both modules agree on them here).
#pragma once

#include <cstdint>

#include "../portability.h"

namespace moekit::device {

// Largest expert count the routing kernels handle: a token's row, and the per-expert counters of the plan,
// live in shared memory. Larger routers get MOEKIT_ERR_UNSUPPORTED.
constexpr int32_t kMaxDeviceExperts = 1024;

// The correction bias travels by value in the kernel parameters: no device copy to manage, and a captured
// graph carries the values with it. CUDA >= 12.1 allows 32 KiB of parameters; HIP's kernel-argument segment is
// kept under 4 KiB, so the HIP module carries at most 768 biases (larger biased routers: UNSUPPORTED there).
#if MOEKIT_PLATFORM_HIP
constexpr int32_t kMaxBiasExperts = 768;
#else
constexpr int32_t kMaxBiasExperts = kMaxDeviceExperts;
#endif

// Shared memory a routing kernel may use without an opt-in (CUDA's default limit; CDNA has 64 KiB of LDS).
constexpr int kRouteSharedBudget = 48 * 1024;

}  // namespace moekit::device

namespace moekit::device {

// Ceil-divided grid size, capped so that grid-stride loops cover the rest.
inline unsigned grid_blocks(int64_t work_items, int threads_per_block, int64_t max_blocks = 65535 * 8) {
  int64_t blocks = (work_items + threads_per_block - 1) / threads_per_block;
  if (blocks < 1) blocks = 1;
  if (blocks > max_blocks) blocks = max_blocks;
  return static_cast<unsigned>(blocks);
}

}  // namespace moekit::device
