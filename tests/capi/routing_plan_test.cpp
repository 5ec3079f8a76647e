// moekit_router_plan_sizes and moekit_router_build_plan: sizes from the spec's formula, metadata from
// caller-given ids (including invalid ones) against the float64 reference, and nothing written outside the
// buffers (guard words around each).
#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <vector>

#include "capi/router_test_util.h"

using namespace router_test;

namespace {

struct Fixture {
  moekit_context ctx = nullptr;
  moekit_router router = nullptr;
  moekit_router_desc desc = MOEKIT_ROUTER_DESC_INIT;
  Fixture(int32_t e, int32_t k, int32_t block, const int32_t* map = nullptr) {
    ctx = cpu_context();
    desc.num_experts = e;
    desc.top_k = k;
    desc.block_size = block;
    desc.expert_map = map;
    EXPECT_EQ(moekit_router_create(ctx, &desc, &router), MOEKIT_OK) << moekit_last_error();
  }
  ~Fixture() {
    moekit_router_destroy(router);
    moekit_context_destroy(ctx);
  }
};

// Worst case of the padded order, from the spec: T*k entries plus block_size-1 padding for each expert,
// rounded up to whole blocks.
int64_t expected_max_sorted(int64_t t, int64_t k, int64_t e, int64_t block) {
  const int64_t worst = t * k + e * (block - 1);
  return (worst + block - 1) / block * block;
}

}  // namespace

TEST(RouterPlanSizes, FollowTheWorstCasePadding) {
  for (int32_t block : {1, 3, 16, 64})
    for (auto [e, k] : {std::pair{8, 2}, std::pair{40, 3}, std::pair{256, 8}}) {
      Fixture f(e, k, block);
      for (int64_t t : {0, 1, 7, 1000}) {
        int32_t bs = 0;
        int64_t ms = 0, mb = 0;
        ASSERT_EQ(moekit_router_plan_sizes(f.router, t, &bs, &ms, &mb), MOEKIT_OK) << moekit_last_error();
        EXPECT_EQ(bs, block);
        EXPECT_EQ(ms, expected_max_sorted(t, k, e, block));
        EXPECT_EQ(mb, ms / block);
      }
    }
}

TEST(RouterPlanSizes, RejectsNegativeAndOverflowingTokenCounts) {
  Fixture f(256, 8, 16);
  for (int64_t t : {int64_t{-1}, INT64_MIN, INT64_MAX, INT64_MAX / 8 + 1, int64_t{INT32_MAX} / 8 + 1}) {
    int32_t bs = -77;
    int64_t ms = -77, mb = -77;
    EXPECT_EQ(moekit_router_plan_sizes(f.router, t, &bs, &ms, &mb), MOEKIT_ERR_INVALID_ARGUMENT) << t;
    EXPECT_TRUE(error_mentions("num_tokens")) << moekit_last_error();
    EXPECT_EQ(bs, -77);
    EXPECT_EQ(ms, -77);
    EXPECT_EQ(mb, -77);
  }
  // The largest count whose padded order still fits int32 is accepted.
  const int64_t largest = (int64_t{INT32_MAX} - 256 * 15) / 8 / 16 * 16;
  EXPECT_EQ(moekit_router_plan_sizes(f.router, largest, nullptr, nullptr, nullptr), MOEKIT_OK) << moekit_last_error();
  EXPECT_EQ(moekit_router_plan_sizes(nullptr, 1, nullptr, nullptr, nullptr), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("router"));
  EXPECT_EQ(moekit_router_plan_sizes(reinterpret_cast<moekit_router>(f.ctx), 1, nullptr, nullptr, nullptr),
            MOEKIT_ERR_INVALID_ARGUMENT);
}

