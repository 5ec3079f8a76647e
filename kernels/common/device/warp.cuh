// Warp (NVIDIA, 32 lanes) / wavefront (AMD CDNA, 64 lanes) primitives with one spelling for both platforms.
// Shared device code calls only these, never __shfl_xor_sync / __shfl_xor directly, so the width and the mask
// type (LaneMask, portability.h) cannot silently disagree. Every function must be reached by all lanes of the
// warp (the kernels keep their loops warp-uniform).
#pragma once

#if MOEKIT_PLATFORM_HIP || defined(__HIPCC__)
#include <hip/hip_runtime.h>
#else
#include <cuda_runtime.h>
#endif

#include "../portability.h"

namespace moekit::device {

// Unsigned arithmetic on threadIdx.x: a mask and a shift (a signed % and / take a sign fix-up each).
MOEKIT_DEVICE_INLINE int lane_id() { return static_cast<int>(threadIdx.x % static_cast<unsigned>(kWarpSize)); }
MOEKIT_DEVICE_INLINE int warp_id() { return static_cast<int>(threadIdx.x / static_cast<unsigned>(kWarpSize)); }
MOEKIT_DEVICE_INLINE int warps_per_block() { return static_cast<int>(blockDim.x) / kWarpSize; }

#if MOEKIT_PLATFORM_HIP

template <class T>
MOEKIT_DEVICE_INLINE T shfl_xor(T v, int lane_mask) { return __shfl_xor(v, lane_mask, kWarpSize); }
template <class T>
MOEKIT_DEVICE_INLINE T shfl(T v, int src_lane) { return __shfl(v, src_lane, kWarpSize); }
template <class T>
MOEKIT_DEVICE_INLINE T shfl_up(T v, unsigned delta) { return __shfl_up(v, delta, kWarpSize); }
MOEKIT_DEVICE_INLINE bool warp_any(bool p) { return __any(p) != 0; }
MOEKIT_DEVICE_INLINE LaneMask ballot(bool p) { return static_cast<LaneMask>(__ballot(p)); }
MOEKIT_DEVICE_INLINE int popcount(LaneMask m) { return __popcll(m); }
// A wavefront runs in lockstep, but the compiler may still reorder LDS accesses across "the other lanes'
// writes": fence the workgroup's memory and keep the wave together.
MOEKIT_DEVICE_INLINE void warp_sync() {
  __builtin_amdgcn_fence(__ATOMIC_RELEASE, "workgroup");
  __builtin_amdgcn_wave_barrier();
  __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "workgroup");
}
// Lanes holding the same value as this lane (CUDA's __match_any_sync, which HIP lacks): one ballot per
// distinct value in the wave; every lane runs the same number of rounds.
MOEKIT_DEVICE_INLINE LaneMask match_any(int v) {
  LaneMask mine = 0, pending = kFullLaneMask;
  while (pending != 0) {
    const int leader = __ffsll(static_cast<unsigned long long>(pending)) - 1;
    const int leader_value = shfl(v, leader);
    const LaneMask same = ballot(v == leader_value);
    if (v == leader_value) mine = same;
    pending &= ~same;
  }
  return mine;
}

#else  // CUDA

template <class T>
MOEKIT_DEVICE_INLINE T shfl_xor(T v, int lane_mask) { return __shfl_xor_sync(kFullLaneMask, v, lane_mask); }
template <class T>
MOEKIT_DEVICE_INLINE T shfl(T v, int src_lane) { return __shfl_sync(kFullLaneMask, v, src_lane); }
template <class T>
MOEKIT_DEVICE_INLINE T shfl_up(T v, unsigned delta) { return __shfl_up_sync(kFullLaneMask, v, delta); }
MOEKIT_DEVICE_INLINE bool warp_any(bool p) { return __any_sync(kFullLaneMask, p) != 0; }
MOEKIT_DEVICE_INLINE LaneMask ballot(bool p) { return __ballot_sync(kFullLaneMask, p); }
MOEKIT_DEVICE_INLINE int popcount(LaneMask m) { return __popc(m); }
MOEKIT_DEVICE_INLINE void warp_sync() { __syncwarp(); }
MOEKIT_DEVICE_INLINE LaneMask match_any(int v) { return __match_any_sync(kFullLaneMask, v); }
// The warp's largest unsigned value in one redux.sync (sm_80+ only: MOEKIT_HAS_WARP_REDUX marks where it exists).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define MOEKIT_HAS_WARP_REDUX 1
MOEKIT_DEVICE_INLINE unsigned reduce_max_u32(unsigned v) { return __reduce_max_sync(kFullLaneMask, v); }
#endif

#endif

}  // namespace moekit::device
