// What the device code that runs on a device can do. The module carries code for several targets (sm_90a SASS
// and an sm_80 build by default) and the driver picks one per device: an Ada GPU (cc 8.9) runs the sm_80 code,
// which has no FP8 mma, and an H200 runs sm_90a's wgmma only where the build has that target. So the host asks
// the picked code itself, once per device context, instead of inferring it from the compute capability.
#pragma once

namespace moekit::cuda {

struct DeviceCodeFeatures {
  bool e4m3_mma = false;  // warp-level FP8 mma (mma.m16n8k32.e4m3): device code built for sm_89 or newer
  bool wgmma = false;     // Hopper's warpgroup mma (sm_90a code): the streaming tier's FP8 GEMMs run on it
};

// For the current device; throws PluginError where the module has no code the device can run.
DeviceCodeFeatures probe_device_code();

}  // namespace moekit::cuda
