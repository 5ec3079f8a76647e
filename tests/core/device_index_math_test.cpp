// The integer helpers of the shared device code (kernels/common/device/index_math.h), compiled here as plain
// host code: the CUDA and HIP kernels call exactly these functions for every id they turn into a word, a bit or
// a memory index. Negative ids are the point: C-style -1 / 32 == 0 and -1 % 32 == -1, and -1 & 31 == 31, so
// the naive formulas would set bit 31 of word 0 (or shift by a negative count) for an unrouted slot.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "../../kernels/common/device/index_math.h"
#include "cpu/cpu_routing_plan.h"

using namespace moekit;
using namespace moekit::device;

TEST(DeviceIndexMath, MinusOneNeverSetsBit31) {
  for (int32_t experts : {1, 31, 32, 33, 64, 256, 1000, 1024}) {
    for (int32_t word = -1; word <= bitmatrix_words(experts); ++word) {
      EXPECT_EQ(bitmatrix_bit(-1, experts, word), 0u) << "E " << experts << " word " << word;
      EXPECT_EQ(bitmatrix_bit(-1, experts, word) & 0x80000000u, 0u);
    }
    // A row of only "not routed" slots (and ids past the end) is an all-zero row.
    const std::vector<int32_t> row = {-1, -1, experts, INT32_MIN, -33, INT32_MAX};
    for (int32_t word = 0; word < bitmatrix_words(experts); ++word)
      EXPECT_EQ(bitmatrix_word(row.data(), static_cast<int32_t>(row.size()), experts, word), 0u);
  }
  // The formulas the helpers replace do go wrong for -1, which is why they are not used:
  const int32_t e = -1;
  EXPECT_EQ(e / 32, 0) << "C division truncates toward zero: -1 lands in word 0";
  EXPECT_EQ(1u << (static_cast<uint32_t>(e) & 31u), 0x80000000u) << "masking the shift count sets bit 31";
}

TEST(DeviceIndexMath, BitsOfValidIds) {
  EXPECT_EQ(bitmatrix_words(0), 0);
  EXPECT_EQ(bitmatrix_words(-5), 0);
  EXPECT_EQ(bitmatrix_words(1), 1);
  EXPECT_EQ(bitmatrix_words(32), 1);
  EXPECT_EQ(bitmatrix_words(33), 2);
  EXPECT_EQ(bitmatrix_bit(0, 64, 0), 1u);
  EXPECT_EQ(bitmatrix_bit(31, 64, 0), 0x80000000u);
  EXPECT_EQ(bitmatrix_bit(31, 64, 1), 0u);
  EXPECT_EQ(bitmatrix_bit(32, 64, 1), 1u);
  EXPECT_EQ(bitmatrix_bit(63, 64, 1), 0x80000000u);
  EXPECT_EQ(bitmatrix_bit(64, 64, 2), 0u) << "id == E is out of range";
  EXPECT_EQ(bitmatrix_bit(5, 64, -1), 0u) << "a negative word index owns nothing";
}

TEST(DeviceIndexMath, BitmatrixWordsMatchTheCpuBackend) {
  // Random rows with invalid ids (-1, E, large negatives): the shared helper and the CPU backend agree word for
  // word — the CPU backend is the reference every module is tested against.
  std::mt19937 rng(11);
  for (int32_t experts : {7, 32, 61, 128, 257}) {
    const int32_t k = 6, tokens = 40, words = bitmatrix_words(experts);
    std::uniform_int_distribution<int32_t> pick(-3, experts + 2);
    std::vector<int32_t> ids(static_cast<size_t>(tokens * k));
    for (auto& id : ids) id = pick(rng) == -3 ? INT32_MIN : pick(rng);
    std::vector<uint32_t> cpu_bits(static_cast<size_t>(tokens * words), 0xDEADBEEFu);
    RouterConfig cfg;
    cfg.num_experts = experts;
    cfg.top_k = k;
    cfg.block_size = 16;
    RoutingPlan plan;
    plan.topk_ids.data = ids.data();
    plan.topk_ids.dtype = DType::I32;
    plan.topk_ids.rank = 2;
    plan.topk_ids.shape[0] = tokens;
    plan.topk_ids.shape[1] = k;
    plan.bitmatrix.data = cpu_bits.data();
    plan.bitmatrix.dtype = DType::U32;
    plan.bitmatrix.rank = 2;
    plan.bitmatrix.shape[0] = tokens;
    plan.bitmatrix.shape[1] = words;
    cpu::write_plan_metadata(ExecContext{}, cfg, plan);
    for (int32_t t = 0; t < tokens; ++t)
      for (int32_t w = 0; w < words; ++w)
        ASSERT_EQ(bitmatrix_word(ids.data() + t * k, k, experts, w), cpu_bits[static_cast<size_t>(t * words + w)])
            << "E " << experts << " token " << t << " word " << w;
  }
}

