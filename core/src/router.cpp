#include "moekit_core/router.h"

#include <cmath>
#include <limits>
#include <string>

#include "moekit_core/error.h"
#include "moekit_core/validate.h"

namespace moekit {

namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

void validate_config(RouterConfig& cfg, const PlatformContract& contract) {
  expect_range(cfg.num_experts, "num_experts", 1, kMaxRouterExperts);
  const int64_t e = cfg.num_experts;
  expect_range(cfg.top_k, "top_k", 1, e);
  if (cfg.scoring != Scoring::Softmax && cfg.scoring != Scoring::Sigmoid)
    invalid("scoring: unknown scoring function " + std::to_string(static_cast<int32_t>(cfg.scoring)));

  if (cfg.num_expert_groups == 0 || cfg.num_expert_groups == 1) {
    cfg.num_expert_groups = 1;  // no grouping: every expert is eligible
    cfg.topk_groups = 1;
  } else {
    expect_range(cfg.num_expert_groups, "num_expert_groups", 0, e);
    if (e % cfg.num_expert_groups != 0)
      invalid("num_expert_groups: must divide num_experts (" + std::to_string(e) + "), got " +
              std::to_string(cfg.num_expert_groups));
    expect_range(cfg.topk_groups, "topk_groups", 1, cfg.num_expert_groups);
    const int64_t eligible = int64_t{cfg.topk_groups} * (e / cfg.num_expert_groups);
    if (cfg.top_k > eligible)
      invalid("top_k: " + std::to_string(cfg.top_k) + " exceeds the " + std::to_string(eligible) +
              " experts of the topk_groups best groups");
  }

  if (!std::isfinite(cfg.routed_scaling_factor)) invalid("routed_scaling_factor: must be finite");

  if (!cfg.correction_bias.empty()) {
    if (static_cast<int64_t>(cfg.correction_bias.size()) != e)
      invalid("correction_bias: must have num_experts (" + std::to_string(e) + ") entries, got " +
              std::to_string(cfg.correction_bias.size()));
    for (size_t i = 0; i < cfg.correction_bias.size(); ++i)
      if (!std::isfinite(cfg.correction_bias[i]))
        invalid("correction_bias: entry " + std::to_string(i) + " is not finite");
  }
  if (!cfg.expert_map.empty()) {
    if (static_cast<int64_t>(cfg.expert_map.size()) != e)
      invalid("expert_map: must have num_experts (" + std::to_string(e) + ") entries, got " +
              std::to_string(cfg.expert_map.size()));
    for (size_t i = 0; i < cfg.expert_map.size(); ++i)
      if (cfg.expert_map[i] < -1 || cfg.expert_map[i] >= e)
        invalid("expert_map: entry " + std::to_string(i) + " must be in [-1, " + std::to_string(e - 1) + "], got " +
                std::to_string(cfg.expert_map[i]));
  }

  if (cfg.block_size == 0) cfg.block_size = contract.block_size_m;
  expect_range(cfg.block_size, "block_size", 1, kMaxRouterBlockSize);
  // Even with no tokens, every expert may add block_size-1 padding rows, all addressed by int32 indices.
  const int64_t padding = e * (cfg.block_size - 1) + cfg.block_size;
  if (padding > kInt32Max)
    invalid("block_size: num_experts * block_size (" + std::to_string(padding) +
            ") does not fit the int32 indices of the routing plan");
}

void expect_tensor(const TensorView& t, const char* name, DType dtype, std::initializer_list<int64_t> shape,
                   const Context& ctx) {
  expect_dtype(t, name, dtype);
  expect_shape(t, name, shape);
  expect_device(t, name, ctx.device_type(), ctx.device_id());
}

// A 1-D buffer that must hold at least `min_len` entries.
void expect_buffer(const TensorView& t, const char* name, int64_t min_len, const Context& ctx) {
  expect_tensor(t, name, DType::I32, {kAnyDim}, ctx);
  if (t.shape[0] < min_len)
    invalid(std::string(name) + ": needs at least " + std::to_string(min_len) + " entries (moekit_router_plan_sizes), got " +
            std::to_string(t.shape[0]));
}

}  // namespace

Router::Router(std::shared_ptr<Context> ctx, RouterConfig cfg) : ctx_(std::move(ctx)), cfg_(std::move(cfg)) {
  if (!ctx_) invalid("ctx: context is null");
  validate_config(cfg_, ctx_->contract());
}

PlanSizes Router::plan_sizes(int64_t num_tokens) const {
  if (num_tokens < 0) invalid("num_tokens: must be >= 0, got " + std::to_string(num_tokens));
  const int64_t assignments = checked_mul(num_tokens, cfg_.top_k, "num_tokens * top_k");
  // sorted_token_ids stores flat indices t*k+j and the fill value T*k as int32, and
  // num_tokens_post_padded stores the padded total (<= max_sorted) as int32. Checking T*k first also keeps
  // the round-up inside moekit::plan_sizes far from int64 overflow.
  const bool fits = assignments <= kInt32Max;
  const PlanSizes s = fits ? moekit::plan_sizes(num_tokens, cfg_.top_k, cfg_.num_experts, cfg_.block_size)
                           : PlanSizes{assignments, 0};
  if (!fits || s.max_sorted > kInt32Max)
    invalid("num_tokens: " + std::to_string(num_tokens) + " tokens x top_k " + std::to_string(cfg_.top_k) +
            " (padded " + std::to_string(s.max_sorted) + ") exceed the int32 indices of the routing plan");
  return s;
}

