// What the device code that runs on a device can do. The module carries code for several targets (sm_90a SASS
// and an sm_80 build by default) and the driver picks one per device: an Ada GPU (cc 8.9) runs the sm_80 code,
// which has no FP8 mma, and an H200 runs sm_90a's wgmma only where the build has that target. So the host asks
// the picked code itself, once per device context, instead of inferring it from the compute capability.
// The answer holds for every translation unit of the module because they are all built for the same
// CMAKE_CUDA_ARCHITECTURES (kernels/cuda/CMakeLists.txt; grouped_gemm_sm90.cu, sm_90a only, is gated apart).
#pragma once

namespace moekit::cuda {

struct DeviceCodeFeatures {
  bool e4m3_mma = false;          // warp-level FP8 mma (mma.m16n8k32.e4m3): code built for sm_89 or newer
  bool wgmma = false;             // Hopper's warpgroup mma (sm_90a code): the streaming tier's FP8 GEMMs use it
  bool dependent_launch = false;  // griddepcontrol (sm_90+ code): programmatic dependent launches may overlap
};

// For the current device. Throws PluginError: UNAVAILABLE where the module has no code the device can run (the
// message names the device's sm and the build's targets), the CUDA error's own status otherwise.
DeviceCodeFeatures probe_device_code();

}  // namespace moekit::cuda