TEST(RouterBuildPlan, RandomIdsMatchTheReference) {
  std::mt19937 rng(3);
  for (int32_t block : {1, 4, 16})
    for (auto [e, k] : {std::pair{8, 2}, std::pair{7, 7}, std::pair{40, 3}, std::pair{128, 8}})
      for (int64_t t : {0, 1, 45}) {
        SCOPED_TRACE("E " + std::to_string(e) + " k " + std::to_string(k) + " block " + std::to_string(block) +
                     " T " + std::to_string(t));
        Fixture f(e, k, block);
        int64_t ms = 0, mb = 0;
        ASSERT_EQ(moekit_router_plan_sizes(f.router, t, nullptr, &ms, &mb), MOEKIT_OK);
        PlanBuffers p(t, k, e, ms, mb);
        std::uniform_int_distribution<int32_t> pick(0, e - 1);
        for (int64_t i = 0; i < t * k; ++i) p.ids.as<int32_t>()[i] = pick(rng);  // repeats allowed
        moekit_routing r = p.routing(/*with_weights=*/false);
        ASSERT_EQ(moekit_router_build_plan(f.router, &r, nullptr), MOEKIT_OK) << moekit_last_error();
        expect_metadata_matches(spec_of(f.desc, block), p.ids.values<int32_t>(), p);
      }
}

TEST(RouterBuildPlan, InvalidIdsAreIgnoredAndNeverTouchMemory) {
  const int32_t e = 40, k = 4, block = 4;
  Fixture f(e, k, block);
  const std::vector<int32_t> ids = {-1, 3, 39, 40,      // E itself
                                    -7, INT32_MIN, 0, 45,   // E + 5
                                    INT32_MAX, 3, 3, -1,
                                    -1, -1, -1, -1,     // a token with nothing valid
                                    31, 32, 33, 0};
  const int64_t t = static_cast<int64_t>(ids.size()) / k;
  int64_t ms = 0, mb = 0;
  ASSERT_EQ(moekit_router_plan_sizes(f.router, t, nullptr, &ms, &mb), MOEKIT_OK);
  PlanBuffers p(t, k, e, ms, mb);
  std::copy(ids.begin(), ids.end(), p.ids.as<int32_t>());
  const auto weights_before = p.weights.bytes();
  moekit_routing r = p.routing(/*with_weights=*/true);  // present but never written by build_plan
  ASSERT_EQ(moekit_router_build_plan(f.router, &r, nullptr), MOEKIT_OK) << moekit_last_error();
  expect_metadata_matches(spec_of(f.desc, block), ids, p);
  EXPECT_EQ(p.weights.bytes(), weights_before);
  EXPECT_EQ(p.ids.values<int32_t>(), ids);  // the caller's ids are read only
  // Independent of the reference: the only bits are those of valid ids.
  const uint32_t* bits = p.bits.as<uint32_t>();
  EXPECT_EQ(bits[0 * 2 + 0], 1u << 3);
  EXPECT_EQ(bits[0 * 2 + 1], 1u << (39 - 32));
  EXPECT_EQ(bits[1 * 2 + 0], 1u);
  EXPECT_EQ(bits[1 * 2 + 1], 0u);
  EXPECT_EQ(bits[3 * 2 + 0], 0u);
  EXPECT_EQ(bits[3 * 2 + 1], 0u);
  int32_t valid = 0;
  for (int32_t i = 0; i < e; ++i) valid += p.counts.as<int32_t>()[i];
  EXPECT_EQ(valid, 9);
}

