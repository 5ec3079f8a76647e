#include "moekit_core/moe_forward.h"

#include <string>

#include "moekit_core/error.h"
#include "moekit_core/validate.h"

namespace moekit {

namespace {

// Where the pieces of the moe_forward workspace start (bytes), each aligned to buffer_align_bytes.
struct ForwardLayout {
  int64_t topk_weights = 0;  // f32 [T,k]
  int64_t topk_ids = 0;      // i32 [T,k]
  int64_t experts = 0;       // the experts' workspace
  int64_t experts_bytes = 0;
  int64_t total = 0;
};

void check_pair(Router& router, const Experts& experts) {
  if (&router.context() != &experts.context())
    invalid("experts: the router and the expert runner must be created on the same context");
  if (router.config().num_experts != experts.config().num_experts)
    invalid("experts: num_experts " + std::to_string(experts.config().num_experts) + " differs from the router's " +
            std::to_string(router.config().num_experts));
}

ForwardLayout layout_for(Router& router, const Experts& experts, int64_t T) {
  check_pair(router, experts);
  router.plan_sizes(T);  // rejects T < 0 and plans int32 indices cannot address
  const int32_t k = router.config().top_k;
  const int64_t align = experts.context().contract().buffer_align_bytes;
  const int64_t plan_bytes = checked_mul(checked_mul(T, k, "num_tokens * top_k"), 4, "workspace");
  ForwardLayout l;
  l.topk_weights = 0;
  l.topk_ids = round_up(plan_bytes, align);
  l.experts = round_up(checked_add(l.topk_ids, plan_bytes, "workspace"), align);
  l.experts_bytes = static_cast<int64_t>(experts.workspace_size(T, k));
  l.total = checked_add(l.experts, l.experts_bytes, "workspace");
  return l;
}

TensorView plan_tensor(void* data, DType dtype, int64_t T, int64_t k, const Context& ctx) {
  TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.rank = 2;
  v.shape[0] = T;
  v.shape[1] = k;
  v.device = ctx.device_type();
  v.device_id = ctx.device_id();
  return v;
}

}  // namespace

size_t moe_forward_workspace_size(Router& router, const Experts& experts, int64_t num_tokens) {
  return static_cast<size_t>(layout_for(router, experts, num_tokens).total);
}

void moe_forward(Router& router, Experts& experts, const TensorView& hidden, const TensorView& logits,
                 const TensorView& out, void* workspace, size_t workspace_bytes, RunReport& report, void* stream) {
  check_pair(router, experts);
  if (!experts.has_weights()) invalid("experts: weights are not set (call moekit_experts_set_weights first)");
  // Everything the layer needs is checked before the router writes anything, so a failing call leaves `out`
  // untouched; the experts re-check their part.
  expect_present(hidden, "hidden");
  expect_shape(hidden, "hidden", {kAnyDim, experts.config().hidden});
  const int64_t T = hidden.dim(0);
  expect_present(logits, "logits");
  expect_shape(logits, "logits", {T, router.config().num_experts});
  expect_present(out, "out");
  expect_dtype(out, "out", hidden.dtype);
  expect_shape(out, "out", {T, experts.config().hidden});

  const ForwardLayout l = layout_for(router, experts, T);
  if (workspace_bytes < static_cast<size_t>(l.total))
    invalid("workspace_bytes: " + std::to_string(workspace_bytes) + " is smaller than the " +
            std::to_string(l.total) + " bytes moekit_moe_forward_workspace_size asks for");
  if (l.total > 0) {
    if (workspace == nullptr) invalid("workspace: is null but " + std::to_string(l.total) + " bytes are needed");
    const auto align = static_cast<uintptr_t>(experts.context().contract().buffer_align_bytes);
    if (reinterpret_cast<uintptr_t>(workspace) % align != 0)
      invalid("workspace: must be aligned to " + std::to_string(align) + " bytes (the contract's buffer_align_bytes)");
  }

  // With T == 0 there is no workspace; the empty plan tensors still need a non-null pointer to count as given.
  static char empty_sentinel;
  char* base = workspace != nullptr ? static_cast<char*>(workspace) : &empty_sentinel;
  const int64_t k = router.config().top_k;
  RoutingPlan plan;
  plan.topk_weights = plan_tensor(base + l.topk_weights, DType::F32, T, k, experts.context());
  plan.topk_ids = plan_tensor(base + l.topk_ids, DType::I32, T, k, experts.context());
  router.run(logits, plan, stream);
  void* experts_ws = l.experts_bytes > 0 ? base + l.experts : nullptr;
  experts.run(hidden, plan, out, experts_ws, static_cast<size_t>(l.experts_bytes), report, stream);
}

}  // namespace moekit
