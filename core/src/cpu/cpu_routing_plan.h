// The metadata half of a routing plan (bitmatrix, expert counts, padded expert-sorted order), computed from
// plan.topk_ids. One function shared by route (after top-k) and build_plan (caller-given ids).
#pragma once

#include "moekit_core/configs.h"
#include "moekit_core/types.h"

namespace moekit::cpu {

// Writes every present metadata tensor of `plan` from plan.topk_ids [T,k]. Ids outside [0, E) are skipped:
// they set no bit, count nothing, and never index memory. Tensors arrive validated by core.
void write_plan_metadata(const ExecContext& ex, const RouterConfig& cfg, RoutingPlan& plan);

}  // namespace moekit::cpu