TEST(DeviceIndexMath, BitsetGuardsItsIndex) {
  std::vector<uint32_t> words(4, 0u);  // 128 bits, asked about 100
  bitset_set(words.data(), 100, -1);
  bitset_set(words.data(), 100, 100);
  bitset_set(words.data(), 100, INT32_MIN);
  EXPECT_EQ(words, std::vector<uint32_t>(4, 0u)) << "out-of-range ids set nothing";
  bitset_set(words.data(), 100, 99);
  bitset_set(words.data(), 100, 31);
  EXPECT_TRUE(bitset_test(words.data(), 100, 99));
  EXPECT_TRUE(bitset_test(words.data(), 100, 31));
  EXPECT_FALSE(bitset_test(words.data(), 100, 30));
  EXPECT_FALSE(bitset_test(words.data(), 100, -1)) << "bit 31 of word 0 is set, but -1 must not see it";
  EXPECT_FALSE(bitset_test(words.data(), 100, 100));
}

TEST(DeviceIndexMath, PaddedCounts) {
  EXPECT_EQ(padded_to_block(0, 64), 0);
  EXPECT_EQ(padded_to_block(1, 64), 64);
  EXPECT_EQ(padded_to_block(64, 64), 64);
  EXPECT_EQ(padded_to_block(65, 256), 256);
  EXPECT_EQ(padded_to_block(-3, 64), 0) << "a negative count pads to nothing";
}

TEST(DeviceIndexMath, LaneMasksOnBothWidths) {
  // 32-lane warps (CUDA)
  EXPECT_EQ(lane_bit_of<uint32_t>(0), 1u);
  EXPECT_EQ(lane_bit_of<uint32_t>(31), 0x80000000u);
  EXPECT_EQ(lane_bit_of<uint32_t>(32), 0u);
  EXPECT_EQ(lane_bit_of<uint32_t>(-1), 0u);
  EXPECT_EQ(lanes_below_of<uint32_t>(0), 0u);
  EXPECT_EQ(lanes_below_of<uint32_t>(31), 0x7FFFFFFFu);
  EXPECT_EQ(lanes_below_of<uint32_t>(32), 0xFFFFFFFFu);
  // wave64 (CDNA): lanes 32..63 exist and must keep their bits
  EXPECT_EQ(lane_bit_of<uint64_t>(32), uint64_t{1} << 32);
  EXPECT_EQ(lane_bit_of<uint64_t>(63), uint64_t{1} << 63);
  EXPECT_EQ(lane_bit_of<uint64_t>(64), 0u);
  EXPECT_EQ(lanes_below_of<uint64_t>(40), (uint64_t{1} << 40) - 1);
  EXPECT_EQ(lanes_below_of<uint64_t>(63), ~uint64_t{0} >> 1);
  EXPECT_EQ(lanes_below_of<uint64_t>(64), ~uint64_t{0});
  EXPECT_EQ(lanes_below_of<uint64_t>(-7), 0u);
  // Rank of a lane among peers = popcount(peers & lanes_below): lane 50 with peers {3, 40, 50, 60} has rank 2.
  const uint64_t peers = (uint64_t{1} << 3) | (uint64_t{1} << 40) | (uint64_t{1} << 50) | (uint64_t{1} << 60);
  EXPECT_EQ(__builtin_popcountll(peers & lanes_below_of<uint64_t>(50)), 2);
  // The same mask truncated to 32 bits would lose lanes 40 and 50: the reason LaneMask is 64-bit on wave64.
  EXPECT_EQ(__builtin_popcount(static_cast<uint32_t>(peers & lanes_below_of<uint64_t>(50))), 1);
  // The host build is the CUDA side: one LaneMask bit per lane of its warp.
  EXPECT_EQ(static_cast<int>(sizeof(LaneMask) * 8), kWarpSize);
}

TEST(DeviceIndexMath, TopKOwnerSlots) {
  for (int warp : {32, 64}) {
    EXPECT_EQ(owner_lane(-1, warp), -1);
    EXPECT_EQ(owner_slot(-1, warp), -1);
    EXPECT_EQ(owner_lane(INT32_MIN, warp), -1);
    for (int32_t e : {0, 1, 31, 32, 63, 64, 65, 1023}) {
      EXPECT_EQ(owner_lane(e, warp), e % warp);
      EXPECT_EQ(owner_slot(e, warp), e / warp);
      EXPECT_EQ(owner_slot(e, warp) * warp + owner_lane(e, warp), e) << "lane + W * slot recovers the expert";
    }
    EXPECT_LT(owner_slot(1023, warp), 32) << "E <= 1024 fits the 32 `taken` bits";
  }
  EXPECT_EQ(owner_slot(32 * 32, 32), -1) << "past the 32 slots: no slot rather than a shift by 32";
}
