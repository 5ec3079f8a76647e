// CUDA instantiation of the quantizers and their inverses (kernels/common/device/quantize.cuh, shared with the
// HIP module; bit-identical to the CPU backend — CMake keeps IEEE division and denormals for this module).
#include <cuda_runtime.h>

#include "cuda_runtime_policy.h"
#include "device/quantize.cuh"
#include "kernel_launch.h"

namespace moekit::cuda {

void launch_quantize(const moekit_plugin_quantizer_config& cfg, const moekit_plugin_tensor& input,
                     const moekit_plugin_tensor& values, const moekit_plugin_tensor& scales, cudaStream_t stream) {
  device::launch_quantize_on<CudaRuntime>(cfg, input, values, scales, stream);
}

void launch_dequantize(const moekit_plugin_quantizer_config& cfg, const moekit_plugin_tensor& values,
                       const moekit_plugin_tensor& scales, const moekit_plugin_tensor& output, cudaStream_t stream) {
  device::launch_dequantize_on<CudaRuntime>(cfg, values, scales, output, stream);
}

}  // namespace moekit::cuda
