// HIP instantiation of the quantizers and their inverses (kernels/common/device/quantize.cuh, shared with CUDA;
// the build keeps IEEE division and denormals so results stay bit-identical to the CPU backend).
#include <hip/hip_runtime.h>

#include "device/quantize.cuh"
#include "hip_check.h"
#include "kernel_launch.h"

namespace moekit::hip {

void launch_quantize(const moekit_plugin_quantizer_config& cfg, const moekit_plugin_tensor& input,
                     const moekit_plugin_tensor& values, const moekit_plugin_tensor& scales, hipStream_t stream) {
  device::launch_quantize_on<HipRuntime>(cfg, input, values, scales, stream);
}

void launch_dequantize(const moekit_plugin_quantizer_config& cfg, const moekit_plugin_tensor& values,
                       const moekit_plugin_tensor& scales, const moekit_plugin_tensor& output, hipStream_t stream) {
  device::launch_dequantize_on<HipRuntime>(cfg, values, scales, output, stream);
}

}  // namespace moekit::hip
