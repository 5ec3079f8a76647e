// Creating a CUDA moekit context does not wait for the application's work on the legacy default stream: the
// module's device-code probe (kernels/cuda/device_code.cu) reads its flag word on a private non-blocking stream.
// An inference server that builds a context while its own kernels run on stream 0 would otherwise stall there.
// A kernel that spins for kSpinSeconds on the legacy stream is still running when context creation returns.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "moekit/moekit.h"

namespace moekit_gpu_test {
namespace {

constexpr unsigned long long kSpinNanoseconds = 3000000000ull;  // far longer than a context's creation

__global__ void spin_kernel(unsigned long long ns) {
  unsigned long long start = 0, now = 0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}

TEST(CudaContext, CreationDoesNotWaitForTheLegacyDefaultStream) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    // Like GpuTest: skipped without a device, unless scripts/test_gpu.sh says there must be one.
    if (std::getenv("MOEKIT_REQUIRE_GPU") != nullptr) FAIL() << "no CUDA device, but MOEKIT_REQUIRE_GPU is set";
    GTEST_SKIP() << "no CUDA device";
  }
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  spin_kernel<<<1, 1, 0, cudaStreamLegacy>>>(kSpinNanoseconds);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  moekit_context ctx = nullptr;
  ASSERT_EQ(moekit_context_create(MOEKIT_BACKEND_CUDA, 0, &ctx), MOEKIT_OK) << moekit_last_error();
  EXPECT_EQ(cudaStreamQuery(cudaStreamLegacy), cudaErrorNotReady)
      << "the spinning kernel had finished when moekit_context_create returned: creation waited for stream 0";
  moekit_context_destroy(ctx);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace moekit_gpu_test
