#include "moekit_core/context.h"

#include <thread>

#include "cpu/cpu_backend.h"
#include "moekit_core/error.h"
#include "plugin_backend.h"

namespace moekit {

namespace {

// A device backend lives in a plugin module that core dlopens (plugin_backend.h): found, ABI-checked, then
// asked whether it sees a device. Any "no" comes back as the reason in `detail`.
BackendStatus probe_device_backend(BackendKind kind) {
  BackendStatus st;
  st.kind = kind;
  st.name = backend_name(kind);
  const PluginLookup lookup = find_plugin_module(kind);
  if (!lookup.module) {
    st.detail = lookup.reason;
    return st;
  }
  const PluginProbe probe = probe_plugin(*lookup.module);
  st.available = probe.available;
  st.device_count = probe.device_count;
  st.detail = probe.detail;
  return st;
}

std::unique_ptr<Backend> create_device_backend(BackendKind kind, int32_t device_id) {
  const std::string unavailable = std::string("backend ") + backend_name(kind) + " unavailable: ";
  const PluginLookup lookup = find_plugin_module(kind);
  if (!lookup.module) fail(Status::BackendUnavailable, unavailable + lookup.reason);
  const PluginProbe probe = probe_plugin(*lookup.module);
  if (!probe.available) fail(Status::BackendUnavailable, unavailable + probe.detail);
  if (device_id < 0 || device_id >= probe.device_count)
    invalid("device_id: " + std::string(backend_name(kind)) + " has " + std::to_string(probe.device_count) +
            " device(s), got " + std::to_string(device_id));
  return std::make_unique<PluginBackend>(lookup.module, kind, device_id);
}

}  // namespace

BackendStatus query_backend(BackendKind kind) {
  if (kind == BackendKind::CPU) {
    BackendStatus st;
    st.kind = kind;
    st.available = true;
    st.device_count = 1;
    st.name = "cpu";
    st.detail = CpuBackend::describe_host();
    return st;
  }
  return probe_device_backend(kind);
}

std::shared_ptr<Context> Context::create(BackendKind kind, int32_t device_id) {
  if (kind == BackendKind::Auto) {
    for (BackendKind k : {BackendKind::CUDA, BackendKind::HIP})
      if (query_backend(k).available) return create(k, device_id);
    return create(BackendKind::CPU, device_id);
  }
  if (kind == BackendKind::CPU) {
    if (device_id != 0) invalid("device_id: the CPU backend has one device, 0; got " + std::to_string(device_id));
    return std::shared_ptr<Context>(new Context(std::make_unique<CpuBackend>()));
  }
  if (kind != BackendKind::CUDA && kind != BackendKind::HIP) invalid("backend: unknown backend");
  return std::shared_ptr<Context>(new Context(create_device_backend(kind, device_id)));
}

Context::Context(std::unique_ptr<Backend> backend) : backend_(std::move(backend)) {
  const unsigned hw = std::thread::hardware_concurrency();
  num_threads_ = hw == 0 ? 1 : static_cast<int>(hw);
}

void Context::set_num_threads(int n) {
  if (n < 1) invalid("num_threads: must be >= 1, got " + std::to_string(n));
  num_threads_ = n;
}

}  // namespace moekit
