// The routing order every backend implements (moekit.h, router section): larger key first, NaN after every
// number, ties (equal keys, including -0 == +0, and NaN with NaN) to the lower expert id. It is a strict total
// order on (key, id) pairs, so "the k best" is one well-defined set in one well-defined order, whatever
// algorithm (partial sort on the CPU, iterated warp arg-max on the GPU) finds it.
#pragma once

#include <cstdint>

#include "portability.h"

namespace moekit::device {

// True if (va, ia) ranks before (vb, ib). Mirrors core/src/cpu/cpu_route.cpp's ranks_before.
MOEKIT_HOST_DEVICE inline bool ranks_before(float va, int32_t ia, float vb, int32_t ib) {
  const bool na = is_nan(va), nb = is_nan(vb);
  if (na != nb) return nb;
  if (!na && va != vb) return va > vb;
  return ia < ib;
}

// The same order as one unsigned 64-bit integer, so that "the better of two" is an integer max (one compare on
// the GPU instead of the NaN/tie branches above): rank_code(a) > rank_code(b) exactly when a ranks before b.
//  - high word: the key mapped monotonically onto uint32 (negative floats bit-inverted, positive ones with the
//    sign bit set; -0 first made +0 so that the two tie; every NaN maps to 0, below -Inf's 0x007FFFFF);
//  - low word: ~id, so that of two equal keys the lower id is larger.
// Ids are in [0, 2^31), so the low word of every candidate has its top bit set and no candidate codes to 0:
// 0 is free to mean "no candidate". Decoding the key gives the canonical value (+0 for -0, one quiet NaN).
MOEKIT_HOST_DEVICE inline uint64_t rank_code(float key, int32_t id) {
  uint32_t high = 0;
  if (!is_nan(key)) {
    const uint32_t bits = f32_bits(key == 0.0f ? 0.0f : key);
    high = (bits & 0x80000000u) != 0u ? ~bits : (bits | 0x80000000u);
  }
  return (static_cast<uint64_t>(high) << 32) | static_cast<uint64_t>(~static_cast<uint32_t>(id));
}
MOEKIT_HOST_DEVICE inline int32_t rank_code_id(uint64_t code) {
  return static_cast<int32_t>(~static_cast<uint32_t>(code));
}
MOEKIT_HOST_DEVICE inline float rank_code_key(uint64_t code) {
  const uint32_t high = static_cast<uint32_t>(code >> 32);
  if (high == 0u) return f32_from_bits(0x7FC00000u);
  return f32_from_bits((high & 0x80000000u) != 0u ? (high & 0x7FFFFFFFu) : ~high);
}

}  // namespace moekit::device
