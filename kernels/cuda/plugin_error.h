// Errors inside the CUDA module: PluginError (kernels/common/plugin_guard.h) thrown by the module's C++ code and
// caught at the C table boundary (plugin_table.cpp, plugin::guarded), where it becomes a status and a message.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "plugin_guard.h"

namespace moekit::cuda {

// The module-independent pieces (PluginError, throw_unsupported/internal, the table firewall) are shared with
// the HIP module; this header adds what is CUDA-specific.
using plugin::PluginError;
using plugin::throw_internal;
using plugin::throw_unsupported;

// A failed runtime call: out-of-memory keeps its own status, everything else is a device error. The runtime also
// keeps the error as its last error; it is cleared here, or the next check_launch would report it again under a
// kernel's name (a sticky error, a device fault, comes back from every later call anyway).
[[noreturn]] inline void throw_cuda(cudaError_t err, const char* what) {
  cudaGetLastError();
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
