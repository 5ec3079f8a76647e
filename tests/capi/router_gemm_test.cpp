// moekit_router_gemm against the float64 reference, with realistic gate shapes (gpt-oss H=2880, Qwen-like
// H=4096; E=128), and the routing decisions the logits lead to.
//
// Tolerance: the inputs are exactly representable in f32 (bf16/f16 widen exactly), so the only error is f32
// accumulation over K = H products (+ bias). For any summation order, |error| <= gamma_K * sum|products|
// with gamma_K = K u / (1 - K u), u = 2^-24 (Higham, Accuracy and Stability of Numerical Algorithms, 3.1):
// a bound no correct implementation can exceed, while an indexing or transpose bug gives O(|logit|) errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "capi/router_test_util.h"

using namespace router_test;

namespace {

constexpr double kU = 5.9604644775390625e-08;

struct GemmInputs {
  Logits hidden, w_gate;  // reuse Logits as "values in a dtype + their exact doubles"
  std::vector<float> bias;
};

GemmInputs make_inputs(int64_t t, int64_t h, int64_t e, moekit_dtype dtype, unsigned seed, bool with_bias) {
  GemmInputs in;
  // Hidden states ~ N(0,1); gate rows ~ N(0, 1/H) as in trained routers, so logits are O(1).
  in.hidden = make_logits(random_values(static_cast<size_t>(t * h), seed, 1.0), t, h, dtype);
  in.w_gate = make_logits(random_values(static_cast<size_t>(e * h), seed + 1, 1.0 / std::sqrt(double(h))), e, h,
                          dtype);
  if (with_bias) in.bias = random_values(static_cast<size_t>(e), seed + 2, 0.1);
  return in;
}

}  // namespace

TEST(RouterGemm, MatchesReferenceWithinTheAccumulationBound) {
  moekit_context ctx = cpu_context();
  unsigned seed = 40;
  double worst = 0;  // largest |error| / bound seen: how much headroom the bound leaves
  for (moekit_dtype dtype : {MOEKIT_DTYPE_F32, MOEKIT_DTYPE_BF16, MOEKIT_DTYPE_F16})
    for (auto [t, h, with_bias] : {std::tuple<int64_t, int64_t, bool>{33, 2880, true}, {33, 2880, false},
                                   {260, 4096, true}, {1, 7, true}, {1, 7, false}, {0, 64, true}}) {
        const int64_t e = 128;
        SCOPED_TRACE(std::string(moekit_dtype_name(dtype)) + " T " + std::to_string(t) + " H " + std::to_string(h) +
                     (with_bias ? " bias" : ""));
        GemmInputs in = make_inputs(t, h, e, dtype, seed += 3, with_bias);
        GuardedBuffer out(t * e, 4);
        moekit_tensor hv = in.hidden.view(), wv = in.w_gate.view();
        moekit_tensor bv = tensor(in.bias.data(), MOEKIT_DTYPE_F32, {e});
        moekit_tensor lv = tensor(out.data(), MOEKIT_DTYPE_F32, {t, e});
        ASSERT_EQ(moekit_router_gemm(ctx, &hv, &wv, with_bias ? &bv : nullptr, &lv, nullptr), MOEKIT_OK)
            << moekit_last_error();
        EXPECT_TRUE(out.guards_intact());
        const std::vector<double> bias(in.bias.begin(), in.bias.end());
        const auto ref = moekit_ref::ref_router_gemm(in.hidden.exact, in.w_gate.exact, bias, t, h, e);
        const double gamma = (h + 1) * kU / (1 - (h + 1) * kU);
        const float* got = out.as<float>();
        for (int64_t i = 0; i < t * e; ++i) {
          const double bound = gamma * ref.abs_sum[i] + 1e-30;
          worst = std::max(worst, std::fabs(got[i] - ref.logits[i]) / bound);
          ASSERT_LE(std::fabs(got[i] - ref.logits[i]), bound) << "element " << i;
        }

        if (t == 0) continue;
        // The routing decision on moekit's logits agrees with the reference's decision on the exact logits.
        moekit_router_desc d = MOEKIT_ROUTER_DESC_INIT;
        d.num_experts = static_cast<int32_t>(e);
        d.top_k = 4;
        d.renormalize = 1;
        moekit_router router = nullptr;
        ASSERT_EQ(moekit_router_create(ctx, &d, &router), MOEKIT_OK);
        int64_t ms = 0, mb = 0;
        ASSERT_EQ(moekit_router_plan_sizes(router, t, nullptr, &ms, &mb), MOEKIT_OK);
        PlanBuffers p(t, 4, e, ms, mb);
        moekit_routing r = p.routing();
        ASSERT_EQ(moekit_router_run(router, &lv, &r, nullptr), MOEKIT_OK) << moekit_last_error();
        const auto spec = spec_of(d, 1);
        int near = 0;
        for (int64_t tok = 0; tok < t; ++tok) {
          // moekit ranks its own logits, each within row_err of the exact one: the order of two logits can
          // only differ from the exact order if their exact gap is <= 2 row_err.
          double row_err = 0;
          for (int64_t x = 0; x < e; ++x)
            row_err = std::max(row_err, std::fabs(got[tok * e + x] - ref.logits[tok * e + x]));
          const auto want = moekit_ref::ref_route_token(spec, ref.logits.data() + tok * e, 0.0);
          std::vector<double> sorted(ref.logits.begin() + tok * e, ref.logits.begin() + (tok + 1) * e);
          std::sort(sorted.begin(), sorted.end(), std::greater<double>());
          bool ambiguous = false;
          for (int j = 0; j < 4; ++j) ambiguous |= sorted[j] - sorted[j + 1] <= 2 * row_err;
          if (ambiguous) {
            ++near;
            continue;
          }
          for (int j = 0; j < 4; ++j) EXPECT_EQ(p.ids.as<int32_t>()[tok * 4 + j], want.ids[j]) << "token " << tok;
        }
        EXPECT_LE(near * 20, t + 1) << near << " ambiguous tokens";
        moekit_router_destroy(router);
      }
  RecordProperty("worst_error_over_bound", std::to_string(worst));
  moekit_context_destroy(ctx);
}

