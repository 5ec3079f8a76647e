// HIP runtime errors as plugin errors: out-of-memory keeps its own status, everything else is a device error.
#pragma once

#include <hip/hip_runtime_api.h>

#include <string>

#include "plugin_guard.h"

namespace moekit::hip {

using plugin::PluginError;

// The runtime also keeps the error as its last error; it is cleared here, or the next check_launch would report it
// again under a kernel's name (as the CUDA module's throw_cuda does).
[[noreturn]] inline void throw_hip(hipError_t err, const char* what) {
  (void)hipGetLastError();
  const moekit_plugin_status status =
      err == hipErrorOutOfMemory ? MOEKIT_PLUGIN_OUT_OF_MEMORY : MOEKIT_PLUGIN_DEVICE_ERROR;
  throw PluginError(status, std::string(what) + " failed: " + hipGetErrorName(err) + ": " + hipGetErrorString(err));
}

inline void check_hip(hipError_t err, const char* what) {
  if (err != hipSuccess) throw_hip(err, what);
}

// After a kernel launch: a launch configuration error surfaces here, asynchronous faults at the next sync.
inline void check_launch(const char* kernel) { check_hip(hipGetLastError(), kernel); }

// The HIP module's side of the shared device code's host launchers (kernels/common/device/*.cuh).
struct HipRuntime {
  using Stream = hipStream_t;
  static constexpr const char* kName = "HIP";
  static void memset_async(void* p, int value, size_t bytes, Stream stream, const char* what) {
    check_hip(hipMemsetAsync(p, value, bytes, stream), what);
  }
  static void check_launch(const char* kernel) { hip::check_launch(kernel); }
  [[noreturn]] static void unsupported(const std::string& message) { plugin::throw_unsupported(message); }
  [[noreturn]] static void internal(const std::string& message) { plugin::throw_internal(message); }
};

}  // namespace moekit::hip
