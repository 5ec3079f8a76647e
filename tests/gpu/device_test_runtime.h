// What the shared launchers (kernels/common/device/*.cuh) need from a module, for tests that launch the shared
// kernels directly: the CUDA module's own policy throws its PluginError, this one std::runtime_error.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace moekit_gpu_test {

struct TestRuntime {
  using Stream = cudaStream_t;
  static constexpr const char* kName = "CUDA(test)";
  static void memset_async(void* p, int value, size_t bytes, Stream stream, const char* what) {
    if (cudaMemsetAsync(p, value, bytes, stream) != cudaSuccess) throw std::runtime_error(what);
  }
  static void check_launch(const char* kernel) {
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) throw std::runtime_error(std::string(kernel) + ": " + cudaGetErrorString(err));
  }
  [[noreturn]] static void unsupported(const std::string& message) { throw std::runtime_error(message); }
  [[noreturn]] static void internal(const std::string& message) { throw std::logic_error(message); }
};

}  // namespace moekit_gpu_test
