#include "device_code_probe.h"

#include <cuda_runtime.h>

#include "device_code_bits.cuh"

namespace moekit_gpu_test {
namespace {

namespace bits = moekit::cuda::device_code_bits;

__device__ int test_code_features = bits::compiled();

}  // namespace

TestDeviceCode test_device_code() {
  static const TestDeviceCode code = [] {
    int v = 0;
    if (cudaSetDevice(0) != cudaSuccess || cudaMemcpyFromSymbol(&v, test_code_features, sizeof v) != cudaSuccess) {
      cudaGetLastError();
      return TestDeviceCode{};
    }
    return TestDeviceCode{(v & bits::kE4m3Mma) != 0, (v & bits::kWgmma) != 0};
  }();
  return code;
}

}  // namespace moekit_gpu_test
