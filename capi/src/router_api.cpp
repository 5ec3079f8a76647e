// Router entry points: create/destroy, plan sizes, run, build_plan, and the router GEMM.
#include <cstring>
#include <string>

#include "api_common.h"
#include "moekit_core/router.h"
#include "moekit_core/validate.h"
#include "router_handle.h"
#include "routing_convert.h"

using namespace moekit;

namespace {

RouterConfig to_config(const moekit_router_desc& d) {
  RouterConfig c;
  // Ranges are core's job (Router's constructor); only what is needed to read the host arrays safely is
  // checked here.
  c.num_experts = d.num_experts;
  c.top_k = d.top_k;
  const int32_t scoring = capi::enum_value(d.scoring);  // a C caller may store any int in the field
  if (scoring != MOEKIT_SCORING_SOFTMAX && scoring != MOEKIT_SCORING_SIGMOID)
    invalid("desc.scoring: unknown scoring " + std::to_string(scoring));
  c.scoring = static_cast<Scoring>(scoring);
  if (d.renormalize != 0 && d.renormalize != 1)
    invalid("desc.renormalize: must be 0 or 1, got " + std::to_string(d.renormalize));
  c.renormalize = d.renormalize != 0;
  c.num_expert_groups = d.num_expert_groups;
  c.topk_groups = d.topk_groups;
  c.routed_scaling_factor = d.routed_scaling_factor;
  c.block_size = d.block_size;
  if (d.correction_bias != nullptr || d.expert_map != nullptr) {
    // The arrays hold num_experts entries: refuse to read them before knowing that count is sane.
    expect_range(d.num_experts, "desc.num_experts", 1, kMaxRouterExperts);
    const size_t e = static_cast<size_t>(d.num_experts);
    if (d.correction_bias) c.correction_bias.assign(d.correction_bias, d.correction_bias + e);
    if (d.expert_map) c.expert_map.assign(d.expert_map, d.expert_map + e);
  }
  return c;
}

Router& router_of(moekit_router r) { return *capi::check_handle(r, capi::kRouterMagic, "router")->impl; }

}  // namespace

extern "C" {

MOEKIT_API moekit_status moekit_router_create(moekit_context ctx, const moekit_router_desc* desc, moekit_router* out) {
  return capi::guarded([&] {
    capi::check_handle(ctx, capi::kContextMagic, "ctx");
    capi::require(desc, "desc");
    capi::require(out, "out");
    MOEKIT_CHECK_STRUCT(desc, moekit_router_desc, "desc");
    auto handle = std::make_unique<moekit_router_s>();
    handle->impl = std::make_unique<Router>(ctx->impl, to_config(*desc));
    *out = handle.release();
  });
}

MOEKIT_API moekit_status moekit_router_destroy(moekit_router router) {
  return capi::guarded([&] {
    if (router == nullptr) return;
    capi::check_handle(router, capi::kRouterMagic, "router");
    router->magic = 0;
    delete router;
  });
}

MOEKIT_API moekit_status moekit_router_plan_sizes(moekit_router router, int64_t num_tokens, int32_t* block_size,
                                                  int64_t* max_sorted, int64_t* max_blocks) {
  return capi::guarded([&] {
    Router& r = router_of(router);
    const PlanSizes s = r.plan_sizes(num_tokens);
    // Outputs are optional and written only after every check passed.
    if (block_size) *block_size = r.config().block_size;
    if (max_sorted) *max_sorted = s.max_sorted;
    if (max_blocks) *max_blocks = s.max_blocks;
  });
}

MOEKIT_API moekit_status moekit_router_run(moekit_router router, const moekit_tensor* logits, moekit_routing* plan,
                                           void* stream) {
  return capi::guarded([&] {
    Router& r = router_of(router);
    const TensorView logits_view = capi::to_view(logits, "logits");
    RoutingPlan p = capi::to_plan(plan, /*need_weights=*/true);
    r.run(logits_view, p, stream);
  });
}

MOEKIT_API moekit_status moekit_router_build_plan(moekit_router router, moekit_routing* plan, void* stream) {
  return capi::guarded([&] {
    Router& r = router_of(router);
    RoutingPlan p = capi::to_plan(plan, /*need_weights=*/false);
    r.build_plan(p, stream);
  });
}

MOEKIT_API moekit_status moekit_router_gemm(moekit_context ctx, const moekit_tensor* hidden,
                                            const moekit_tensor* w_gate, const moekit_tensor* bias,
                                            moekit_tensor* logits, void* stream) {
  return capi::guarded([&] {
    capi::check_handle(ctx, capi::kContextMagic, "ctx");
    const TensorView h = capi::to_view(hidden, "hidden");
    const TensorView w = capi::to_view(w_gate, "w_gate");
    // bias: NULL or a tensor with data == NULL both mean "no bias".
    const bool has_bias = bias != nullptr && bias->data != nullptr;
    const TensorView b = has_bias ? capi::to_view(bias, "bias") : TensorView{};
    const TensorView l = capi::to_view(logits, "logits");
    router_gemm(*ctx->impl, h, w, has_bias ? &b : nullptr, l, stream);
  });
}

}  // extern "C"
