// The platform contract is a pure function per platform: test every platform's values here, on the CPU.
#include <gtest/gtest.h>

#include "moekit_core/configs.h"
#include "moekit_core/error.h"
#include "moekit_core/platform_contract.h"

using namespace moekit;

TEST(PlatformContract, EveryPlatformIsConsistent) {
  for (BackendKind k : {BackendKind::CPU, BackendKind::CUDA, BackendKind::HIP}) {
    const PlatformContract c = platform_contract_for(k);
    EXPECT_GT(c.block_size_m, 0);
    EXPECT_EQ(c.mx_block, 32) << backend_name(k);
    EXPECT_EQ(c.fp8_block, 128) << backend_name(k);
    // Padded dims must keep MXFP4 scale groups whole, and buffers must be at least cache-line aligned.
    EXPECT_EQ(c.hidden_align % c.mx_block, 0) << backend_name(k);
    EXPECT_EQ(c.intermediate_align % c.mx_block, 0) << backend_name(k);
    EXPECT_EQ(c.buffer_align_bytes % 64, 0) << backend_name(k);
    EXPECT_EQ(c.buffer_align_bytes & (c.buffer_align_bytes - 1), 0) << "power of two";
  }
  EXPECT_EQ(cuda_platform_contract().hidden_align % 128, 0) << "FP8 128-blocks must stay whole on CUDA";
}

TEST(PlatformContract, PaddedSizesRoundUp) {
  const PlatformContract c = cuda_platform_contract();
  const PaddedSizes p = padded_sizes(c, 2880, 2880);
  EXPECT_EQ(p.hidden_pad, 2944);
  EXPECT_EQ(p.intermediate_pad, 2944);
  const PaddedSizes q = padded_sizes(c, 4096, 14336);
  EXPECT_EQ(q.hidden_pad, 4096);
  EXPECT_EQ(q.intermediate_pad, 14336);
}

TEST(PlanSizes, CoverWorstCasePadding) {
  // T*k assignments, each of E experts padded by up to block-1 rows, rounded to whole blocks.
  const PlanSizes s = plan_sizes(/*T=*/5, /*k=*/2, /*E=*/3, /*block=*/4);
  EXPECT_EQ(s.max_sorted, 20);  // 10 + 3*3 = 19 -> 20
  EXPECT_EQ(s.max_blocks, 5);
  EXPECT_EQ(plan_sizes(0, 4, 8, 16).max_sorted, 128);
  EXPECT_THROW(plan_sizes(INT64_MAX / 2, 4, 8, 16), Error);
}
