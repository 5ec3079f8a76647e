#include "plugin_backend.h"

#include <dlfcn.h>

#include <cstring>
#include <string>
#include <vector>

#include "moekit_core/error.h"
#include "moekit_core/module_loader.h"

namespace moekit {

namespace {

constexpr size_t kMessageBytes = 1024;

// The table fields this libmoekit calls, up to and including stream_sync: a module must fill at least these.
constexpr size_t kRequiredTableBytes = offsetof(moekit_plugin_table, stream_sync) + sizeof(void*);

std::string join(const std::vector<std::string>& parts) {
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : "; ") + p;
  return s;
}

Status to_status(int32_t plugin_status) {
  switch (plugin_status) {
    case MOEKIT_PLUGIN_INVALID_ARGUMENT: return Status::InvalidArgument;
    case MOEKIT_PLUGIN_UNSUPPORTED: return Status::Unsupported;
    case MOEKIT_PLUGIN_UNAVAILABLE: return Status::BackendUnavailable;
    case MOEKIT_PLUGIN_OUT_OF_MEMORY: return Status::OutOfMemory;
    case MOEKIT_PLUGIN_DEVICE_ERROR: return Status::DeviceError;
    default: return Status::Internal;  // INTERNAL and any status this libmoekit does not know
  }
}

// Calls a table function that reports through a message buffer; throws Error on failure.
template <class Fn>
void call_plugin(const char* op, Fn&& fn) {
  char message[kMessageBytes] = {0};
  const int32_t status = fn(message, sizeof message);
  if (status == MOEKIT_PLUGIN_OK) return;
  message[kMessageBytes - 1] = '\0';
  std::string text = message[0] != '\0' ? std::string(message) : std::string(op) + ": failed without a message";
  fail(to_status(status), text);
}

template <class Fn>
Fn require(Fn fn, const char* op) {
  if (fn == nullptr) unsupported(std::string(op) + ": not provided by this device module");
  return fn;
}

int32_t dtype_code(DType d) { return static_cast<int32_t>(d); }  // same numbering (static_asserts below)
static_assert(static_cast<int32_t>(DType::F32) == MOEKIT_PLUGIN_F32 &&
                  static_cast<int32_t>(DType::F16) == MOEKIT_PLUGIN_F16 &&
                  static_cast<int32_t>(DType::BF16) == MOEKIT_PLUGIN_BF16 &&
                  static_cast<int32_t>(DType::F8E4M3) == MOEKIT_PLUGIN_F8_E4M3 &&
                  static_cast<int32_t>(DType::E8M0) == MOEKIT_PLUGIN_E8M0 &&
                  static_cast<int32_t>(DType::FP4X2) == MOEKIT_PLUGIN_FP4X2 &&
                  static_cast<int32_t>(DType::I32) == MOEKIT_PLUGIN_I32 &&
                  static_cast<int32_t>(DType::U32) == MOEKIT_PLUGIN_U32,
              "plugin dtype codes follow moekit::DType");
static_assert(static_cast<int32_t>(QuantScheme::Mxfp4) == MOEKIT_PLUGIN_QUANT_MXFP4 &&
                  static_cast<int32_t>(QuantScheme::Fp8Block) == MOEKIT_PLUGIN_QUANT_FP8_BLOCK,
              "plugin quantization schemes follow moekit::QuantScheme");

moekit_plugin_tensor to_plugin(const TensorView& t) {
  moekit_plugin_tensor p{};
  p.data = t.data;
  p.dtype = dtype_code(t.dtype);
  p.rank = t.rank;
  for (int i = 0; i < t.rank && i < MOEKIT_PLUGIN_MAX_RANK; ++i) p.shape[i] = t.shape[i];
  return p;
}

moekit_plugin_routing to_plugin(const RoutingPlan& plan) {
  return moekit_plugin_routing{to_plugin(plan.topk_weights),     to_plugin(plan.topk_ids),
                               to_plugin(plan.bitmatrix),        to_plugin(plan.expert_counts),
                               to_plugin(plan.sorted_token_ids), to_plugin(plan.block_expert_ids),
                               to_plugin(plan.num_tokens_post_padded)};
}

moekit_plugin_router_config to_plugin(const RouterConfig& c) {
  moekit_plugin_router_config p{};
  p.num_experts = c.num_experts;
  p.top_k = c.top_k;
  p.scoring = c.scoring == Scoring::Sigmoid ? MOEKIT_PLUGIN_SCORING_SIGMOID : MOEKIT_PLUGIN_SCORING_SOFTMAX;
  p.renormalize = c.renormalize ? 1 : 0;
  p.num_expert_groups = c.num_expert_groups < 1 ? 1 : c.num_expert_groups;
  p.topk_groups = c.topk_groups;
  p.routed_scaling_factor = c.routed_scaling_factor;
  p.block_size = c.block_size;
  p.correction_bias = c.correction_bias.empty() ? nullptr : c.correction_bias.data();
  p.expert_map = c.expert_map.empty() ? nullptr : c.expert_map.data();
  return p;
}

moekit_plugin_quantizer_config to_plugin(const QuantizerConfig& c) {
  return moekit_plugin_quantizer_config{static_cast<int32_t>(c.scheme), c.group_size};
}

moekit_plugin_experts_config to_plugin(const ExpertsConfig& c) {
  moekit_plugin_experts_config p{};
  p.num_experts = c.num_experts;
  p.num_local_experts = c.num_local_experts;
  p.hidden = c.hidden;
  p.intermediate = c.intermediate;
  p.hidden_pad = c.hidden_pad;
  p.intermediate_pad = c.intermediate_pad;
  p.activation = static_cast<int32_t>(c.activation);
  p.swiglu_alpha = c.swiglu_alpha;
  p.swiglu_limit = c.swiglu_limit;
  p.weight_format = static_cast<int32_t>(c.weight_format);
  p.act_quant = static_cast<int32_t>(c.act_quant);
  p.has_w13_bias = c.has_w13_bias;
  p.has_w2_bias = c.has_w2_bias;
  p.apply_router_weight_on_input = c.apply_router_weight_on_input;
  p.expert_map = c.expert_map.empty() ? nullptr : c.expert_map.data();
  return p;
}

// Expert weights prepared by a module: its handle, freed through the module when core drops them.
class PluginPreparedExperts final : public PreparedExperts {
 public:
  PluginPreparedExperts(const moekit_plugin_table* table, void* context, void* handle)
      : table_(table), context_(context), handle_(handle) {}
  ~PluginPreparedExperts() override {
    char message[kMessageBytes];
    if (table_->free_experts != nullptr) table_->free_experts(context_, handle_, message, sizeof message);
  }
  void* handle() const { return handle_; }

