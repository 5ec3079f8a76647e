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
  // On a private non-blocking stream, once per device context: on the legacy default stream (cudaMemcpyFromSymbol's)
  // this read would wait for whatever the application has queued there (bench/probes/legacy_stream_waits.cu). With
  // it, only a process's first context waits (its first cublasCreate; bench/probes/context_create_waits.cu).
  cudaStream_t stream = nullptr;
  check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
             "cudaStreamCreateWithFlags (device code probe)");
  struct StreamGuard {
    cudaStream_t s;
    ~StreamGuard() { cudaStreamDestroy(s); }
  } guard{stream};
  int bits = 0;
  cudaError_t err =
      cudaMemcpyFromSymbolAsync(&bits, device_code_features, sizeof bits, 0, cudaMemcpyDeviceToHost, stream);
  if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
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
