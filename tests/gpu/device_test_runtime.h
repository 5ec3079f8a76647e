// What the shared launchers (kernels/common/device/*.cuh) need from a module, for tests that launch the shared
// kernels directly: the CUDA module's own policy throws its PluginError, this one std::runtime_error; and the
// plugin ABI's tensor descriptor those launchers take.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>

#include "moekit_plugin.h"

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

inline moekit_plugin_tensor plugin_tensor(void* data, int32_t dtype, std::initializer_list<int64_t> shape) {
  moekit_plugin_tensor t{};
  t.data = data;
  t.dtype = dtype;
  t.rank = static_cast<int32_t>(shape.size());
  int i = 0;
  for (int64_t s : shape) t.shape[i++] = s;
  return t;
}

}  // namespace moekit_gpu_test
