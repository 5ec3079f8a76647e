// The module's C face: moekit_plugin_get_table and the functions of its table. Every function is a firewall:
// C++ exceptions (PluginError, bad_alloc, anything) become a status and a message here and never cross the ABI.
// The functions shared with the HIP module (probe, contexts, routing, quantizers, memory) are
// kernels/common/plugin_table_common.h's; this file adds the router GEMM and the expert runner.
#include <cuda_runtime_api.h>

#include "device_context.h"
#include "experts.h"
#include "kernel_launch.h"
#include "moekit_plugin.h"
#include "plugin_error.h"
#include "plugin_table_common.h"
#include "moekit_core/platform_contract.h"
#include "router_gemm.h"

namespace moekit::cuda {

namespace {

using plugin::guarded;

// The CUDA runtime as kernels/common/plugin_table_common.h needs it.
struct CudaModule {
  using Context = DeviceContext;
  using Guard = DeviceGuard;
  using Stream = cudaStream_t;
  static constexpr auto probe = &probe_devices;
  static constexpr auto contract = &moekit::cuda_platform_contract;
  static constexpr auto launch_route_topk = &cuda::launch_route_topk;
  static constexpr auto launch_plan_metadata = &cuda::launch_plan_metadata;
  static constexpr auto launch_quantize = &cuda::launch_quantize;
  static constexpr auto launch_dequantize = &cuda::launch_dequantize;
  static void allocate(void** out, size_t bytes) { check_cuda(cudaMalloc(out, bytes), "cudaMalloc"); }
  static void release(void* ptr) { check_cuda(cudaFree(ptr), "cudaFree"); }
  static void synchronize(cudaStream_t stream) { check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize"); }
};
using Ops = plugin::CommonTableOps<CudaModule>;
constexpr auto as_context = &Ops::as_context;
constexpr auto as_stream = &Ops::as_stream;

int32_t router_gemm(void* context, void* stream, const moekit_plugin_tensor* hidden, const moekit_plugin_tensor* w_gate,
                    const moekit_plugin_tensor* bias, const moekit_plugin_tensor* logits, char* msg, size_t cap) {
  return Ops::on_device("router_gemm", context, msg, cap, [&](DeviceContext& ctx) {
    run_router_gemm(ctx, *hidden, *w_gate, bias, *logits, as_stream(stream));
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

experts::DeviceShape device_shape(const DeviceContext& ctx) {
  const cudaDeviceProp& props = ctx.properties();
  return {props.multiProcessorCount, props.major * 10 + props.minor, props.sharedMemPerMultiprocessor,
          ctx.code().e4m3_mma, ctx.code().wgmma, ctx.code().dependent_launch};
}

int32_t experts_workspace_size(void* context, const moekit_plugin_experts_config* cfg, int64_t num_tokens,
                               int32_t top_k, size_t* out, char* msg, size_t cap) {
  return guarded("experts_workspace_size", msg, cap, [&] {
    if (out == nullptr) throw PluginError(MOEKIT_PLUGIN_INVALID_ARGUMENT, "out_bytes: null");
    DeviceContext& ctx = as_context(context);
    *out = experts::workspace_size(*cfg, num_tokens, top_k, device_shape(ctx));
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
                 workspace_bytes, device_shape(ctx), report != nullptr ? *report : local, as_stream(stream));
  });
}

const moekit_plugin_table kTable = {
    MOEKIT_PLUGIN_ABI_VERSION,
    static_cast<uint32_t>(sizeof(moekit_plugin_table)),
    "cuda",
    /*device_type=*/2,
    Ops::probe,
    Ops::context_create,
    Ops::context_destroy,
    Ops::context_describe,
    Ops::platform_contract,
    Ops::route,
    Ops::build_plan,
    router_gemm,
    Ops::quantize,
    Ops::dequantize,
    prepare_experts,
    free_experts,
    experts_workspace_size,
    run_experts,
    Ops::alloc,
    Ops::free_memory,
    Ops::stream_sync,
};

}  // namespace

}  // namespace moekit::cuda

extern "C" __attribute__((visibility("default"))) const moekit_plugin_table* moekit_plugin_get_table(
    uint32_t abi_version) {
  return abi_version == MOEKIT_PLUGIN_ABI_VERSION ? &moekit::cuda::kTable : nullptr;
}
