// The contract's values: pure functions with no dependency beyond inline helpers, because the device modules
// (kernels/cuda, kernels/hip) compile this file into themselves to report the same numbers core uses.
// Derived sizes that need core's checked arithmetic live in platform_contract_padding.cpp (core only).
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
  // CDNA: 256-row blocks for the padded routing buffers (the CDNA figure; not tuned on AMD hardware
  // here), 256-value padding of hidden and intermediate for gfx950's MX scale swizzle (kMxSwizzleHiddenAlign),
  // 256-byte buffers (a multiple of the 128-byte CDNA cache line).
  return PlatformContract{256, 256, 256, 256, 32, 128};
}

PlatformContract platform_contract_for(BackendKind kind) {
  switch (kind) {
    case BackendKind::CUDA: return cuda_platform_contract();
    case BackendKind::HIP: return hip_platform_contract();
    default: return cpu_platform_contract();
  }
}

int32_t routing_rows_align(BackendKind kind) {
  switch (kind) {
    case BackendKind::CUDA: return 128;  // the tensor-core path's widest M tile: two 64-row blocks
    case BackendKind::HIP: return 512;   // two 256-row CDNA blocks
    default: return cpu_platform_contract().block_size_m;
  }
}

PaddedSizes padded_sizes(const PlatformContract& c, int64_t hidden, int64_t intermediate) {
  return PaddedSizes{round_up(hidden, c.hidden_align), round_up(intermediate, c.intermediate_align)};
}

}  // namespace moekit
