// The CUDA module's side of the shared device code's host launchers (kernels/common/device/*.cuh call
// Runtime::...): the stream type, and how a failed launch or an unsupported request becomes a PluginError.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "plugin_error.h"

namespace moekit::cuda {

struct CudaRuntime {
  using Stream = cudaStream_t;
  static constexpr const char* kName = "CUDA";
  static void memset_async(void* p, int value, size_t bytes, Stream stream, const char* what) {
    check_cuda(cudaMemsetAsync(p, value, bytes, stream), what);
  }
  static void check_launch(const char* kernel) { cuda::check_launch(kernel); }
  [[noreturn]] static void unsupported(const std::string& message) { throw_unsupported(message); }
  [[noreturn]] static void internal(const std::string& message) { throw_internal(message); }
};

}  // namespace moekit::cuda
