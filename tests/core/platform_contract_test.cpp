// The platform contract is a pure function per platform: test every platform's values here, on the CPU.
#include <gtest/gtest.h>

#include <cstdint>

#include "moekit_core/configs.h"
#include "moekit_core/error.h"
#include "moekit_core/platform_contract.h"

using namespace moekit;

namespace {
constexpr BackendKind kAll[] = {BackendKind::CPU, BackendKind::CUDA, BackendKind::HIP};
}

TEST(PlatformContract, EveryPlatformIsConsistent) {
  for (BackendKind k : kAll) {
    const PlatformContract c = platform_contract_for(k);
    EXPECT_GT(c.block_size_m, 0);
    EXPECT_EQ(c.mx_block, 32) << backend_name(k);
    EXPECT_EQ(c.fp8_block, 128) << backend_name(k);
    // Padded dims must keep MXFP4 scale groups whole, and buffers must be at least cache-line aligned.
    EXPECT_EQ(c.hidden_align % c.mx_block, 0) << backend_name(k);
    EXPECT_EQ(c.intermediate_align % c.mx_block, 0) << backend_name(k);
    EXPECT_EQ(c.buffer_align_bytes % 64, 0) << backend_name(k);
    EXPECT_EQ(c.buffer_align_bytes & (c.buffer_align_bytes - 1), 0) << "power of two";
    // Routing buffers round to whole blocks.
    EXPECT_EQ(routing_rows_align(k) % c.block_size_m, 0) << backend_name(k);
  }
  EXPECT_EQ(cuda_platform_contract().hidden_align % 128, 0) << "FP8 128-blocks must stay whole on CUDA";
}

TEST(PlatformContract, BlockAndRoutingAlignmentPerPlatform) {
  // Padded routing buffers: 64-row blocks / 128-row buffers on CUDA, 256 / 512 on CDNA.
  EXPECT_EQ(cuda_platform_contract().block_size_m, 64);
  EXPECT_EQ(routing_rows_align(BackendKind::CUDA), 128);
  EXPECT_EQ(hip_platform_contract().block_size_m, 256);
  EXPECT_EQ(routing_rows_align(BackendKind::HIP), 512);
  EXPECT_EQ(cpu_platform_contract().block_size_m, 16);
  EXPECT_EQ(routing_rows_align(BackendKind::CPU), 16);
  // gfx950's MX scale swizzle: hidden (and intermediate) padded to 256 on every CDNA target.
  EXPECT_EQ(hip_platform_contract().hidden_align, kMxSwizzleHiddenAlign);
  EXPECT_EQ(hip_platform_contract().intermediate_align, 256);
}

TEST(PlatformContract, PaddedSizesRoundUp) {
  const PlatformContract c = cuda_platform_contract();
  const PaddedSizes p = padded_sizes(c, 2880, 2880);
  EXPECT_EQ(p.hidden_pad, 2944);
  EXPECT_EQ(p.intermediate_pad, 2944);
  const PaddedSizes q = padded_sizes(c, 4096, 14336);
  EXPECT_EQ(q.hidden_pad, 4096);
  EXPECT_EQ(q.intermediate_pad, 14336);
  // gpt-oss on CDNA: 2880 -> 3072 (the MX swizzle's 256).
  const PaddedSizes h = padded_sizes(hip_platform_contract(), 2880, 2880);
  EXPECT_EQ(h.hidden_pad, 3072);
  EXPECT_EQ(h.intermediate_pad, 3072);
  EXPECT_EQ(mx_swizzle_hidden_pad(2880), 3072);
  EXPECT_EQ(mx_swizzle_hidden_pad(7168), 7168);
  EXPECT_EQ(mx_swizzle_hidden_pad(0), 0);
  EXPECT_EQ(mx_swizzle_hidden_pad(1), 256);
  EXPECT_THROW(mx_swizzle_hidden_pad(-1), Error);
}

TEST(PlatformContract, PaddingPropertiesOnNonStandardShapes) {
  for (BackendKind k : kAll) {
    const PlatformContract c = platform_contract_for(k);
    for (int64_t d : {int64_t{0}, int64_t{1}, int64_t{31}, int64_t{33}, int64_t{127}, int64_t{129}, int64_t{255},
                      int64_t{257}, int64_t{2880}, int64_t{7168}, int64_t{14337}}) {
      const PaddedSizes p = padded_sizes(c, d, d);
      EXPECT_GE(p.hidden_pad, d);
      EXPECT_LT(p.hidden_pad - d, c.hidden_align) << "never a whole extra block of padding";
      EXPECT_EQ(p.hidden_pad % c.hidden_align, 0);
      EXPECT_GE(p.intermediate_pad, d);
      EXPECT_LT(p.intermediate_pad - d, c.intermediate_align);
      EXPECT_EQ(p.intermediate_pad % c.intermediate_align, 0);
    }
  }
}

