// moekit_moe_forward: the one-call layer equals router_run + experts_run bit for bit, and matches the float64
// router reference (ids, weights) and experts reference (output, with the experts reference's error bound).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "experts_test_util.h"
#include "reference/ref_router.h"

using namespace experts_test;

namespace {

struct Layer {
  moekit_context ctx = nullptr;
  moekit_router router = nullptr;
  moekit_router_desc rdesc = MOEKIT_ROUTER_DESC_INIT;
  moekit_experts_desc edesc = MOEKIT_EXPERTS_DESC_INIT;
  WeightSet* weights = nullptr;
  moekit_experts experts = nullptr;

  Layer(int32_t E, int32_t k, int64_t H, int64_t I, int format, unsigned seed) {
    ctx = cpu_context();
    rdesc.num_experts = E;
    rdesc.top_k = k;
    rdesc.renormalize = 1;
    EXPECT_EQ(moekit_router_create(ctx, &rdesc, &router), MOEKIT_OK) << moekit_last_error();
    edesc.num_experts = E;
    edesc.num_local_experts = E;
    edesc.hidden_size = H;
    edesc.intermediate_size = I;
    edesc.weight_format = static_cast<moekit_weight_format>(format);
    edesc.has_w13_bias = edesc.has_w2_bias = 1;
    edesc.activation = MOEKIT_ACTIVATION_SWIGLU_OAI;
    weights = new WeightSet(edesc, seed);
    EXPECT_EQ(moekit_experts_create(ctx, &edesc, &experts), MOEKIT_OK) << moekit_last_error();
    EXPECT_EQ(moekit_experts_set_weights(experts, &weights->desc, nullptr), MOEKIT_OK) << moekit_last_error();
  }
  ~Layer() {
    moekit_experts_destroy(experts);
    moekit_router_destroy(router);
    moekit_context_destroy(ctx);
    delete weights;
  }
};

std::vector<float> random_logits(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

}  // namespace

TEST(MoeForward, EqualsRouterThenExpertsAndMatchesReferences) {
  for (int format : {MOEKIT_WEIGHTS_BF16, MOEKIT_WEIGHTS_MXFP4}) {
    const int32_t E = 8, k = 2;
    const int64_t T = 33, H = 128, I = 64;
    Layer layer(E, k, H, I, format, 200u + static_cast<unsigned>(format));
    std::vector<float> logits = random_logits(T * E, 201);
    const std::vector<double> hidden_exact = exact_hidden(T, H, 202);
    for (moekit_dtype dt : {MOEKIT_DTYPE_F32, MOEKIT_DTYPE_BF16, MOEKIT_DTYPE_F16}) {
      std::vector<unsigned char> hidden = store(hidden_exact, dt);
      std::vector<unsigned char> out(static_cast<size_t>(T * H) * moekit_dtype_size(dt), 0xA5);
      moekit_tensor h = tensor(hidden.data(), dt, {T, H});
      moekit_tensor l = tensor(logits.data(), MOEKIT_DTYPE_F32, {T, E});
      moekit_tensor o = tensor(out.data(), dt, {T, H});
      size_t bytes = 0;
      ASSERT_EQ(moekit_moe_forward_workspace_size(layer.router, layer.experts, T, &bytes), MOEKIT_OK)
          << moekit_last_error();
      Workspace ws(bytes);
      moekit_run_report report = MOEKIT_RUN_REPORT_INIT;
      ASSERT_EQ(moekit_moe_forward(layer.router, layer.experts, &h, &l, &o, ws.data(), ws.size, &report, nullptr),
                MOEKIT_OK)
          << moekit_last_error();
      EXPECT_EQ(report.assignments, T * k);
      EXPECT_STREQ(report.kernel, "cpu-openblas-sgemm");

      // The same layer in two calls: identical bits.
      Routing routing;
      routing.T = T;
      routing.k = k;
      routing.ids.assign(static_cast<size_t>(T * k), -7);
      routing.weights.assign(static_cast<size_t>(T * k), 0.0f);
      moekit_routing plan = routing.plan();
      ASSERT_EQ(moekit_router_run(layer.router, &l, &plan, nullptr), MOEKIT_OK) << moekit_last_error();
      std::vector<unsigned char> two_calls;
      run_experts(layer.experts, hidden_exact, H, dt, routing, nullptr, &two_calls);
      EXPECT_EQ(out, two_calls) << moekit_dtype_name(dt);

      // Router reference: the same experts (no near ties in these logits), weights within a few float ulps.
      moekit_ref::RefRouterSpec rspec;
      rspec.num_experts = E;
      rspec.top_k = k;
      rspec.renormalize = true;
      int near_ties = 0;
      for (int64_t t = 0; t < T; ++t) {
        std::vector<double> row(logits.begin() + t * E, logits.begin() + (t + 1) * E);
        const auto route = moekit_ref::ref_route_token(rspec, row.data(), 1e-5);
        if (route.near_tie) {
          ++near_ties;
          continue;
        }
        for (int j = 0; j < k; ++j) {
          EXPECT_EQ(routing.ids[static_cast<size_t>(t * k + j)], route.ids[static_cast<size_t>(j)]);
          EXPECT_NEAR(routing.weights[static_cast<size_t>(t * k + j)], route.weights[static_cast<size_t>(j)],
                      1e-6 * route.weights[static_cast<size_t>(j)]);
        }
      }
      EXPECT_LT(near_ties, 3);

      // Experts reference on the plan the router produced.
      const auto espec = spec_of(layer.edesc);
      const auto ref = moekit_ref::ref_experts_forward(espec, moekit_ref::ref_decode_expert_weights(espec, layer.weights->ref()),
                                                       hidden_exact, T, k, routing.ids.data(), routing.weights.data());
      expect_close(ref, moekit_ref::to_double(out.data(), dtype_code(dt), T * H), dt,
                   std::string("moe_forward ") + moekit_dtype_name(dt));
    }
  }
}

TEST(MoeForward, ZeroTokensNeedNoWorkspace) {
  Layer layer(4, 2, 64, 32, MOEKIT_WEIGHTS_F32, 210);
  size_t bytes = 99;
  ASSERT_EQ(moekit_moe_forward_workspace_size(layer.router, layer.experts, 0, &bytes), MOEKIT_OK);
  EXPECT_EQ(bytes, 0u);
  moekit_tensor h = tensor(nullptr, MOEKIT_DTYPE_F32, {0, 64});
  moekit_tensor l = tensor(nullptr, MOEKIT_DTYPE_F32, {0, 4});
  moekit_tensor o = tensor(nullptr, MOEKIT_DTYPE_F32, {0, 64});
  moekit_run_report report = MOEKIT_RUN_REPORT_INIT;
  EXPECT_EQ(moekit_moe_forward(layer.router, layer.experts, &h, &l, &o, nullptr, 0, &report, nullptr), MOEKIT_OK)
      << moekit_last_error();
  EXPECT_EQ(report.assignments, 0);
}

TEST(MoeForward, ExpertMapOfTheRunnerApplies) {
  // The router routes over all 6 experts; this runner holds 2 of them (global 1 and 4).
  const int32_t map[6] = {-1, 0, -1, -1, 1, -1};
  moekit_context ctx = cpu_context();
  moekit_router_desc rd = MOEKIT_ROUTER_DESC_INIT;
  rd.num_experts = 6;
  rd.top_k = 3;
  moekit_router router = nullptr;
  ASSERT_EQ(moekit_router_create(ctx, &rd, &router), MOEKIT_OK);
  moekit_experts_desc ed = MOEKIT_EXPERTS_DESC_INIT;
  ed.num_experts = 6;
  ed.num_local_experts = 2;
  ed.hidden_size = 64;
  ed.intermediate_size = 32;
  ed.expert_map = map;
  WeightSet w(ed, 220);
  moekit_experts experts = nullptr;
  ASSERT_EQ(moekit_experts_create(ctx, &ed, &experts), MOEKIT_OK);
  ASSERT_EQ(moekit_experts_set_weights(experts, &w.desc, nullptr), MOEKIT_OK);
  const int64_t T = 20;
  std::vector<float> logits = random_logits(T * 6, 221), out(static_cast<size_t>(T * 64));
  const auto hidden_exact = exact_hidden(T, 64, 222);
  std::vector<unsigned char> hidden = store(hidden_exact, MOEKIT_DTYPE_F32);
  moekit_tensor h = tensor(hidden.data(), MOEKIT_DTYPE_F32, {T, 64});
  moekit_tensor l = tensor(logits.data(), MOEKIT_DTYPE_F32, {T, 6});
  moekit_tensor o = tensor(out.data(), MOEKIT_DTYPE_F32, {T, 64});
  size_t bytes = 0;
  ASSERT_EQ(moekit_moe_forward_workspace_size(router, experts, T, &bytes), MOEKIT_OK);
  Workspace ws(bytes);
  moekit_run_report report = MOEKIT_RUN_REPORT_INIT;
  ASSERT_EQ(moekit_moe_forward(router, experts, &h, &l, &o, ws.data(), ws.size, &report, nullptr), MOEKIT_OK)
      << moekit_last_error();
  EXPECT_EQ(report.assignments, T * 3);
  EXPECT_GT(report.non_local_assignments, 0);
  EXPECT_EQ(report.invalid_assignments, 0);
  EXPECT_LE(report.experts_touched, 2);
  moekit_experts_destroy(experts);
  moekit_router_destroy(router);
  moekit_context_destroy(ctx);
}

// ---- bad inputs ---------------------------------------------------------------------------------------------
struct ForwardErrors : ::testing::Test {
  Layer layer{4, 2, 64, 32, MOEKIT_WEIGHTS_BF16, 230};
  static constexpr int64_t T = 5;
  std::vector<float> hidden = std::vector<float>(T * 64, 0.25f);
  std::vector<float> logits = random_logits(T * 4, 231);
  std::vector<float> out = std::vector<float>(T * 64, -3.0f);
  moekit_tensor h = tensor(hidden.data(), MOEKIT_DTYPE_F32, {T, 64});
  moekit_tensor l = tensor(logits.data(), MOEKIT_DTYPE_F32, {T, 4});
  moekit_tensor o = tensor(out.data(), MOEKIT_DTYPE_F32, {T, 64});
  Workspace ws{0};
  moekit_run_report report = MOEKIT_RUN_REPORT_INIT;

