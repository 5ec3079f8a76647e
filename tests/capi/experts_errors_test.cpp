// Bad inputs of every expert-runner entry point: the status, a message naming the argument, and caller
// memory left byte-for-byte untouched.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "experts_test_util.h"

using namespace experts_test;

namespace {

moekit_experts_desc small_desc() {
  moekit_experts_desc d = MOEKIT_EXPERTS_DESC_INIT;
  d.num_experts = 4;
  d.num_local_experts = 4;
  d.hidden_size = 64;
  d.intermediate_size = 32;
  return d;
}

// Stores an arbitrary int in a C enum field without forming an out-of-range enum value in C++ (UB).
template <class CEnum>
void set_raw(CEnum& field, int32_t v) {
  static_assert(sizeof(CEnum) == sizeof(int32_t), "C enums are int-sized");
  std::memcpy(&field, &v, sizeof v);
}

moekit_experts const kSentinelHandle = reinterpret_cast<moekit_experts>(0x1234);

// Creating with `d` fails with `status` and a message containing `what`; the output handle is untouched.
void expect_create_fails(moekit_context ctx, const moekit_experts_desc& d, const char* what,
                         moekit_status status = MOEKIT_ERR_INVALID_ARGUMENT) {
  moekit_experts out = kSentinelHandle;
  EXPECT_EQ(moekit_experts_create(ctx, &d, &out), status) << what;
  EXPECT_TRUE(error_mentions(what)) << "want '" << what << "' in: " << moekit_last_error();
  EXPECT_EQ(out, kSentinelHandle);
}

struct Fixture : ::testing::Test {
  moekit_context ctx = cpu_context();
  ~Fixture() override { moekit_context_destroy(ctx); }
};

}  // namespace

using ExpertsCreateErrors = Fixture;

TEST_F(ExpertsCreateErrors, NullArgumentsAndStructSize) {
  moekit_experts_desc d = small_desc();
  moekit_experts out = kSentinelHandle;
  EXPECT_EQ(moekit_experts_create(nullptr, &d, &out), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("ctx"));
  EXPECT_EQ(moekit_experts_create(ctx, nullptr, &out), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("desc"));
  EXPECT_EQ(moekit_experts_create(ctx, &d, nullptr), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("out"));
  EXPECT_EQ(out, kSentinelHandle);
  d.struct_size = 8;
  expect_create_fails(ctx, d, "struct_size");
  // A newer, larger struct is accepted only if its extra bytes are zero.
  struct Bigger {
    moekit_experts_desc d;
    int64_t extra;
  } big;
  std::memset(&big, 0, sizeof big);
  big.d = small_desc();
  big.d.struct_size = sizeof big;
  big.extra = 1;
  expect_create_fails(ctx, big.d, "struct_size", MOEKIT_ERR_UNSUPPORTED);
  big.extra = 0;
  moekit_experts ok = nullptr;
  EXPECT_EQ(moekit_experts_create(ctx, &big.d, &ok), MOEKIT_OK) << moekit_last_error();
  moekit_experts_destroy(ok);
}

TEST_F(ExpertsCreateErrors, Ranges) {
  moekit_experts_desc d = small_desc();
  d.num_experts = 0;
  expect_create_fails(ctx, d, "num_experts");
  d = small_desc();
  d.num_local_experts = 5;
  expect_create_fails(ctx, d, "num_local_experts");
  d.num_local_experts = 0;
  expect_create_fails(ctx, d, "num_local_experts");
  d = small_desc();
  d.num_local_experts = 3;  // without an expert_map every expert is local
  expect_create_fails(ctx, d, "num_local_experts");
  d = small_desc();
  d.hidden_size = 0;
  expect_create_fails(ctx, d, "hidden_size");
  d.hidden_size = (int64_t{1} << 20) + 1;
  expect_create_fails(ctx, d, "hidden_size");
  d = small_desc();
  d.intermediate_size = -3;
  expect_create_fails(ctx, d, "intermediate_size");
  d.intermediate_size = INT64_MAX;
  expect_create_fails(ctx, d, "intermediate_size");
}

