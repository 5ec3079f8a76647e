// The platform contract: every block size, alignment and padding a backend uses, computed in one pure
// function per platform so that routing buffers, padded weights and kernels agree on one set of numbers.
#pragma once

#include <cstdint>

#include "moekit_core/types.h"

namespace moekit {

struct PlatformContract {
  int32_t block_size_m;        // rows per block of the padded expert-sorted order
  int32_t hidden_align;        // hidden_pad = round_up(H, hidden_align)
  int32_t intermediate_align;  // intermediate_pad = round_up(I, intermediate_align)
  int32_t buffer_align_bytes;  // workspace pointer alignment
  int32_t mx_block;            // values per MXFP4 e8m0 scale
  int32_t fp8_block;           // FP8 group / weight-block edge
};

// One function per platform. CPU: small blocks (a CPU GEMM gains nothing from big ones), 64-byte cache-line
// alignment, padding to 32 values so MXFP4 rows never straddle a scale.
PlatformContract cpu_platform_contract();
// CUDA and HIP contracts are defined here too, so they are unit-testable on any machine.
PlatformContract cuda_platform_contract();
PlatformContract hip_platform_contract();
PlatformContract platform_contract_for(BackendKind kind);

struct PaddedSizes {
  int64_t hidden_pad;
  int64_t intermediate_pad;
};
PaddedSizes padded_sizes(const PlatformContract& c, int64_t hidden, int64_t intermediate);

}  // namespace moekit
