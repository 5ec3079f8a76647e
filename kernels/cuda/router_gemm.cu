// Router GEMM through cuBLAS: logits[T,E] (f32) = hidden[T,H] @ w_gate[E,H]^T (+ bias[E]), f32 accumulation.
// Row-major logits are column-major logits^T (E x T) = w_gate (E x H, stored as column-major H x E: op T)
// times hidden^T (column-major H x T: op N). f32 inputs use CUBLAS_COMPUTE_32F_PEDANTIC (no TF32, whatever
// NVIDIA_TF32_OVERRIDE says); bf16/f16 inputs use CUBLAS_COMPUTE_32F (tensor cores, f32 accumulation).
// The bias is added afterwards, as on the CPU backend: (hidden @ w^T) + bias.
#include <cuda_runtime.h>

#include <string>

#include "kernel_launch.h"
#include "plugin_error.h"
#include "router_gemm.h"

namespace moekit::cuda {

namespace {

__global__ void add_bias_kernel(float* logits, const float* bias, long long tokens, long long experts) {
  const long long n = tokens * experts;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    logits[i] += bias[i % experts];
}

// cuBLAS takes int dimensions: H and E are checked by core; T is tiled.
constexpr int64_t kMaxRowsPerCall = int64_t{1} << 30;

}  // namespace

void launch_add_bias(float* logits, const float* bias, int64_t tokens, int64_t experts, cudaStream_t stream) {
  add_bias_kernel<<<grid_for(tokens * experts, 256), 256, 0, stream>>>(logits, bias, tokens, experts);
  check_launch("add_bias_kernel");
}

void run_router_gemm(DeviceContext& ctx, const moekit_plugin_tensor& hidden, const moekit_plugin_tensor& w_gate,
                     const moekit_plugin_tensor* bias, const moekit_plugin_tensor& logits, cudaStream_t stream) {
  const int64_t tokens = hidden.shape[0], h = hidden.shape[1], e = w_gate.shape[0];
  if (tokens == 0) return;
  cublasHandle_t handle = ctx.cublas(stream);
  const CublasApi& blas = cublas_api();
  cudaDataType_t in_type = CUDA_R_32F;
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F_PEDANTIC;
  if (hidden.dtype == MOEKIT_PLUGIN_BF16) in_type = CUDA_R_16BF, compute = CUBLAS_COMPUTE_32F;
  else if (hidden.dtype == MOEKIT_PLUGIN_F16) in_type = CUDA_R_16F, compute = CUBLAS_COMPUTE_32F;
  const size_t in_size = hidden.dtype == MOEKIT_PLUGIN_F32 ? 4 : 2;
  const float alpha = 1.0f, beta = 0.0f;
  for (int64_t row = 0; row < tokens; row += kMaxRowsPerCall) {
    const int64_t rows = tokens - row < kMaxRowsPerCall ? tokens - row : kMaxRowsPerCall;
    const char* a = static_cast<const char*>(hidden.data) + static_cast<size_t>(row * h) * in_size;
    float* c = static_cast<float*>(logits.data) + row * e;
    const cublasStatus_t st = blas.gemm_ex(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(e),
                                           static_cast<int>(rows), static_cast<int>(h), &alpha, w_gate.data, in_type,
                                           static_cast<int>(h), a, in_type, static_cast<int>(h), &beta, c, CUDA_R_32F,
                                           static_cast<int>(e), compute, CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS)
      throw PluginError(MOEKIT_PLUGIN_DEVICE_ERROR, "router_gemm: cublasGemmEx failed with status " +
                                                        std::to_string(static_cast<int>(st)));
  }
  if (bias != nullptr && bias->data != nullptr)
    launch_add_bias(static_cast<float*>(logits.data), static_cast<const float*>(bias->data), tokens, e, stream);
}

}  // namespace moekit::cuda
