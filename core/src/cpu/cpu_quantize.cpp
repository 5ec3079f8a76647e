// The CPU quantizer: converts input rows to float32, runs the serial row kernels of quantize_rows.cpp on
// chunks of rows in parallel, and converts dequantized rows back to the output dtype. Arguments arrive
// validated by moekit::Quantizer (shapes follow quant_shapes, MXFP4 has cols % 32 == 0, group_size >= 1).
#include <omp.h>

#include <string>
#include <vector>

#include "cpu/cpu_ops.h"
#include "cpu/quantize_rows.h"
#include "moekit_core/error.h"
#include "moekit_core/numerics/fp8.h"
#include "moekit_core/numerics/half.h"

namespace moekit::cpu {

namespace {

// Below this many elements a thread team costs more than it saves.
constexpr int64_t kParallelMinElements = int64_t{1} << 15;
// Target elements per chunk of the per-row schemes (a few hundred KiB of scratch per thread).
constexpr int64_t kChunkElements = int64_t{1} << 16;

int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Rows [r0, r1) of a [rows, cols] f32/bf16/f16 tensor as float32: the tensor itself when it is f32,
// otherwise a converted copy in `scratch` (exact: every bf16/f16 value is a float32 value).
const float* rows_as_f32(const TensorView& t, int64_t cols, int64_t r0, int64_t r1, float* scratch) {
  const int64_t begin = r0 * cols, n = (r1 - r0) * cols;
  switch (t.dtype) {
    case DType::F32: return t.as<const float>() + begin;
    case DType::BF16: {
      const uint16_t* src = t.as<const uint16_t>() + begin;
      for (int64_t i = 0; i < n; ++i) scratch[i] = bf16_to_f32(src[i]);
      return scratch;
    }
    case DType::F16: {
      const uint16_t* src = t.as<const uint16_t>() + begin;
      for (int64_t i = 0; i < n; ++i) scratch[i] = f16_to_f32(src[i]);
      return scratch;
    }
    default: return scratch;  // unreachable: expect_float_dtype ran before any parallel region
  }
}

// The backend's own guard (core validated already); it runs outside parallel regions, where throwing is safe.
void expect_float_dtype(const TensorView& t, const char* op) {
  if (t.dtype != DType::F32 && t.dtype != DType::BF16 && t.dtype != DType::F16)
    fail(Status::Internal, std::string(op) + ": unexpected dtype reached the CPU backend");
}

// Where dequantized rows [r0, r1) go: straight into an f32 output, else into scratch for store_rows.
float* output_rows(const TensorView& t, int64_t cols, int64_t r0, float* scratch) {
  return t.dtype == DType::F32 ? t.as<float>() + r0 * cols : scratch;
}

// Rounds float32 rows to the output dtype (nearest-even); a no-op for f32 (written in place).
void store_rows(const float* src, const TensorView& t, int64_t cols, int64_t r0, int64_t r1) {
  const int64_t begin = r0 * cols, n = (r1 - r0) * cols;
  if (t.dtype == DType::BF16) {
    uint16_t* dst = t.as<uint16_t>() + begin;
    for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
  } else if (t.dtype == DType::F16) {
    uint16_t* dst = t.as<uint16_t>() + begin;
    for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
  }
}

// Calls fn(r0, r1, scratch) for consecutive chunks of `chunk_rows` rows, in parallel when worthwhile. When
// `float_io` is false (bf16/f16 data to convert) each thread gets its own chunk_rows * cols floats of scratch,
// allocated here, before the parallel region, so nothing inside it can throw.
template <class Fn>
void for_row_chunks(const ExecContext& ex, int64_t rows, int64_t cols, int64_t chunk_rows, bool float_io, Fn&& fn) {
  if (rows == 0) return;
  if (chunk_rows > rows) chunk_rows = rows;  // an FP8 block taller than the matrix: one chunk
  const int64_t chunks = rows / chunk_rows + (rows % chunk_rows != 0);
  int threads = rows * cols >= kParallelMinElements ? ex.num_threads : 1;
  if (threads > chunks) threads = static_cast<int>(chunks);
  if (threads < 1) threads = 1;
  const int64_t per_thread = float_io ? 0 : chunk_rows * cols;
  std::vector<float> scratch(static_cast<size_t>(per_thread * threads));
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    float* mine = float_io ? nullptr : scratch.data() + per_thread * omp_get_thread_num();
    fn(c * chunk_rows, min64(rows, (c + 1) * chunk_rows), mine);
  }
}

int64_t per_row_chunk(int64_t cols) { return cols > 0 && cols < kChunkElements ? kChunkElements / cols : 1; }

float per_tensor_amax(const ExecContext& ex, const TensorView& input, int64_t rows, int64_t cols) {
  const int64_t chunk = per_row_chunk(cols);
  const int64_t chunks = rows == 0 ? 0 : rows / chunk + (rows % chunk != 0);
  std::vector<float> partial(static_cast<size_t>(chunks), 0.0f);
  const bool f32_in = input.dtype == DType::F32;
  for_row_chunks(ex, rows, cols, chunk, f32_in, [&](int64_t r0, int64_t r1, float* scratch) {
    partial[static_cast<size_t>(r0 / chunk)] = finite_amax(rows_as_f32(input, cols, r0, r1, scratch), (r1 - r0) * cols);
  });
  float amax = 0.0f;
  for (float a : partial) amax = a > amax ? a : amax;  // max is order-independent: deterministic
  return amax;
}

}  // namespace

