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

}  // namespace moekit::cuda
