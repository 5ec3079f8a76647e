// One MoE layer in one call: route logits [T,E] into top-k ids and weights held in the workspace, then run
// the experts on hidden [T,H] into out [T,H]. The workspace is carved into the plan buffers and the experts'
// workspace, each aligned to the contract's buffer_align_bytes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "moekit_core/configs.h"
#include "moekit_core/experts.h"
#include "moekit_core/router.h"
#include "moekit_core/types.h"

namespace moekit {

// Bytes moe_forward needs for num_tokens tokens. Checks that router and experts fit together.
// (router is non-const only because Router offers its context through a non-const accessor.)
size_t moe_forward_workspace_size(Router& router, const Experts& experts, int64_t num_tokens);

// Router and experts must share one context and the same num_experts. The router's top_k is the k of the run.
// `report` is written only on success.
void moe_forward(Router& router, Experts& experts, const TensorView& hidden, const TensorView& logits,
                 const TensorView& out, void* workspace, size_t workspace_bytes, RunReport& report, void* stream);

}  // namespace moekit
