// The plugin-table functions whose logic is the same in every device module (CUDA, HIP): probe, context
// lifetime, the platform contract, routing, the routing plan, the quantizers and device memory. Each is a
// firewall (plugin_guard.h). A module supplies its runtime through a traits type M:
//   M::Context, M::Guard          device context (constructed from a device id; device(), describe()) and the
//                                 RAII "make this device current" guard
//   M::Stream                     the runtime's stream type
//   M::probe()                    a ProbeResult (device_context_common.h)
//   M::contract()                 the module's PlatformContract (core/src/platform_contract.cpp)
//   M::launch_route_topk, M::launch_plan_metadata, M::launch_quantize, M::launch_dequantize
//   M::allocate(void**, bytes), M::release(void*), M::synchronize(Stream)   throwing PluginError on failure
// and fills its table from CommonTableOps<M> plus its own router GEMM and expert-runner entries.
#pragma once

#include <cstddef>
#include <cstdint>

#include "moekit_plugin.h"
#include "plugin_guard.h"

namespace moekit::plugin {

template <class M>
struct CommonTableOps {
  using Context = typename M::Context;
  using Stream = typename M::Stream;

  static Context& as_context(void* context) {
    if (context == nullptr) throw PluginError(MOEKIT_PLUGIN_INVALID_ARGUMENT, "context: null device context");
    return *static_cast<Context*>(context);
  }
  static Stream as_stream(void* stream) { return static_cast<Stream>(stream); }

  // `fn(ctx)` inside the firewall, with the context's device current.
  template <class Fn>
  static int32_t on_device(const char* op, void* context, char* msg, size_t cap, Fn&& fn) {
    return guarded(op, msg, cap, [&] {
      Context& ctx = as_context(context);
      typename M::Guard guard(ctx.device());
      fn(ctx);
    });
  }

  static int32_t probe(int32_t* device_count, char* detail, size_t cap) {
    int32_t status = MOEKIT_PLUGIN_OK;
    const int32_t firewall = guarded("probe", detail, cap, [&] {
      const auto r = M::probe();
      if (device_count != nullptr) *device_count = r.device_count;
      write_message(detail, cap, r.detail);
      status = r.available ? MOEKIT_PLUGIN_OK : MOEKIT_PLUGIN_UNAVAILABLE;
    });
    return firewall != MOEKIT_PLUGIN_OK ? firewall : status;
  }

  static int32_t context_create(int32_t device_id, void** out, char* msg, size_t cap) {
    return guarded("context_create", msg, cap, [&] {
      if (out == nullptr) throw PluginError(MOEKIT_PLUGIN_INVALID_ARGUMENT, "out_context: null");
      *out = new Context(device_id);
    });
  }

  static int32_t context_destroy(void* context, char* msg, size_t cap) {
    return guarded("context_destroy", msg, cap, [&] { delete static_cast<Context*>(context); });
  }

  static int32_t context_describe(void* context, char* out, size_t cap) {
    return on_device("context_describe", context, out, cap,
                     [&](Context& ctx) { write_message(out, cap, ctx.describe()); });
  }

  static int32_t platform_contract(void*, moekit_plugin_contract* out, char* msg, size_t cap) {
    return guarded("platform_contract", msg, cap, [&] {
      if (out == nullptr) throw PluginError(MOEKIT_PLUGIN_INVALID_ARGUMENT, "out: null");
      // The contract's one definition (core/src/platform_contract.cpp) is compiled into the module too.
      const auto c = M::contract();
      *out = moekit_plugin_contract{c.block_size_m,       c.hidden_align, c.intermediate_align,
                                    c.buffer_align_bytes, c.mx_block,     c.fp8_block};
    });
  }

  static int32_t route(void* context, void* stream, const moekit_plugin_router_config* cfg,
                       const moekit_plugin_tensor* logits, const moekit_plugin_routing* plan, char* msg, size_t cap) {
    return on_device("route", context, msg, cap, [&](Context&) {
      M::launch_route_topk(*cfg, *logits, *plan, as_stream(stream));
      M::launch_plan_metadata(*cfg, *plan, as_stream(stream));
    });
  }

  static int32_t build_plan(void* context, void* stream, const moekit_plugin_router_config* cfg,
                            const moekit_plugin_routing* plan, char* msg, size_t cap) {
    return on_device("build_plan", context, msg, cap,
                     [&](Context&) { M::launch_plan_metadata(*cfg, *plan, as_stream(stream)); });
  }

  static int32_t quantize(void* context, void* stream, const moekit_plugin_quantizer_config* cfg,
                          const moekit_plugin_tensor* input, const moekit_plugin_tensor* values,
                          const moekit_plugin_tensor* scales, char* msg, size_t cap) {
    return on_device("quantize", context, msg, cap,
                     [&](Context&) { M::launch_quantize(*cfg, *input, *values, *scales, as_stream(stream)); });
  }

  static int32_t dequantize(void* context, void* stream, const moekit_plugin_quantizer_config* cfg,
                            const moekit_plugin_tensor* values, const moekit_plugin_tensor* scales,
                            const moekit_plugin_tensor* output, char* msg, size_t cap) {
    return on_device("dequantize", context, msg, cap,
                     [&](Context&) { M::launch_dequantize(*cfg, *values, *scales, *output, as_stream(stream)); });
  }

  static int32_t alloc(void* context, size_t bytes, void** out, char* msg, size_t cap) {
    return on_device("alloc", context, msg, cap, [&](Context&) {
      if (out == nullptr) throw PluginError(MOEKIT_PLUGIN_INVALID_ARGUMENT, "out: null");
      M::allocate(out, bytes);
    });
  }

  static int32_t free_memory(void* context, void* ptr, char* msg, size_t cap) {
    return on_device("free", context, msg, cap, [&](Context&) { M::release(ptr); });
  }

  static int32_t stream_sync(void* context, void* stream, char* msg, size_t cap) {
    return on_device("stream_sync", context, msg, cap, [&](Context&) { M::synchronize(as_stream(stream)); });
  }
};

}  // namespace moekit::plugin