 private:
  const moekit_plugin_table* table_;
  void* context_;
  void* handle_;
};

DeviceType device_type_of(BackendKind kind) { return kind == BackendKind::HIP ? DeviceType::ROCM : DeviceType::CUDA; }

}  // namespace

PluginLookup find_plugin_module(BackendKind kind) {
  PluginLookup out;
  const std::string name = backend_name(kind);
  const std::string file = "libmoekit_" + name + ".so";
  ModuleSearch search = find_backend_module(name);
  if (search.handle == nullptr) {
    out.reason = "module " + file + " not found (searched: " + join(search.tried) + ")";
    return out;
  }
  dlerror();
  void* entry = dlsym(search.handle, MOEKIT_PLUGIN_ENTRY_POINT);
  if (entry == nullptr) {
    out.reason = "module " + search.path + " is not a moekit device module (no " MOEKIT_PLUGIN_ENTRY_POINT ")";
    return out;
  }
  const auto get_table = reinterpret_cast<moekit_plugin_get_table_fn>(entry);
  const moekit_plugin_table* table = get_table(MOEKIT_PLUGIN_ABI_VERSION);
  const std::string needs = "this libmoekit needs plugin ABI v" + std::to_string(MOEKIT_PLUGIN_ABI_VERSION) +
                            "; install a module from the same moekit release";
  if (table == nullptr) {
    out.reason = "module " + search.path + " does not implement plugin ABI v" +
                 std::to_string(MOEKIT_PLUGIN_ABI_VERSION) + " (" + needs + ")";
    return out;
  }
  if (table->abi_version != MOEKIT_PLUGIN_ABI_VERSION) {
    out.reason = "module " + search.path + " implements plugin ABI v" + std::to_string(table->abi_version) + ", but " +
                 needs;
    return out;
  }
  if (table->struct_size < kRequiredTableBytes || table->probe == nullptr || table->context_create == nullptr ||
      table->context_destroy == nullptr) {
    out.reason = "module " + search.path + " has an incomplete plugin table (struct_size " +
                 std::to_string(table->struct_size) + ", needs " + std::to_string(kRequiredTableBytes) + ")";
    return out;
  }
  const int32_t expected_device = static_cast<int32_t>(device_type_of(kind));
  if (table->device_type != expected_device || table->name == nullptr || name != table->name) {
    out.reason = "module " + search.path + " is a '" + (table->name ? table->name : "?") + "' module, not '" + name +
                 "'";
    return out;
  }
  auto module = std::make_shared<PluginModule>();
  module->path = search.path;
  module->table = table;
  out.module = std::move(module);
  return out;
}