TEST(RouterGemm, BadInputsLeaveLogitsUntouched) {
  moekit_context ctx = cpu_context();
  const int64_t t = 4, h = 32, e = 8;
  GemmInputs in = make_inputs(t, h, e, MOEKIT_DTYPE_BF16, 5, true);
  GuardedBuffer out(t * e, 4);
  const moekit_tensor hv = in.hidden.view(), wv = in.w_gate.view();
  const moekit_tensor bv = tensor(in.bias.data(), MOEKIT_DTYPE_F32, {e});
  const moekit_tensor lv = tensor(out.data(), MOEKIT_DTYPE_F32, {t, e});
  auto expect_rejected = [&](moekit_context c, const moekit_tensor* hp, const moekit_tensor* wp,
                             const moekit_tensor* bp, moekit_tensor* lp, const char* mentions) {
    const auto before = out.bytes();
    EXPECT_EQ(moekit_router_gemm(c, hp, wp, bp, lp, nullptr), MOEKIT_ERR_INVALID_ARGUMENT) << mentions;
    EXPECT_TRUE(error_mentions(mentions)) << "wanted '" << mentions << "', got: " << moekit_last_error();
    EXPECT_EQ(out.bytes(), before) << mentions;
  };
  moekit_tensor h2 = hv, w2 = wv, b2 = bv, l2 = lv;
  expect_rejected(nullptr, &hv, &wv, &bv, &l2, "ctx");
  expect_rejected(reinterpret_cast<moekit_context>(&h2), &hv, &wv, &bv, &l2, "ctx");  // not a live handle
  expect_rejected(ctx, nullptr, &wv, &bv, &l2, "hidden");
  expect_rejected(ctx, &hv, nullptr, &bv, &l2, "w_gate");
  expect_rejected(ctx, &hv, &wv, &bv, nullptr, "logits");
  h2.data = nullptr;
  expect_rejected(ctx, &h2, &wv, &bv, &l2, "hidden: data is null");
  h2 = hv;
  h2.dtype = MOEKIT_DTYPE_I32;
  expect_rejected(ctx, &h2, &wv, &bv, &l2, "hidden: dtype must be float32 or bfloat16 or float16, got int32");
  w2.dtype = MOEKIT_DTYPE_F16;
  expect_rejected(ctx, &hv, &w2, &bv, &l2, "w_gate: dtype must be bfloat16, got float16");
  w2 = wv;
  w2.shape[1] = h - 1;
  w2.strides[0] = h - 1;
  expect_rejected(ctx, &hv, &w2, &bv, &l2, "w_gate: shape must be [8, 32], got [8, 31]");
  l2.dtype = MOEKIT_DTYPE_BF16;
  expect_rejected(ctx, &hv, &wv, &bv, &l2, "logits: dtype must be float32, got bfloat16");
  l2 = lv;
  l2.shape[0] = t + 1;
  expect_rejected(ctx, &hv, &wv, &bv, &l2, "logits: shape must be [4, 8], got [5, 8]");
  l2 = lv;
  l2.device_type = MOEKIT_DEVICE_CUDA;
  expect_rejected(ctx, &hv, &wv, &bv, &l2, "logits: tensor is on cuda");
  l2 = lv;
  b2.shape[0] = e + 1;
  expect_rejected(ctx, &hv, &wv, &b2, &l2, "bias: shape must be [8], got [9]");
  b2 = bv;
  b2.dtype = MOEKIT_DTYPE_BF16;
  expect_rejected(ctx, &hv, &wv, &b2, &l2, "bias: dtype must be float32, got bfloat16");
  h2 = hv;
  h2.shape[1] = 0;  // H = 0: an empty reduction is refused rather than silently producing the bias
  h2.strides[0] = 0;
  w2 = wv;
  w2.shape[1] = 0;
  w2.strides[0] = 0;
  expect_rejected(ctx, &h2, &w2, &bv, &l2, "hidden");
  h2 = hv;
  h2.shape[0] = int64_t{1} << 62;  // overflowing size
  expect_rejected(ctx, &h2, &wv, &bv, &l2, "hidden");
  moekit_context_destroy(ctx);
}
