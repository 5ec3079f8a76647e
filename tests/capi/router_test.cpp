// moekit_router_run against the float64 reference (tests/reference/ref_router): model configurations,
// input dtypes, ties, NaN/Inf logits, expert maps, edge sizes.
//
// Ids: must equal the reference's exactly, except for tokens where two distinct selection keys that decided
// the outcome differ by less than 4e-6 relative (to max(|a|, |b|, max|bias|)): float keys (score + bias) carry a few 2^-24
// relative rounding, so such a pair may be ordered either way. Those tokens are counted and must be rare.
// Exact ties (equal logits) are not near ties: they must go to the lowest id on both sides.
//
// Weights: the logits are exact in float (bf16/f16 widen exactly), so the float pipeline's error is
// rounding only: x - max (<= u|x - max|, amplified by exp), expf (<= ~2u), the quotient and the renormalise /
// scale steps (a few u), u = 2^-24; renormalising at most doubles a relative error. Hence
// |w - ref| <= 2 (8 + |x - max|) u |ref| (+1e-37 for denormal weights): ~1e-6 for the chosen experts of
// typical rows, a little more for far-below-max experts.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <tuple>
#include <vector>

#include "capi/router_test_util.h"

using namespace router_test;

namespace {

constexpr double kU = 5.9604644775390625e-08;  // 2^-24
constexpr double kNearTie = 4e-6;
const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Routed {
  PlanBuffers plan;
  int32_t block_size;
  int near_ties;
};

double weight_tolerance(const moekit_ref::RefRouterSpec& spec, const double* row, int32_t id, double ref) {
  double y = 0;
  if (!spec.sigmoid) {
    double m = -HUGE_VAL;
    for (int32_t i = 0; i < spec.num_experts; ++i)
      if (!std::isnan(row[i])) m = std::max(m, row[i]);
    if (std::isfinite(m) && std::isfinite(row[id])) y = std::fabs(row[id] - m);
  }
  return 2 * (8 + y) * kU * std::fabs(ref) + 1e-37;
}

// Routes `logits` with `desc` and checks ids, weights and metadata against the reference.
Routed route_and_check(const moekit_router_desc& desc, Logits& logits) {
  moekit_context ctx = cpu_context();
  moekit_router router = nullptr;
  EXPECT_EQ(moekit_router_create(ctx, &desc, &router), MOEKIT_OK) << moekit_last_error();
  int32_t block = 0;
  int64_t max_sorted = 0, max_blocks = 0;
  EXPECT_EQ(moekit_router_plan_sizes(router, logits.tokens, &block, &max_sorted, &max_blocks), MOEKIT_OK);
  Routed out{PlanBuffers(logits.tokens, desc.top_k, desc.num_experts, max_sorted, max_blocks), block, 0};
  moekit_routing r = out.plan.routing();
  moekit_tensor lv = logits.view();
  EXPECT_EQ(moekit_router_run(router, &lv, &r, nullptr), MOEKIT_OK) << moekit_last_error();

  const auto spec = spec_of(desc, block);
  const int64_t k = desc.top_k, e = desc.num_experts;
  const int32_t* ids = out.plan.ids.as<int32_t>();
  const float* w = out.plan.weights.as<float>();
  for (int64_t t = 0; t < logits.tokens; ++t) {
    const double* row = logits.exact.data() + t * e;
    const auto ref = moekit_ref::ref_route_token(spec, row, kNearTie);
    for (int64_t j = 0; j < k; ++j) EXPECT_TRUE(std::isfinite(w[t * k + j])) << "token " << t;
    if (ref.near_tie) {
      ++out.near_ties;
      continue;
    }
    for (int64_t j = 0; j < k; ++j) {
      EXPECT_EQ(ids[t * k + j], ref.ids[j]) << "token " << t << " rank " << j;
      EXPECT_NEAR(w[t * k + j], ref.weights[j], weight_tolerance(spec, row, ref.ids[j], ref.weights[j]))
          << "token " << t << " rank " << j;
    }
  }
  expect_metadata_matches(spec, out.plan.ids.values<int32_t>(), out.plan);
  EXPECT_EQ(moekit_router_destroy(router), MOEKIT_OK);
  EXPECT_EQ(moekit_context_destroy(ctx), MOEKIT_OK);
  return out;
}

moekit_router_desc desc_of(int32_t e, int32_t k, moekit_scoring scoring, bool renorm) {
  moekit_router_desc d = MOEKIT_ROUTER_DESC_INIT;
  d.num_experts = e;
  d.top_k = k;
  d.scoring = scoring;
  d.renormalize = renorm ? 1 : 0;
  return d;
}

struct ModelCase {
  const char* name;
  moekit_router_desc desc;
  double logit_stddev;
};

std::vector<ModelCase> model_cases(const std::vector<float>& deepseek_bias) {
  std::vector<ModelCase> c;
  c.push_back({"mixtral E8 k2 softmax renorm", desc_of(8, 2, MOEKIT_SCORING_SOFTMAX, true), 2.0});
  c.push_back({"qwen3 E128 k8 softmax renorm", desc_of(128, 8, MOEKIT_SCORING_SOFTMAX, true), 2.0});
  moekit_router_desc ds = desc_of(256, 8, MOEKIT_SCORING_SIGMOID, true);
  ds.num_expert_groups = 8;
  ds.topk_groups = 4;
  ds.routed_scaling_factor = 2.5f;
  ds.correction_bias = deepseek_bias.data();
  c.push_back({"deepseek-v3 E256 k8 sigmoid bias 8 groups top-4 x2.5", ds, 2.0});
  moekit_router_desc e40 = desc_of(40, 3, MOEKIT_SCORING_SOFTMAX, false);
  e40.block_size = 3;
  c.push_back({"E40 k3 softmax block 3", e40, 3.0});
  moekit_router_desc e7 = desc_of(7, 7, MOEKIT_SCORING_SIGMOID, false);
  e7.block_size = 16;
  c.push_back({"E7 k=E sigmoid block 16", e7, 3.0});
  c.push_back({"E1 k1 softmax", desc_of(1, 1, MOEKIT_SCORING_SOFTMAX, true), 1.0});
  moekit_router_desc g = desc_of(64, 6, MOEKIT_SCORING_SOFTMAX, false);
  g.num_expert_groups = 8;
  g.topk_groups = 3;
  c.push_back({"E64 k6 softmax 8 groups top-3, no bias", g, 2.0});
  moekit_router_desc g1 = desc_of(8, 3, MOEKIT_SCORING_SIGMOID, true);
  g1.num_expert_groups = 8;
  g1.topk_groups = 4;
  c.push_back({"E8 groups of one expert", g1, 2.0});
  return c;
}

}  // namespace

