// The HIP module's C face: moekit_plugin_get_table and the functions of its table (same plugin ABI as the CUDA
// module, kernels/common/moekit_plugin.h). Every function is a firewall (plugin_guard.h): no C++ exception
// crosses the ABI. The functions shared with CUDA (probe, contexts, routing, the routing plan, quantizers,
// memory) are kernels/common/plugin_table_common.h's and run the device code shared with CUDA; the router GEMM
// and the expert runner answer UNSUPPORTED with a message — never a silent different result.
#include <hip/hip_runtime_api.h>

#include <string>

#include "device_context.h"
#include "hip_check.h"
#include "kernel_launch.h"
#include "moekit_core/platform_contract.h"
#include "moekit_plugin.h"
#include "plugin_guard.h"
#include "plugin_table_common.h"

namespace moekit::hip {

namespace {

using plugin::write_message;

// The HIP runtime as kernels/common/plugin_table_common.h needs it.
struct HipModule {
  using Context = DeviceContext;
  using Guard = DeviceGuard;
  using Stream = hipStream_t;
  static constexpr auto probe = &probe_devices;
  static constexpr auto contract = &moekit::hip_platform_contract;
  static constexpr auto launch_route_topk = &hip::launch_route_topk;
  static constexpr auto launch_plan_metadata = &hip::launch_plan_metadata;
  static constexpr auto launch_quantize = &hip::launch_quantize;
  static constexpr auto launch_dequantize = &hip::launch_dequantize;
  static void allocate(void** out, size_t bytes) { check_hip(hipMalloc(out, bytes), "hipMalloc"); }
  static void release(void* ptr) { check_hip(hipFree(ptr), "hipFree"); }
  static void synchronize(hipStream_t stream) { check_hip(hipStreamSynchronize(stream), "hipStreamSynchronize"); }
};
using Ops = plugin::CommonTableOps<HipModule>;

int32_t unsupported(const char* op, char* msg, size_t cap) {
  write_message(msg, cap, std::string(op) + ": " + kHipNotImplemented + "; use a CPU or CUDA context");
  return MOEKIT_PLUGIN_UNSUPPORTED;
}

int32_t router_gemm(void*, void*, const moekit_plugin_tensor*, const moekit_plugin_tensor*, const moekit_plugin_tensor*,
                    const moekit_plugin_tensor*, char* msg, size_t cap) {
  return unsupported("router_gemm", msg, cap);
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

const moekit_plugin_table kTable = {
    MOEKIT_PLUGIN_ABI_VERSION,
    static_cast<uint32_t>(sizeof(moekit_plugin_table)),
    "hip",
    /*device_type=*/10,  // kDLROCM
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

}  // namespace moekit::hip

extern "C" __attribute__((visibility("default"))) const moekit_plugin_table* moekit_plugin_get_table(
    uint32_t abi_version) {
  return abi_version == MOEKIT_PLUGIN_ABI_VERSION ? &moekit::hip::kTable : nullptr;
}
