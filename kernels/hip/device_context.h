// One HIP device as the module uses it, and the probe that tells core whether HIP is usable at all.
#pragma once

#include <hip/hip_runtime_api.h>

#include <cstdint>
#include <string>

#include "device_context_common.h"

namespace moekit::hip {

// The driver and devices, probed without creating anything; without a device the detail starts "no HIP device"
// and says why (no ROCm driver, or none reported).
using plugin::ProbeResult;
ProbeResult probe_devices();

// The HIP calls behind DeviceGuard (device_context_common.h's ScopedDevice).
struct HipCurrentDevice {
  static bool current(int* device);
  static void select(int device);
  static void restore(int device) noexcept;
};
// Makes `device` current for the scope and restores the caller's device afterwards.
using DeviceGuard = plugin::ScopedDevice<HipCurrentDevice>;

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