TEST(RouterRun, ModelConfigsMatchReferenceForEveryDtypeAndSize) {
  std::vector<float> bias(256);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> b(-0.05f, 0.05f);
  for (float& x : bias) x = b(rng);
  int total_tokens = 0, near_ties = 0;
  unsigned seed = 100;
  for (const ModelCase& mc : model_cases(bias))
    for (moekit_dtype dtype : {MOEKIT_DTYPE_F32, MOEKIT_DTYPE_BF16, MOEKIT_DTYPE_F16})
      for (int64_t tokens : {0, 1, 67}) {
        SCOPED_TRACE(std::string(mc.name) + " dtype " + moekit_dtype_name(dtype) + " T " + std::to_string(tokens));
        const int64_t e = mc.desc.num_experts;
        Logits l = make_logits(random_values(static_cast<size_t>(tokens * e), ++seed, mc.logit_stddev), tokens, e,
                               dtype);
        const Routed r = route_and_check(mc.desc, l);
        total_tokens += static_cast<int>(tokens);
        near_ties += r.near_ties;
      }
  RecordProperty("near_tie_tokens", near_ties);
  EXPECT_LE(near_ties * 100, total_tokens) << near_ties << " near-tie tokens of " << total_tokens;
}

TEST(RouterRun, GptOssSoftmaxRenormalizeEqualsSoftmaxOverTopKLogits) {
  // gpt-oss routes with softmax over the k largest logits; softmax over E + renormalize is the same.
  const int64_t e = 128, k = 4, tokens = 31;
  Logits l = make_logits(random_values(static_cast<size_t>(tokens * e), 11, 2.5), tokens, e, MOEKIT_DTYPE_BF16);
  const Routed r = route_and_check(desc_of(128, 4, MOEKIT_SCORING_SOFTMAX, true), l);
  for (int64_t t = 0; t < tokens; ++t) {
    const double* row = l.exact.data() + t * e;
    std::vector<double> top(row, row + e);
    std::sort(top.begin(), top.end(), std::greater<double>());
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += std::exp(top[j] - top[0]);
    for (int64_t j = 0; j < k; ++j) {
      const int32_t id = r.plan.ids.as<int32_t>()[t * k + j];
      EXPECT_EQ(row[id], top[j]);
      EXPECT_NEAR(r.plan.weights.as<float>()[t * k + j], std::exp(top[j] - top[0]) / sum, 2e-6);
    }
  }
}

