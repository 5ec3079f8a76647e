// How many OpenMP threads a CPU loop gets: one when its work is too small to pay for a parallel region.
//
// Why: a parallel region ends with a join that waits for every thread of the team. On an idle machine that costs
// microseconds, but when the cores are shared (a build, another process, more software threads than cores) a
// team thread may not run until the kernel's next time slice (4 ms at HZ=250), and the caller waits for it.
// Measured with bench/cpu_experts_bench.cpp on 2 cores beside 2 busy processes, medians of 7 runs: gpt-oss-120b/8
// at T = 1 (1.8 M multiply-adds) took 2.9 ms on 2 threads and 0.34 ms on one.
//
// The line is where one thread needs about one such slice: 2^23 multiply-adds take it 1.4-5.6 ms (1.5-6 GMAC/s,
// f32 weights from DRAM or cache). Below it, going serial costs at most about half that on an idle machine (idle,
// gpt-oss-120b/8 T = 1: 0.16 -> 0.32 ms; mixtral-8x7b/8 T = 1, 5.5 M: 2.1 -> 3.5 ms) and saves a slice or more on
// a busy one. Every real model's expert layer at T = 1 is above it (the smallest, Qwen3-30B-A3B: 38 M), so only
// toy shapes and the smallest batches of small layers go serial.
//
// The thread count never changes a result here: each task's arithmetic does not depend on which thread runs it.
#pragma once

#include <algorithm>
#include <cstdint>

namespace moekit::cpu {

// Multiply-adds below which a loop runs on the calling thread (2^23; see above).
constexpr double kMinParallelMacs = 8388608.0;

// Threads for a loop over `tasks` independent tasks with `macs` multiply-adds in all, given the context's
// `max_threads`: 1 for small work, else one per task up to max_threads. Always >= 1. `macs` is a double so that
// callers multiply sizes without overflow; it is only compared.
inline int threads_for_work(int max_threads, int64_t tasks, double macs) {
  if (macs < kMinParallelMacs) return 1;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(max_threads, tasks)));
}

}  // namespace moekit::cpu
