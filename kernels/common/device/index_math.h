// Integer helpers of the routing kernels that touch memory or bits through an expert id, shared by the CUDA and
// HIP kernels and compiled as plain host code by the unit tests (tests/core/device_index_math_test.cpp).
//
// Why they exist: ids come from user memory and may be negative (-1 marks "not routed") or >= E. C-style `/`,
// `%` and `>>` on a negative int do not give the word and bit a bitmatrix needs: -1 / 32 == 0 and -1 % 32 == -1,
// so `1u << (e % 32)` is undefined behaviour and `1u << (e & 31)` sets bit 31 of word 0 for e = -1. Every
// helper here first checks the range, then does its arithmetic on unsigned values.
#pragma once

#include <cstdint>

#include "../portability.h"

namespace moekit::device {

constexpr int32_t kBitsPerWord = 32;  // bitmatrix words are uint32 on every platform (moekit.h)

MOEKIT_HOST_DEVICE inline bool valid_expert(int32_t e, int32_t num_experts) { return e >= 0 && e < num_experts; }

// Words per bitmatrix row: ceil(E / 32); 0 for E <= 0.
MOEKIT_HOST_DEVICE inline int32_t bitmatrix_words(int32_t num_experts) {
  return num_experts <= 0 ? 0 : static_cast<int32_t>((static_cast<uint32_t>(num_experts) + 31u) / 32u);
}

// The bit expert `e` contributes to word `word` of a bitmatrix row: 0 if e is outside [0, E) or lives in
// another word.
MOEKIT_HOST_DEVICE inline uint32_t bitmatrix_bit(int32_t e, int32_t num_experts, int32_t word) {
  if (!valid_expert(e, num_experts) || word < 0) return 0u;
  const uint32_t u = static_cast<uint32_t>(e);
  return (u / 32u) == static_cast<uint32_t>(word) ? (1u << (u % 32u)) : 0u;
}

// Word `word` of token row `ids[0..k)`: the kernels' per-thread work and the unit tests' subject.
MOEKIT_HOST_DEVICE inline uint32_t bitmatrix_word(const int32_t* ids, int32_t k, int32_t num_experts, int32_t word) {
  uint32_t v = 0;
  for (int32_t j = 0; j < k; ++j) v |= bitmatrix_bit(ids[j], num_experts, word);
  return v;
}

// Is expert `e` set in a packed bit set of E bits (e.g. the plan's "local experts" mask)? False out of range.
MOEKIT_HOST_DEVICE inline bool bitset_test(const uint32_t* words, int32_t num_bits, int32_t e) {
  if (!valid_expert(e, num_bits)) return false;
  const uint32_t u = static_cast<uint32_t>(e);
  return ((words[u / 32u] >> (u % 32u)) & 1u) != 0u;
}
MOEKIT_HOST_DEVICE inline void bitset_set(uint32_t* words, int32_t num_bits, int32_t e) {
  if (!valid_expert(e, num_bits)) return;
  const uint32_t u = static_cast<uint32_t>(e);
  words[u / 32u] |= 1u << (u % 32u);
}

// count rounded up to a whole number of blocks (count >= 0, block >= 1; core validated both).
MOEKIT_HOST_DEVICE inline int64_t padded_to_block(int64_t count, int64_t block) {
  if (count <= 0 || block <= 0) return 0;
  return (count + block - 1) / block * block;
}

// Lane masks: the lane's own bit, and the bits of the lanes below it, for a mask type of one bit per lane
// (uint32_t on 32-lane warps, uint64_t on wave64 — a 32-bit mask would silently drop lanes 32..63). Written for
// any width so that the host tests check both; device code uses the LaneMask versions. A lane outside
// [0, width) gives an empty (or, for lanes_below past the end, full) mask rather than a shift past the width.
template <class Mask>
MOEKIT_HOST_DEVICE inline Mask lane_bit_of(int lane) {
  constexpr int width = static_cast<int>(sizeof(Mask) * 8);
  return (lane >= 0 && lane < width) ? static_cast<Mask>(Mask{1} << static_cast<unsigned>(lane)) : Mask{0};
}
template <class Mask>
MOEKIT_HOST_DEVICE inline Mask lanes_below_of(int lane) {
  constexpr int width = static_cast<int>(sizeof(Mask) * 8);
  if (lane <= 0) return Mask{0};
  if (lane >= width) return static_cast<Mask>(~Mask{0});
  return static_cast<Mask>(lane_bit_of<Mask>(lane) - Mask{1});
}
MOEKIT_HOST_DEVICE inline LaneMask lane_bit(int lane) { return lane_bit_of<LaneMask>(lane); }
MOEKIT_HOST_DEVICE inline LaneMask lanes_below(int lane) { return lanes_below_of<LaneMask>(lane); }

// The top-k loop marks an expert as taken in the lane that owns it: expert i belongs to lane i % W, slot
// i / W of that lane's `taken` bits (W = warp width; E <= 1024 keeps the slot < 32 for W >= 32).
// Negative or too-large ids own no slot (-1): callers skip them.
MOEKIT_HOST_DEVICE inline int owner_lane(int32_t e, int warp) {
  return (e < 0 || warp <= 0) ? -1 : static_cast<int>(static_cast<uint32_t>(e) % static_cast<uint32_t>(warp));
}
MOEKIT_HOST_DEVICE inline int owner_slot(int32_t e, int warp) {
  if (e < 0 || warp <= 0) return -1;
  const uint32_t slot = static_cast<uint32_t>(e) / static_cast<uint32_t>(warp);
  return slot < 32u ? static_cast<int>(slot) : -1;
}

}  // namespace moekit::device
