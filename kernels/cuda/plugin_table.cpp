// The module's C face: moekit_plugin_get_table and the functions of its table. Every function is a firewall:
// C++ exceptions (PluginError, bad_alloc, anything) become a status and a message here and never cross the ABI.
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "device_context.h"
#include "experts.h"
#include "kernel_launch.h"
#include "moekit_plugin.h"
#include "plugin_error.h"
#include "moekit_core/platform_contract.h"
#include "router_gemm.h"

namespace moekit::cuda {

namespace {

using plugin::guarded;
using plugin::write_message;

DeviceContext& as_context(void* context) {
  if (context == nullptr) throw PluginError(MOEKIT_PLUGIN_INVALID_ARGUMENT, "context: null device context");
  return *static_cast<DeviceContext*>(context);
}

cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

int32_t probe(int32_t* device_count, char* detail, size_t cap) {
  int32_t status = MOEKIT_PLUGIN_OK;
  const int32_t firewall = guarded("probe", detail, cap, [&] {
    const ProbeResult r = probe_devices();
    if (device_count != nullptr) *device_count = r.device_count;
    write_message(detail, cap, r.detail);
    status = r.available ? MOEKIT_PLUGIN_OK : MOEKIT_PLUGIN_UNAVAILABLE;
  });
  return firewall != MOEKIT_PLUGIN_OK ? firewall : status;
}

int32_t context_create(int32_t device_id, void** out, char* msg, size_t cap) {
  return guarded("context_create", msg, cap, [&] {
    if (out == nullptr) throw PluginError(MOEKIT_PLUGIN_INVALID_ARGUMENT, "out_context: null");
    *out = new DeviceContext(device_id);
  });
}

int32_t context_destroy(void* context, char* msg, size_t cap) {
  return guarded("context_destroy", msg, cap, [&] { delete static_cast<DeviceContext*>(context); });
}

int32_t context_describe(void* context, char* out, size_t cap) {
  return guarded("context_describe", out, cap, [&] {
    DeviceContext& ctx = as_context(context);
    DeviceGuard guard(ctx.device());
    write_message(out, cap, ctx.describe());
  });
}

int32_t platform_contract(void*, moekit_plugin_contract* out, char* msg, size_t cap) {
  return guarded("platform_contract", msg, cap, [&] {
    if (out == nullptr) throw PluginError(MOEKIT_PLUGIN_INVALID_ARGUMENT, "out: null");
    // The contract's one definition (core/src/platform_contract.cpp) is compiled into this module too.
    const PlatformContract c = moekit::cuda_platform_contract();
    *out = moekit_plugin_contract{c.block_size_m, c.hidden_align,       c.intermediate_align,
                                  c.buffer_align_bytes, c.mx_block, c.fp8_block};
  });
}

int32_t route(void* context, void* stream, const moekit_plugin_router_config* cfg, const moekit_plugin_tensor* logits,
              const moekit_plugin_routing* plan, char* msg, size_t cap) {
  return guarded("route", msg, cap, [&] {
    DeviceContext& ctx = as_context(context);
    DeviceGuard guard(ctx.device());
    launch_route_topk(*cfg, *logits, *plan, as_stream(stream));
    launch_plan_metadata(*cfg, *plan, as_stream(stream));
  });
}

int32_t build_plan(void* context, void* stream, const moekit_plugin_router_config* cfg,
                   const moekit_plugin_routing* plan, char* msg, size_t cap) {
  return guarded("build_plan", msg, cap, [&] {
    DeviceContext& ctx = as_context(context);
    DeviceGuard guard(ctx.device());
    launch_plan_metadata(*cfg, *plan, as_stream(stream));
  });
}

int32_t router_gemm(void* context, void* stream, const moekit_plugin_tensor* hidden, const moekit_plugin_tensor* w_gate,
                    const moekit_plugin_tensor* bias, const moekit_plugin_tensor* logits, char* msg, size_t cap) {
  return guarded("router_gemm", msg, cap, [&] {
    DeviceContext& ctx = as_context(context);
    DeviceGuard guard(ctx.device());
    run_router_gemm(ctx, *hidden, *w_gate, bias, *logits, as_stream(stream));
  });
}

int32_t quantize(void* context, void* stream, const moekit_plugin_quantizer_config* cfg,
                 const moekit_plugin_tensor* input, const moekit_plugin_tensor* values,
                 const moekit_plugin_tensor* scales, char* msg, size_t cap) {
  return guarded("quantize", msg, cap, [&] {
    DeviceContext& ctx = as_context(context);
    DeviceGuard guard(ctx.device());
    launch_quantize(*cfg, *input, *values, *scales, as_stream(stream));
  });
}

int32_t dequantize(void* context, void* stream, const moekit_plugin_quantizer_config* cfg,
                   const moekit_plugin_tensor* values, const moekit_plugin_tensor* scales,
                   const moekit_plugin_tensor* output, char* msg, size_t cap) {
  return guarded("dequantize", msg, cap, [&] {
    DeviceContext& ctx = as_context(context);
    DeviceGuard guard(ctx.device());
    launch_dequantize(*cfg, *values, *scales, *output, as_stream(stream));
  });
}

// The expert runner (experts.h): weights prepared once into the module's layout, runs fully stream-ordered.
int32_t prepare_experts(void* context, void* stream, const moekit_plugin_experts_config* cfg,
                        const moekit_plugin_expert_weights* weights, void** out, char* msg, size_t cap) {
  return guarded("prepare_experts", msg, cap, [&] {
    if (out == nullptr) throw PluginError(MOEKIT_PLUGIN_INVALID_ARGUMENT, "out_prepared: null");
    *out = nullptr;
    DeviceContext& ctx = as_context(context);
    DeviceGuard guard(ctx.device());
    *out = experts::prepare(*cfg, *weights, as_stream(stream));
  });
}

int32_t free_experts(void* context, void* prepared, char* msg, size_t cap) {
  return guarded("free_experts", msg, cap, [&] {
    if (prepared == nullptr) return;
    DeviceContext& ctx = as_context(context);
    DeviceGuard guard(ctx.device());
    experts::free_prepared(static_cast<experts::Prepared*>(prepared));
  });
}

int32_t experts_workspace_size(void* context, const moekit_plugin_experts_config* cfg, int64_t num_tokens,
                               int32_t top_k, size_t* out, char* msg, size_t cap) {
  return guarded("experts_workspace_size", msg, cap, [&] {
    if (out == nullptr) throw PluginError(MOEKIT_PLUGIN_INVALID_ARGUMENT, "out_bytes: null");
    DeviceContext& ctx = as_context(context);
    *out = experts::workspace_size(*cfg, num_tokens, top_k, ctx.properties().multiProcessorCount,
                                   ctx.properties().major * 10 + ctx.properties().minor);
  });
}

int32_t run_experts(void* context, void* stream, const moekit_plugin_experts_config* cfg, void* prepared,
                    const moekit_plugin_tensor* hidden, const moekit_plugin_routing* plan,
                    const moekit_plugin_tensor* out, void* workspace, size_t workspace_bytes,
                    moekit_plugin_run_report* report, char* msg, size_t cap) {
  return guarded("run_experts", msg, cap, [&] {
    DeviceContext& ctx = as_context(context);
    if (prepared == nullptr) throw PluginError(MOEKIT_PLUGIN_INVALID_ARGUMENT, "prepared: null (weights not set)");
    DeviceGuard guard(ctx.device());
    moekit_plugin_run_report local{};
    experts::run(*cfg, *static_cast<const experts::Prepared*>(prepared), *hidden, *plan, *out, workspace,
                 workspace_bytes, ctx.properties().multiProcessorCount,
                 ctx.properties().major * 10 + ctx.properties().minor, report != nullptr ? *report : local,
                 as_stream(stream));
  });
}

int32_t alloc(void* context, size_t bytes, void** out, char* msg, size_t cap) {
  return guarded("alloc", msg, cap, [&] {
    DeviceContext& ctx = as_context(context);
    DeviceGuard guard(ctx.device());
    if (out == nullptr) throw PluginError(MOEKIT_PLUGIN_INVALID_ARGUMENT, "out: null");
    check_cuda(cudaMalloc(out, bytes), "cudaMalloc");
  });
}

int32_t free_memory(void* context, void* ptr, char* msg, size_t cap) {
  return guarded("free", msg, cap, [&] {
    DeviceContext& ctx = as_context(context);
    DeviceGuard guard(ctx.device());
    check_cuda(cudaFree(ptr), "cudaFree");
  });
}

int32_t stream_sync(void* context, void* stream, char* msg, size_t cap) {
  return guarded("stream_sync", msg, cap, [&] {
    DeviceContext& ctx = as_context(context);
    DeviceGuard guard(ctx.device());
    check_cuda(cudaStreamSynchronize(as_stream(stream)), "cudaStreamSynchronize");
  });
}

const moekit_plugin_table kTable = {
    MOEKIT_PLUGIN_ABI_VERSION,
    static_cast<uint32_t>(sizeof(moekit_plugin_table)),
    "cuda",
    /*device_type=*/2,
    probe,
    context_create,
    context_destroy,
    context_describe,
    platform_contract,
    route,
    build_plan,
    router_gemm,
    quantize,
    dequantize,
    prepare_experts,
    free_experts,
    experts_workspace_size,
    run_experts,
    alloc,
    free_memory,
    stream_sync,
};

}  // namespace

}  // namespace moekit::cuda

extern "C" __attribute__((visibility("default"))) const moekit_plugin_table* moekit_plugin_get_table(
    uint32_t abi_version) {
  return abi_version == MOEKIT_PLUGIN_ABI_VERSION ? &moekit::cuda::kTable : nullptr;
}
