// OpenBLAS runs single-threaded inside the CPU backend; parallelism comes from OpenMP over independent GEMM jobs.
//
// Why: alternating OpenMP regions with multi-threaded OpenBLAS calls makes the two thread pools busy-wait
// against each other (OpenBLAS's pthread workers spin after every call, OpenMP's between regions). On 2 cores a
// Qwen3-30B-A3B layer at T = 64 took 7 s that way instead of 0.3 s single-threaded.
#pragma once

#include <cblas.h>

namespace moekit::cpu {

// Sets OpenBLAS to one thread for its lifetime and restores the previous count after. The count is
// process-global: a host program that calls the same OpenBLAS concurrently sees one thread meanwhile.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas() : saved_(openblas_get_num_threads()) {
    if (saved_ != 1) openblas_set_num_threads(1);
  }
  ~SingleThreadedBlas() {
    if (saved_ != 1) openblas_set_num_threads(saved_);
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int saved_;
};

}  // namespace moekit::cpu
