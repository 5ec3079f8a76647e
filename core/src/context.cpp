#include "moekit_core/context.h"

#include <dlfcn.h>

#include <thread>

#include "cpu/cpu_backend.h"
#include "moekit_core/error.h"
#include "moekit_core/module_loader.h"

namespace moekit {

namespace {

std::string join_tried(const std::vector<std::string>& tried) {
  std::string s;
  for (const auto& t : tried) s += (s.empty() ? "" : "; ") + t;
  return s;
}

// A device backend lives in a module that core dlopens. This release ships no module yet, so a found
// module is reported as unusable rather than half-loaded.
BackendStatus probe_device_backend(BackendKind kind) {
  BackendStatus st;
  st.kind = kind;
  st.name = backend_name(kind);
  ModuleSearch search = find_backend_module(st.name);
  if (search.handle == nullptr) {
    st.detail = "module libmoekit_" + st.name + ".so not found (searched: " + join_tried(search.tried) + ")";
    return st;
  }
  dlclose(search.handle);
  st.detail = "module " + search.path + " found, but this libmoekit " +
              "has no device plugin interface yet (device backends land in a later release)";
  return st;
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
  const BackendStatus st = query_backend(kind);
  fail(Status::BackendUnavailable, std::string("backend ") + backend_name(kind) + " unavailable: " + st.detail);
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
