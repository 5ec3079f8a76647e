// The one router factory of the tests that compare the CUDA module with the CPU backend: a CPU router (the
// reference) and a CUDA router made from the same description. route_case.h (routing configs) and plan_case.h
// (routing-plan configs) each turn their config into a description and build the pair here.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "gpu_test_util.h"

namespace moekit_gpu_test {

// Both routers, and the host arrays their description points at (kept for as long as the routers live).
struct RouterPair {
  moekit_router cpu = nullptr, gpu = nullptr;
  std::vector<float> bias;   // correction bias; empty without one
  std::vector<int32_t> map;  // expert map; empty without one
  RouterPair() = default;
  RouterPair(const RouterPair&) = delete;
  RouterPair& operator=(const RouterPair&) = delete;
  ~RouterPair() { destroy(); }
  // Separate from the destructor for owners that must free the routers before their contexts.
  void destroy() {
    moekit_router_destroy(cpu);
    moekit_router_destroy(gpu);
    cpu = gpu = nullptr;
  }
};

// What a config adds to its description: a correction bias drawn from U(-0.25, 0.25) with a fixed seed, and
// an expert map in which every third expert (e % 3 == 1) is not local.
struct RouterExtras {
  bool bias = false, expert_map = false;
};

// Creates r.cpu from `d` plus `extras`, and r.gpu from the same description unless `gpu` is null (tests that
// launch the shared kernels directly need only the CPU reference).
inline void make_router_pair(moekit_context cpu, moekit_context gpu, moekit_router_desc d, RouterExtras extras,
                             RouterPair& r) {
  if (extras.bias) {
    std::mt19937 rng(1234);
    std::uniform_real_distribution<float> u(-0.25f, 0.25f);
    r.bias.resize(static_cast<size_t>(d.num_experts));
    for (float& b : r.bias) b = u(rng);
    d.correction_bias = r.bias.data();
  }
  if (extras.expert_map) {
    r.map.resize(static_cast<size_t>(d.num_experts));
    int32_t local = 0;
    for (int32_t e = 0; e < d.num_experts; ++e) r.map[static_cast<size_t>(e)] = e % 3 == 1 ? -1 : local++;
    d.expert_map = r.map.data();
  }
  MOEKIT_OK(moekit_router_create(cpu, &d, &r.cpu));
  if (gpu != nullptr) MOEKIT_OK(moekit_router_create(gpu, &d, &r.gpu));
}

}  // namespace moekit_gpu_test
