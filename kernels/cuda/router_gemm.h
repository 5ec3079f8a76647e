// Router GEMM on the module's cuBLAS handle (router_gemm.cu).
#pragma once

#include <cuda_runtime_api.h>

#include "device_context.h"
#include "moekit_plugin.h"

namespace moekit::cuda {

void run_router_gemm(DeviceContext& ctx, const moekit_plugin_tensor& hidden, const moekit_plugin_tensor& w_gate,
                     const moekit_plugin_tensor* bias, const moekit_plugin_tensor& logits, cudaStream_t stream);

}  // namespace moekit::cuda
