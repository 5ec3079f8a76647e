// Context: the backend a set of objects runs on, chosen from the registry, plus CPU thread settings.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "moekit_core/backend.h"
#include "moekit_core/types.h"

namespace moekit {

struct BackendStatus {
  BackendKind kind = BackendKind::CPU;
  bool available = false;
  int32_t device_count = 0;
  std::string name;
  std::string detail;  // device description, or why the backend is unavailable
};

// Probes one backend (CPU, CUDA or HIP) without creating anything that outlives the call.
BackendStatus query_backend(BackendKind kind);

class Context {
 public:
  // AUTO tries CUDA, then HIP, then CPU. Throws Error(BackendUnavailable, reason) for an unavailable backend.
  static std::shared_ptr<Context> create(BackendKind kind, int32_t device_id);

  Backend& backend() const { return *backend_; }
  BackendKind kind() const { return backend_->kind(); }
  int32_t device_id() const { return backend_->device_id(); }
  DeviceType device_type() const { return backend_->device_type(); }
  PlatformContract contract() const { return backend_->contract(); }

  int num_threads() const { return num_threads_; }
  void set_num_threads(int n);
  ExecContext exec(void* stream) const { return ExecContext{num_threads_, stream}; }

 private:
  explicit Context(std::unique_ptr<Backend> backend);
  std::unique_ptr<Backend> backend_;
  int num_threads_;
};

}  // namespace moekit
