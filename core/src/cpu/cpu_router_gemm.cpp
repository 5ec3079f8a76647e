// CPU router GEMM: logits[T,E] = hidden[T,H] @ w_gate[E,H]^T (+ bias), f32 accumulation through OpenBLAS.
// bf16/f16 inputs are widened to f32 (exactly) first: w_gate once, hidden a tile of rows at a time so the
// scratch stays bounded for any T.
#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cpu/cpu_ops.h"
#include "moekit_core/numerics/half.h"

namespace moekit::cpu {

namespace {

// Rows of hidden widened per BLAS call (bounds the scratch at kTileRows * H floats).
constexpr int64_t kTileRows = 256;

void widen(const ExecContext& ex, const TensorView& src, int64_t first, int64_t count, float* dst) {
  const uint16_t* p = src.as<const uint16_t>() + first;
  const bool bf16 = src.dtype == DType::BF16;
#pragma omp parallel for num_threads(ex.num_threads) schedule(static)
  for (int64_t i = 0; i < count; ++i) dst[i] = bf16 ? bf16_to_f32(p[i]) : f16_to_f32(p[i]);
}

}  // namespace

void router_gemm(const ExecContext& ex, const TensorView& hidden, const TensorView& w_gate, const TensorView* bias,
                 const TensorView& logits) {
  const int64_t tokens = hidden.shape[0], h = hidden.shape[1], e = w_gate.shape[0];
  if (tokens == 0) return;
  float* out = logits.as<float>();
  const bool is_f32 = hidden.dtype == DType::F32;

  std::vector<float> w_wide, h_wide;
  const float* w = w_gate.as<const float>();
  if (!is_f32) {
    w_wide.resize(static_cast<size_t>(e * h));
    widen(ex, w_gate, 0, e * h, w_wide.data());
    w = w_wide.data();
    h_wide.resize(static_cast<size_t>(std::min(tokens, kTileRows) * h));
  }

  for (int64_t row = 0; row < tokens; row += kTileRows) {
    const int64_t rows = std::min(kTileRows, tokens - row);
    const float* a = hidden.as<const float>() + (is_f32 ? row * h : 0);
    if (!is_f32) {
      widen(ex, hidden, row * h, rows * h, h_wide.data());
      a = h_wide.data();
    }
    // Core checked H, E <= INT32_MAX; rows <= kTileRows.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(e),
                static_cast<int>(h), 1.0f, a, static_cast<int>(h), w, static_cast<int>(h), 0.0f, out + row * e,
                static_cast<int>(e));
  }

  if (bias != nullptr) {
    const float* b = bias->as<const float>();
#pragma omp parallel for num_threads(ex.num_threads) schedule(static)
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t i = 0; i < e; ++i) out[t * e + i] += b[i];
  }
}

}  // namespace moekit::cpu
