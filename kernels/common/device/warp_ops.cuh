// Warp-level reductions and element access shared by the routing and quantizer kernels of both modules.
// Widths come from kWarpSize (32 on CUDA, 64 on CDNA): a butterfly over log2(kWarpSize) steps.
#pragma once

#include <cstdint>

#include "../portability.h"
#include "../route_order.h"
#include "warp.cuh"

namespace moekit::device {

MOEKIT_DEVICE_INLINE float warp_max(float v) {
  for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) v = fmaxf(v, shfl_xor(v, offset));
  return v;
}
MOEKIT_DEVICE_INLINE int warp_sum(int v) {
  for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) v += shfl_xor(v, offset);
  return v;
}
MOEKIT_DEVICE_INLINE double warp_sum(double v) {
  for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) v += shfl_xor(v, offset);
  return v;
}

// Largest 64-bit code of the warp (route_order.h's rank_code), in every lane; all lanes must take part.
// With redux.sync (CUDA sm_80+): two maxima (the high words, then the low words of the lanes holding the highest high
// word), the same result as the 64-bit butterfly in 2 instructions instead of 5 rounds of two shuffles and a
// compare; at small T routing is one warp's dependent chain, and this runs once per pick.
MOEKIT_DEVICE_INLINE uint64_t warp_max_u64(uint64_t v) {
#ifdef MOEKIT_HAS_WARP_REDUX
  const unsigned high = static_cast<unsigned>(v >> 32);
  const unsigned top = reduce_max_u32(high);
  const unsigned low = reduce_max_u32(high == top ? static_cast<unsigned>(v) : 0u);
  return (static_cast<uint64_t>(top) << 32) | low;
#else
  for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) {
    const uint64_t other = shfl_xor(v, offset);
    v = other > v ? other : v;
  }
  return v;
#endif
}

// A routing candidate: key and expert (or group) id; id < 0 is "none".
struct Candidate {
  float key;
  int32_t id;
};

// The better of two candidates in the routing order. The order is total, so the butterfly below leaves the
// same winner in every lane.
MOEKIT_HOST_DEVICE inline Candidate better(Candidate a, Candidate b) {
  if (b.id < 0) return a;
  if (a.id < 0) return b;
  return ranks_before(b.key, b.id, a.key, a.id) ? b : a;
}

MOEKIT_DEVICE_INLINE Candidate warp_best(Candidate c) {
  for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) {
    const Candidate other{shfl_xor(c.key, offset), shfl_xor(c.id, offset)};
    c = better(c, other);
  }
  return c;
}

// Element i of a row-major f32 / f16 / bf16 tensor as float (exact widening). dtype numbering: moekit_plugin.h.
MOEKIT_HOST_DEVICE inline float load_as_f32(const void* data, int32_t dtype, int64_t i) {
  switch (dtype) {
    case 2: return bf16_to_f32(static_cast<const uint16_t*>(data)[i]);   // MOEKIT_PLUGIN_BF16
    case 1: return f16_to_f32(static_cast<const uint16_t*>(data)[i]);    // MOEKIT_PLUGIN_F16
    default: return static_cast<const float*>(data)[i];                  // MOEKIT_PLUGIN_F32
  }
}

// Stores a float as f32 / f16 / bf16 with the CPU backend's rounding (nearest-even, NaN kept).
MOEKIT_HOST_DEVICE inline void store_from_f32(void* data, int32_t dtype, int64_t i, float v) {
  switch (dtype) {
    case 2: static_cast<uint16_t*>(data)[i] = f32_to_bf16(v); break;
    case 1: static_cast<uint16_t*>(data)[i] = f32_to_f16(v); break;
    default: static_cast<float*>(data)[i] = v; break;
  }
}

}  // namespace moekit::device
