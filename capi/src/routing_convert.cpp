#include "routing_convert.h"

#include "api_common.h"

namespace moekit::capi {

namespace {

// An optional plan tensor with data == NULL is absent whatever its other fields hold, so a zero-filled
// moekit_routing (device_type 0) is a valid "not requested".
TensorView optional_view(const moekit_tensor& t, const char* name) {
  if (t.data == nullptr) return TensorView{};
  return to_view_ref(t, name, /*optional=*/true);
}

}  // namespace

RoutingPlan to_plan(const moekit_routing* plan, bool need_weights) {
  require(plan, "plan");
  MOEKIT_CHECK_STRUCT(plan, moekit_routing, "plan");
  RoutingPlan p;
  p.topk_weights = need_weights ? to_view_ref(plan->topk_weights, "plan.topk_weights")
                                 : optional_view(plan->topk_weights, "plan.topk_weights");
  p.topk_ids = to_view_ref(plan->topk_ids, "plan.topk_ids");
  p.bitmatrix = optional_view(plan->bitmatrix, "plan.bitmatrix");
  p.expert_counts = optional_view(plan->expert_counts, "plan.expert_counts");
  p.sorted_token_ids = optional_view(plan->sorted_token_ids, "plan.sorted_token_ids");
  p.block_expert_ids = optional_view(plan->block_expert_ids, "plan.block_expert_ids");
  p.num_tokens_post_padded = optional_view(plan->num_tokens_post_padded, "plan.num_tokens_post_padded");
  return p;
}

}  // namespace moekit::capi
