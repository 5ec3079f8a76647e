// cuBLAS, loaded at run time with dlopen rather than linked: the module then loads (and reports "no driver" /
// "no device" cleanly) on machines without cuBLAS, and only the router GEMM needs it.
#pragma once

#include <cublas_v2.h>

#include <string>

namespace moekit::cuda {

struct CublasApi {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSetWorkspace_v2) set_workspace = nullptr;
  // cublasGemmEx is overloaded in C++ (a legacy cudaDataType compute-type form): name the one used.
  using GemmEx = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                                    const void*, cudaDataType, int, const void*, cudaDataType, int, const void*,
                                    void*, cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
  GemmEx gemm_ex = nullptr;
  decltype(&cublasGetVersion_v2) get_version = nullptr;
  std::string library;  // the file that loaded, or "" if none
  std::string error;    // why none loaded
  bool loaded() const { return gemm_ex != nullptr; }
};

// Loaded once per process (thread-safe); never unloaded.
const CublasApi& cublas_api();

}  // namespace moekit::cuda
