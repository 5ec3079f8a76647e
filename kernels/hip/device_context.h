// One HIP device as the module uses it, and the probe that tells core whether HIP is usable at all.
#pragma once

#include <hip/hip_runtime_api.h>

#include <cstdint>
#include <string>

namespace moekit::hip {

// Result of probing the driver and devices without creating anything.
struct ProbeResult {
  bool available = false;
  int32_t device_count = 0;
  std::string detail;  // device description, or the reason ("no ROCm driver ...", "no HIP device ...")
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
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;

  int device() const { return device_; }
  std::string describe() const;

 private:
  int device_;
  hipDeviceProp_t props_{};
};

// What this module does not run, said the same way by describe(), the probe and the UNSUPPORTED answers.
constexpr const char* kHipNotImplemented =
    "router GEMM and experts: not in this HIP module version (MOEKIT_ERR_UNSUPPORTED; no portable GEMM path yet)";

}  // namespace moekit::hip