PluginProbe probe_plugin(const PluginModule& module) {
  PluginProbe p;
  char detail[kMessageBytes] = {0};
  int32_t count = 0;
  const int32_t status = module.table->probe(&count, detail, sizeof detail);
  detail[kMessageBytes - 1] = '\0';
  p.detail = detail[0] != '\0' ? detail : "the module's probe gave no description";
  p.available = status == MOEKIT_PLUGIN_OK && count > 0;
  p.device_count = p.available ? count : 0;
  if (status == MOEKIT_PLUGIN_OK && count <= 0) p.detail = "no device (" + p.detail + ")";
  return p;
}

PluginBackend::PluginBackend(std::shared_ptr<const PluginModule> module, BackendKind kind, int32_t device_id)
    : module_(std::move(module)), table_(module_->table), kind_(kind), device_type_(device_type_of(kind)),
      device_id_(device_id) {
  call_plugin("context_create", [&](char* m, size_t n) { return table_->context_create(device_id, &context_, m, n); });
  try {
    moekit_plugin_contract c{};
    call_plugin("platform_contract", [&](char* m, size_t n) {
      return require(table_->platform_contract, "platform_contract")(context_, &c, m, n);
    });
    contract_ = PlatformContract{c.block_size_m, c.hidden_align, c.intermediate_align, c.buffer_align_bytes,
                                 c.mx_block,     c.fp8_block};
  } catch (...) {
    char message[kMessageBytes];
    table_->context_destroy(context_, message, sizeof message);
    throw;
  }
}

PluginBackend::~PluginBackend() {
  char message[kMessageBytes];
  table_->context_destroy(context_, message, sizeof message);  // nothing to report from a destructor
}

std::string PluginBackend::describe() const {
  char text[kMessageBytes] = {0};
  if (table_->context_describe == nullptr || table_->context_describe(context_, text, sizeof text) != MOEKIT_PLUGIN_OK)
    return std::string(backend_name(kind_)) + " device " + std::to_string(device_id_) + " (" + module_->path + ")";
  text[kMessageBytes - 1] = '\0';
  return text;
}

void PluginBackend::route(const ExecContext& ex, const RouterConfig& cfg, const TensorView& logits,
                          RoutingPlan& plan) {
  const moekit_plugin_router_config c = to_plugin(cfg);
  const moekit_plugin_tensor l = to_plugin(logits);
  const moekit_plugin_routing p = to_plugin(plan);
  call_plugin("route", [&](char* m, size_t n) {
    return require(table_->route, "route")(context_, ex.stream, &c, &l, &p, m, n);
  });
}

void PluginBackend::build_plan(const ExecContext& ex, const RouterConfig& cfg, RoutingPlan& plan) {
  const moekit_plugin_router_config c = to_plugin(cfg);
  const moekit_plugin_routing p = to_plugin(plan);
  call_plugin("build_plan", [&](char* m, size_t n) {
    return require(table_->build_plan, "build_plan")(context_, ex.stream, &c, &p, m, n);
  });
}

