#include "device_context.h"

#include <unistd.h>

#include <string>

#include "hip_check.h"
#include "kernel_launch.h"

namespace moekit::hip {

namespace {

std::string version_string(int v) {  // HIP: major * 10000000 + minor * 100000 + patch
  return std::to_string(v / 10000000) + "." + std::to_string((v / 100000) % 100);
}

}  // namespace

ProbeResult probe_devices() {
  ProbeResult r;
  // The ROCm runtime talks to the amdgpu kernel driver through /dev/kfd; without it there is nothing to ask,
  // and saying so is more useful than the runtime's generic "no device".
  const bool kfd = access("/dev/kfd", F_OK) == 0;
  int runtime_version = 0;
  if (hipRuntimeGetVersion(&runtime_version) != hipSuccess) runtime_version = 0;
  int count = 0;
  const hipError_t err = hipGetDeviceCount(&count);
  if (!kfd) {
    r.detail = "no HIP device (no ROCm driver: /dev/kfd is absent, the amdgpu kernel driver is not loaded; HIP runtime " +
               version_string(runtime_version) + ")";
    return r;
  }
  if (err == hipErrorNoDevice || (err == hipSuccess && count == 0)) {
    r.detail = "no HIP device (ROCm driver present, HIP runtime " + version_string(runtime_version) +
               " reports no GPU)";
    return r;
  }
  if (err != hipSuccess) {
    r.detail = std::string("no usable HIP device (") + hipGetErrorName(err) + ": " + hipGetErrorString(err) + ")";
    return r;
  }
  r.available = true;
  r.device_count = count;
  hipDeviceProp_t p{};
  std::string first = "?";
  if (hipGetDeviceProperties(&p, 0) == hipSuccess) first = std::string(p.name) + " (" + p.gcnArchName + ")";
  r.detail = std::to_string(count) + " device(s), device 0: " + first + "; HIP runtime " +
             version_string(runtime_version) + "; " + kHipNotImplemented;
  return r;
}

bool HipCurrentDevice::current(int* device) { return hipGetDevice(device) == hipSuccess; }

void HipCurrentDevice::select(int device) { check_hip(hipSetDevice(device), "hipSetDevice"); }

void HipCurrentDevice::restore(int device) noexcept { (void)hipSetDevice(device); }

DeviceContext::DeviceContext(int device) : device_(device) {
  DeviceGuard guard(device);
  check_hip(hipGetDeviceProperties(&props_, device), "hipGetDeviceProperties");
  if (props_.warpSize != 64)
    throw PluginError(MOEKIT_PLUGIN_UNAVAILABLE, std::string("device ") + props_.gcnArchName + " runs wave" +
                                                     std::to_string(props_.warpSize) +
                                                     "; this HIP module is built for wave64 (CDNA) targets only");
  check_hip(hipFree(nullptr), "HIP context initialisation");
}

std::string DeviceContext::describe() const {
  return std::string(props_.name) + " (" + props_.gcnArchName + ", " + std::to_string(props_.multiProcessorCount) +
         " CUs, " + plugin::gib_text(props_.totalGlobalMem) + "); " + kernel_set_summary(device_) + "; " +
         kHipNotImplemented;
}

}  // namespace moekit::hip