TEST(RouterRun, TiesGoToTheLowestExpertId) {
  // Logits from a set of three values: most ranks are exact ties, which must break to the lowest id.
  const int64_t e = 64, tokens = 40;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> pick(0, 2);
  std::vector<float> v(static_cast<size_t>(tokens * e));
  for (float& x : v) x = 0.5f * pick(rng);
  for (int64_t j = 0; j < e; ++j) v[static_cast<size_t>(j)] = 1.0f;  // token 0: all equal
  for (moekit_dtype dtype : {MOEKIT_DTYPE_F32, MOEKIT_DTYPE_BF16, MOEKIT_DTYPE_F16}) {
    Logits l = make_logits(v, tokens, e, dtype);
    const Routed soft = route_and_check(desc_of(64, 5, MOEKIT_SCORING_SOFTMAX, true), l);
    EXPECT_EQ(soft.near_ties, 0);
    for (int32_t j = 0; j < 5; ++j) EXPECT_EQ(soft.plan.ids.as<int32_t>()[j], j);
    moekit_router_desc grouped = desc_of(64, 6, MOEKIT_SCORING_SIGMOID, true);
    grouped.num_expert_groups = 8;
    grouped.topk_groups = 2;  // group-score ties break to the lower group too
    const Routed g = route_and_check(grouped, l);
    EXPECT_EQ(g.near_ties, 0);
    for (int32_t j = 0; j < 6; ++j) EXPECT_EQ(g.plan.ids.as<int32_t>()[j], j);
  }
}

TEST(RouterRun, NanAndInfiniteLogitsFollowTheDocumentedRules) {
  const int64_t e = 8;
  const std::vector<std::vector<float>> rows = {
      {0.5f, kNaN, 2.0f, 1.0f, -1.0f, 0.0f, 3.0f, kNaN},         // NaN ranks below every number
      {kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN},          // all NaN: ids 0.., weights 0
      {kNaN, kNaN, kNaN, 1.0f, kNaN, kNaN, kNaN, kNaN},          // k exceeds the numbers: NaN experts last
      {0.0f, 1.0f, kInf, 2.0f, 0.0f, 0.0f, 0.0f, 0.0f},          // one +Inf takes everything
      {kInf, 1.0f, 0.0f, kInf, kNaN, -kInf, 3.0f, 0.0f},         // two +Inf share equally
      {-kInf, -kInf, -kInf, -kInf, -kInf, -kInf, -kInf, -kInf},  // all -Inf: uniform
      {-kInf, 0.0f, -kInf, 1.0f, kNaN, -kInf, -200.0f, -kInf},   // -200 ranks above -Inf
      {-kInf, kNaN, -kInf, kNaN, -kInf, kNaN, -kInf, kNaN},
  };
  std::vector<float> v;
  for (const auto& row : rows) v.insert(v.end(), row.begin(), row.end());
  const int64_t tokens = static_cast<int64_t>(rows.size());
  for (moekit_dtype dtype : {MOEKIT_DTYPE_F32, MOEKIT_DTYPE_BF16, MOEKIT_DTYPE_F16})
    for (moekit_scoring scoring : {MOEKIT_SCORING_SOFTMAX, MOEKIT_SCORING_SIGMOID})
      for (bool renorm : {false, true}) {
        SCOPED_TRACE(std::string(moekit_dtype_name(dtype)) + (scoring ? " sigmoid" : " softmax") +
                     (renorm ? " renorm" : ""));
        Logits l = make_logits(v, tokens, e, dtype);
        const Routed r = route_and_check(desc_of(8, 3, scoring, renorm), l);
        EXPECT_EQ(r.near_ties, 0);
        const int32_t* ids = r.plan.ids.as<int32_t>();
        const float* w = r.plan.weights.as<float>();
        EXPECT_EQ(ids[0], 6);            // row 0: 3.0 first
        EXPECT_EQ(ids[3 + 0], 0);        // row 1: all NaN -> 0, 1, 2 with weight 0
        EXPECT_EQ(w[3 + 0], 0.0f);
        EXPECT_EQ(ids[6 + 0], 3);        // row 2: the one number, then NaN experts 0, 1
        EXPECT_EQ(ids[6 + 1], 0);
        EXPECT_EQ(w[6 + 1], 0.0f);
        EXPECT_EQ(ids[9 + 0], 2);        // row 3: +Inf
        if (scoring == MOEKIT_SCORING_SOFTMAX) {
          EXPECT_EQ(w[9 + 0], 1.0f);
          EXPECT_EQ(w[12 + 0], renorm ? 0.5f : 0.5f);  // row 4: experts 0 and 3 share
          EXPECT_EQ(ids[12 + 0], 0);
          EXPECT_EQ(ids[12 + 1], 3);
          EXPECT_FLOAT_EQ(w[15 + 0], renorm ? 1.0f / 3 : 1.0f / 8);  // row 5: uniform
        }
      }
}

