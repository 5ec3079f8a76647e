#include "moekit_core/platform_contract.h"

#include "moekit_core/validate.h"

namespace moekit {

PlatformContract cpu_platform_contract() {
  // block_size_m 16: the CPU GEMM takes one expert's rows at a time, so blocks only bound the padding waste.
  return PlatformContract{/*block_size_m=*/16, /*hidden_align=*/32, /*intermediate_align=*/32,
                          /*buffer_align_bytes=*/64, /*mx_block=*/32, /*fp8_block=*/128};
}

PlatformContract cuda_platform_contract() {
  // 64-row blocks match the tensor-core tile height of the grouped GEMM; 128-value padding keeps every K tile
  // of a 128-wide TMA box and every FP8 128-block whole; 256-byte buffers suit TMA descriptors.
  return PlatformContract{64, 128, 128, 256, 32, 128};
}

PlatformContract hip_platform_contract() {
  // CDNA MFMA tiles are 32-row friendly; 256-value padding matches the 256-wide MXFP4 swizzle of CDNA3/4.
  return PlatformContract{32, 256, 256, 256, 32, 128};
}

PlatformContract platform_contract_for(BackendKind kind) {
  switch (kind) {
    case BackendKind::CUDA: return cuda_platform_contract();
    case BackendKind::HIP: return hip_platform_contract();
    default: return cpu_platform_contract();
  }
}

PaddedSizes padded_sizes(const PlatformContract& c, int64_t hidden, int64_t intermediate) {
  return PaddedSizes{round_up(hidden, c.hidden_align), round_up(intermediate, c.intermediate_align)};
}

}  // namespace moekit
