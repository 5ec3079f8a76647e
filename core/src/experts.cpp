#include "moekit_core/experts.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "moekit_core/error.h"
#include "moekit_core/validate.h"

namespace moekit {

namespace {

const char* format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::BF16: return "bfloat16";
    case WeightFormat::F16: return "float16";
    case WeightFormat::F32: return "float32";
    case WeightFormat::Fp8Block: return "fp8-block";
    case WeightFormat::Mxfp4: return "mxfp4";
  }
  return "unknown";
}

void validate_expert_map(ExpertsConfig& cfg) {
  const int32_t E = cfg.num_experts, L = cfg.num_local_experts;
  if (cfg.expert_map.empty()) {
    if (L != E)
      invalid("num_local_experts: without an expert_map it must equal num_experts (" + std::to_string(E) + "), got " +
              std::to_string(L));
    cfg.expert_map.resize(static_cast<size_t>(E));
    for (int32_t e = 0; e < E; ++e) cfg.expert_map[static_cast<size_t>(e)] = e;
    return;
  }
  if (cfg.expert_map.size() != static_cast<size_t>(E))
    invalid("expert_map: must have num_experts (" + std::to_string(E) + ") entries, got " +
            std::to_string(cfg.expert_map.size()));
  std::vector<int32_t> owner(static_cast<size_t>(L), -1);
  for (int32_t e = 0; e < E; ++e) {
    const int32_t local = cfg.expert_map[static_cast<size_t>(e)];
    if (local < -1 || local >= L)
      invalid("expert_map: entry " + std::to_string(e) + " is " + std::to_string(local) + ", must be -1 or in [0, " +
              std::to_string(L) + ")");
    if (local < 0) continue;
    int32_t& first = owner[static_cast<size_t>(local)];
    if (first >= 0)
      invalid("expert_map: local id " + std::to_string(local) + " is used by experts " + std::to_string(first) +
              " and " + std::to_string(e) + "; each local expert holds one global expert");
    first = e;
  }
}

// Checks one weight tensor: present, dtype, shape, device.
void expect_weight(const TensorView& t, const char* name, DType dtype, std::initializer_list<int64_t> shape,
                   const Context& ctx) {
  expect_present(t, name);
  expect_dtype(t, name, dtype);
  expect_shape(t, name, shape);
  expect_device(t, name, ctx.device_type(), ctx.device_id());
}

void expect_absent(const TensorView& t, const char* name, const std::string& why) {
  if (t.present()) invalid(std::string(name) + ": must be absent (data NULL) " + why);
}

}  // namespace

Experts::Experts(std::shared_ptr<Context> ctx, ExpertsConfig cfg) : ctx_(std::move(ctx)), cfg_(std::move(cfg)) {
  if (!ctx_) invalid("ctx: context is null");
  expect_range(cfg_.num_experts, "num_experts", 1, kMaxExperts);
  expect_range(cfg_.num_local_experts, "num_local_experts", 1, cfg_.num_experts);
  expect_range(cfg_.hidden, "hidden_size", 1, kMaxExpertDim);
  expect_range(cfg_.intermediate, "intermediate_size", 1, kMaxExpertDim);
  expect_range(static_cast<int32_t>(cfg_.activation), "activation", 0, 2);
  expect_range(static_cast<int32_t>(cfg_.weight_format), "weight_format", 0, 4);
  expect_range(static_cast<int32_t>(cfg_.act_quant), "act_quant", 0, 2);
  validate_expert_map(cfg_);
  if (cfg_.weight_format == WeightFormat::Mxfp4 && (cfg_.hidden % 32 != 0 || cfg_.intermediate % 32 != 0))
    invalid("weight_format: MXFP4 needs hidden_size and intermediate_size to be multiples of 32 (one E8M0 scale "
            "covers 32 values along the reduction dimension), got hidden_size " + std::to_string(cfg_.hidden) +
            ", intermediate_size " + std::to_string(cfg_.intermediate));
  const PaddedSizes p = padded_sizes(ctx_->contract(), cfg_.hidden, cfg_.intermediate);
  cfg_.hidden_pad = p.hidden_pad;
  cfg_.intermediate_pad = p.intermediate_pad;
}