void PluginBackend::router_gemm(const ExecContext& ex, const TensorView& hidden, const TensorView& w_gate,
                                const TensorView* bias, const TensorView& logits) {
  const moekit_plugin_tensor h = to_plugin(hidden), w = to_plugin(w_gate), l = to_plugin(logits);
  const moekit_plugin_tensor b = bias != nullptr ? to_plugin(*bias) : moekit_plugin_tensor{};
  call_plugin("router_gemm", [&](char* m, size_t n) {
    return require(table_->router_gemm, "router_gemm")(context_, ex.stream, &h, &w, bias != nullptr ? &b : nullptr, &l,
                                                       m, n);
  });
}

void PluginBackend::quantize(const ExecContext& ex, const QuantizerConfig& cfg, const TensorView& input,
                             const TensorView& values, const TensorView& scales) {
  const moekit_plugin_quantizer_config c = to_plugin(cfg);
  const moekit_plugin_tensor i = to_plugin(input), v = to_plugin(values), s = to_plugin(scales);
  call_plugin("quantize", [&](char* m, size_t n) {
    return require(table_->quantize, "quantize")(context_, ex.stream, &c, &i, &v, &s, m, n);
  });
}

void PluginBackend::dequantize(const ExecContext& ex, const QuantizerConfig& cfg, const TensorView& values,
                               const TensorView& scales, const TensorView& output) {
  const moekit_plugin_quantizer_config c = to_plugin(cfg);
  const moekit_plugin_tensor v = to_plugin(values), s = to_plugin(scales), o = to_plugin(output);
  call_plugin("dequantize", [&](char* m, size_t n) {
    return require(table_->dequantize, "dequantize")(context_, ex.stream, &c, &v, &s, &o, m, n);
  });
}

std::unique_ptr<PreparedExperts> PluginBackend::prepare_experts(const ExecContext& ex, const ExpertsConfig& cfg,
                                                                const ExpertWeights& weights) {
  const moekit_plugin_experts_config c = to_plugin(cfg);
  const moekit_plugin_expert_weights w{to_plugin(weights.w13),       to_plugin(weights.w2),
                                       to_plugin(weights.w13_scale), to_plugin(weights.w2_scale),
                                       to_plugin(weights.w13_bias),  to_plugin(weights.w2_bias)};
  void* handle = nullptr;
  call_plugin("prepare_experts", [&](char* m, size_t n) {
    return require(table_->prepare_experts, "prepare_experts")(context_, ex.stream, &c, &w, &handle, m, n);
  });
  return std::make_unique<PluginPreparedExperts>(table_, context_, handle);
}

size_t PluginBackend::experts_workspace_size(const ExpertsConfig& cfg, int64_t num_tokens, int32_t top_k) const {
  const moekit_plugin_experts_config c = to_plugin(cfg);
  size_t bytes = 0;
  call_plugin("experts_workspace_size", [&](char* m, size_t n) {
    return require(table_->experts_workspace_size, "experts_workspace_size")(context_, &c, num_tokens, top_k, &bytes,
                                                                             m, n);
  });
  return bytes;
}

void PluginBackend::run_experts(const ExecContext& ex, const ExpertsConfig& cfg, const PreparedExperts& weights,
                                const TensorView& hidden, const RoutingPlan& plan, const TensorView& out,
                                void* workspace, size_t workspace_bytes, RunReport& report) {
  const auto* prepared = dynamic_cast<const PluginPreparedExperts*>(&weights);
  if (prepared == nullptr) fail(Status::Internal, "run_experts: weights were not prepared by this device module");
  const moekit_plugin_experts_config c = to_plugin(cfg);
  const moekit_plugin_tensor h = to_plugin(hidden), o = to_plugin(out);
  const moekit_plugin_routing p = to_plugin(plan);
  moekit_plugin_run_report r{};
  call_plugin("run_experts", [&](char* m, size_t n) {
    return require(table_->run_experts, "run_experts")(context_, ex.stream, &c, prepared->handle(), &h, &p, &o,
                                                       workspace, workspace_bytes, &r, m, n);
  });
  report.assignments = r.assignments;
  report.non_local_assignments = r.non_local_assignments;
  report.invalid_assignments = r.invalid_assignments;
  report.experts_touched = r.experts_touched;
  r.kernel[sizeof r.kernel - 1] = '\0';
  report.kernel = r.kernel;
  r.detail[sizeof r.detail - 1] = '\0';
  report.detail = r.detail;
}

}  // namespace moekit
