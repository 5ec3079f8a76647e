// The shared-memory layout wgmma reads (wgmma_e4m3.cuh), as host/device arithmetic so that a CPU test can check it
// against CUTLASS's own definitions (tests/gpu/wgmma_layout_test.cpp: cute's Swizzle<3, 4, 3> and
// GmmaDescriptor). K-major operands in rows of 128 bytes with the 128-byte swizzle: 16-byte chunk c of row r is
// stored at chunk c ^ (r % 8), 8-row atoms of 1024 bytes on 1024-byte boundaries.
#pragma once

#include <cstdint>

#include "portability.h"

namespace moekit::cuda::wgmma {

// Bytes of one 8-row atom of 128-byte swizzled rows, and the alignment the swizzle needs of an operand's start.
constexpr int kSwizzleAtomBytes = 1024;

// Where 16-byte chunk `chunk` (0..7) of row `row` of an operand in 128-byte swizzled rows lies, from its start.
MOEKIT_HOST_DEVICE constexpr int sw128_offset(int row, int chunk) { return row * 128 + ((chunk ^ (row & 7)) << 4); }

// Shared-memory matrix descriptor of a K-major operand in 128-byte swizzled rows starting at shared address
// `addr` (the atom's start plus 32 * k for the k-th 32-column step inside it): start address >> 4 in bits 0..13,
// leading byte offset unused with this swizzle (0), stride byte offset (the next 8-row atom, 1024 bytes) >> 4 in
// bits 32..45, base offset 0 (atoms on 1024-byte boundaries), layout 1 = 128-byte swizzle in bits 62..63.
MOEKIT_HOST_DEVICE constexpr uint64_t sw128_desc(uint32_t addr) {
  return static_cast<uint64_t>((addr & 0x3FFFFu) >> 4) |
         (static_cast<uint64_t>(kSwizzleAtomBytes >> 4) << 32) | (static_cast<uint64_t>(1) << 62);
}

}  // namespace moekit::cuda::wgmma
