// Kernel launches that may overlap the previous kernel on the stream (programmatic dependent launch, sm_90+):
// the launched grid's blocks can become resident while the previous kernel finishes, so a chain of short
// passes (decode: routing -> gate_up -> down) does not pay a full launch gap at each step. The kernels launched
// this way call device::wait_for_prerequisite_grids() (device/grid_dependency.cuh) before reading anything the
// previous kernel wrote. Inside stream capture the overlap becomes a programmatic edge of the CUDA graph.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "plugin_error.h"

namespace moekit::cuda {

// kernel<<<grid, block, shared, stream>>>(args...), with the overlap when `overlap` (callers pass whether the
// device is sm_90 or later; elsewhere it is a plain launch).
template <class... Params, class... Args>
void launch_dependent(bool overlap, void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared,
                      cudaStream_t stream, const char* name, Args&&... args) {
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared;
  config.stream = stream;
  config.attrs = overlap ? &attribute : nullptr;
  config.numAttrs = overlap ? 1 : 0;
  check_cuda(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...), name);
}

}  // namespace moekit::cuda
