// The streaming tier's hand-written wgmma layout (kernels/cuda/wgmma_layout.h) against CUTLASS's definitions of
// the same things, on the CPU: the ring stores each 16-byte chunk where cute's 128-byte swizzle (Swizzle<3, 4, 3>,
// the K-major SW128 atom that wgmma reads) puts it, and the descriptor's bits are those of cute's GmmaDescriptor
// with the 128-byte-swizzle layout. (The module does not depend on CUTLASS outside its grouped tier, so it keeps
// its own few lines; this test is built where CUTLASS's headers are.)
#include <gtest/gtest.h>

#include <cute/arch/mma_sm90_desc.hpp>
#include <cute/swizzle.hpp>

#include "wgmma_layout.h"

namespace {

namespace wg = moekit::cuda::wgmma;

TEST(WgmmaLayout, ChunksLieWhereCutesSwizzlePutsThem) {
  const cute::Swizzle<3, 4, 3> swizzle;  // the K-major SW128 atom: 8 rows x 128 bytes, 16-byte units
  // A half of a stage: 64 weight rows (or up to 64 rows of x), 128 bytes each; every byte of every chunk.
  for (int row = 0; row < 64; ++row)
    for (int byte = 0; byte < 128; ++byte)
      ASSERT_EQ(wg::sw128_offset(row, byte / 16) + byte % 16, static_cast<int>(swizzle(row * 128 + byte)))
          << "row " << row << " byte " << byte;
}

TEST(WgmmaLayout, DescriptorBitsAreCutesForTheSwizzledKMajorLayout) {
  // Every 1024-byte atom start of an SM's shared memory, and the 32-byte k-steps inside an atom's rows.
  for (uint32_t base = 0; base < 228 * 1024; base += wg::kSwizzleAtomBytes)
    for (uint32_t k = 0; k < 4; ++k) {
      const uint32_t addr = base + 32 * k;
      cute::GmmaDescriptor expect;
      expect.bitfield.start_address_ = static_cast<uint16_t>(addr >> 4);
      expect.bitfield.leading_byte_offset_ = 0;  // unused by swizzled K-major layouts
      expect.bitfield.stride_byte_offset_ = static_cast<uint16_t>(wg::kSwizzleAtomBytes >> 4);
      expect.bitfield.base_offset_ = 0;
      expect.bitfield.layout_type_ = static_cast<uint8_t>(cute::SM90::GMMA::LayoutType::B128);
      ASSERT_EQ(wg::sw128_desc(addr), expect.desc_) << "address " << addr;
    }
}

}  // namespace