TEST(RouterBuildPlan, ExpertMapAndBlockIds) {
  const int32_t e = 8, k = 2, block = 2;
  const std::vector<int32_t> map = {0, -1, 1, -1, 2, 3, -1, 4};
  Fixture f(e, k, block, map.data());
  const std::vector<int32_t> ids = {1, 0, 1, 7, 6, 2, 3, 3, 1, 5};
  const int64_t t = 5;
  int64_t ms = 0, mb = 0;
  ASSERT_EQ(moekit_router_plan_sizes(f.router, t, nullptr, &ms, &mb), MOEKIT_OK);
  PlanBuffers p(t, k, e, ms, mb);
  std::copy(ids.begin(), ids.end(), p.ids.as<int32_t>());
  moekit_routing r = p.routing(false);
  ASSERT_EQ(moekit_router_build_plan(f.router, &r, nullptr), MOEKIT_OK) << moekit_last_error();
  expect_metadata_matches(spec_of(f.desc, block), ids, p);
  // Hand-worked (vLLM moe_align_block_size): expert 0: {1} -> 2 rows; expert 1: {0,2,8} -> 4 rows; 2: {5};
  // 3: {6,7}; 5: {9}; 6: {4}; 7: {3}. Blocks: 0, 1(-1), 1(-1), 2, 3(-1), 5, 6(-1), 7.
  const std::vector<int32_t> sorted = {1, 10, 0, 2, 8, 10, 5, 10, 6, 7, 9, 10, 4, 10, 3, 10};
  const std::vector<int32_t> blocks = {0, -1, -1, 2, -1, 5, -1, 7};
  EXPECT_EQ(p.total.as<int32_t>()[0], 16);
  EXPECT_EQ(std::vector<int32_t>(p.sorted.as<int32_t>(), p.sorted.as<int32_t>() + 16), sorted);
  EXPECT_EQ(std::vector<int32_t>(p.blocks.as<int32_t>(), p.blocks.as<int32_t>() + 8), blocks);
}

TEST(RouterBuildPlan, BadInputsLeaveEverythingUntouched) {
  const int32_t e = 16, k = 2;
  Fixture f(e, k, 4);
  const int64_t t = 3;
  int64_t ms = 0, mb = 0;
  ASSERT_EQ(moekit_router_plan_sizes(f.router, t, nullptr, &ms, &mb), MOEKIT_OK);
  PlanBuffers p(t, k, e, ms, mb);
  for (int i = 0; i < t * k; ++i) p.ids.as<int32_t>()[i] = i;
  const moekit_routing good = p.routing(false);
  auto expect_rejected = [&](moekit_routing r, const char* mentions, moekit_router router = nullptr) {
    const auto before = p.snapshot();
    EXPECT_EQ(moekit_router_build_plan(router ? router : f.router, &r, nullptr), MOEKIT_ERR_INVALID_ARGUMENT)
        << mentions;
    EXPECT_TRUE(error_mentions(mentions)) << "wanted '" << mentions << "', got: " << moekit_last_error();
    EXPECT_EQ(p.snapshot(), before) << mentions;
  };
  moekit_routing x = good;
  x.topk_ids.data = nullptr;
  expect_rejected(x, "topk_ids");
  x = good;
  x.topk_ids.dtype = MOEKIT_DTYPE_F32;
  expect_rejected(x, "topk_ids: dtype must be int32, got float32");
  x = good;
  x.topk_ids.shape[1] = 3;
  x.topk_ids.strides[0] = 3;
  expect_rejected(x, "topk_ids: shape must be [*, 2]");
  x = good;
  x.topk_ids.device_type = MOEKIT_DEVICE_CUDA;
  expect_rejected(x, "topk_ids: tensor is on cuda");
  x = good;
  x.bitmatrix.shape[0] = t + 1;
  expect_rejected(x, "bitmatrix: shape must be [3, 1]");
  x = good;
  x.topk_weights = good.topk_ids;  // optional, but checked when present
  x.topk_weights.dtype = MOEKIT_DTYPE_I32;
  expect_rejected(x, "topk_weights: dtype must be float32, got int32");
  x = good;
  x.num_tokens_post_padded.data = nullptr;
  expect_rejected(x, "num_tokens_post_padded");
  x = good;
  x.struct_size = 8;
  expect_rejected(x, "struct_size");
  expect_rejected(good, "router", reinterpret_cast<moekit_router>(f.ctx));
  EXPECT_EQ(moekit_router_build_plan(nullptr, &x, nullptr), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("router"));
  EXPECT_EQ(moekit_router_build_plan(f.router, nullptr, nullptr), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("plan"));
}
