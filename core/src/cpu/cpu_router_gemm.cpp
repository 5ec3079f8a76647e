// CPU router GEMM: logits[T,E] = hidden[T,H] @ w_gate[E,H]^T (+ bias), f32 accumulation through OpenBLAS.
// The output is cut into fixed tiles (kTileRows tokens x kTileCols experts) that OpenMP threads take, each
// running a single-threaded sgemm (see blas_threads.h); the tiling does not depend on the thread count, so
// neither do the results. bf16/f16 inputs are widened to f32 (exactly): w_gate once, hidden one tile of rows at
// a time into the thread's scratch, so memory stays bounded for any T.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cpu/blas_threads.h"
#include "cpu/cpu_ops.h"
#include "moekit_core/numerics/half.h"

namespace moekit::cpu {

namespace {

constexpr int64_t kTileRows = 64;
constexpr int64_t kTileCols = 64;

void widen(const TensorView& src, int64_t first, int64_t count, float* dst) {
  const uint16_t* p = src.as<const uint16_t>() + first;
  if (src.dtype == DType::BF16) {
    for (int64_t i = 0; i < count; ++i) dst[i] = bf16_to_f32(p[i]);
  } else {
    for (int64_t i = 0; i < count; ++i) dst[i] = f16_to_f32(p[i]);
  }
}

}  // namespace

void router_gemm(const ExecContext& ex, const TensorView& hidden, const TensorView& w_gate, const TensorView* bias,
                 const TensorView& logits) {
  const int64_t tokens = hidden.shape[0], h = hidden.shape[1], e = w_gate.shape[0];
  if (tokens == 0) return;
  float* out = logits.as<float>();
  const bool is_f32 = hidden.dtype == DType::F32;
  const float* b = bias != nullptr ? bias->as<const float>() : nullptr;

  const int64_t row_tiles = (tokens + kTileRows - 1) / kTileRows, col_tiles = (e + kTileCols - 1) / kTileCols;
  const int64_t n_tiles = row_tiles * col_tiles;
  const int threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(ex.num_threads, n_tiles)));

  // Allocated before the parallel regions: nothing may throw inside them.
  std::vector<float> w_wide, h_wide;
  const float* w = w_gate.as<const float>();
  if (!is_f32) {
    w_wide.resize(static_cast<size_t>(e * h));
    const int64_t rows_per_thread = (e + threads - 1) / threads;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r0 = 0; r0 < e; r0 += rows_per_thread)
      widen(w_gate, r0 * h, std::min(rows_per_thread, e - r0) * h, w_wide.data() + r0 * h);
    w = w_wide.data();
    h_wide.resize(static_cast<size_t>(threads * std::min(tokens, kTileRows) * h));
  }

  const SingleThreadedBlas single_threaded_blas;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t tile = 0; tile < n_tiles; ++tile) {
    const int64_t row = (tile / col_tiles) * kTileRows, col = (tile % col_tiles) * kTileCols;
    const int64_t rows = std::min(kTileRows, tokens - row), cols = std::min(kTileCols, e - col);
    const float* a = is_f32 ? hidden.as<const float>() + row * h : nullptr;
    if (!is_f32) {
      float* scratch = h_wide.data() + omp_get_thread_num() * std::min(tokens, kTileRows) * h;
      widen(hidden, row * h, rows * h, scratch);
      a = scratch;
    }
    // Core checked H, E <= INT32_MAX; rows and cols are at most one tile.
    float* c = out + row * e + col;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(cols),
                static_cast<int>(h), 1.0f, a, static_cast<int>(h), w + col * h, static_cast<int>(h), 0.0f, c,
                static_cast<int>(e));
    if (b != nullptr)
      for (int64_t t = 0; t < rows; ++t)
        for (int64_t i = 0; i < cols; ++i) c[t * e + i] += b[col + i];
  }
}

}  // namespace moekit::cpu
