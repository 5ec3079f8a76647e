// Expert runner entry points: create/destroy, set_weights, workspace_size, run.
#include <algorithm>
#include <cstring>
#include <string>

#include "api_common.h"
#include "experts_handle.h"
#include "moekit_core/validate.h"
#include "routing_convert.h"

using namespace moekit;

namespace moekit::capi {

void check_report(const moekit_run_report* report) {
  if (report != nullptr) MOEKIT_CHECK_OUT_STRUCT(report, moekit_run_report, "report");
}

void fill_report(const RunReport& r, moekit_run_report* report) {
  if (report == nullptr) return;
  moekit_run_report out{};
  out.struct_size = sizeof(moekit_run_report);
  out.assignments = r.assignments;
  out.non_local_assignments = r.non_local_assignments;
  out.invalid_assignments = r.invalid_assignments;
  out.experts_touched = r.experts_touched;
  const size_t n = std::min(r.kernel.size(), sizeof out.kernel - 1);  // always NUL-terminated
  std::memcpy(out.kernel, r.kernel.data(), n);
  out.kernel[n] = '\0';
  const size_t d = std::min(r.detail.size(), sizeof out.detail - 1);
  std::memcpy(out.detail, r.detail.data(), d);
  out.detail[d] = '\0';
  std::memcpy(report, &out, sizeof out);  // exactly this version's fields; a newer caller's tail is untouched
}

}  // namespace moekit::capi

namespace {

// A C enum field read as the int it holds (see capi::enum_value), range-checked, then converted.
template <class E, class CEnum>
E checked_enum(const CEnum& field, int32_t lo, int32_t hi, const char* name) {
  const int32_t v = capi::enum_value(field);
  expect_range(v, name, lo, hi);
  return static_cast<E>(v);
}

bool checked_flag(int32_t v, const char* name) {
  if (v != 0 && v != 1) invalid(std::string(name) + ": must be 0 or 1, got " + std::to_string(v));
  return v != 0;
}

ExpertsConfig to_config(const moekit_experts_desc& d) {
  // Ranges and the expert_map's contents are core's job (the Experts constructor); here only what is needed
  // to convert the enums and to read the host array safely.
  ExpertsConfig c;
  c.num_experts = d.num_experts;
  c.num_local_experts = d.num_local_experts;
  c.hidden = d.hidden_size;
  c.intermediate = d.intermediate_size;
  c.activation = checked_enum<Activation>(d.activation, 0, 2, "desc.activation");
  c.swiglu_alpha = d.swiglu_alpha;
  c.swiglu_limit = d.swiglu_limit;
  c.weight_format = checked_enum<WeightFormat>(d.weight_format, 0, 4, "desc.weight_format");
  c.act_quant = checked_enum<ActQuant>(d.act_quant, 0, 2, "desc.act_quant");
  c.has_w13_bias = checked_flag(d.has_w13_bias, "desc.has_w13_bias");
  c.has_w2_bias = checked_flag(d.has_w2_bias, "desc.has_w2_bias");
  c.apply_router_weight_on_input = checked_flag(d.apply_router_weight_on_input, "desc.apply_router_weight_on_input");
  if (d.expert_map != nullptr) {
    // The array holds num_experts entries: refuse to read it before knowing that count is sane.
    expect_range(d.num_experts, "desc.num_experts", 1, kMaxExperts);
    c.expert_map.assign(d.expert_map, d.expert_map + d.num_experts);
  }
  return c;
}

// A weight tensor with data == NULL is absent whatever its other fields hold (a zero-filled struct is fine).
TensorView weight_view(const moekit_tensor& t, const char* name) {
  if (t.data == nullptr) return TensorView{};
  return capi::to_view_ref(t, name, /*optional=*/true);
}

}  // namespace

extern "C" {

MOEKIT_API moekit_status moekit_experts_create(moekit_context ctx, const moekit_experts_desc* desc,
                                               moekit_experts* out) {
  return capi::guarded([&] {
    capi::check_handle(ctx, capi::kContextMagic, "ctx");
    capi::require(desc, "desc");
    capi::require(out, "out");
    MOEKIT_CHECK_STRUCT(desc, moekit_experts_desc, "desc");
    auto handle = std::make_unique<moekit_experts_s>();
    handle->impl = std::make_unique<Experts>(ctx->impl, to_config(*desc));
    *out = handle.release();
  });
}

MOEKIT_API moekit_status moekit_experts_destroy(moekit_experts experts) {
  return capi::guarded([&] {
    if (experts == nullptr) return;
    capi::check_handle(experts, capi::kExpertsMagic, "experts");
    experts->magic = 0;
    delete experts;
  });
}

MOEKIT_API moekit_status moekit_experts_set_weights(moekit_experts experts, const moekit_expert_weights* weights,
                                                    void* stream) {
  return capi::guarded([&] {
    Experts& e = capi::experts_of(experts);
    capi::require(weights, "weights");
    MOEKIT_CHECK_STRUCT(weights, moekit_expert_weights, "weights");
    ExpertWeights w;
    w.w13 = weight_view(weights->w13, "w13");
    w.w2 = weight_view(weights->w2, "w2");
    w.w13_scale = weight_view(weights->w13_scale, "w13_scale");
    w.w2_scale = weight_view(weights->w2_scale, "w2_scale");
    w.w13_bias = weight_view(weights->w13_bias, "w13_bias");
    w.w2_bias = weight_view(weights->w2_bias, "w2_bias");
    e.set_weights(w, stream);
  });
}

MOEKIT_API moekit_status moekit_experts_workspace_size(moekit_experts experts, int64_t num_tokens, int32_t top_k,
                                                       size_t* bytes) {
  return capi::guarded([&] {
    Experts& e = capi::experts_of(experts);
    capi::require(bytes, "bytes");
    *bytes = e.workspace_size(num_tokens, top_k);
  });
}

MOEKIT_API moekit_status moekit_experts_run(moekit_experts experts, const moekit_tensor* hidden,
                                            const moekit_routing* plan, moekit_tensor* out, void* workspace,
                                            size_t workspace_bytes, moekit_run_report* report, void* stream) {
  return capi::guarded([&] {
    Experts& e = capi::experts_of(experts);
    const TensorView h = capi::to_view(hidden, "hidden");
    const RoutingPlan p = capi::to_plan(plan, /*need_weights=*/true);
    const TensorView o = capi::to_view(out, "out");
    capi::check_report(report);
    RunReport r;
    e.run(h, p, o, workspace, workspace_bytes, r, stream);
    capi::fill_report(r, report);
  });
}

}  // extern "C"