TEST(FusedMoePadZeros, MatchTheRocmKernelArguments) {
  // gpt-oss-120b on CDNA: H = I = 2880 padded to 3072. Pad amounts 192 -> hidden 128, intermediate 192 -> 384.
  const FusedMoePadZeros z = fused_moe_pad_zeros(2880, 3072, 2880, 3072);
  EXPECT_EQ(z.hidden_pad_zeros, 128) << "192 rounded down to a multiple of 128";
  EXPECT_EQ(z.intermediate_pad_zeros, 384) << "192 rounded down to a multiple of 64, doubled for gate/up";
  // No padding: nothing to skip.
  const FusedMoePadZeros none = fused_moe_pad_zeros(4096, 4096, 14336, 14336);
  EXPECT_EQ(none.hidden_pad_zeros, 0);
  EXPECT_EQ(none.intermediate_pad_zeros, 0);
  // Less padding than a granule: nothing may be skipped.
  const FusedMoePadZeros small = fused_moe_pad_zeros(2000, 2048, 1000, 1024);
  EXPECT_EQ(small.hidden_pad_zeros, 0) << "48 < 128";
  EXPECT_EQ(small.intermediate_pad_zeros, 0) << "24 < 64";
}

TEST(FusedMoePadZeros, NeverSkipARealColumnOnAnyPlatform) {
  for (BackendKind k : kAll) {
    const PlatformContract c = platform_contract_for(k);
    for (int64_t h = 0; h <= 1100; h += 7) {
      const int64_t i = 2 * h + 3;
      const PaddedSizes p = padded_sizes(c, h, i);
      const FusedMoePadZeros z = fused_moe_pad_zeros(h, p.hidden_pad, i, p.intermediate_pad);
      EXPECT_GE(z.hidden_pad_zeros, 0);
      EXPECT_LE(z.hidden_pad_zeros, p.hidden_pad - h) << backend_name(k) << " H " << h;
      EXPECT_EQ(z.hidden_pad_zeros % kFusedMoeHiddenPadGranule, 0);
      EXPECT_GE(p.hidden_pad - z.hidden_pad_zeros, h) << "the columns still read cover every real one";
      // w13 holds [gate; up], each Ip rows with Ip - I zero rows at the end: 2 (Ip - I) zeros in all.
      EXPECT_GE(z.intermediate_pad_zeros, 0);
      EXPECT_LE(z.intermediate_pad_zeros, 2 * (p.intermediate_pad - i)) << backend_name(k) << " I " << i;
      EXPECT_EQ(z.intermediate_pad_zeros % (2 * kFusedMoeIntermediatePadGranule), 0);
      EXPECT_GE(2 * p.intermediate_pad - z.intermediate_pad_zeros, 2 * i);
    }
  }
}

TEST(FusedMoePadZeros, RejectBadArgumentsByName) {
  try {
    fused_moe_pad_zeros(100, 64, 10, 10);
    FAIL() << "a padded size below the real one must be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("hidden_pad"), std::string::npos) << e.what();
  }
  try {
    fused_moe_pad_zeros(100, 128, 10, 9);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("intermediate_pad"), std::string::npos) << e.what();
  }
  EXPECT_THROW(fused_moe_pad_zeros(-1, 0, 0, 0), Error);
  EXPECT_THROW(fused_moe_pad_zeros(0, 0, -1, 0), Error);
}

TEST(PlanSizes, CoverWorstCasePadding) {
  // T*k assignments, each of E experts padded by up to block-1 rows, rounded to whole blocks.
  const PlanSizes s = plan_sizes(/*T=*/5, /*k=*/2, /*E=*/3, /*block=*/4);
  EXPECT_EQ(s.max_sorted, 20);  // 10 + 3*3 = 19 -> 20
  EXPECT_EQ(s.max_blocks, 5);
  EXPECT_EQ(plan_sizes(0, 4, 8, 16).max_sorted, 128);
  EXPECT_THROW(plan_sizes(INT64_MAX / 2, 4, 8, 16), Error);
}

TEST(RoutingBufferSizes, RoundPlanSizesToThePlatformAlignment) {
  for (BackendKind k : kAll) {
    const int32_t block = platform_contract_for(k).block_size_m;
    for (int64_t t : {int64_t{0}, int64_t{1}, int64_t{3}, int64_t{257}, int64_t{16384}})
      for (int32_t e : {1, 7, 61, 256}) {
        const PlanSizes min = plan_sizes(t, 4, e, block);
        const PlanSizes r = routing_buffer_sizes(k, t, 4, e);
        EXPECT_GE(r.max_sorted, min.max_sorted);
        EXPECT_LT(r.max_sorted - min.max_sorted, routing_rows_align(k));
        EXPECT_EQ(r.max_sorted % routing_rows_align(k), 0);
        EXPECT_EQ(r.max_blocks * block, r.max_sorted);
      }
  }
  // DeepSeek-V3 decode on CDNA: T 1, k 8, E 256: 8 + 256 * 255 = 65288 -> 65536 rows, 256 blocks.
  const PlanSizes d = routing_buffer_sizes(BackendKind::HIP, 1, 8, 256);
  EXPECT_EQ(d.max_sorted, 65536);
  EXPECT_EQ(d.max_blocks, 256);
  EXPECT_THROW(routing_buffer_sizes(BackendKind::HIP, INT64_MAX / 4, 8, 256), Error);
}
