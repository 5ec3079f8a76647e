// One CUDA device as the module uses it: the device id, its properties, a cuBLAS handle with a fixed
// workspace (so that nothing allocates during CUDA-graph capture), and the probe that tells core whether
// CUDA is usable at all.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "cublas_loader.h"

namespace moekit::cuda {

// Result of probing the driver and devices without creating anything.
struct ProbeResult {
  bool available = false;
  int32_t device_count = 0;
  std::string detail;  // device description, or the reason ("no CUDA driver ...", "no CUDA device ...")
};
ProbeResult probe_devices();

// Makes `device` current for the scope and restores the caller's device afterwards.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
  bool switched_ = false;
};

class DeviceContext {
 public:
  explicit DeviceContext(int device);  // throws PluginError
  ~DeviceContext();
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;

  int device() const { return device_; }
  const cudaDeviceProp& properties() const { return props_; }
  std::string describe() const;

  // cuBLAS handle bound to `stream`; throws PluginError(UNSUPPORTED) if cuBLAS could not be loaded.
  cublasHandle_t cublas(cudaStream_t stream);

 private:
  int device_;
  cudaDeviceProp props_{};
  cublasHandle_t cublas_ = nullptr;
  void* cublas_workspace_ = nullptr;
  size_t cublas_workspace_bytes_ = 0;
  std::string cublas_error_;
};

}  // namespace moekit::cuda