void Router::validate_plan(const RoutingPlan& plan, int64_t num_tokens, bool need_topk) const {
  const Context& ctx = *ctx_;
  const int64_t t = num_tokens;
  const int64_t k = cfg_.top_k;
  const int64_t e = cfg_.num_experts;
  const PlanSizes sizes = plan_sizes(t);

  if (need_topk) {
    expect_present(plan.topk_weights, "topk_weights");
    expect_present(plan.topk_ids, "topk_ids");
  }
  if (plan.topk_weights.present()) expect_tensor(plan.topk_weights, "topk_weights", DType::F32, {t, k}, ctx);
  if (plan.topk_ids.present()) expect_tensor(plan.topk_ids, "topk_ids", DType::I32, {t, k}, ctx);
  if (plan.bitmatrix.present()) expect_tensor(plan.bitmatrix, "bitmatrix", DType::U32, {t, ceil_div(e, 32)}, ctx);
  if (plan.expert_counts.present()) expect_tensor(plan.expert_counts, "expert_counts", DType::I32, {e}, ctx);

  const int sorted_parts = plan.sorted_token_ids.present() + plan.block_expert_ids.present() +
                           plan.num_tokens_post_padded.present();
  if (sorted_parts != 0 && sorted_parts != 3) {
    const char* missing = !plan.sorted_token_ids.present()   ? "sorted_token_ids"
                          : !plan.block_expert_ids.present() ? "block_expert_ids"
                                                             : "num_tokens_post_padded";
    invalid(std::string(missing) +
            ": data is null, but the sorted order needs sorted_token_ids, block_expert_ids and "
            "num_tokens_post_padded together");
  }
  if (sorted_parts == 3) {
    expect_buffer(plan.sorted_token_ids, "sorted_token_ids", sizes.max_sorted, ctx);
    expect_buffer(plan.block_expert_ids, "block_expert_ids", sizes.max_blocks, ctx);
    expect_tensor(plan.num_tokens_post_padded, "num_tokens_post_padded", DType::I32, {1}, ctx);
  }
}

void Router::run(const TensorView& logits, RoutingPlan& plan, void* stream) {
  expect_present(logits, "logits");
  expect_dtype_in(logits, "logits", {DType::F32, DType::BF16, DType::F16});
  expect_shape(logits, "logits", {kAnyDim, cfg_.num_experts});
  expect_device(logits, "logits", ctx_->device_type(), ctx_->device_id());
  validate_plan(plan, logits.shape[0], /*need_topk=*/true);
  ctx_->backend().route(ctx_->exec(stream), cfg_, logits, plan);
}

void Router::build_plan(RoutingPlan& plan, void* stream) {
  expect_present(plan.topk_ids, "topk_ids");
  expect_dtype(plan.topk_ids, "topk_ids", DType::I32);
  expect_shape(plan.topk_ids, "topk_ids", {kAnyDim, cfg_.top_k});
  validate_plan(plan, plan.topk_ids.shape[0], /*need_topk=*/false);
  ctx_->backend().build_plan(ctx_->exec(stream), cfg_, plan);
}

void router_gemm(Context& ctx, const TensorView& hidden, const TensorView& w_gate, const TensorView* bias,
                 const TensorView& logits, void* stream) {
  expect_present(hidden, "hidden");
  expect_present(w_gate, "w_gate");
  expect_present(logits, "logits");
  expect_dtype_in(hidden, "hidden", {DType::F32, DType::BF16, DType::F16});
  expect_dtype(w_gate, "w_gate", hidden.dtype);
  expect_dtype(logits, "logits", DType::F32);
  expect_shape(hidden, "hidden", {kAnyDim, kAnyDim});
  expect_shape(w_gate, "w_gate", {kAnyDim, kAnyDim});
  const int64_t t = hidden.shape[0], h = hidden.shape[1], e = w_gate.shape[0];
  // BLAS takes int dimensions; the CPU backend tiles T, so only H and E need to fit.
  expect_range(h, "hidden: H (shape[1])", 1, kInt32Max);
  expect_range(e, "w_gate: E (shape[0])", 1, kInt32Max);
  expect_shape(w_gate, "w_gate", {e, h});
  expect_shape(logits, "logits", {t, e});
  const bool has_bias = bias != nullptr && bias->present();
  if (has_bias) {
    expect_dtype(*bias, "bias", DType::F32);
    expect_shape(*bias, "bias", {e});
  }
  const DeviceType dev = ctx.device_type();
  const int32_t dev_id = ctx.device_id();
  expect_device(hidden, "hidden", dev, dev_id);
  expect_device(w_gate, "w_gate", dev, dev_id);
  expect_device(logits, "logits", dev, dev_id);
  if (has_bias) expect_device(*bias, "bias", dev, dev_id);
  ctx.backend().router_gemm(ctx.exec(stream), hidden, w_gate, has_bias ? bias : nullptr, logits);
}

}  // namespace moekit
