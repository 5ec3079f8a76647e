// The HIP module's C face: moekit_plugin_get_table and the functions of its table (same plugin ABI as the CUDA
// module, kernels/common/moekit_plugin.h). Every function is a firewall (plugin_guard.h): no C++ exception
// crosses the ABI. Routing, the routing plan and the quantizers run the device code shared with CUDA; the router
// GEMM and the expert runner answer UNSUPPORTED with a message — never a silent different result.
#include <hip/hip_runtime_api.h>

#include <string>

#include "device_context.h"
#include "hip_check.h"
#include "kernel_launch.h"
#include "moekit_core/platform_contract.h"
#include "moekit_plugin.h"
#include "plugin_guard.h"

namespace moekit::hip {

namespace {

using plugin::guarded;
using plugin::write_message;

DeviceContext& as_context(void* context) {
  if (context == nullptr) throw PluginError(MOEKIT_PLUGIN_INVALID_ARGUMENT, "context: null device context");
  return *static_cast<DeviceContext*>(context);
}

hipStream_t as_stream(void* stream) { return static_cast<hipStream_t>(stream); }

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
    const PlatformContract c = moekit::hip_platform_contract();
    *out = moekit_plugin_contract{c.block_size_m, c.hidden_align, c.intermediate_align,
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

int32_t unsupported(const char* op, char* msg, size_t cap) {
  write_message(msg, cap, std::string(op) + ": " + kHipNotImplemented + "; use a CPU or CUDA context");
  return MOEKIT_PLUGIN_UNSUPPORTED;
}

int32_t router_gemm(void*, void*, const moekit_plugin_tensor*, const moekit_plugin_tensor*, const moekit_plugin_tensor*,
                    const moekit_plugin_tensor*, char* msg, size_t cap) {
  return unsupported("router_gemm", msg, cap);
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

int32_t prepare_experts(void*, void*, const moekit_plugin_experts_config*, const moekit_plugin_expert_weights*,
                        void** out, char* msg, size_t cap) {
  if (out != nullptr) *out = nullptr;
  return unsupported("experts", msg, cap);
}

int32_t free_experts(void*, void*, char*, size_t) { return MOEKIT_PLUGIN_OK; }

int32_t experts_workspace_size(void*, const moekit_plugin_experts_config*, int64_t, int32_t, size_t* out, char* msg,
                               size_t cap) {
  if (out != nullptr) *out = 0;
  return unsupported("experts_workspace_size", msg, cap);
}

int32_t run_experts(void*, void*, const moekit_plugin_experts_config*, void*, const moekit_plugin_tensor*,
                    const moekit_plugin_routing*, const moekit_plugin_tensor*, void*, size_t, moekit_plugin_run_report*,
                    char* msg, size_t cap) {
  return unsupported("run_experts", msg, cap);
}

int32_t alloc(void* context, size_t bytes, void** out, char* msg, size_t cap) {
  return guarded("alloc", msg, cap, [&] {
    DeviceContext& ctx = as_context(context);
    DeviceGuard guard(ctx.device());
    if (out == nullptr) throw PluginError(MOEKIT_PLUGIN_INVALID_ARGUMENT, "out: null");
    check_hip(hipMalloc(out, bytes), "hipMalloc");
  });
}

int32_t free_memory(void* context, void* ptr, char* msg, size_t cap) {
  return guarded("free", msg, cap, [&] {
    DeviceContext& ctx = as_context(context);
    DeviceGuard guard(ctx.device());
    check_hip(hipFree(ptr), "hipFree");
  });
}

int32_t stream_sync(void* context, void* stream, char* msg, size_t cap) {
  return guarded("stream_sync", msg, cap, [&] {
    DeviceContext& ctx = as_context(context);
    DeviceGuard guard(ctx.device());
    check_hip(hipStreamSynchronize(as_stream(stream)), "hipStreamSynchronize");
  });
}

const moekit_plugin_table kTable = {
    MOEKIT_PLUGIN_ABI_VERSION,
    static_cast<uint32_t>(sizeof(moekit_plugin_table)),
    "hip",
    /*device_type=*/10,  // kDLROCM
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

}  // namespace moekit::hip

extern "C" __attribute__((visibility("default"))) const moekit_plugin_table* moekit_plugin_get_table(
    uint32_t abi_version) {
  return abi_version == MOEKIT_PLUGIN_ABI_VERSION ? &moekit::hip::kTable : nullptr;
}
