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
  const float* y;  // [A][H]; [SPLITS][A][H] with the one-token down pass's K splits
  // One token with the down pass's K splits (GemmParams::k_splits, combine_kernel's SPLITS): the planes of partial
  // sums are y_split_stride floats apart.
  int64_t y_split_stride;
  const float* b2;  // [L][Hp], or null without w2 biases (no loads and adds of zeros)
  void* out;
  int32_t out_dtype;
};

constexpr int kCombineThreads = 256;

// The CPU backend's combine: acc += weight * (y + b2) over the slots in order, one rounding to the output type;
// tokens without a valid local expert get zeros. A block per (token, 256 x VEC columns): with a block per token, T=16
// filled 16 SMs and the combine took 119 us of DeepSeek-V3's layer.
// Each warp looks its token's slots up itself, 32 at a time (lane j: slot j's local expert and weight), and
// broadcasts them with shuffles, so that no thread waits for a block barrier before its y loads. Before, a few
// threads of the block looked the slots up into shared memory behind two __syncthreads: at DeepSeek-V3 T=256, 16 %
// of the kernel's stall samples sat on that barrier and 49 % on the y loads (ncu source counters, H200, 20.1 us for
// 58.7 MB of y: 2.95 TB/s). kCombineUnroll slots at a time: all their y (and b2) loads issued before the first add,
// then the adds in slot order (the same operations as one slot at a time, so the same bits); 8, so that a top-8
// token's loads are all in flight at once (with 4, two dependent round trips). With a load and its add per slot
// the compiler branched around each skipped slot and every load waited for the previous slot's add (SASS).
// Measured with the routing change of the same commit, whole layers 0.979-1.000x
// (bench/results/h200_ab_route_sorted_chunks_combine_shuffles.md); this kernel alone at DeepSeek-V3 T=256 took
// 20.8 us afterwards (ncu, another H200; 20.1 before): no gain there beyond the machines' ~2 % spread. 8 slots cost
// registers: 73, 3 blocks per SM where the 4-slot kernel's 44 allowed 5.
constexpr int kCombineUnroll = 8;
static_assert(32 % kCombineUnroll == 0, "a shuffle round of slots is whole unrolled batches");

// VEC columns per thread (4 where H % 4 == 0: 16-byte loads of y and b2, rows of y being H f32 long): the same sums.
// Tried and not kept (H200, same session, bench/results/h200_ab_early_slot_lookups_not_kept.md): looking up the
// first token's slots before the grid dependency wait (the routing output is complete by then), so that only the
// y loads wait for the down pass: Mixtral-8x7B bf16 T=16 653 -> 663 us in both rounds, the other points 0.99-1.00.
// With w2 biases the compiler finishes each slot's y + b2 before the next slot's loads (their registers are
// reused); loading the raw operands of all slots first measured neutral there (gpt-oss-120b T=256 0.998 / 1.003x,
// bench/results/h200_ab_combine_raw_loads_not_kept.md).
// SPLITS: planes of y (the one-token down pass's K splits), added in plane order before b2; a compile-time count,
// so that the single-plane kernel's loads are as before.
template <int VEC, int SPLITS>
__global__ void __launch_bounds__(kCombineThreads) combine_kernel(const CombineParams p) {
  device::wait_for_prerequisite_grids();
  const int lane = static_cast<int>(threadIdx.x) & 31;
  constexpr int64_t kColumns = static_cast<int64_t>(kCombineThreads) * VEC;  // per block item
  const int64_t chunks = (p.hidden + kColumns - 1) / kColumns;
  for (int64_t b = blockIdx.x; b < p.tokens * chunks; b += gridDim.x) {  // block-uniform: shuffles see full warps
    const int64_t t = b / chunks, h = (b % chunks) * kColumns + threadIdx.x * VEC;
    const bool in_row = h < p.hidden;
    float acc[VEC] = {};
    for (int64_t s0 = 0; s0 < p.top_k; s0 += 32) {
      const int64_t mine = s0 + lane;  // the slot this lane looks up
      int32_t my_expert = -1;
      float my_weight = 0.0f;
      if (mine < p.top_k) {
        const int64_t a = t * p.top_k + mine;
        my_expert = local_expert(p.ids, p.local_of, p.num_experts, p.num_local, a);
        my_weight = p.weight_on_input ? 1.0f : p.topk_weights[a];
      }
      const int slots = static_cast<int>(p.top_k - s0 < 32 ? p.top_k - s0 : 32);
      for (int j0 = 0; j0 < slots; j0 += kCombineUnroll) {
        int32_t e[kCombineUnroll];
        float v[kCombineUnroll][VEC], w[kCombineUnroll];
        bool live[kCombineUnroll];
#pragma unroll
        for (int u = 0; u < kCombineUnroll; ++u) {  // every lane, before any branch: lanes past the slots hold -1
          e[u] = __shfl_sync(0xFFFFFFFFu, my_expert, j0 + u);
          w[u] = __shfl_sync(0xFFFFFFFFu, my_weight, j0 + u);
        }
#pragma unroll
        for (int u = 0; u < kCombineUnroll; ++u) {
          live[u] = e[u] >= 0 && in_row;
#pragma unroll
          for (int i = 0; i < VEC; ++i) v[u][i] = 0.0f;
          if (!live[u]) continue;
          const float* y = p.y + (t * p.top_k + s0 + j0 + u) * p.hidden + h;
#pragma unroll
          for (int z = 0; z < SPLITS; ++z) {  // plane 0, then each later plane's partial sums added in order
            const float* yz = y + z * p.y_split_stride;
            float part[VEC];
            if constexpr (VEC == 4) {
              const float4 y4 = *reinterpret_cast<const float4*>(yz);
              part[0] = y4.x, part[1] = y4.y, part[2] = y4.z, part[3] = y4.w;
            } else {
              part[0] = yz[0];
            }
#pragma unroll
            for (int i = 0; i < VEC; ++i) v[u][i] = z == 0 ? part[i] : v[u][i] + part[i];
          }
          if (p.b2 != nullptr) {  // y + b2, then weighted: the CPU backend's order
            const float* bias = p.b2 + static_cast<int64_t>(e[u]) * p.hp + h;
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
            for (int i = 0; i < VEC; ++i) acc[i] += w[u] * v[u][i];
      }
    }
    if (in_row)
#pragma unroll
      for (int i = 0; i < VEC; ++i) store_from_f32(p.out, p.out_dtype, t * p.hidden + h + i, acc[i]);
  }
}

}  // namespace
}  // namespace moekit::cuda::experts::stream
