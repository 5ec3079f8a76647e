// The CPU expert runner: per local expert, gather its rows, GEMM1 (OpenBLAS sgemm) + bias + gated activation,
// GEMM2 + bias, then a weighted combine per token in slot order (j = 0..k-1), so results do not depend on the
// thread count. Activation FP8 fake-quantization (vLLM w8a8 semantics) is applied to each GEMM's input.
//
// Threads: the work is cut into jobs of up to kChunkRows rows of one expert; OpenMP threads take jobs, each with
// its own scratch rows, and run single-threaded sgemm (see blas_threads.h for why the pools must not mix). A
// job's result depends only on its rows, never on which thread ran it or how many there are. Small runs (T = 1 of
// a small layer) run on the calling thread: parallel_work.h says why and where the line is.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cpu/blas_threads.h"
#include "cpu/cpu_activation.h"
#include "cpu/cpu_expert_weights.h"
#include "cpu/cpu_experts_common.h"
#include "cpu/cpu_ops.h"
#include "cpu/parallel_work.h"
#include "cpu/quantize_rows.h"
#include "moekit_core/error.h"
#include "moekit_core/validate.h"

namespace moekit::cpu {

namespace {

// Rows of one GEMM call at most: bounds the intermediate buffers (x, gate_up, act) independently of T.
constexpr int64_t kChunkRows = 512;
constexpr int64_t kAlign = 64;  // the CPU contract's buffer_align_bytes

// Byte offsets of the workspace pieces. Sizes are overflow-checked.
struct WorkspaceLayout {
  int64_t order = 0;    // int32 [A]: flat assignment indices t*k+j grouped by local expert (stable)
  int64_t offsets = 0;  // int64 [L+1]: start of each local expert's run in `order`
  int64_t y = 0;        // f32 [A, H]: each assignment's expert output (bias included, weight not applied)
  int64_t total = 0;
};

WorkspaceLayout layout_for(const ExpertsConfig& cfg, int64_t T, int64_t k) {
  WorkspaceLayout l;
  const int64_t A = checked_mul(T, k, "num_tokens * top_k");
  if (A > INT32_MAX)  // `order` holds flat assignment indices as int32, like the routing plan's sorted order
    invalid("num_tokens: num_tokens * top_k = " + std::to_string(A) + " exceeds 2^31 - 1 assignments");
  if (A == 0) return l;
  int64_t at = 0;
  auto take = [&](int64_t bytes, const char* what) {
    const int64_t start = at;
    at = round_up(checked_add(at, bytes, what), kAlign);
    return start;
  };
  l.order = take(checked_mul(A, 4, "workspace"), "workspace");
  l.offsets = take(checked_mul(cfg.num_local_experts + 1, 8, "workspace"), "workspace");
  l.y = take(checked_mul(checked_mul(A, cfg.hidden, "workspace"), 4, "workspace"), "workspace");
  l.total = at;
  return l;
}

template <class T>
T* at(void* base, int64_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

// Counts assignments and builds the stable expert-grouped order. Ids outside [0, E) and ids of experts that
// are not local are counted and skipped; they never index memory.
void group_by_expert(const ExpertsConfig& cfg, const int32_t* ids, int64_t A, int32_t* order, int64_t* offsets,
                     RunReport& report) {
  const int64_t L = cfg.num_local_experts;
  const int32_t E = cfg.num_experts;
  std::fill(offsets, offsets + L + 1, int64_t{0});
  for (int64_t a = 0; a < A; ++a) {
    const int32_t id = ids[a];
    if (id < 0 || id >= E) {
      ++report.invalid_assignments;
      continue;
    }
    ++report.assignments;
    const int32_t local = cfg.expert_map[static_cast<size_t>(id)];
    if (local < 0) {
      ++report.non_local_assignments;
      continue;
    }
    ++offsets[local + 1];
  }
  for (int64_t e = 0; e < L; ++e) {
    if (offsets[e + 1] > 0) ++report.experts_touched;
    offsets[e + 1] += offsets[e];
  }
  std::vector<int64_t> next(offsets, offsets + L);  // host-side cursor; L <= 2^20 entries
  for (int64_t a = 0; a < A; ++a) {
    const int32_t id = ids[a];
    if (id < 0 || id >= E) continue;
    const int32_t local = cfg.expert_map[static_cast<size_t>(id)];
    if (local < 0) continue;
    order[next[static_cast<size_t>(local)]++] = static_cast<int32_t>(a);
  }
}

// One thread's rows for a job: x [C, Hp] (GEMM1 input, then GEMM2 output), gate_up [C, 2*Ip], act [C, Ip].
// Host memory of the backend, not the caller's workspace: how many threads run is only known at run time.
// Allocated per run on purpose: up to glibc's 32 MB mmap threshold a freed block is reused from the heap, so a
// fresh allocation costs what a reused one does (measured: 18 MB, 2.3 vs 2.0 ms to write it all); above it (512-row
// chunks of the largest layers) the chunk's GEMMs take seconds. A cached buffer would outlive the run instead.
class ThreadScratch {
 public:
  ThreadScratch(const ExpertsConfig& cfg, int64_t rows, int threads)
      : x_stride_(rows * cfg.hidden_pad),
        gate_up_stride_(rows * 2 * cfg.intermediate_pad),
        act_stride_(rows * cfg.intermediate_pad),
        per_thread_(x_stride_ + gate_up_stride_ + act_stride_),
        data_(new float[static_cast<size_t>(per_thread_ * threads)]) {}  // uninitialised: every row is written
  float* x(int thread) const { return data_.get() + thread * per_thread_; }
  float* gate_up(int thread) const { return x(thread) + x_stride_; }
  float* act(int thread) const { return gate_up(thread) + gate_up_stride_; }

 private:
  int64_t x_stride_, gate_up_stride_, act_stride_, per_thread_;
  std::unique_ptr<float[]> data_;
};

// What one chunk of rows of one expert needs.
struct ChunkJob {
  const CpuExpertWeights* w;
  int64_t local;
  const int32_t* rows;  // flat assignment indices
  int64_t m;            // row count
};

// Runs on one thread: the row loops are O(m*H) next to the GEMMs' O(m*H*I).
void run_chunk(const ExpertsConfig& cfg, const ChunkJob& job, const TensorView& hidden, const float* topk_weights,
               int64_t k, float* x, float* gate_up, float* act, float* y) {
  const int64_t H = cfg.hidden, Hp = cfg.hidden_pad, Ip = cfg.intermediate_pad;
  const bool quant = cfg.act_quant != ActQuant::None;
  const int64_t m = job.m;

  // Gather: x[r] = hidden[t] (scaled by the router weight when it applies to the input), zero-padded, then
  // FP8 fake-quantized like the GEMM1 input of a w8a8 kernel.
  for (int64_t r = 0; r < m; ++r) {
    const int64_t a = job.rows[r];
    const int64_t t = a / k;
    const float scale = cfg.apply_router_weight_on_input ? topk_weights[a] : 1.0f;
    float* xr = x + r * Hp;
    for (int64_t h = 0; h < H; ++h) xr[h] = load_f32(hidden.data, hidden.dtype, t * H + h) * scale;
    std::fill(xr + H, xr + Hp, 0.0f);
    if (quant) fake_quantize_fp8_rows(xr, 1, Hp, act_quant_group(cfg, Hp));
  }

  // GEMM1: gate_up [m, 2Ip] = x [m, Hp] · w13ᵀ, w13 [2Ip, Hp].
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(2 * Ip),
              static_cast<int>(Hp), 1.0f, x, static_cast<int>(Hp), job.w->w13_of(job.local), static_cast<int>(Hp),
              0.0f, gate_up, static_cast<int>(2 * Ip));

  const float* b13 = job.w->b13_of(job.local);
  for (int64_t r = 0; r < m; ++r) {
    float* ar = act + r * Ip;
    gated_activation_row(cfg, gate_up + r * 2 * Ip, b13, Ip, ar);
    if (quant) fake_quantize_fp8_rows(ar, 1, Ip, act_quant_group(cfg, Ip));
  }

  // GEMM2: x [m, Hp] = act [m, Ip] · w2ᵀ, w2 [Hp, Ip]. (x is free again after GEMM1.)
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(Hp),
              static_cast<int>(Ip), 1.0f, act, static_cast<int>(Ip), job.w->w2_of(job.local), static_cast<int>(Ip),
              0.0f, x, static_cast<int>(Hp));