void quantize(const ExecContext& ex, const QuantizerConfig& cfg, const TensorView& input, const TensorView& values,
              const TensorView& scales) {
  const int64_t rows = input.dim(0), cols = input.dim(1);
  uint8_t* q = values.as<uint8_t>();
  expect_float_dtype(input, "quantize");
  const bool f32_in = input.dtype == DType::F32;
  switch (cfg.scheme) {
    case QuantScheme::Fp8PerTensor: {
      const float scale = fp8_scale_from_amax(per_tensor_amax(ex, input, rows, cols));
      scales.as<float>()[0] = scale;
      for_row_chunks(ex, rows, cols, per_row_chunk(cols), f32_in, [&](int64_t r0, int64_t r1, float* scratch) {
        quantize_fp8_with_scale(rows_as_f32(input, cols, r0, r1, scratch), (r1 - r0) * cols, scale, q + r0 * cols);
      });
      return;
    }
    case QuantScheme::Fp8PerToken:
    case QuantScheme::Fp8PerGroup: {
      if (cols == 0) {  // per-token scales [rows, 1] of empty rows: amax 0
        for (int64_t r = 0; r < scales.numel(); ++r) scales.as<float>()[r] = fp8_scale_from_amax(0.0f);
        return;
      }
      const int64_t group = cfg.scheme == QuantScheme::Fp8PerToken ? cols : cfg.group_size;
      const int64_t ngroups = scales.dim(1);
      for_row_chunks(ex, rows, cols, per_row_chunk(cols), f32_in, [&](int64_t r0, int64_t r1, float* scratch) {
        quantize_fp8_rows(rows_as_f32(input, cols, r0, r1, scratch), r1 - r0, cols, group, q + r0 * cols,
                          scales.as<float>() + r0 * ngroups);
      });
      return;
    }
    case QuantScheme::Fp8Block: {
      const int64_t block = cfg.group_size;
      const int64_t nbc = scales.dim(1);
      for_row_chunks(ex, rows, cols, block, f32_in, [&](int64_t r0, int64_t r1, float* scratch) {
        quantize_fp8_block(rows_as_f32(input, cols, r0, r1, scratch), r1 - r0, cols, block, q + r0 * cols,
                           scales.as<float>() + (r0 / block) * nbc);
      });
      return;
    }
    case QuantScheme::Mxfp4: {
      const int64_t nblocks = scales.dim(1);
      for_row_chunks(ex, rows, cols, per_row_chunk(cols), f32_in, [&](int64_t r0, int64_t r1, float* scratch) {
        quantize_mxfp4_rows(rows_as_f32(input, cols, r0, r1, scratch), r1 - r0, cols, q + r0 * (cols / 2),
                            scales.as<uint8_t>() + r0 * nblocks);
      });
      return;
    }
  }
  fail(Status::Internal, "quantize: unknown scheme reached the CPU backend");
}

void dequantize(const ExecContext& ex, const QuantizerConfig& cfg, const TensorView& values,
                const TensorView& scales, const TensorView& output) {
  const int64_t rows = output.dim(0), cols = output.dim(1);
  const uint8_t* q = values.as<const uint8_t>();
  expect_float_dtype(output, "dequantize");
  const bool f32_out = output.dtype == DType::F32;
  switch (cfg.scheme) {
    case QuantScheme::Fp8PerTensor: {
      const float scale = scales.as<const float>()[0];
      for_row_chunks(ex, rows, cols, per_row_chunk(cols), f32_out, [&](int64_t r0, int64_t r1, float* scratch) {
        float* out = output_rows(output, cols, r0, scratch);
        dequantize_fp8_with_scale(q + r0 * cols, (r1 - r0) * cols, scale, out);
        store_rows(out, output, cols, r0, r1);
      });
      return;
    }
    case QuantScheme::Fp8PerToken:
    case QuantScheme::Fp8PerGroup: {
      if (cols == 0) return;
      const int64_t group = cfg.scheme == QuantScheme::Fp8PerToken ? cols : cfg.group_size;
      const int64_t ngroups = scales.dim(1);
      for_row_chunks(ex, rows, cols, per_row_chunk(cols), f32_out, [&](int64_t r0, int64_t r1, float* scratch) {
        float* out = output_rows(output, cols, r0, scratch);
        dequantize_fp8_rows(q + r0 * cols, scales.as<const float>() + r0 * ngroups, r1 - r0, cols, group, out);
        store_rows(out, output, cols, r0, r1);
      });
      return;
    }
    case QuantScheme::Fp8Block: {
      const int64_t block = cfg.group_size;
      const int64_t nbc = scales.dim(1);
      for_row_chunks(ex, rows, cols, block, f32_out, [&](int64_t r0, int64_t r1, float* scratch) {
        float* out = output_rows(output, cols, r0, scratch);
        dequantize_fp8_block(q + r0 * cols, scales.as<const float>() + (r0 / block) * nbc, r1 - r0, cols, block,
                             out);
        store_rows(out, output, cols, r0, r1);
      });
      return;
    }
    case QuantScheme::Mxfp4: {
      const int64_t nblocks = scales.dim(1);
      for_row_chunks(ex, rows, cols, per_row_chunk(cols), f32_out, [&](int64_t r0, int64_t r1, float* scratch) {
        float* out = output_rows(output, cols, r0, scratch);
        dequantize_mxfp4_rows(q + r0 * (cols / 2), scales.as<const uint8_t>() + r0 * nblocks, r1 - r0, cols, out);
        store_rows(out, output, cols, r0, r1);
      });
      return;
    }
  }
  fail(Status::Internal, "dequantize: unknown scheme reached the CPU backend");
}

}  // namespace moekit::cpu