TEST(RouterRun, ExpertMapMarksBlocksOfNonLocalExperts) {
  const int64_t e = 16, tokens = 50;
  std::vector<int32_t> map(16);
  int32_t local = 0;
  for (int32_t i = 0; i < 16; ++i) map[i] = (i == 3 || i == 5 || i == 15) ? -1 : local++;
  moekit_router_desc d = desc_of(16, 2, MOEKIT_SCORING_SOFTMAX, true);
  d.expert_map = map.data();
  d.block_size = 4;
  Logits l = make_logits(random_values(tokens * e, 21, 1.0), tokens, e, MOEKIT_DTYPE_F32);
  const Routed r = route_and_check(d, l);
  // Independently of the reference: every block of experts 3, 5, 15 is -1; other experts keep their global id.
  const int32_t total = r.plan.total.as<int32_t>()[0];
  const int32_t* sorted = r.plan.sorted.as<int32_t>();
  const int32_t* blocks = r.plan.blocks.as<int32_t>();
  const int32_t* ids = r.plan.ids.as<int32_t>();
  int marked = 0;
  for (int32_t b = 0; b < total / 4; ++b) {
    const int32_t first = sorted[b * 4];  // a block's first entry is never padding
    ASSERT_LT(first, tokens * 2);
    const int32_t expert = ids[first];
    EXPECT_EQ(blocks[b], map[expert] < 0 ? -1 : expert);
    marked += blocks[b] == -1;
  }
  EXPECT_GT(marked, 0);
}

TEST(RouterRun, AllTokensOnOneExpert) {
  const int64_t e = 40, tokens = 33;
  std::vector<float> v = random_values(tokens * e, 31, 0.5);
  for (int64_t t = 0; t < tokens; ++t) v[static_cast<size_t>(t * e + 37)] = 20.0f;
  moekit_router_desc d = desc_of(40, 1, MOEKIT_SCORING_SOFTMAX, false);
  d.block_size = 8;
  Logits l = make_logits(v, tokens, e, MOEKIT_DTYPE_F32);
  const Routed r = route_and_check(d, l);
  EXPECT_EQ(r.plan.counts.as<int32_t>()[37], tokens);
  EXPECT_EQ(r.plan.total.as<int32_t>()[0], 40);  // 33 rounded up to blocks of 8
  for (int32_t i = 0; i < 33; ++i) EXPECT_EQ(r.plan.sorted.as<int32_t>()[i], i);
  for (int32_t i = 33; i < 40; ++i) EXPECT_EQ(r.plan.sorted.as<int32_t>()[i], 33);  // fill value T*k
}

