// legacy_stream_waits: which setup calls of a CUDA library wait for the application's work on the legacy default
// stream? Each call runs while a kernel spins for 1.5 s on stream 0; the legacy stream still busy afterwards means
// the call did not wait for it.
//
// Build (standalone, no moekit dependencies):
//   nvcc -O2 -arch=sm_90a bench/probes/legacy_stream_waits.cu -o legacy_stream_waits -ldl
// Run:
//   ./legacy_stream_waits
//
// Why: the CUDA module reads its device code's feature word once per context (kernels/cuda/device_code.cu).
// cudaMemcpyFromSymbol on the legacy stream made context creation wait for whatever the application had queued
// there; the module now reads it with cudaMemcpyFromSymbolAsync on a private non-blocking stream. This probe
// measures both, and the other calls a context creation makes (cudaMalloc of cuBLAS's workspace, cublasCreate).
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdio>

namespace {

__device__ int flag_word = 7;

constexpr unsigned long long kSpinNanoseconds = 1500000000ull;

__global__ void spin(unsigned long long ns) {
  unsigned long long start = 0, now = 0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}

__global__ void empty_kernel() {}

// Reports whether `what` (already called, returning `err`) left the spinning kernel running, then starts the next.
void report(const char* what, int err) {
  const cudaError_t q = cudaStreamQuery(cudaStreamLegacy);
  std::printf("%-44s rc=%d  legacy stream %s\n", what, err,
              q == cudaErrorNotReady ? "still busy: did not wait" : "idle: WAITED");
  cudaDeviceSynchronize();
  spin<<<1, 1, 0, cudaStreamLegacy>>>(kSpinNanoseconds);
}

}  // namespace

int main() {
  cudaFree(nullptr);  // the context, before the first spin
  spin<<<1, 1, 0, cudaStreamLegacy>>>(kSpinNanoseconds);
  report("cudaFree(nullptr)", cudaFree(nullptr));
  cudaDeviceProp prop{};
  report("cudaGetDeviceProperties", cudaGetDeviceProperties(&prop, 0));
  report("cudaFuncSetAttribute",
         cudaFuncSetAttribute(empty_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 100000));
  void* a = nullptr;
  void* b = nullptr;
  report("cudaMalloc 32 MiB", cudaMalloc(&a, 32 << 20));
  report("cudaMalloc 32 MiB, again", cudaMalloc(&b, 32 << 20));
  report("cudaFree", cudaFree(b));
  int bits = 0;
  report("cudaMemcpyFromSymbol (legacy stream)", cudaMemcpyFromSymbol(&bits, flag_word, sizeof bits));
  cudaStream_t stream = nullptr;
  report("cudaStreamCreateWithFlags (non-blocking)", cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaError_t err = cudaMemcpyFromSymbolAsync(&bits, flag_word, sizeof bits, 0, cudaMemcpyDeviceToHost, stream);
  if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
  report("cudaMemcpyFromSymbolAsync + sync (private)", err);
  report("cudaStreamDestroy", cudaStreamDestroy(stream));
  void* cublas = dlopen("libcublas.so.13", RTLD_NOW);
  if (cublas == nullptr) cublas = dlopen("libcublas.so.12", RTLD_NOW);
  report(cublas != nullptr ? "dlopen libcublas" : "dlopen libcublas (not found)", 0);
  using Create = int (*)(void**);
  const Create create = cublas != nullptr ? reinterpret_cast<Create>(dlsym(cublas, "cublasCreate_v2")) : nullptr;
  void* handle = nullptr;
  if (create != nullptr) {
    report("cublasCreate (first of the process)", create(&handle));
    report("cublasCreate (second)", create(&handle));
  }
  cudaDeviceSynchronize();
  cudaFree(a);
  return 0;
}
