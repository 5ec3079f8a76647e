// moekit_routing (C) -> RoutingPlan (core). Shared by the router and expert-runner entry points so every
// plan tensor is converted, and named in errors ("plan.topk_ids: ..."), the same way.
#pragma once

#include "moekit/moekit.h"
#include "moekit_core/configs.h"

namespace moekit::capi {

// Checks `plan` (non-null, struct_size) and converts every tensor. topk_ids is always required;
// topk_weights is required only if need_weights; the others are optional (data == NULL: absent).
// Shapes, dtypes and devices are left to core (Router::validate_plan), which knows T, k and E.
RoutingPlan to_plan(const moekit_routing* plan, bool need_weights);

}  // namespace moekit::capi