TEST(RouterRun, ZeroTokensWithNullTopkPointers) {
  moekit_context ctx = cpu_context();
  moekit_router_desc d = desc_of(8, 2, MOEKIT_SCORING_SOFTMAX, true);
  moekit_router router = nullptr;
  ASSERT_EQ(moekit_router_create(ctx, &d, &router), MOEKIT_OK);
  int64_t max_sorted = 0, max_blocks = 0;
  int32_t block = 0;
  ASSERT_EQ(moekit_router_plan_sizes(router, 0, &block, &max_sorted, &max_blocks), MOEKIT_OK);
  PlanBuffers p(0, 2, 8, max_sorted, max_blocks);
  moekit_routing r = p.routing();
  r.topk_weights.data = nullptr;  // empty tensors may come without memory
  r.topk_ids.data = nullptr;
  moekit_tensor lv = tensor(nullptr, MOEKIT_DTYPE_F32, {0, 8});
  ASSERT_EQ(moekit_router_run(router, &lv, &r, nullptr), MOEKIT_OK) << moekit_last_error();
  EXPECT_EQ(p.total.as<int32_t>()[0], 0);
  for (int64_t i = 0; i < max_sorted; ++i) EXPECT_EQ(p.sorted.as<int32_t>()[i], 0);
  for (int64_t i = 0; i < max_blocks; ++i) EXPECT_EQ(p.blocks.as<int32_t>()[i], -1);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(p.counts.as<int32_t>()[i], 0);
  EXPECT_TRUE(p.guards_intact());
  moekit_router_destroy(router);
  moekit_context_destroy(ctx);
}

TEST(RouterRun, OptionalMetadataMayBeOmittedAndIsLeftUntouched) {
  moekit_context ctx = cpu_context();
  moekit_router_desc d = desc_of(8, 2, MOEKIT_SCORING_SOFTMAX, true);
  moekit_router router = nullptr;
  ASSERT_EQ(moekit_router_create(ctx, &d, &router), MOEKIT_OK);
  PlanBuffers p(5, 2, 8, 64, 16);
  moekit_routing r;
  std::memset(&r, 0, sizeof r);  // absent tensors: zero-filled, data NULL
  r.struct_size = sizeof r;
  r.topk_weights = tensor(p.weights.data(), MOEKIT_DTYPE_F32, {5, 2});
  r.topk_ids = tensor(p.ids.data(), MOEKIT_DTYPE_I32, {5, 2});
  Logits l = make_logits(random_values(40, 3, 1.0), 5, 8, MOEKIT_DTYPE_F32);
  moekit_tensor lv = l.view();
  const auto before = p.snapshot();
  ASSERT_EQ(moekit_router_run(router, &lv, &r, nullptr), MOEKIT_OK) << moekit_last_error();
  const auto after = p.snapshot();
  EXPECT_NE(after[0], before[0]);
  EXPECT_NE(after[1], before[1]);
  for (size_t i = 2; i < before.size(); ++i) EXPECT_EQ(after[i], before[i]) << "buffer " << i;
  EXPECT_TRUE(p.guards_intact());
  moekit_router_destroy(router);
  moekit_context_destroy(ctx);
}

