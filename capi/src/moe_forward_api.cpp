// The one-call MoE layer: moekit_moe_forward_workspace_size and moekit_moe_forward.
#include "api_common.h"
#include "experts_handle.h"
#include "moekit_core/moe_forward.h"
#include "router_handle.h"

using namespace moekit;

namespace {
Router& router_of(moekit_router r) { return *capi::check_handle(r, capi::kRouterMagic, "router")->impl; }
}  // namespace

extern "C" {

MOEKIT_API moekit_status moekit_moe_forward_workspace_size(moekit_router router, moekit_experts experts,
                                                           int64_t num_tokens, size_t* bytes) {
  return capi::guarded([&] {
    Router& r = router_of(router);
    Experts& e = capi::experts_of(experts);
    capi::require(bytes, "bytes");
    *bytes = moe_forward_workspace_size(r, e, num_tokens);
  });
}

MOEKIT_API moekit_status moekit_moe_forward(moekit_router router, moekit_experts experts, const moekit_tensor* hidden,
                                            const moekit_tensor* logits, moekit_tensor* out, void* workspace,
                                            size_t workspace_bytes, moekit_run_report* report, void* stream) {
  return capi::guarded([&] {
    Router& r = router_of(router);
    Experts& e = capi::experts_of(experts);
    const TensorView h = capi::to_view(hidden, "hidden");
    const TensorView l = capi::to_view(logits, "logits");
    const TensorView o = capi::to_view(out, "out");
    capi::check_report(report);
    RunReport rep;
    moe_forward(r, e, h, l, o, workspace, workspace_bytes, rep, stream);
    capi::fill_report(rep, report);
  });
}

}  // extern "C"
