// Kept as a path for the CUDA module's own files: the warp primitives and reductions now live in the device
// code shared with the HIP module (kernels/common/device/), and are re-exported here under moekit::cuda.
#pragma once

#include <cuda_runtime.h>

#include "device/warp_ops.cuh"

namespace moekit::cuda {

constexpr unsigned kFullWarp = 0xFFFFFFFFu;  // CUDA warps are 32 lanes (static_assert below)
static_assert(device::kWarpSize == 32, "the CUDA module is built with 32-lane warps");

using device::better;
using device::Candidate;
using device::load_as_f32;
using device::store_from_f32;
using device::warp_best;
using device::warp_max;
using device::warp_sum;

// Max over a block of kThreads threads (a compile-time warp count, unlike device::block_max's run-time one);
// every thread gets the result. scratch: kThreads / 32 floats of shared memory.
template <int kThreads>
__device__ float block_max(float v, float* scratch) {
  v = warp_max(v);
  __syncthreads();  // scratch may still be read by the previous call
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x / 32] = v;
  __syncthreads();
  float m = scratch[0];
#pragma unroll
  for (int w = 1; w < kThreads / 32; ++w) m = fmaxf(m, scratch[w]);
  return m;
}

}  // namespace moekit::cuda
