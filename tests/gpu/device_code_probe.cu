#include "device_code_probe.h"

#include <cuda_runtime.h>

#include "wgmma_e4m3.cuh"

namespace moekit_gpu_test {
namespace {

__host__ __device__ constexpr int compiled_features() {
#if defined(__CUDA_ARCH__)
  return (__CUDA_ARCH__ >= 890 ? 1 : 0) | (moekit::cuda::wgmma::kAvailable ? 2 : 0);
#else
  return 0;
#endif
}

__device__ int test_code_features = compiled_features();

}  // namespace

TestDeviceCode test_device_code() {
  int bits = 0;
  if (cudaSetDevice(0) != cudaSuccess || cudaMemcpyFromSymbol(&bits, test_code_features, sizeof bits) != cudaSuccess) {
    cudaGetLastError();
    return {};
  }
  return {(bits & 1) != 0, (bits & 2) != 0};
}

}  // namespace moekit_gpu_test
