// Creating a CUDA moekit context on a device does not wait for the application's work on the legacy default
// stream, once the process has a context there: an inference server that adds a context (another thread's) while
// its own kernels run on stream 0 would otherwise stall until they finish. The module's device-code probe reads its
// flag word on a private non-blocking stream for this (kernels/cuda/device_code.cu; with cudaMemcpyFromSymbol on
// the legacy stream, every creation waited). Checked with another context alive, before and after a third one is
// destroyed; creation with no context alive was measured by the probe only.
//
// The first context of a process does wait: its cublasCreate is the process's first, and that one waits (so do
// every cublasDestroy and cudaFree, so destroying a context waits too). Measured on the H200 (one device) with
// bench/probes/context_create_waits.cu; docs/backends.md says so to users. Hence the warm-up context below.
// The rest of a creation (cudaFree(nullptr), cudaMalloc of cuBLAS's workspace, a stream's creation) did not wait
// on the H200's CUDA 13 driver, but the CUDA programming guide allows allocations to synchronise implicitly: a
// failure here on another driver may be the driver's, not a moekit regression.
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

// Destroys the contexts it holds after the device has finished (a failed assertion must not leave the spin
// queued for the next test, nor the contexts alive).
struct Contexts {
  moekit_context warm = nullptr, probe = nullptr;
  ~Contexts() {
    cudaDeviceSynchronize();
    if (probe != nullptr) moekit_context_destroy(probe);
    if (warm != nullptr) moekit_context_destroy(warm);
  }
};

// Spins on the legacy stream, creates c->probe and says whether the spin was still running when creation returned.
void expect_creation_does_not_wait(Contexts* c, const char* which) {
  spin_kernel<<<1, 1, 0, cudaStreamLegacy>>>(kSpinNanoseconds);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const moekit_status created = moekit_context_create(MOEKIT_BACKEND_CUDA, 0, &c->probe);
  const cudaError_t legacy = cudaStreamQuery(cudaStreamLegacy);
  EXPECT_EQ(created, MOEKIT_OK) << moekit_last_error();
  EXPECT_EQ(legacy, cudaErrorNotReady)
      << which << ": the spinning kernel had finished when moekit_context_create returned, so creation waited for "
      << "stream 0 (a driver that synchronises allocations implicitly would do this too; see the comment above)";
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

TEST(CudaContext, ASecondContextDoesNotWaitForTheLegacyDefaultStream) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    // Like GpuTest: skipped without a device, unless scripts/test_gpu.sh says there must be one.
    if (std::getenv("MOEKIT_REQUIRE_GPU") != nullptr) FAIL() << "no CUDA device, but MOEKIT_REQUIRE_GPU is set";
    GTEST_SKIP() << "no CUDA device";
  }
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  Contexts c;
  ASSERT_EQ(moekit_context_create(MOEKIT_BACKEND_CUDA, 0, &c.warm), MOEKIT_OK) << moekit_last_error();
  ASSERT_NO_FATAL_FAILURE(expect_creation_does_not_wait(&c, "another context alive"));
  moekit_context_destroy(c.probe);  // the device is idle: this destroy has nothing to wait for
  c.probe = nullptr;
  ASSERT_NO_FATAL_FAILURE(expect_creation_does_not_wait(&c, "another context alive, after a destroy"));
}

}  // namespace
}  // namespace moekit_gpu_test
