// The shared test vectors (tests/vectors, made by the float64 reference) through the public C API: the same
// files the Python, Go and Java tests read.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "moekit/moekit.h"
#include "vectors/vector_files.h"

using moekit_vectors::read_manifest;
using moekit_vectors::read_tensor;
using moekit_vectors::VectorTensor;

namespace {

const std::string kDir = MOEKIT_TEST_VECTORS_DIR;

moekit_dtype dtype_of(const std::string& name) {
  for (int d = 0; d <= MOEKIT_DTYPE_U32; ++d)
    if (name == moekit_dtype_name(static_cast<moekit_dtype>(d))) return static_cast<moekit_dtype>(d);
  ADD_FAILURE() << "unknown dtype in manifest: " << name;
  return MOEKIT_DTYPE_F32;
}

moekit_tensor view(VectorTensor& t) {
  moekit_tensor v;
  EXPECT_EQ(moekit_tensor_init(&v, t.bytes.data(), dtype_of(t.dtype), static_cast<int32_t>(t.shape.size()),
                               t.shape.data()),
            MOEKIT_OK);
  return v;
}

// An output buffer shaped like an expected tensor, filled with a sentinel.
VectorTensor like(const VectorTensor& t) {
  VectorTensor o = t;
  std::fill(o.bytes.begin(), o.bytes.end(), uint8_t{0xA5});
  return o;
}

std::vector<nlohmann::json> cases_of(const std::string& kind) {
  std::vector<nlohmann::json> out;
  const nlohmann::json manifest = read_manifest(kDir);  // keep it alive: the loop iterates a member of it
  for (const auto& c : manifest.at("cases"))
    if (c.at("kind") == kind) out.push_back(c);
  return out;
}

struct Ctx {
  moekit_context ctx = nullptr;
  Ctx() { EXPECT_EQ(moekit_context_create(MOEKIT_BACKEND_CPU, 0, &ctx), MOEKIT_OK); }
  ~Ctx() { moekit_context_destroy(ctx); }
};

}  // namespace

TEST(Vectors, ManifestHasEveryKind) {
  EXPECT_GE(cases_of("router").size(), 3u);
  EXPECT_GE(cases_of("quantize").size(), 3u);
  EXPECT_GE(cases_of("moe_layer").size(), 2u);
}

TEST(Vectors, RouterCasesMatch) {
  Ctx c;
  for (const auto& cs : cases_of("router")) {
    SCOPED_TRACE(cs.at("name").get<std::string>());
    const auto& p = cs.at("params");
    VectorTensor logits = read_tensor(kDir, cs, "logits");
    VectorTensor ids_expected = read_tensor(kDir, cs, "topk_ids");
    VectorTensor w_expected = read_tensor(kDir, cs, "topk_weights");
    std::vector<float> bias;
    if (cs.at("tensors").contains("correction_bias")) {
      VectorTensor b = read_tensor(kDir, cs, "correction_bias");
      bias.resize(b.bytes.size() / 4);
      std::memcpy(bias.data(), b.bytes.data(), b.bytes.size());
    }
    moekit_router_desc d = MOEKIT_ROUTER_DESC_INIT;
    d.num_experts = p.at("num_experts");
    d.top_k = p.at("top_k");
    d.scoring = p.at("scoring") == "sigmoid" ? MOEKIT_SCORING_SIGMOID : MOEKIT_SCORING_SOFTMAX;
    d.renormalize = p.at("renormalize").get<bool>() ? 1 : 0;
    d.num_expert_groups = p.at("num_expert_groups");
    d.topk_groups = p.at("topk_groups");
    d.routed_scaling_factor = p.at("routed_scaling_factor").get<float>();
    d.correction_bias = bias.empty() ? nullptr : bias.data();
    moekit_router r = nullptr;
    ASSERT_EQ(moekit_router_create(c.ctx, &d, &r), MOEKIT_OK) << moekit_last_error();
    VectorTensor ids = like(ids_expected), w = like(w_expected);
    moekit_routing plan{};
    plan.struct_size = sizeof plan;
    plan.topk_ids = view(ids);
    plan.topk_weights = view(w);
    moekit_tensor in = view(logits);
    ASSERT_EQ(moekit_router_run(r, &in, &plan, nullptr), MOEKIT_OK) << moekit_last_error();
    EXPECT_EQ(ids.bytes, ids_expected.bytes);
    const double tol = cs.at("tolerance");
    const auto* got = reinterpret_cast<const float*>(w.bytes.data());
    const auto* want = reinterpret_cast<const float*>(w_expected.bytes.data());
    for (size_t i = 0; i < w.bytes.size() / 4; ++i) EXPECT_NEAR(got[i], want[i], tol) << "weight " << i;
    moekit_router_destroy(r);
  }
}

