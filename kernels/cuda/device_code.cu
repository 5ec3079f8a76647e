#include "device_code.h"

#include <cuda_runtime.h>

#include <string>

#include "device_code_bits.cuh"
#include "plugin_error.h"

namespace moekit::cuda {
namespace {

__device__ int device_code_features = device_code_bits::compiled();

// The errors that mean "nothing in this module runs on this device" (no image for its architecture, a PTX the
// driver cannot compile); anything else (out of memory while the module loads, a device error) keeps its status.
bool no_code_for_device(cudaError_t err) {
  return err == cudaErrorNoKernelImageForDevice || err == cudaErrorInvalidSymbol ||
         err == cudaErrorInvalidKernelImage || err == cudaErrorUnsupportedPtxVersion ||
         err == cudaErrorJitCompilerNotFound || err == cudaErrorInvalidPtx;
}

}  // namespace

DeviceCodeFeatures probe_device_code() {
  // Synchronous on the legacy default stream, once per device context (a private non-blocking stream would keep
  // it from waiting for the application's work there; not done: this path is the one measured on the H200).
  int bits = 0;
  const cudaError_t err = cudaMemcpyFromSymbol(&bits, device_code_features, sizeof bits);
  if (err != cudaSuccess) {
    cudaGetLastError();  // a load failure is not sticky: clear it for the calls that follow
    if (!no_code_for_device(err)) throw_cuda(err, "reading the device code's features");
    int device = 0, major = 0, minor = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
    throw PluginError(MOEKIT_PLUGIN_UNAVAILABLE, "no device code of this module runs on sm_" + std::to_string(major) +
                                                     std::to_string(minor) + " (module built for " MOEKIT_CUDA_ARCHS
                                                     "): " + cudaGetErrorString(err));
  }
  using namespace device_code_bits;
  return {(bits & kE4m3Mma) != 0, (bits & kWgmma) != 0, (bits & kDependentLaunch) != 0};
}

}  // namespace moekit::cuda
