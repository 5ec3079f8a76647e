// Hopper's warpgroup FP8 mma (wgmma, sm_90a) for operands that a kernel's own threads put in shared memory:
// e4m3 x e4m3 -> f32, both operands K-major in rows of 128 bytes (128 K columns) with the 128-byte swizzle, as
// CUTLASS and the PTX ISA call it: 16-byte chunk c of row r stored at chunk c ^ (r % 8), 8-row atoms of 1024 bytes
// on 1024-byte boundaries. sm_90 has no warp-level FP8 mma (ptxas lowers mma.m16n8k32.e4m3 into f16 conversions
// and HMMAs); wgmma reads e4m3 from shared memory as it is.
//
// The accumulator of a 64 x (8 * NT) wgmma is the warp-level m16n8 C fragment, per 8 columns: warp w of the
// warpgroup holds rows 16w + g and 16w + 8 + g (g = lane / 4), tile j's d[j][0..1] = (row 16w + g, columns
// 8j + 2q, 8j + 2q + 1), d[j][2..3] the same columns of row 16w + 8 + g (q = lane % 4).
#pragma once

#include <cstdint>

#include "wgmma_layout.h"

namespace moekit::cuda::wgmma {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
constexpr bool kAvailable = true;
#else
constexpr bool kAvailable = false;  // not sm_90a: callers keep their mma.sync path
#endif

// Make this thread's generic-proxy writes to shared memory (st.shared, cp.async once waited on) visible to the
// async proxy that wgmma reads through; then a barrier makes everyone's visible.
__device__ __forceinline__ void fence_shared_for_async() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// Before the first wgmma of a batch whose accumulator registers other instructions touched.
__device__ __forceinline__ void fence() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void commit_and_wait_all() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
#endif
}

// d (+)= A (64 x 32) * B^T ((8 * NT) x 32): accumulate = false starts d from zero. NT = 1, 2 or 4.
template <int NT>
__device__ __forceinline__ void mma_e4m3(float (&d)[NT][4], uint64_t a, uint64_t b, bool accumulate) {
  static_assert(NT == 1 || NT == 2 || NT == 4, "wgmma n8, n16 or n32");
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  const uint32_t acc = accumulate ? 1u : 0u;
  if constexpr (NT == 1) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %6, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n8k32.f32.e4m3.e4m3 {%0,%1,%2,%3}, %4, %5, p, 1, 1;\n}\n"
        : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3])
        : "l"(a), "l"(b), "r"(acc));
  } else if constexpr (NT == 2) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %10, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n16k32.f32.e4m3.e4m3 {%0,%1,%2,%3,%4,%5,%6,%7}, %8, %9, p, 1, 1;\n}\n"
        : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]),
          "+f"(d[1][3])
        : "l"(a), "l"(b), "r"(acc));
  } else {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n32k32.f32.e4m3.e4m3 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,"
        "%15}, %16, %17, p, 1, 1;\n}\n"
        : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]),
          "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]),
          "+f"(d[3][2]), "+f"(d[3][3])
        : "l"(a), "l"(b), "r"(acc));
  }
#else
  (void)d, (void)a, (void)b, (void)accumulate;
  __trap();
#endif
}

}  // namespace moekit::cuda::wgmma