TEST(Vectors, QuantizeCasesAreBitExact) {
  Ctx c;
  for (const auto& cs : cases_of("quantize")) {
    SCOPED_TRACE(cs.at("name").get<std::string>());
    const std::string scheme = cs.at("params").at("scheme");
    moekit_quantizer_desc d = MOEKIT_QUANTIZER_DESC_INIT;
    d.scheme = scheme == "mxfp4" ? MOEKIT_QUANT_MXFP4
               : scheme == "fp8_per_group" ? MOEKIT_QUANT_FP8_PER_GROUP : MOEKIT_QUANT_FP8_PER_TOKEN;
    d.group_size = cs.at("params").at("group_size");
    moekit_quantizer q = nullptr;
    ASSERT_EQ(moekit_quantizer_create(c.ctx, &d, &q), MOEKIT_OK) << moekit_last_error();
    VectorTensor input = read_tensor(kDir, cs, "input");
    VectorTensor values_expected = read_tensor(kDir, cs, "values");
    VectorTensor scales_expected = read_tensor(kDir, cs, "scales");
    VectorTensor values = like(values_expected), scales = like(scales_expected);
    moekit_tensor in = view(input), qv = view(values), qs = view(scales);
    ASSERT_EQ(moekit_quantize(q, &in, &qv, &qs, nullptr), MOEKIT_OK) << moekit_last_error();
    EXPECT_EQ(values.bytes, values_expected.bytes);
    EXPECT_EQ(scales.bytes, scales_expected.bytes);
    moekit_quantizer_destroy(q);
  }
}

TEST(Vectors, MoeLayerCasesMatchThroughMoeForward) {
  Ctx c;
  for (const auto& cs : cases_of("moe_layer")) {
    SCOPED_TRACE(cs.at("name").get<std::string>());
    const auto& p = cs.at("params");
    moekit_router_desc rd = MOEKIT_ROUTER_DESC_INIT;
    rd.num_experts = p.at("num_experts");
    rd.top_k = p.at("top_k");
    rd.renormalize = p.at("renormalize").get<bool>() ? 1 : 0;
    moekit_router r = nullptr;
    ASSERT_EQ(moekit_router_create(c.ctx, &rd, &r), MOEKIT_OK) << moekit_last_error();

    moekit_experts_desc ed = MOEKIT_EXPERTS_DESC_INIT;
    ed.num_experts = ed.num_local_experts = p.at("num_experts");
    ed.hidden_size = p.at("hidden_size");
    ed.intermediate_size = p.at("intermediate_size");
    const std::string act = p.at("activation");
    ed.activation = act == "silu_mul" ? MOEKIT_ACTIVATION_SILU_MUL
                    : act == "gelu_mul" ? MOEKIT_ACTIVATION_GELU_MUL : MOEKIT_ACTIVATION_SWIGLU_OAI;
    ed.swiglu_alpha = p.at("swiglu_alpha");
    ed.swiglu_limit = p.at("swiglu_limit");
    ed.weight_format = p.at("weight_format") == "bf16" ? MOEKIT_WEIGHTS_BF16 : MOEKIT_WEIGHTS_MXFP4;
    ed.has_w13_bias = ed.has_w2_bias = p.at("biases").get<bool>() ? 1 : 0;
    moekit_experts ex = nullptr;
    ASSERT_EQ(moekit_experts_create(c.ctx, &ed, &ex), MOEKIT_OK) << moekit_last_error();

    std::vector<VectorTensor> keep;
    keep.reserve(8);
    auto input = [&](const char* name) {
      keep.push_back(read_tensor(kDir, cs, name));
      return view(keep.back());
    };
    moekit_expert_weights w{};
    w.struct_size = sizeof w;
    w.w13 = input("w13");
    w.w2 = input("w2");
    if (cs.at("tensors").contains("w13_scale")) {
      w.w13_scale = input("w13_scale");
      w.w2_scale = input("w2_scale");
    }
    if (ed.has_w13_bias) {
      w.w13_bias = input("w13_bias");
      w.w2_bias = input("w2_bias");
    }
    ASSERT_EQ(moekit_experts_set_weights(ex, &w, nullptr), MOEKIT_OK) << moekit_last_error();

    VectorTensor hidden = read_tensor(kDir, cs, "hidden"), logits = read_tensor(kDir, cs, "logits");
    VectorTensor expected = read_tensor(kDir, cs, "out");
    VectorTensor out = like(expected);
    moekit_tensor hv = view(hidden), lv = view(logits), ov = view(out);
    size_t ws_bytes = 0;
    ASSERT_EQ(moekit_moe_forward_workspace_size(r, ex, hidden.shape[0], &ws_bytes), MOEKIT_OK);
    std::vector<uint8_t> ws_storage(ws_bytes + 256);
    void* ws = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(ws_storage.data()) + 255) & ~uintptr_t{255});
    moekit_run_report report = MOEKIT_RUN_REPORT_INIT;
    ASSERT_EQ(moekit_moe_forward(r, ex, &hv, &lv, &ov, ws_bytes ? ws : nullptr, ws_bytes, &report, nullptr),
              MOEKIT_OK)
        << moekit_last_error();
    const double tol = cs.at("tolerance");
    const auto* got = reinterpret_cast<const float*>(out.bytes.data());
    const auto* want = reinterpret_cast<const float*>(expected.bytes.data());
    for (size_t i = 0; i < out.bytes.size() / 4; ++i) ASSERT_NEAR(got[i], want[i], tol) << "element " << i;
    EXPECT_EQ(report.assignments, hidden.shape[0] * rd.top_k);
    EXPECT_EQ(report.non_local_assignments, 0);
    moekit_experts_destroy(ex);
    moekit_router_destroy(r);
  }
}
