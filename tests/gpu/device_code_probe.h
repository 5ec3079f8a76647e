// What this test binary's own device code can do on the current device: the module's feature bits
// (kernels/cuda/device_code_bits.cuh) as the tests' code reports them. The tests are built for the module's
// CMAKE_CUDA_ARCHITECTURES, so the driver picks the same target for both: the tests expect what the module's
// probe (kernels/cuda/device_code.h) finds, without inferring it from the compute capability.
#pragma once

namespace moekit_gpu_test {

struct TestDeviceCode {
  bool e4m3_mma = false;  // code built for sm_89+: the FP8 mma
  bool wgmma = false;     // sm_90a code: the streaming tier's FP8 GEMMs on wgmma
};

// For device 0, asked once; all false where there is no device or no code for it.
TestDeviceCode test_device_code();

}  // namespace moekit_gpu_test