  void SetUp() override {
    size_t bytes = 0;
    ASSERT_EQ(moekit_moe_forward_workspace_size(layer.router, layer.experts, T, &bytes), MOEKIT_OK);
    ws = Workspace(bytes);
    report.assignments = 4242;
  }
  void expect_rejected(moekit_router r, moekit_experts e, const moekit_tensor* hid, const moekit_tensor* lg,
                       moekit_tensor* ot, void* wsp, size_t wsb, moekit_run_report* rep, const char* what) {
    const std::vector<float> before = out;
    const moekit_run_report report_before = report;
    EXPECT_EQ(moekit_moe_forward(r, e, hid, lg, ot, wsp, wsb, rep, nullptr), MOEKIT_ERR_INVALID_ARGUMENT) << what;
    EXPECT_TRUE(error_mentions(what)) << "want '" << what << "' in: " << moekit_last_error();
    EXPECT_EQ(std::memcmp(out.data(), before.data(), out.size() * sizeof(float)), 0) << what;
    EXPECT_EQ(std::memcmp(&report, &report_before, sizeof report), 0) << what;
  }
};

TEST_F(ForwardErrors, ValidCallSucceeds) {
  EXPECT_EQ(moekit_moe_forward(layer.router, layer.experts, &h, &l, &o, ws.data(), ws.size, &report, nullptr),
            MOEKIT_OK)
      << moekit_last_error();
  EXPECT_EQ(report.assignments, T * 2);
}

TEST_F(ForwardErrors, NullHandlesAndTensors) {
  expect_rejected(nullptr, layer.experts, &h, &l, &o, ws.data(), ws.size, &report, "router");
  expect_rejected(layer.router, nullptr, &h, &l, &o, ws.data(), ws.size, &report, "experts");
  expect_rejected(layer.router, layer.experts, nullptr, &l, &o, ws.data(), ws.size, &report, "hidden");
  expect_rejected(layer.router, layer.experts, &h, nullptr, &o, ws.data(), ws.size, &report, "logits");
  expect_rejected(layer.router, layer.experts, &h, &l, nullptr, ws.data(), ws.size, &report, "out");
}

TEST_F(ForwardErrors, ShapesDtypesDevices) {
  moekit_tensor bad = tensor(logits.data(), MOEKIT_DTYPE_F32, {T - 1, 4});
  expect_rejected(layer.router, layer.experts, &h, &bad, &o, ws.data(), ws.size, &report, "logits");
  bad = tensor(logits.data(), MOEKIT_DTYPE_F32, {T, 5});
  expect_rejected(layer.router, layer.experts, &h, &bad, &o, ws.data(), ws.size, &report, "logits");
  bad = tensor(logits.data(), MOEKIT_DTYPE_I32, {T, 4});
  expect_rejected(layer.router, layer.experts, &h, &bad, &o, ws.data(), ws.size, &report, "logits");
  bad = tensor(hidden.data(), MOEKIT_DTYPE_F32, {T, 32});
  expect_rejected(layer.router, layer.experts, &bad, &l, &o, ws.data(), ws.size, &report, "hidden");
  bad = tensor(out.data(), MOEKIT_DTYPE_F16, {T, 64});
  expect_rejected(layer.router, layer.experts, &h, &l, &bad, ws.data(), ws.size, &report, "out");
  bad = h;
  bad.device_type = MOEKIT_DEVICE_CUDA;
  expect_rejected(layer.router, layer.experts, &bad, &l, &o, ws.data(), ws.size, &report, "hidden");
  bad = l;
  bad.device_type = MOEKIT_DEVICE_CUDA;
  expect_rejected(layer.router, layer.experts, &h, &bad, &o, ws.data(), ws.size, &report, "logits");
}

TEST_F(ForwardErrors, WorkspaceAndReport) {
  expect_rejected(layer.router, layer.experts, &h, &l, &o, ws.data(), ws.size - 1, &report, "workspace_bytes");
  expect_rejected(layer.router, layer.experts, &h, &l, &o, nullptr, ws.size, &report, "workspace");
  Workspace bigger(ws.size + 64);
  expect_rejected(layer.router, layer.experts, &h, &l, &o, static_cast<char*>(bigger.data()) + 8, ws.size, &report,
                  "aligned");
  report.struct_size = 8;
  expect_rejected(layer.router, layer.experts, &h, &l, &o, ws.data(), ws.size, &report, "report");
}

TEST_F(ForwardErrors, WeightsNotSet) {
  moekit_experts bare = nullptr;
  ASSERT_EQ(moekit_experts_create(layer.ctx, &layer.edesc, &bare), MOEKIT_OK);
  expect_rejected(layer.router, bare, &h, &l, &o, ws.data(), ws.size, &report, "weights");
  moekit_experts_destroy(bare);
}

TEST_F(ForwardErrors, MismatchedRouterAndExperts) {
  // Another context.
  moekit_context other = cpu_context();
  moekit_experts foreign = nullptr;
  ASSERT_EQ(moekit_experts_create(other, &layer.edesc, &foreign), MOEKIT_OK);
  ASSERT_EQ(moekit_experts_set_weights(foreign, &layer.weights->desc, nullptr), MOEKIT_OK);
  expect_rejected(layer.router, foreign, &h, &l, &o, ws.data(), ws.size, &report, "context");
  size_t bytes = 5;
  EXPECT_EQ(moekit_moe_forward_workspace_size(layer.router, foreign, T, &bytes), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bytes, 5u);
  moekit_experts_destroy(foreign);
  moekit_context_destroy(other);
  // Another expert count.
  moekit_router_desc rd = layer.rdesc;
  rd.num_experts = 5;
  moekit_router five = nullptr;
  ASSERT_EQ(moekit_router_create(layer.ctx, &rd, &five), MOEKIT_OK);
  std::vector<float> logits5(T * 5, 0.5f);
  moekit_tensor l5 = tensor(logits5.data(), MOEKIT_DTYPE_F32, {T, 5});
  expect_rejected(five, layer.experts, &h, &l5, &o, ws.data(), ws.size, &report, "num_experts");
  EXPECT_EQ(moekit_moe_forward_workspace_size(five, layer.experts, T, &bytes), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("num_experts"));
  moekit_router_destroy(five);
}

TEST_F(ForwardErrors, WorkspaceSizeArguments) {
  size_t bytes = 31;
  EXPECT_EQ(moekit_moe_forward_workspace_size(nullptr, layer.experts, T, &bytes), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("router"));
  EXPECT_EQ(moekit_moe_forward_workspace_size(layer.router, nullptr, T, &bytes), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("experts"));
  EXPECT_EQ(moekit_moe_forward_workspace_size(layer.router, layer.experts, T, nullptr), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("bytes"));
  EXPECT_EQ(moekit_moe_forward_workspace_size(layer.router, layer.experts, -1, &bytes), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("num_tokens"));
  EXPECT_EQ(moekit_moe_forward_workspace_size(layer.router, layer.experts, INT64_MAX / 2, &bytes),
            MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bytes, 31u);
}