TEST_F(ExpertsCreateErrors, Enums) {
  moekit_experts_desc d = small_desc();
  set_raw(d.activation, 3);
  expect_create_fails(ctx, d, "activation");
  d = small_desc();
  set_raw(d.weight_format, -1);
  expect_create_fails(ctx, d, "weight_format");
  d = small_desc();
  set_raw(d.act_quant, 7);
  expect_create_fails(ctx, d, "act_quant");
  d = small_desc();
  d.has_w13_bias = 2;
  expect_create_fails(ctx, d, "has_w13_bias");
  d = small_desc();
  d.apply_router_weight_on_input = -1;
  expect_create_fails(ctx, d, "apply_router_weight_on_input");
}

TEST_F(ExpertsCreateErrors, Mxfp4NeedsMultiplesOf32) {
  moekit_experts_desc d = small_desc();
  d.weight_format = MOEKIT_WEIGHTS_MXFP4;
  d.hidden_size = 80;
  expect_create_fails(ctx, d, "32");
  d.hidden_size = 64;
  d.intermediate_size = 48;
  expect_create_fails(ctx, d, "intermediate_size");
}

TEST_F(ExpertsCreateErrors, ExpertMap) {
  moekit_experts_desc d = small_desc();
  d.num_local_experts = 2;
  const int32_t out_of_range[4] = {0, 2, -1, -1};
  d.expert_map = out_of_range;
  expect_create_fails(ctx, d, "expert_map");
  const int32_t below[4] = {0, -2, 1, -1};
  d.expert_map = below;
  expect_create_fails(ctx, d, "expert_map");
  const int32_t duplicate[4] = {0, 1, 1, -1};
  d.expert_map = duplicate;
  expect_create_fails(ctx, d, "expert_map");
  d.num_experts = -1;  // the map is not read with a nonsensical count
  expect_create_fails(ctx, d, "num_experts");
  const int32_t fine[4] = {-1, 1, 0, -1};
  d = small_desc();
  d.num_local_experts = 2;
  d.expert_map = fine;
  moekit_experts e = nullptr;
  ASSERT_EQ(moekit_experts_create(ctx, &d, &e), MOEKIT_OK) << moekit_last_error();
  moekit_experts_destroy(e);
}

TEST_F(ExpertsCreateErrors, DestroyNullAndForeignHandles) {
  EXPECT_EQ(moekit_experts_destroy(nullptr), MOEKIT_OK);
  EXPECT_EQ(moekit_experts_destroy(reinterpret_cast<moekit_experts>(ctx)), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("experts"));
}

// ---- set_weights --------------------------------------------------------------------------------------------
struct SetWeightsErrors : Fixture {
  moekit_experts experts = nullptr;
  void make(const moekit_experts_desc& d) {
    ASSERT_EQ(moekit_experts_create(ctx, &d, &experts), MOEKIT_OK) << moekit_last_error();
  }
  ~SetWeightsErrors() override { moekit_experts_destroy(experts); }
  // set_weights fails naming `what`, and a run afterwards still reports that no weights are set.
  void expect_rejected(const moekit_expert_weights& w, const char* what) {
    EXPECT_EQ(moekit_experts_set_weights(experts, &w, nullptr), MOEKIT_ERR_INVALID_ARGUMENT) << what;
    EXPECT_TRUE(error_mentions(what)) << "want '" << what << "' in: " << moekit_last_error();
  }
};

TEST_F(SetWeightsErrors, HandleAndStruct) {
  const moekit_experts_desc d = small_desc();
  make(d);
  WeightSet w(d, 1);
  EXPECT_EQ(moekit_experts_set_weights(nullptr, &w.desc, nullptr), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("experts"));
  EXPECT_EQ(moekit_experts_set_weights(experts, nullptr, nullptr), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("weights"));
  moekit_expert_weights small = w.desc;
  small.struct_size = 16;
  expect_rejected(small, "struct_size");
}

