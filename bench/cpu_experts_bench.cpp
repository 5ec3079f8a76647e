// CPU expert-runner benchmark: the OpenBLAS runner (what moekit_experts_run uses on the CPU backend) against
// the naive per-token loop, on the same prepared weights in the same process, so the ratio is meaningful on a
// noisy machine. Writes JSON lines to stdout:
//   {"model":..., "T":..., "blas_us":..., "naive_us":..., "speedup":..., "max_abs_diff":...}
// Usage: moekit_bench_cpu [--quick]    (--quick: fewer shapes, for CI smoke runs)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cpu/cpu_expert_weights.h"
#include "cpu/cpu_experts_naive.h"
#include "cpu/cpu_ops.h"
#include "moekit_core/platform_contract.h"

using namespace moekit;

namespace {

struct Shape {
  const char* model;
  int64_t H, I;
  int32_t E, k;
};

template <class F>
double median_us(F&& f, int reps) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

TensorView view(void* data, DType dt, std::initializer_list<int64_t> shape) {
  TensorView v;
  v.data = data;
  v.dtype = dt;
  for (int64_t d : shape) v.shape[v.rank++] = d;
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  // Model shapes scaled so the naive loop finishes in seconds on a small machine (E and k are the models').
  std::vector<Shape> shapes = {{"qwen3-30b-a3b/2", 1024, 384, 128, 8}, {"mixtral-8x7b/8", 512, 1792, 8, 2},
                               {"gpt-oss-120b/8", 360, 360, 128, 4}};
  std::vector<int64_t> token_counts = quick ? std::vector<int64_t>{1, 32} : std::vector<int64_t>{1, 16, 64, 256};
  if (quick) shapes.resize(1);
  const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::fprintf(stderr, "moekit_bench_cpu: %d threads\n", threads);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);

  for (const Shape& s : shapes) {
    ExpertsConfig cfg;
    cfg.num_experts = cfg.num_local_experts = s.E;
    cfg.hidden = s.H;
    cfg.intermediate = s.I;
    const PaddedSizes pad = padded_sizes(cpu_platform_contract(), s.H, s.I);
    cfg.hidden_pad = pad.hidden_pad;
    cfg.intermediate_pad = pad.intermediate_pad;
    cfg.weight_format = WeightFormat::F32;
    for (int32_t e = 0; e < s.E; ++e) cfg.expert_map.push_back(e);
    std::vector<float> w13(static_cast<size_t>(s.E * 2 * s.I * s.H)), w2(static_cast<size_t>(s.E * s.H * s.I));
    for (auto& x : w13) x = normal(rng) / std::sqrt(static_cast<float>(s.H));
    for (auto& x : w2) x = normal(rng) / std::sqrt(static_cast<float>(s.I));
    ExpertWeights ew;
    ew.w13 = view(w13.data(), DType::F32, {s.E, 2 * s.I, s.H});
    ew.w2 = view(w2.data(), DType::F32, {s.E, s.H, s.I});
    const ExecContext ex{threads, nullptr};
    const auto prepared = cpu::prepare_experts(ex, cfg, ew);
    const auto& cw = cpu::as_cpu_weights(*prepared);

    for (int64_t T : token_counts) {
      std::vector<float> hidden(static_cast<size_t>(T * s.H)), out_blas(hidden.size()), out_naive(hidden.size());
      for (auto& x : hidden) x = normal(rng);
      std::vector<int32_t> ids(static_cast<size_t>(T * s.k));
      std::vector<float> wts(ids.size(), 1.0f / static_cast<float>(s.k));
      for (int64_t t = 0; t < T; ++t)  // uniform random routing, k distinct experts per token
        for (int32_t j = 0; j < s.k; ++j) {
          int32_t e;
          bool dup;
          do {
            e = static_cast<int32_t>(rng() % static_cast<uint32_t>(s.E));
            dup = false;
            for (int32_t p = 0; p < j; ++p) dup = dup || ids[t * s.k + p] == e;
          } while (dup);
          ids[t * s.k + j] = e;
        }
      RoutingPlan plan;
      plan.topk_ids = view(ids.data(), DType::I32, {T, s.k});
      plan.topk_weights = view(wts.data(), DType::F32, {T, s.k});
      const size_t ws_bytes = cpu::experts_workspace_size(cfg, T, s.k);
      std::vector<uint8_t> ws_storage(ws_bytes + 64);
      void* ws = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(ws_storage.data()) + 63) & ~uintptr_t{63});
      const TensorView hv = view(hidden.data(), DType::F32, {T, s.H});
      const TensorView ov = view(out_blas.data(), DType::F32, {T, s.H});
      RunReport report;
      auto blas = [&] { cpu::run_experts(ex, cfg, *prepared, hv, plan, ov, ws, ws_bytes, report); };
      auto naive = [&] {
        cpu::run_experts_naive(cfg, cw, hidden.data(), T, s.k, ids.data(), wts.data(), out_naive.data());
      };
      blas();  // warm-up
      const int reps = T <= 16 ? 7 : 3;
      const double blas_us = median_us(blas, reps);
      const double naive_us = median_us(naive, T <= 16 ? 3 : 1);
      double max_diff = 0;
      for (size_t i = 0; i < out_blas.size(); ++i)
        max_diff = std::max(max_diff, static_cast<double>(std::fabs(out_blas[i] - out_naive[i])));
      std::printf("{\"model\": \"%s\", \"T\": %lld, \"E\": %d, \"k\": %d, \"H\": %lld, \"I\": %lld, "
                  "\"threads\": %d, \"blas_us\": %.1f, \"naive_us\": %.1f, \"speedup\": %.2f, "
                  "\"max_abs_diff\": %.3g}\n",
                  s.model, (long long)T, s.E, s.k, (long long)s.H, (long long)s.I, threads, blas_us, naive_us,
                  naive_us / blas_us, max_diff);
      std::fflush(stdout);
    }
  }
  return 0;
}
