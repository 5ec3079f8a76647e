// Programmatic dependent launch (Hopper and later): a kernel launched with the programmatic-serialization
// attribute may start while the kernel before it on the stream is still running, and must wait for it before
// touching anything it produced. Shared device code calls these two; they compile to nothing where the
// instructions do not exist (HIP, CUDA before sm_90), and a kernel launched without the attribute returns from
// the wait at once (the stream already ordered it).
//  - allow_dependent_grids(): this block no longer holds back the next kernel's launch (the dependent grid
//    starts once every block of this one has called it or exited). Its writes are still only visible to the
//    dependent after that one's wait.
//  - wait_for_prerequisite_grids(): blocks until the previous kernel has completed and its memory is visible.
//    Every kernel launched with the attribute calls it before reading the previous kernel's output, and before it
//    can itself complete: that keeps "completed" transitive along a chain of such launches.
#pragma once

#include "../portability.h"

namespace moekit::device {

MOEKIT_DEVICE_INLINE void allow_dependent_grids() {
#if !MOEKIT_PLATFORM_HIP && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

MOEKIT_DEVICE_INLINE void wait_for_prerequisite_grids() {
#if !MOEKIT_PLATFORM_HIP && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

}  // namespace moekit::device