TEST_F(SetWeightsErrors, DtypeShapeDeviceAndPresence) {
  const moekit_experts_desc d = small_desc();  // bf16 weights, no biases
  make(d);
  WeightSet w(d, 2);
  moekit_expert_weights bad = w.desc;
  bad.w13.data = nullptr;
  expect_rejected(bad, "w13");
  bad = w.desc;
  bad.w2.dtype = MOEKIT_DTYPE_F16;
  expect_rejected(bad, "w2");
  bad = w.desc;
  bad.w13 = tensor(w.w13.data(), MOEKIT_DTYPE_BF16, {4, 32, 64});  // [L, I, H] instead of [L, 2I, H]
  expect_rejected(bad, "w13");
  bad = w.desc;
  bad.w2 = tensor(w.w2.data(), MOEKIT_DTYPE_BF16, {4 * 64 * 32});
  expect_rejected(bad, "w2");
  bad = w.desc;
  bad.w13.device_type = MOEKIT_DEVICE_CUDA;
  expect_rejected(bad, "w13");
  bad = w.desc;
  bad.w13.strides[2] = 2;  // not contiguous
  expect_rejected(bad, "w13");
  bad = w.desc;
  bad.w13_scale = tensor(w.w13.data(), MOEKIT_DTYPE_F32, {4, 1, 1});  // scales mean nothing for bf16
  expect_rejected(bad, "w13_scale");
  std::vector<float> bias(4 * 64);
  bad = w.desc;
  bad.w2_bias = tensor(bias.data(), MOEKIT_DTYPE_F32, {4, 64});  // has_w2_bias is 0
  expect_rejected(bad, "w2_bias");
  // None of these set weights.
  std::vector<float> hidden(64), out(64, 3.0f);
  const std::vector<float> before = out;
  Routing routing = random_routing(1, 1, 4, 3);
  moekit_routing plan = routing.plan();
  moekit_tensor h = tensor(hidden.data(), MOEKIT_DTYPE_F32, {1, 64});
  moekit_tensor o = tensor(out.data(), MOEKIT_DTYPE_F32, {1, 64});
  Workspace ws(1 << 16);
  EXPECT_EQ(moekit_experts_run(experts, &h, &plan, &o, ws.data(), ws.size, nullptr, nullptr),
            MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("weights")) << moekit_last_error();
  EXPECT_EQ(out, before);
}

TEST_F(SetWeightsErrors, BiasesRequiredWhenConfigured) {
  moekit_experts_desc d = small_desc();
  d.has_w13_bias = d.has_w2_bias = 1;
  make(d);
  WeightSet w(d, 4);
  moekit_expert_weights bad = w.desc;
  std::memset(&bad.w13_bias, 0, sizeof bad.w13_bias);
  expect_rejected(bad, "w13_bias");
  bad = w.desc;
  bad.w2_bias.dtype = MOEKIT_DTYPE_BF16;
  expect_rejected(bad, "w2_bias");
  bad = w.desc;
  bad.w2_bias = tensor(w.b2.data(), MOEKIT_DTYPE_F32, {4, 63});
  expect_rejected(bad, "w2_bias");
  EXPECT_EQ(moekit_experts_set_weights(experts, &w.desc, nullptr), MOEKIT_OK) << moekit_last_error();
}

TEST_F(SetWeightsErrors, QuantizedFormats) {
  moekit_experts_desc d = small_desc();
  d.weight_format = MOEKIT_WEIGHTS_FP8_BLOCK;
  make(d);
  WeightSet w(d, 5);
  moekit_expert_weights bad = w.desc;
  std::memset(&bad.w2_scale, 0, sizeof bad.w2_scale);
  expect_rejected(bad, "w2_scale");
  bad = w.desc;
  bad.w13_scale = tensor(w.w13_scale.data(), MOEKIT_DTYPE_F32, {4, 2, 1});  // ceil(64/128) = 1 block row
  expect_rejected(bad, "w13_scale");
  bad = w.desc;
  bad.w13.dtype = MOEKIT_DTYPE_F8_E5M2;
  expect_rejected(bad, "w13");
  EXPECT_EQ(moekit_experts_set_weights(experts, &w.desc, nullptr), MOEKIT_OK) << moekit_last_error();

  moekit_experts_destroy(experts);
  experts = nullptr;
  d.weight_format = MOEKIT_WEIGHTS_MXFP4;
  make(d);
  WeightSet m(d, 6);
  bad = m.desc;
  bad.w13 = tensor(m.w13.data(), MOEKIT_DTYPE_FP4_E2M1X2, {4, 64, 64});  // must count bytes: H/2 = 32
  expect_rejected(bad, "w13");
  bad = m.desc;
  bad.w2_scale.dtype = MOEKIT_DTYPE_U8;
  expect_rejected(bad, "w2_scale");
  EXPECT_EQ(moekit_experts_set_weights(experts, &m.desc, nullptr), MOEKIT_OK) << moekit_last_error();
}