void Experts::set_weights(const ExpertWeights& w, void* stream) {
  const int64_t L = cfg_.num_local_experts, H = cfg_.hidden, I = cfg_.intermediate;
  const Context& c = *ctx_;
  const std::string unused = std::string("for ") + format_name(cfg_.weight_format) + " weights";
  switch (cfg_.weight_format) {
    case WeightFormat::BF16:
    case WeightFormat::F16:
    case WeightFormat::F32: {
      const DType d = cfg_.weight_format == WeightFormat::BF16  ? DType::BF16
                      : cfg_.weight_format == WeightFormat::F16 ? DType::F16
                                                                : DType::F32;
      expect_weight(w.w13, "w13", d, {L, 2 * I, H}, c);
      expect_weight(w.w2, "w2", d, {L, H, I}, c);
      expect_absent(w.w13_scale, "w13_scale", unused);
      expect_absent(w.w2_scale, "w2_scale", unused);
      break;
    }
    case WeightFormat::Fp8Block: {
      const int64_t b = ctx_->contract().fp8_block;
      expect_weight(w.w13, "w13", DType::F8E4M3, {L, 2 * I, H}, c);
      expect_weight(w.w2, "w2", DType::F8E4M3, {L, H, I}, c);
      expect_weight(w.w13_scale, "w13_scale", DType::F32, {L, ceil_div(2 * I, b), ceil_div(H, b)}, c);
      expect_weight(w.w2_scale, "w2_scale", DType::F32, {L, ceil_div(H, b), ceil_div(I, b)}, c);
      break;
    }
    case WeightFormat::Mxfp4: {
      const int64_t mx = ctx_->contract().mx_block;
      expect_weight(w.w13, "w13", DType::FP4X2, {L, 2 * I, H / 2}, c);
      expect_weight(w.w2, "w2", DType::FP4X2, {L, H, I / 2}, c);
      expect_weight(w.w13_scale, "w13_scale", DType::E8M0, {L, 2 * I, H / mx}, c);
      expect_weight(w.w2_scale, "w2_scale", DType::E8M0, {L, H, I / mx}, c);
      break;
    }
  }
  if (cfg_.has_w13_bias)
    expect_weight(w.w13_bias, "w13_bias", DType::F32, {L, 2 * I}, c);
  else
    expect_absent(w.w13_bias, "w13_bias", "when has_w13_bias is 0");
  if (cfg_.has_w2_bias)
    expect_weight(w.w2_bias, "w2_bias", DType::F32, {L, H}, c);
  else
    expect_absent(w.w2_bias, "w2_bias", "when has_w2_bias is 0");
  prepared_ = ctx_->backend().prepare_experts(ctx_->exec(stream), cfg_, w);
}

size_t Experts::workspace_size(int64_t num_tokens, int32_t top_k) const {
  expect_range(num_tokens, "num_tokens", 0, INT64_MAX);
  expect_range(top_k, "top_k", 1, cfg_.num_experts);
  return ctx_->backend().experts_workspace_size(cfg_, num_tokens, top_k);
}

void Experts::run(const TensorView& hidden, const RoutingPlan& plan, const TensorView& out, void* workspace,
                  size_t workspace_bytes, RunReport& report, void* stream) {
  if (!has_weights()) invalid("experts: weights are not set (call moekit_experts_set_weights first)");
  const DeviceType dev = ctx_->device_type();
  const int32_t dev_id = ctx_->device_id();

  expect_present(hidden, "hidden");
  expect_dtype_in(hidden, "hidden", {DType::F32, DType::BF16, DType::F16});
  expect_shape(hidden, "hidden", {kAnyDim, cfg_.hidden});
  expect_device(hidden, "hidden", dev, dev_id);
  const int64_t T = hidden.dim(0);

  expect_present(out, "out");
  expect_dtype(out, "out", hidden.dtype);
  expect_shape(out, "out", {T, cfg_.hidden});
  expect_device(out, "out", dev, dev_id);

  expect_present(plan.topk_ids, "topk_ids");
  expect_dtype(plan.topk_ids, "topk_ids", DType::I32);
  expect_shape(plan.topk_ids, "topk_ids", {T, kAnyDim});
  expect_device(plan.topk_ids, "topk_ids", dev, dev_id);
  const int64_t k = plan.topk_ids.dim(1);
  if (k < 1 || k > cfg_.num_experts)
    invalid("topk_ids: top_k (the second dimension) must be in [1, num_experts = " +
            std::to_string(cfg_.num_experts) + "], got " + std::to_string(k));
  expect_present(plan.topk_weights, "topk_weights");
  expect_dtype(plan.topk_weights, "topk_weights", DType::F32);
  expect_shape(plan.topk_weights, "topk_weights", {T, k});
  expect_device(plan.topk_weights, "topk_weights", dev, dev_id);
  if (cfg_.apply_router_weight_on_input && k != 1)
    invalid("topk_ids: apply_router_weight_on_input needs top_k == 1 (a row scaled by one weight cannot serve "
            "several experts), got top_k " + std::to_string(k));

  const size_t need = workspace_size(T, static_cast<int32_t>(k));
  if (workspace_bytes < need)
    invalid("workspace_bytes: " + std::to_string(workspace_bytes) + " is smaller than the " + std::to_string(need) +
            " bytes moekit_experts_workspace_size asks for");
  if (need > 0) {
    if (workspace == nullptr) invalid("workspace: is null but " + std::to_string(need) + " bytes are needed");
    const auto align = static_cast<uintptr_t>(ctx_->contract().buffer_align_bytes);
    if (reinterpret_cast<uintptr_t>(workspace) % align != 0)
      invalid("workspace: must be aligned to " + std::to_string(align) + " bytes (the contract's buffer_align_bytes)");
  }

  RunReport r;
  ctx_->backend().run_experts(ctx_->exec(stream), cfg_, *prepared_, hidden, plan, out, workspace, workspace_bytes, r);
  report = std::move(r);
}

}  // namespace moekit