  // Scatter each row, plus the w2 bias, to its assignment's slot of y.
  const float* b2 = job.w->b2_of(job.local);
  for (int64_t r = 0; r < m; ++r) {
    const float* xr = x + r * Hp;
    float* yr = y + static_cast<int64_t>(job.rows[r]) * H;
    for (int64_t h = 0; h < H; ++h) yr[h] = xr[h] + b2[h];
  }
}

// out[t] = sum over slots j = 0..k-1 (in that order) of weight * y[t*k+j] for local assignments; zeros for a
// token without any. With apply_router_weight_on_input the weight was applied to the input: combine with 1.
void combine(const ExecContext& ex, const ExpertsConfig& cfg, const int32_t* ids, const float* topk_weights,
             const float* y, int64_t T, int64_t k, const TensorView& out) {
  const int64_t H = cfg.hidden;
  const int32_t E = cfg.num_experts;
  const int nt = threads_for_work(ex.num_threads, T, static_cast<double>(T * k) * static_cast<double>(H));
  // One f32 accumulator row per thread, allocated here: nothing may throw inside the parallel region.
  std::vector<float> acc_rows(static_cast<size_t>(nt * H));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t t = 0; t < T; ++t) {
    float* acc = acc_rows.data() + omp_get_thread_num() * H;
    std::fill(acc, acc + H, 0.0f);
    for (int64_t j = 0; j < k; ++j) {
      const int64_t a = t * k + j;
      const int32_t id = ids[a];
      if (id < 0 || id >= E || cfg.expert_map[static_cast<size_t>(id)] < 0) continue;
      const float weight = cfg.apply_router_weight_on_input ? 1.0f : topk_weights[a];
      const float* ya = y + a * H;
      for (int64_t h = 0; h < H; ++h) acc[h] += weight * ya[h];
    }
    for (int64_t h = 0; h < H; ++h) store_f32(out.data, out.dtype, t * H + h, acc[h]);
  }
}

}  // namespace

