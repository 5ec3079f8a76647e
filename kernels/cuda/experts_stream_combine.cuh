// The streaming tier's combine (step 6): the CPU backend's slot-ordered sum per token, no atomics. Private to
// experts_stream.cu (experts_stream_common.cuh).
#pragma once

#include <cuda_runtime.h>

#include "device/grid_dependency.cuh"
#include "experts_stream_common.cuh"
#include "experts_stream_ops.cuh"
#include "warp_ops.cuh"

namespace moekit::cuda::experts::stream {
namespace {  // private to experts_stream.cu, the one file that includes it

// ---- 6. Combine ----------------------------------------------------------------------------------------------

struct CombineParams {
  const int32_t* ids;
  const float* topk_weights;
  const int32_t* local_of;
  int32_t num_experts, num_local;
  int64_t tokens, top_k, hidden, hp;
  int32_t weight_on_input;
  const float* y;  // [A][H]
  const float* b2;  // [L][Hp], or null without w2 biases (no loads and adds of zeros)
  void* out;
  int32_t out_dtype;
};

constexpr int kCombineThreads = 256;

// The CPU backend's combine: acc += weight * (y + b2) over the slots in order, one rounding to the output type;
// tokens without a valid local expert get zeros. A block per (token, 256 x VEC columns): with a block per token, T=16
// filled 16 SMs and the combine took 119 us of DeepSeek-V3's layer. The token's slots (local expert, weight) are
// looked up once per block into shared memory, so that each thread's y and b2 loads depend on no global load
// (with the id -> local expert -> y chain per thread and slot it took 42 us for DeepSeek-V3 T=256).
// Dynamic shared memory: combine_padded_slots(top_k) int32 experts, then as many f32 weights. The padding is
// there because ptxas loads the expert ids of the unrolled loop's last (top_k % 4) iterations with one 16-byte
// LDS: harmless on the hardware, but a read past a top_k-sized array (compute-sanitizer memcheck flagged it).
constexpr int kCombineUnroll = 4;
__host__ __device__ constexpr int64_t combine_padded_slots(int64_t top_k) {
  return (top_k + kCombineUnroll - 1) / kCombineUnroll * kCombineUnroll;
}

// VEC columns per thread (4 where H % 4 == 0: 16-byte loads of y and b2, rows of y being H f32 long): the same sums.
// Tried and not kept (H200, same session, bench/results/h200_ab_early_slot_lookups_not_kept.md): looking up the
// first token's slots before the grid dependency wait (the routing output is complete by then), so that only the
// y loads wait for the down pass: Mixtral-8x7B bf16 T=16 653 -> 663 us in both rounds, the other points 0.99-1.00.
template <int VEC>
__global__ void __launch_bounds__(kCombineThreads) combine_kernel(const CombineParams p) {
  extern __shared__ int32_t combine_slots[];
  device::wait_for_prerequisite_grids();
  int32_t* slot_expert = combine_slots;
  float* slot_weight = reinterpret_cast<float*>(combine_slots + combine_padded_slots(p.top_k));
  constexpr int64_t kColumns = static_cast<int64_t>(kCombineThreads) * VEC;  // per block item
  const int64_t chunks = (p.hidden + kColumns - 1) / kColumns;
  for (int64_t b = blockIdx.x; b < p.tokens * chunks; b += gridDim.x) {
    const int64_t t = b / chunks, h = (b % chunks) * kColumns + threadIdx.x * VEC;
    __syncthreads();  // the previous item's slots have been read
    for (int64_t j = threadIdx.x; j < p.top_k; j += kCombineThreads) {
      const int64_t a = t * p.top_k + j;
      slot_expert[j] = local_expert(p.ids, p.local_of, p.num_experts, p.num_local, a);
      slot_weight[j] = p.weight_on_input ? 1.0f : p.topk_weights[a];
    }
    __syncthreads();
    if (h >= p.hidden) continue;
    float acc[VEC] = {};
    // kCombineUnroll slots at a time: all their y (and b2) loads issued before the first add, then the adds in
    // slot order (the same operations as one slot at a time, so the same bits). With a load and its add per slot
    // the compiler branched around each skipped slot and every load waited for the previous slot's add (SASS):
    // k dependent memory round trips per thread. With w2 biases the compiler still finishes each slot's y + b2
    // before the next slot's loads (their registers are reused); loading the raw operands of all 4 slots first
    // measured neutral there (gpt-oss-120b T=256 0.998 / 1.003x, bench/results/h200_ab_combine_raw_loads_not_kept.md).
    for (int64_t j0 = 0; j0 < p.top_k; j0 += kCombineUnroll) {
      float v[kCombineUnroll][VEC];
      bool live[kCombineUnroll];
#pragma unroll
      for (int u = 0; u < kCombineUnroll; ++u) {
        const int64_t j = j0 + u;
        const int32_t e = j < p.top_k ? slot_expert[j] : -1;  // slots past top_k: padding, never read as slots
        live[u] = e >= 0;
#pragma unroll
        for (int i = 0; i < VEC; ++i) v[u][i] = 0.0f;
        if (!live[u]) continue;
        const float* y = p.y + (t * p.top_k + j) * p.hidden + h;
        if constexpr (VEC == 4) {
          const float4 y4 = *reinterpret_cast<const float4*>(y);
          v[u][0] = y4.x, v[u][1] = y4.y, v[u][2] = y4.z, v[u][3] = y4.w;
        } else {
          v[u][0] = y[0];
        }
        if (p.b2 != nullptr) {  // y + b2, then weighted: the CPU backend's order
          const float* bias = p.b2 + static_cast<int64_t>(e) * p.hp + h;
          if constexpr (VEC == 4) {
            const float4 b4 = *reinterpret_cast<const float4*>(bias);
            v[u][0] += b4.x, v[u][1] += b4.y, v[u][2] += b4.z, v[u][3] += b4.w;
          } else {
            v[u][0] += bias[0];
          }
        }
      }
#pragma unroll
      for (int u = 0; u < kCombineUnroll; ++u)
        if (live[u])
#pragma unroll
          for (int i = 0; i < VEC; ++i) acc[i] += slot_weight[j0 + u] * v[u][i];
    }
#pragma unroll
    for (int i = 0; i < VEC; ++i) store_from_f32(p.out, p.out_dtype, t * p.hidden + h + i, acc[i]);
  }
}

}  // namespace
}  // namespace moekit::cuda::experts::stream
