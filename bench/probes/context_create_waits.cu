// context_create_waits: which steps of moekit's CUDA context creation (and of cuBLAS's handle life cycle, which a
// context owns) wait for the application's work on the legacy default stream? Each step runs while a kernel spins
// for 1.5 s on stream 0; the legacy stream still busy afterwards means the step did not wait for it.
//
// Build on a GPU host, against a built libmoekit (the CUDA module beside it):
//   nvcc -O2 -arch=sm_90a -I capi/include bench/probes/context_create_waits.cu -o context_create_waits \
//        -L BUILD/capi -lmoekit -Xlinker -rpath,BUILD/capi -ldl
// Run: ./context_create_waits moekit   (moekit contexts only: create, destroy, create again, a second alive)
//      ./context_create_waits cublas   (cuBLAS handles only, same sequence, libcublas dlopened as moekit does)
//      CUDA_MODULE_LOADING=EAGER ./context_create_waits moekit   (whether lazy kernel loading is what waits)
//
// Why: legacy_stream_waits.cu found the single calls; a whole moekit_context_create still waited, also for a
// process's second context (bench/probes/README.md).
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "moekit/moekit.h"

namespace {

constexpr unsigned long long kSpinNanoseconds = 1500000000ull;

__global__ void spin(unsigned long long ns) {
  unsigned long long start = 0, now = 0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}

// Runs step() while the legacy stream spins and reports whether it waited, and how long it took.
template <class Step>
void probe(const char* what, Step step) {
  cudaDeviceSynchronize();
  spin<<<1, 1, 0, cudaStreamLegacy>>>(kSpinNanoseconds);
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = step();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const cudaError_t q = cudaStreamQuery(cudaStreamLegacy);
  std::printf("%-52s rc=%d %8.1f ms  legacy stream %s\n", what, rc, ms,
              q == cudaErrorNotReady ? "still busy: did not wait" : "idle: WAITED");
}

int run_moekit() {
  moekit_context a = nullptr, b = nullptr, c = nullptr;
  probe("moekit_context_create (first of the process)",
        [&] { return static_cast<int>(moekit_context_create(MOEKIT_BACKEND_CUDA, 0, &a)); });
  if (a == nullptr) {
    std::printf("  %s\n", moekit_last_error());
    return 1;
  }
  probe("moekit_context_destroy", [&] { moekit_context_destroy(a); return 0; });
  probe("moekit_context_create (after a destroy)",
        [&] { return static_cast<int>(moekit_context_create(MOEKIT_BACKEND_CUDA, 0, &b)); });
  probe("moekit_context_create (another one alive)",
        [&] { return static_cast<int>(moekit_context_create(MOEKIT_BACKEND_CUDA, 0, &c)); });
  probe("moekit_context_destroy (one of two)", [&] { moekit_context_destroy(c); return 0; });
  moekit_context_destroy(b);
  return 0;
}

int run_cublas() {
  void* lib = dlopen("libcublas.so.13", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) lib = dlopen("libcublas.so.12", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    std::printf("libcublas not found\n");
    return 1;
  }
  using Create = int (*)(void**);
  using Destroy = int (*)(void*);
  const auto create = reinterpret_cast<Create>(dlsym(lib, "cublasCreate_v2"));
  const auto destroy = reinterpret_cast<Destroy>(dlsym(lib, "cublasDestroy_v2"));
  void *a = nullptr, *b = nullptr, *c = nullptr;
  probe("cublasCreate (first of the process)", [&] { return create(&a); });
  probe("cublasDestroy", [&] { return destroy(a); });
  probe("cublasCreate (after a destroy)", [&] { return create(&b); });
  probe("cublasCreate (another one alive)", [&] { return create(&c); });
  probe("cublasDestroy (one of two)", [&] { return destroy(c); });
  destroy(b);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "moekit";
  cudaFree(nullptr);  // this program's context and its spin kernel, before the first step
  spin<<<1, 1, 0, cudaStreamLegacy>>>(1000);
  cudaDeviceSynchronize();
  const int rc = std::strcmp(mode, "cublas") == 0 ? run_cublas() : run_moekit();
  cudaDeviceSynchronize();
  return rc;
}