size_t experts_workspace_size(const ExpertsConfig& cfg, int64_t num_tokens, int32_t top_k) {
  return static_cast<size_t>(layout_for(cfg, num_tokens, top_k).total);
}

void run_experts(const ExecContext& ex, const ExpertsConfig& cfg, const PreparedExperts& weights,
                 const TensorView& hidden, const RoutingPlan& plan, const TensorView& out, void* workspace,
                 size_t workspace_bytes, RunReport& report) {
  (void)workspace_bytes;  // checked by Experts::run against experts_workspace_size
  const CpuExpertWeights& w = as_cpu_weights(weights);
  const int64_t T = hidden.dim(0);
  const int64_t k = plan.topk_ids.dim(1);
  const int64_t A = T * k;
  report = RunReport{};
  report.kernel = "cpu-openblas-sgemm";
  // Says how many threads the jobs actually ran on (fits the C API's 192 characters).
  auto describe = [&](int threads) {
    report.detail = "f32 weights (dequantized at set_weights), per-expert sgemm on chunks of up to " +
                    std::to_string(kChunkRows) + " rows, jobs on " + std::to_string(threads) + " of " +
                    std::to_string(ex.num_threads) + " OpenMP threads (1 for small runs), single-threaded OpenBLAS";
  };
  describe(0);
  if (A == 0) return;

  const WorkspaceLayout l = layout_for(cfg, T, k);
  const int32_t* ids = plan.topk_ids.as<const int32_t>();
  const float* topk_weights = plan.topk_weights.as<const float>();
  int32_t* order = at<int32_t>(workspace, l.order);
  int64_t* offsets = at<int64_t>(workspace, l.offsets);
  float* y = at<float>(workspace, l.y);
  group_by_expert(cfg, ids, A, order, offsets, report);

  std::vector<ChunkJob> jobs;
  for (int64_t e = 0; e < cfg.num_local_experts; ++e)
    for (int64_t c0 = offsets[e]; c0 < offsets[e + 1]; c0 += kChunkRows)
      jobs.push_back({&w, e, order + c0, std::min(kChunkRows, offsets[e + 1] - c0)});
  if (!jobs.empty()) {
    int64_t rows = 0, local_assignments = 0;
    for (const ChunkJob& job : jobs) {
      rows = std::max(rows, job.m);
      local_assignments += job.m;
    }
    // GEMM1 (2*Ip x Hp) and GEMM2 (Hp x Ip) per row.
    const double macs = static_cast<double>(local_assignments) * 3.0 * static_cast<double>(cfg.hidden_pad) *
                        static_cast<double>(cfg.intermediate_pad);
    const int64_t n_jobs = static_cast<int64_t>(jobs.size());
    const int threads = threads_for_work(ex.num_threads, n_jobs, macs);
    describe(threads);
    const ThreadScratch scratch(cfg, rows, threads);  // allocated before the region: nothing may throw inside
    // Also when the jobs stay on the calling thread: each sgemm then sums exactly as on a pool thread, so the
    // result does not depend on the run's size class.
    const SingleThreadedBlas single_threaded_blas;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
    for (int64_t j = 0; j < n_jobs; ++j) {
      const int me = omp_get_thread_num();
      run_chunk(cfg, jobs[static_cast<size_t>(j)], hidden, topk_weights, k, scratch.x(me), scratch.gate_up(me),
                scratch.act(me), y);
    }
  }
  combine(ex, cfg, ids, topk_weights, y, T, k, out);
}

}  // namespace moekit::cpu