TEST(RouterRun, ThreadCountDoesNotChangeTheResult) {
  const int64_t e = 128, tokens = 301;
  Logits l = make_logits(random_values(tokens * e, 77, 2.0), tokens, e, MOEKIT_DTYPE_F32);
  moekit_router_desc d = desc_of(128, 8, MOEKIT_SCORING_SOFTMAX, true);
  std::vector<std::vector<unsigned char>> first;
  for (int32_t threads : {1, 3, 8}) {
    moekit_context ctx = cpu_context();
    ASSERT_EQ(moekit_context_set_num_threads(ctx, threads), MOEKIT_OK);
    moekit_router router = nullptr;
    ASSERT_EQ(moekit_router_create(ctx, &d, &router), MOEKIT_OK);
    int64_t ms = 0, mb = 0;
    ASSERT_EQ(moekit_router_plan_sizes(router, tokens, nullptr, &ms, &mb), MOEKIT_OK);
    PlanBuffers p(tokens, 8, e, ms, mb);
    moekit_routing r = p.routing();
    moekit_tensor lv = l.view();
    ASSERT_EQ(moekit_router_run(router, &lv, &r, nullptr), MOEKIT_OK);
    if (first.empty()) first = p.snapshot();
    else EXPECT_EQ(p.snapshot(), first) << threads << " threads";
    moekit_router_destroy(router);
    moekit_context_destroy(ctx);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Bad inputs: the status, a message naming the argument, and untouched outputs.

TEST(RouterCreate, RejectsBadDescriptorsAndLeavesOutUntouched) {
  moekit_context ctx = cpu_context();
  const std::vector<float> nan_bias = {0, 0, kNaN, 0, 0, 0, 0, 0};
  const std::vector<float> short_ok_bias(8, 0.0f);
  const std::vector<int32_t> bad_map = {0, 1, 2, 3, 4, 5, 6, 8};
  const std::vector<int32_t> bad_map_neg = {0, 1, -2, 3, 4, 5, 6, 7};
  moekit_router_desc base = desc_of(8, 2, MOEKIT_SCORING_SOFTMAX, true);
  std::vector<std::pair<moekit_router_desc, const char*>> bad;
  auto add = [&](const char* mentions, auto edit) {
    moekit_router_desc d = base;
    edit(d);
    bad.push_back({d, mentions});
  };
  add("struct_size", [](moekit_router_desc& d) { d.struct_size = 0; });
  add("num_experts", [](moekit_router_desc& d) { d.num_experts = 0; });
  add("num_experts", [](moekit_router_desc& d) { d.num_experts = -8; });
  add("num_experts", [](moekit_router_desc& d) { d.num_experts = 1 << 20; });
  add("top_k", [](moekit_router_desc& d) { d.top_k = 9; });  // k > E
  add("top_k", [](moekit_router_desc& d) { d.top_k = 0; });
  add("scoring", [](moekit_router_desc& d) {
    const int32_t unknown = 7;  // written as bytes: an out-of-range enum value cannot be formed in C++
    std::memcpy(&d.scoring, &unknown, sizeof unknown);
  });
  add("renormalize", [](moekit_router_desc& d) { d.renormalize = 2; });
  add("num_expert_groups", [](moekit_router_desc& d) { d.num_expert_groups = 3; });  // does not divide 8
  add("num_expert_groups", [](moekit_router_desc& d) { d.num_expert_groups = -2; });
  add("topk_groups", [](moekit_router_desc& d) { d.num_expert_groups = 4, d.topk_groups = 5; });
  add("topk_groups", [](moekit_router_desc& d) { d.num_expert_groups = 4, d.topk_groups = 0; });
  add("top_k", [](moekit_router_desc& d) { d.num_expert_groups = 4, d.topk_groups = 1, d.top_k = 3; });
  add("routed_scaling_factor", [](moekit_router_desc& d) { d.routed_scaling_factor = INFINITY; });
  add("block_size", [](moekit_router_desc& d) { d.block_size = -1; });
  add("block_size", [](moekit_router_desc& d) { d.block_size = (1 << 20) + 1; });
  for (auto& [d, mentions] : bad) {
    moekit_router out = reinterpret_cast<moekit_router>(0x1234);
    EXPECT_EQ(moekit_router_create(ctx, &d, &out), MOEKIT_ERR_INVALID_ARGUMENT) << mentions;
    EXPECT_TRUE(error_mentions(mentions)) << mentions << ": " << moekit_last_error();
    EXPECT_EQ(out, reinterpret_cast<moekit_router>(0x1234));
  }
  // Host arrays: non-finite bias, map entries outside [-1, E).
  for (auto [bias, map, mentions] : {std::tuple{nan_bias.data(), (const int32_t*)nullptr, "correction_bias"},
                                     std::tuple{short_ok_bias.data(), bad_map.data(), "expert_map"},
                                     std::tuple{(const float*)nullptr, bad_map_neg.data(), "expert_map"}}) {
    moekit_router_desc d = base;
    d.correction_bias = bias;
    d.expert_map = map;
    moekit_router out = nullptr;
    EXPECT_EQ(moekit_router_create(ctx, &d, &out), MOEKIT_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions(mentions)) << moekit_last_error();
    EXPECT_EQ(out, nullptr);
  }
  // A newer, larger descriptor with unknown fields set is refused rather than half-honoured.
  struct Bigger {
    moekit_router_desc d;
    int64_t future;
  } big{base, 1};
  big.d.struct_size = sizeof big;
  moekit_router out = nullptr;
  EXPECT_EQ(moekit_router_create(ctx, &big.d, &out), MOEKIT_ERR_UNSUPPORTED);
  EXPECT_EQ(out, nullptr);
  // Null and foreign handles / pointers.
  EXPECT_EQ(moekit_router_create(nullptr, &base, &out), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("ctx"));
  EXPECT_EQ(moekit_router_create(ctx, nullptr, &out), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("desc"));
  EXPECT_EQ(moekit_router_create(ctx, &base, nullptr), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("out"));
  EXPECT_EQ(out, nullptr);
  // Destroy: NULL is a no-op; a handle of another type is refused by its magic word.
  EXPECT_EQ(moekit_router_destroy(nullptr), MOEKIT_OK);
  EXPECT_EQ(moekit_router_destroy(reinterpret_cast<moekit_router>(ctx)), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("router"));
  moekit_context_destroy(ctx);
}

TEST(RouterCreate, AcceptsTheGroupingAndMapEdgeCases) {
  moekit_context ctx = cpu_context();
  moekit_router_desc d = desc_of(256, 8, MOEKIT_SCORING_SIGMOID, true);
  for (int32_t groups : {0, 1, 8, 256}) {
    d.num_expert_groups = groups;
    d.topk_groups = groups > 1 ? groups / 2 : 99;  // ignored without grouping
    moekit_router r = nullptr;
    EXPECT_EQ(moekit_router_create(ctx, &d, &r), MOEKIT_OK) << groups << ": " << moekit_last_error();
    int32_t block = 0;
    EXPECT_EQ(moekit_router_plan_sizes(r, 1, &block, nullptr, nullptr), MOEKIT_OK);
    moekit_platform_contract c = MOEKIT_PLATFORM_CONTRACT_INIT;
    ASSERT_EQ(moekit_context_platform_contract(ctx, &c), MOEKIT_OK);
    EXPECT_EQ(block, c.block_size_m);  // block_size 0: the contract's
    EXPECT_EQ(moekit_router_destroy(r), MOEKIT_OK);
  }
  moekit_context_destroy(ctx);
}

class RouterRunBadInput : public ::testing::Test {
 protected:
  static constexpr int64_t kT = 6, kK = 2, kE = 40;
  void SetUp() override {
    ctx = cpu_context();
    moekit_router_desc d = desc_of(kE, kK, MOEKIT_SCORING_SOFTMAX, true);
    ASSERT_EQ(moekit_router_create(ctx, &d, &router), MOEKIT_OK);
    ASSERT_EQ(moekit_router_plan_sizes(router, kT, nullptr, &max_sorted, &max_blocks), MOEKIT_OK);
    plan = std::make_unique<PlanBuffers>(kT, kK, kE, max_sorted, max_blocks);
    logits = make_logits(random_values(kT * kE, 9, 1.0), kT, kE, MOEKIT_DTYPE_F32);
  }
  void TearDown() override {
    moekit_router_destroy(router);
    moekit_context_destroy(ctx);
  }
  // Runs with an edited plan / logits and expects INVALID_ARGUMENT naming `mentions` with nothing written.
  void expect_rejected(moekit_routing r, moekit_tensor l, const char* mentions,
                       moekit_router which = nullptr, bool null_logits = false, bool null_plan = false) {
    const auto before = plan->snapshot();
    moekit_clear_error();
    EXPECT_EQ(moekit_router_run(which ? which : router, null_logits ? nullptr : &l, null_plan ? nullptr : &r,
                                nullptr),
              MOEKIT_ERR_INVALID_ARGUMENT)
        << mentions;
    EXPECT_TRUE(error_mentions(mentions)) << "wanted '" << mentions << "', got: " << moekit_last_error();
    EXPECT_EQ(plan->snapshot(), before) << mentions;
  }
  moekit_context ctx = nullptr;
  moekit_router router = nullptr;
  int64_t max_sorted = 0, max_blocks = 0;
  std::unique_ptr<PlanBuffers> plan;
  Logits logits;
};

TEST_F(RouterRunBadInput, HandlesPointersAndStructs) {
  moekit_routing r = plan->routing();
  moekit_tensor l = logits.view();
  const auto before = plan->snapshot();
  EXPECT_EQ(moekit_router_run(nullptr, &l, &r, nullptr), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("router"));
  expect_rejected(r, l, "router", reinterpret_cast<moekit_router>(ctx));  // a context is not a router
  expect_rejected(r, l, "logits", nullptr, /*null_logits=*/true);
  expect_rejected(r, l, "plan", nullptr, false, /*null_plan=*/true);
  moekit_routing zero = r;
  zero.struct_size = 0;
  expect_rejected(zero, l, "struct_size");
  EXPECT_EQ(plan->snapshot(), before);
}

TEST_F(RouterRunBadInput, Logits) {
  moekit_routing r = plan->routing();
  moekit_tensor l = logits.view();
  moekit_tensor x = l;
  x.data = nullptr;
  expect_rejected(r, x, "logits");
  x = l;
  x.dtype = MOEKIT_DTYPE_I32;
  expect_rejected(r, x, "logits: dtype must be float32 or bfloat16 or float16, got int32");
  x = l;
  x.shape[1] = kE - 1;
  x.strides[0] = kE - 1;
  expect_rejected(r, x, "logits: shape must be [*, 40]");
  x = l;
  x.rank = 3;
  x.shape[2] = 1;
  expect_rejected(r, x, "logits: shape");
  x = l;
  x.device_type = MOEKIT_DEVICE_CUDA;
  expect_rejected(r, x, "logits: tensor is on cuda");
  x = l;
  x.strides[0] = kE + 1;
  expect_rejected(r, x, "logits: non-contiguous");
  x = l;
  x.shape[0] = kT + 1;  // the plan is sized for kT tokens
  expect_rejected(r, x, "topk_weights: shape must be [7, 2]");
}

TEST_F(RouterRunBadInput, PlanTensors) {
  moekit_tensor l = logits.view();
  moekit_routing r = plan->routing();
  moekit_routing x = r;
  x.topk_ids.dtype = MOEKIT_DTYPE_F32;
  expect_rejected(x, l, "topk_ids: dtype must be int32, got float32");
  x = r;
  x.topk_ids.data = nullptr;
  expect_rejected(x, l, "topk_ids");
  x = r;
  x.topk_weights.data = nullptr;
  expect_rejected(x, l, "topk_weights");
  x = r;
  x.topk_weights.dtype = MOEKIT_DTYPE_BF16;
  expect_rejected(x, l, "topk_weights: dtype must be float32, got bfloat16");
  x = r;
  x.topk_weights.shape[1] = 3;
  x.topk_weights.strides[0] = 3;
  expect_rejected(x, l, "topk_weights: shape must be [6, 2], got [6, 3]");
  x = r;
  x.topk_ids.device_type = MOEKIT_DEVICE_CUDA;
  expect_rejected(x, l, "topk_ids: tensor is on cuda");
  x = r;
  x.bitmatrix.shape[1] = 1;  // ceil(40/32) = 2 words per row
  x.bitmatrix.strides[0] = 1;
  expect_rejected(x, l, "bitmatrix: shape must be [6, 2]");
  x = r;
  x.bitmatrix.dtype = MOEKIT_DTYPE_I32;
  expect_rejected(x, l, "bitmatrix: dtype must be uint32");
  x = r;
  x.expert_counts.shape[0] = kE - 1;
  expect_rejected(x, l, "expert_counts: shape must be [40]");
  x = r;
  x.sorted_token_ids.shape[0] = max_sorted - 1;
  expect_rejected(x, l, "sorted_token_ids: needs at least");
  x = r;
  x.block_expert_ids.shape[0] = max_blocks - 1;
  expect_rejected(x, l, "block_expert_ids: needs at least");
  x = r;
  x.num_tokens_post_padded.shape[0] = 2;
  expect_rejected(x, l, "num_tokens_post_padded: shape must be [1]");
  x = r;
  x.block_expert_ids.data = nullptr;  // the sorted order's three tensors go together
  expect_rejected(x, l, "block_expert_ids");
  x = r;
  x.sorted_token_ids.device_type = MOEKIT_DEVICE_CUDA;
  expect_rejected(x, l, "sorted_token_ids: tensor is on cuda");
  x = r;
  x.expert_counts.shape[0] = -1;
  expect_rejected(x, l, "expert_counts: shape[0] is negative");
  x = r;
  x.num_tokens_post_padded.dtype = static_cast<moekit_dtype>(13);  // unknown, yet in the enum's value range
  expect_rejected(x, l, "num_tokens_post_padded: unknown dtype");
}