// ---- workspace_size -----------------------------------------------------------------------------------------
TEST_F(SetWeightsErrors, WorkspaceSize) {
  make(small_desc());
  size_t bytes = 777;
  EXPECT_EQ(moekit_experts_workspace_size(nullptr, 1, 1, &bytes), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("experts"));
  EXPECT_EQ(moekit_experts_workspace_size(experts, 1, 1, nullptr), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("bytes"));
  EXPECT_EQ(moekit_experts_workspace_size(experts, -1, 1, &bytes), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("num_tokens"));
  EXPECT_EQ(moekit_experts_workspace_size(experts, 4, 0, &bytes), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("top_k"));
  EXPECT_EQ(moekit_experts_workspace_size(experts, 4, 5, &bytes), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("top_k"));
  EXPECT_EQ(moekit_experts_workspace_size(experts, INT64_MAX / 2, 4, &bytes), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("overflow")) << moekit_last_error();
  EXPECT_EQ(moekit_experts_workspace_size(experts, int64_t{1} << 30, 4, &bytes), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(error_mentions("num_tokens")) << "more assignments than int32 indices address";
  EXPECT_EQ(bytes, 777u);
  // Weights are not needed to size the workspace, and it grows with T.
  size_t one = 0, many = 0;
  ASSERT_EQ(moekit_experts_workspace_size(experts, 1, 2, &one), MOEKIT_OK);
  ASSERT_EQ(moekit_experts_workspace_size(experts, 100, 2, &many), MOEKIT_OK);
  EXPECT_GT(one, 0u);
  EXPECT_GT(many, one);
}

// ---- run ----------------------------------------------------------------------------------------------------
struct RunErrors : Fixture {
  moekit_experts_desc d = small_desc();
  WeightSet w{d, 7};
  moekit_experts experts = nullptr;
  Routing routing = random_routing(3, 2, 4, 8);
  std::vector<float> hidden = std::vector<float>(3 * 64, 0.5f);
  std::vector<float> out = std::vector<float>(3 * 64, -9.0f);
  moekit_tensor h{}, o{};
  moekit_routing plan{};
  Workspace ws{0};
  moekit_run_report report = MOEKIT_RUN_REPORT_INIT;

  void SetUp() override {
    ASSERT_EQ(moekit_experts_create(ctx, &d, &experts), MOEKIT_OK);
    ASSERT_EQ(moekit_experts_set_weights(experts, &w.desc, nullptr), MOEKIT_OK);
    h = tensor(hidden.data(), MOEKIT_DTYPE_F32, {3, 64});
    o = tensor(out.data(), MOEKIT_DTYPE_F32, {3, 64});
    plan = routing.plan();
    size_t bytes = 0;
    ASSERT_EQ(moekit_experts_workspace_size(experts, 3, 2, &bytes), MOEKIT_OK);
    ws = Workspace(bytes);
    std::memset(&report, 0x5A, sizeof report);
    report.struct_size = sizeof report;
  }
  ~RunErrors() override { moekit_experts_destroy(experts); }

  // The run fails naming `what`; out, the plan and the report are untouched.
  void expect_rejected(moekit_experts e, const moekit_tensor* hid, const moekit_routing* p, moekit_tensor* ot,
                       void* wsp, size_t wsb, moekit_run_report* rep, const char* what) {
    const std::vector<float> out_before = out;
    const std::vector<int32_t> ids_before = routing.ids;
    const std::vector<float> weights_before = routing.weights;
    const moekit_run_report report_before = report;
    EXPECT_EQ(moekit_experts_run(e, hid, p, ot, wsp, wsb, rep, nullptr), MOEKIT_ERR_INVALID_ARGUMENT) << what;
    EXPECT_TRUE(error_mentions(what)) << "want '" << what << "' in: " << moekit_last_error();
    EXPECT_EQ(std::memcmp(out.data(), out_before.data(), out.size() * sizeof(float)), 0) << what;
    EXPECT_EQ(routing.ids, ids_before);
    EXPECT_EQ(routing.weights, weights_before);
    EXPECT_EQ(std::memcmp(&report, &report_before, sizeof report), 0) << what;
  }
  void expect_rejected(const char* what) { expect_rejected(experts, &h, &plan, &o, ws.data(), ws.size, &report, what); }
};

TEST_F(RunErrors, ValidRunSucceeds) {
  EXPECT_EQ(moekit_experts_run(experts, &h, &plan, &o, ws.data(), ws.size, &report, nullptr), MOEKIT_OK)
      << moekit_last_error();
  EXPECT_EQ(report.assignments, 6);
  EXPECT_EQ(report.struct_size, sizeof report);
}

TEST_F(RunErrors, NullArguments) {
  expect_rejected(nullptr, &h, &plan, &o, ws.data(), ws.size, &report, "experts");
  expect_rejected(experts, nullptr, &plan, &o, ws.data(), ws.size, &report, "hidden");
  expect_rejected(experts, &h, nullptr, &o, ws.data(), ws.size, &report, "plan");
  expect_rejected(experts, &h, &plan, nullptr, ws.data(), ws.size, &report, "out");
  moekit_tensor null_data = h;
  null_data.data = nullptr;
  expect_rejected(experts, &null_data, &plan, &o, ws.data(), ws.size, &report, "hidden");
  plan.topk_weights.data = nullptr;
  expect_rejected("topk_weights");
  plan = routing.plan();
  plan.topk_ids.data = nullptr;
  expect_rejected("topk_ids");
}

TEST_F(RunErrors, DtypesShapesDevices) {
  moekit_tensor bad = tensor(hidden.data(), MOEKIT_DTYPE_I32, {3, 64});
  expect_rejected(experts, &bad, &plan, &o, ws.data(), ws.size, &report, "hidden");
  bad = tensor(out.data(), MOEKIT_DTYPE_BF16, {3, 64});  // hidden is f32
  expect_rejected(experts, &h, &plan, &bad, ws.data(), ws.size, &report, "out");
  bad = tensor(hidden.data(), MOEKIT_DTYPE_F32, {6, 32});
  expect_rejected(experts, &bad, &plan, &o, ws.data(), ws.size, &report, "hidden");
  bad = tensor(out.data(), MOEKIT_DTYPE_F32, {2, 64});
  expect_rejected(experts, &h, &plan, &bad, ws.data(), ws.size, &report, "out");
  bad = h;
  bad.device_type = MOEKIT_DEVICE_CUDA;
  expect_rejected(experts, &bad, &plan, &o, ws.data(), ws.size, &report, "hidden");
  bad = o;
  bad.device_type = MOEKIT_DEVICE_ROCM;
  expect_rejected(experts, &h, &plan, &bad, ws.data(), ws.size, &report, "out");
  plan.topk_ids.dtype = MOEKIT_DTYPE_I64;
  expect_rejected("topk_ids");
  plan = routing.plan();
  plan.topk_weights.dtype = MOEKIT_DTYPE_BF16;
  expect_rejected("topk_weights");
  plan = routing.plan();
  plan.topk_ids = tensor(routing.ids.data(), MOEKIT_DTYPE_I32, {2, 3});  // T differs from hidden's
  expect_rejected("topk_ids");
  plan = routing.plan();
  plan.topk_weights = tensor(routing.weights.data(), MOEKIT_DTYPE_F32, {3, 1});
  expect_rejected("topk_weights");
  plan = routing.plan();
  plan.topk_ids.device_type = MOEKIT_DEVICE_CUDA;
  expect_rejected("topk_ids");
  plan = routing.plan();
  plan.struct_size = 4;
  expect_rejected("plan");
}

TEST_F(RunErrors, Workspace) {
  expect_rejected(experts, &h, &plan, &o, ws.data(), ws.size - 1, &report, "workspace_bytes");
  expect_rejected(experts, &h, &plan, &o, nullptr, ws.size, &report, "workspace");
  expect_rejected(experts, &h, &plan, &o, nullptr, 0, &report, "workspace_bytes");
  Workspace bigger(ws.size + 64);
  expect_rejected(experts, &h, &plan, &o, static_cast<char*>(bigger.data()) + 4, ws.size, &report, "aligned");
}

TEST_F(RunErrors, ReportStructSize) {
  report.struct_size = sizeof report - 8;
  expect_rejected("report");
  // A NULL report is fine.
  EXPECT_EQ(moekit_experts_run(experts, &h, &plan, &o, ws.data(), ws.size, nullptr, nullptr), MOEKIT_OK);
}
