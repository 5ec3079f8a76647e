// The one portability layer of device code shared by the CUDA module (and, later, HIP): function qualifiers,
// the warp width, and the shared numerics headers compiled for host and device alike. Include this header
// before any moekit_core/numerics header in device code, so that MOEKIT_HOST_DEVICE is defined first.
#pragma once

#if defined(__CUDACC__) || defined(__HIPCC__)
#define MOEKIT_HOST_DEVICE __host__ __device__
#define MOEKIT_DEVICE_INLINE __device__ __forceinline__
#else
#define MOEKIT_HOST_DEVICE
#define MOEKIT_DEVICE_INLINE inline
#endif

#include "moekit_core/numerics/fp8.h"
#include "moekit_core/numerics/half.h"
#include "moekit_core/numerics/mxfp4.h"

namespace moekit::device {

// Threads of one warp (NVIDIA) / wavefront (AMD CDNA: 64). Code that relies on 32-bit lane masks (ballots,
// match_any) is written for 32 and must be revisited for wave64, not silently reused.
#if defined(__HIPCC__)
constexpr int kWarpSize = 64;
#else
constexpr int kWarpSize = 32;
#endif

// NaN test by bits: unaffected by fast-math options that may assume no NaNs.
MOEKIT_HOST_DEVICE inline bool is_nan(float x) { return (f32_bits(x) & 0x7FFFFFFFu) > 0x7F800000u; }
MOEKIT_HOST_DEVICE inline bool is_inf(float x) { return (f32_bits(x) & 0x7FFFFFFFu) == 0x7F800000u; }

}  // namespace moekit::device
