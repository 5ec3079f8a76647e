// Errors inside the CUDA module: one exception type carrying a plugin status, thrown by the module's C++ code
// and caught at the C table boundary (plugin_table.cpp), where it becomes a status and a message.
#pragma once

#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

#include "moekit_plugin.h"

namespace moekit::cuda {

class PluginError : public std::runtime_error {
 public:
  PluginError(moekit_plugin_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  moekit_plugin_status status() const { return status_; }

 private:
  moekit_plugin_status status_;
};

[[noreturn]] inline void throw_unsupported(const std::string& message) {
  throw PluginError(MOEKIT_PLUGIN_UNSUPPORTED, message);
}
[[noreturn]] inline void throw_internal(const std::string& message) {
  throw PluginError(MOEKIT_PLUGIN_INTERNAL, message);
}

// A failed runtime call: out-of-memory keeps its own status, everything else is a device error.
[[noreturn]] inline void throw_cuda(cudaError_t err, const char* what) {
  const moekit_plugin_status status =
      err == cudaErrorMemoryAllocation ? MOEKIT_PLUGIN_OUT_OF_MEMORY : MOEKIT_PLUGIN_DEVICE_ERROR;
  throw PluginError(status, std::string(what) + " failed: " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
}

inline void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw_cuda(err, what);
}

// After a kernel launch: a launch configuration error surfaces here, asynchronous faults at the next sync.
inline void check_launch(const char* kernel) { check_cuda(cudaGetLastError(), kernel); }

}  // namespace moekit::cuda
