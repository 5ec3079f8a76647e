// The one portability layer of device code shared by the CUDA module (nvcc) and the HIP module (hipcc):
// function qualifiers, the platform, the warp/wavefront width and its lane-mask type, and the shared numerics
// headers compiled for host and device alike. Include this header before any moekit_core/numerics header in
// device code, so that MOEKIT_HOST_DEVICE is defined first.
//
// Platform: MOEKIT_PLATFORM_HIP is 1 when compiling the HIP module — its device code (hipcc defines
// __HIPCC__) and its host-only C++ files (the build defines MOEKIT_PLATFORM_HIP=1), so that host code that
// sizes launches sees the same warp width as the kernels. Everything else is the CUDA (or plain host) side.
#pragma once

#include <cstdint>

#if defined(__HIPCC__) && !defined(MOEKIT_PLATFORM_HIP)
#define MOEKIT_PLATFORM_HIP 1
#endif
#if !defined(MOEKIT_PLATFORM_HIP)
#define MOEKIT_PLATFORM_HIP 0
#endif

#if defined(__CUDACC__) || defined(__HIPCC__)
#define MOEKIT_HOST_DEVICE __host__ __device__
#define MOEKIT_DEVICE_INLINE __device__ __forceinline__
#else
#define MOEKIT_HOST_DEVICE
#define MOEKIT_DEVICE_INLINE inline
#endif

// Kernel parameters read in place from the constant bank (CUDA 11.7+). HIP has no such qualifier: its kernel
// arguments already live in a read-only segment, so the parameter is simply const.
#if defined(__CUDACC__) && !MOEKIT_PLATFORM_HIP
#define MOEKIT_GRID_CONSTANT __grid_constant__
#else
#define MOEKIT_GRID_CONSTANT
#endif

#include "moekit_core/numerics/fp8.h"
#include "moekit_core/numerics/half.h"
#include "moekit_core/numerics/mxfp4.h"

namespace moekit::device {

// Threads of one warp (NVIDIA: 32) / wavefront (AMD CDNA: 64), and the type of a mask with one bit per lane.
// Every ballot, match and "lanes below me" mask uses LaneMask, never a hard-coded 32-bit unsigned: on wave64 a
// 32-bit mask would silently drop lanes 32..63. The HIP module builds only wave64 targets (CDNA gfx9xx); the
// wave32 RDNA targets would need kWarpSize = 32 there, and device code refuses to compile for them (below).
#if MOEKIT_PLATFORM_HIP
constexpr int kWarpSize = 64;
using LaneMask = uint64_t;
#else
constexpr int kWarpSize = 32;
using LaneMask = uint32_t;
#endif
constexpr LaneMask kFullLaneMask = ~LaneMask{0};
static_assert(sizeof(LaneMask) * 8 == kWarpSize, "one lane-mask bit per lane");

#if defined(__HIP_DEVICE_COMPILE__) && defined(__AMDGCN_WAVEFRONT_SIZE) && __AMDGCN_WAVEFRONT_SIZE != 64
#error "moekit's HIP device code assumes wave64 (CDNA); this offload target runs wave32"
#endif

// NaN test by bits: unaffected by fast-math options that may assume no NaNs.
MOEKIT_HOST_DEVICE inline bool is_nan(float x) { return (f32_bits(x) & 0x7FFFFFFFu) > 0x7F800000u; }
MOEKIT_HOST_DEVICE inline bool is_inf(float x) { return (f32_bits(x) & 0x7FFFFFFFu) == 0x7F800000u; }

}  // namespace moekit::device
