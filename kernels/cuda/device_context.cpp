#include "device_context.h"

#include "experts.h"

#include <dlfcn.h>

#include <string>

#include "kernel_launch.h"
#include "plugin_error.h"

namespace moekit::cuda {

namespace {

// cuBLAS workspace: Hopper kernels use up to 32 MiB; giving it one up front keeps GEMMs capturable.
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

std::string version_string(int v) {  // 13000 -> "13.0"
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

}  // namespace

ProbeResult probe_devices() {
  ProbeResult r;
  // The static CUDA runtime loads the driver (libcuda.so.1) itself; asking first gives a precise reason.
  void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (driver == nullptr) {
    const char* err = dlerror();
    r.detail = std::string("no CUDA driver (libcuda.so.1 not loadable: ") + (err ? err : "unknown reason") + ")";
    return r;
  }
  // The driver library stays loaded: the runtime uses it for the rest of the process.
  int driver_version = 0;
  cudaDriverGetVersion(&driver_version);
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err == cudaErrorNoDevice || (err == cudaSuccess && count == 0)) {
    r.detail = "no CUDA device (driver " + version_string(driver_version) + " found, but it reports no GPU)";
    return r;
  }
  if (err == cudaErrorInsufficientDriver) {
    r.detail = driver_version == 0 ? std::string("no CUDA driver (libcuda.so.1 loaded but not functional)")
                                   : "CUDA driver " + version_string(driver_version) +
                                         " is older than this module's runtime " + version_string(CUDART_VERSION);
    return r;
  }
  if (err != cudaSuccess) {
    r.detail = std::string("no usable CUDA device (") + cudaGetErrorName(err) + ": " + cudaGetErrorString(err) + ")";
    return r;
  }
  r.available = true;
  r.device_count = count;
  cudaDeviceProp p{};
  std::string first = "?";
  if (cudaGetDeviceProperties(&p, 0) == cudaSuccess)
    first = std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ")";
  r.detail = std::to_string(count) + " device(s), device 0: " + first + "; driver " + version_string(driver_version) +
             ", runtime " + version_string(CUDART_VERSION) + " (static)" +
             "; experts: " + experts::tiers_summary();
  return r;
}

bool CudaCurrentDevice::current(int* device) { return cudaGetDevice(device) == cudaSuccess; }

void CudaCurrentDevice::select(int device) { check_cuda(cudaSetDevice(device), "cudaSetDevice"); }

void CudaCurrentDevice::restore(int device) noexcept { cudaSetDevice(device); }

DeviceContext::DeviceContext(int device) : device_(device) {
  DeviceGuard guard(device);
  check_cuda(cudaGetDeviceProperties(&props_, device), "cudaGetDeviceProperties");
  check_cuda(cudaFree(nullptr), "CUDA context initialisation");
  code_ = probe_device_code();
  const CublasApi& blas = cublas_api();
  if (!blas.loaded()) {
    cublas_error_ = blas.error;
    return;
  }
  if (blas.create(&cublas_) != CUBLAS_STATUS_SUCCESS) {
    cublas_ = nullptr;
    cublas_error_ = "cublasCreate failed";
    return;
  }
  check_cuda(cudaMalloc(&cublas_workspace_, kCublasWorkspaceBytes), "cudaMalloc (cuBLAS workspace)");
  cublas_workspace_bytes_ = kCublasWorkspaceBytes;
}

DeviceContext::~DeviceContext() {
  DeviceGuard guard(device_);
  if (cublas_ != nullptr) cublas_api().destroy(cublas_);
  if (cublas_workspace_ != nullptr) cudaFree(cublas_workspace_);
}

cublasHandle_t DeviceContext::cublas(cudaStream_t stream) {
  if (cublas_ == nullptr)
    throw_unsupported("router_gemm: cuBLAS is not available to the CUDA module: " + cublas_error_);
  const CublasApi& blas = cublas_api();
  if (blas.set_stream(cublas_, stream) != CUBLAS_STATUS_SUCCESS ||
      blas.set_workspace(cublas_, cublas_workspace_, cublas_workspace_bytes_) != CUBLAS_STATUS_SUCCESS)
    throw PluginError(MOEKIT_PLUGIN_DEVICE_ERROR, "router_gemm: cublasSetStream/cublasSetWorkspace failed");
  return cublas_;
}

std::string DeviceContext::describe() const {
  std::string s = std::string(props_.name) + " (sm_" + std::to_string(props_.major) + std::to_string(props_.minor) +
                  ", " + std::to_string(props_.multiProcessorCount) + " SMs, " +
                  plugin::gib_text(props_.totalGlobalMem) + "); " + kernel_set_summary(device_) + "; router GEMM: ";
  s += cublas_ != nullptr ? "cuBLAS " + cublas_api().library : "unsupported (" + cublas_error_ + ")";
  s += "; experts: " + experts::tiers_summary();
  return s;
}

}  // namespace moekit::cuda
