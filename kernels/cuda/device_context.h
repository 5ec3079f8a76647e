// One CUDA device as the module uses it: the device id, its properties, a cuBLAS handle with a fixed
// workspace (so that nothing allocates during CUDA-graph capture), and the probe that tells core whether
// CUDA is usable at all.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "cublas_loader.h"
#include "device_code.h"
#include "device_context_common.h"

namespace moekit::cuda {

// The driver and devices, probed without creating anything; when CUDA is not usable the detail says why ("no
// CUDA driver ...", "no CUDA device ...").
using plugin::ProbeResult;
ProbeResult probe_devices();

// The CUDA calls behind DeviceGuard (device_context_common.h's ScopedDevice).
struct CudaCurrentDevice {
  static bool current(int* device);
  static void select(int device);
  static void restore(int device) noexcept;
};
// Makes `device` current for the scope and restores the caller's device afterwards.
using DeviceGuard = plugin::ScopedDevice<CudaCurrentDevice>;

class DeviceContext {
 public:
  explicit DeviceContext(int device);  // throws PluginError
  ~DeviceContext();
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;

  int device() const { return device_; }
  const cudaDeviceProp& properties() const { return props_; }
  // What the device code the driver picked for this device can do (device_code.h).
  const DeviceCodeFeatures& code() const { return code_; }
  std::string describe() const;

  // cuBLAS handle bound to `stream`; throws PluginError(UNSUPPORTED) if cuBLAS could not be loaded.
  cublasHandle_t cublas(cudaStream_t stream);

 private:
  int device_;
  cudaDeviceProp props_{};
  DeviceCodeFeatures code_{};
  cublasHandle_t cublas_ = nullptr;
  void* cublas_workspace_ = nullptr;
  size_t cublas_workspace_bytes_ = 0;
  std::string cublas_error_;
};

}  // namespace moekit::cuda
