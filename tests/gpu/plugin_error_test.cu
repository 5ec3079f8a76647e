// The CUDA module's error helpers (kernels/cuda/plugin_error.h): a failed runtime call becomes a PluginError with
// its status and names the call, and leaves no last error behind for the next launch check to report.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "plugin_error.h"

namespace moekit_gpu_test {
namespace {

__global__ void empty_kernel() {}

TEST(CudaPluginError, AFailedCallIsReportedOnceAndNotByTheNextLaunchCheck) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    if (std::getenv("MOEKIT_REQUIRE_GPU") != nullptr) FAIL() << "no CUDA device, but MOEKIT_REQUIRE_GPU is set";
    GTEST_SKIP() << "no CUDA device";
  }
  void* p = nullptr;
  const size_t absurd = size_t{1} << 60;  // no device has an exbibyte
  try {
    moekit::cuda::check_cuda(cudaMalloc(&p, absurd), "cudaMalloc (test)");
    FAIL() << "a 1 EiB cudaMalloc succeeded";
  } catch (const moekit::cuda::PluginError& e) {
    EXPECT_EQ(e.status(), MOEKIT_PLUGIN_OUT_OF_MEMORY);
    EXPECT_NE(std::string(e.what()).find("cudaMalloc (test) failed: cudaErrorMemoryAllocation"), std::string::npos)
        << e.what();
  }
  empty_kernel<<<1, 1>>>();
  EXPECT_NO_THROW(moekit::cuda::check_launch("empty_kernel")) << "the allocation's error came back at a launch check";
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace moekit_gpu_test
