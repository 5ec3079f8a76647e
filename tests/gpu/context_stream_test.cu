// Creating a CUDA moekit context does not wait for the application's work on the legacy default stream, once the
// process has a context: an inference server that adds a context (another device, another thread's) while its
// own kernels run on stream 0 would otherwise stall until they finish. The module's device-code probe reads its
// flag word on a private non-blocking stream for this (kernels/cuda/device_code.cu; with cudaMemcpyFromSymbol on
// the legacy stream, every creation waited).
//
// The first context of a process does wait: its cublasCreate is the process's first, and that one waits (so does
// every cublasDestroy, and cudaFree, so destroying a context waits too). Measured on the H200 with
// bench/probes/context_create_waits.cu; docs/backends.md says so to users. Hence the warm-up context below.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "moekit/moekit.h"

namespace moekit_gpu_test {
namespace {

constexpr unsigned long long kSpinNanoseconds = 2000000000ull;  // far longer than a context's creation (< 1 ms)

__global__ void spin_kernel(unsigned long long ns) {
  unsigned long long start = 0, now = 0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}

TEST(CudaContext, ASecondContextDoesNotWaitForTheLegacyDefaultStream) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    // Like GpuTest: skipped without a device, unless scripts/test_gpu.sh says there must be one.
    if (std::getenv("MOEKIT_REQUIRE_GPU") != nullptr) FAIL() << "no CUDA device, but MOEKIT_REQUIRE_GPU is set";
    GTEST_SKIP() << "no CUDA device";
  }
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  moekit_context warm = nullptr;
  ASSERT_EQ(moekit_context_create(MOEKIT_BACKEND_CUDA, 0, &warm), MOEKIT_OK) << moekit_last_error();
  spin_kernel<<<1, 1, 0, cudaStreamLegacy>>>(kSpinNanoseconds);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  moekit_context ctx = nullptr;
  const moekit_status created = moekit_context_create(MOEKIT_BACKEND_CUDA, 0, &ctx);
  const cudaError_t legacy = cudaStreamQuery(cudaStreamLegacy);
  EXPECT_EQ(created, MOEKIT_OK) << moekit_last_error();
  EXPECT_EQ(legacy, cudaErrorNotReady)
      << "the spinning kernel had finished when moekit_context_create returned: creation waited for stream 0";
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  moekit_context_destroy(ctx);
  moekit_context_destroy(warm);
}

}  // namespace
}  // namespace moekit_gpu_test
