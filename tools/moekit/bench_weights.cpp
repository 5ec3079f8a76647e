#include "bench_weights.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include "random_layer.h"  // check(): moekit status -> exception with moekit's message

namespace moekit_cli {

namespace {

constexpr int64_t kBlock = 128;  // FP8 weight block edge (moekit.h)

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// xorshift64*: fast, and good enough for benchmark data.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(splitmix64(seed) | 1) {}
  float uniform_pm1() {  // [-1, 1), 24 random bits
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    const uint64_t r = s * 0x2545F4914F6CDD1Dull;
    return static_cast<float>(r >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }
};

// Runs job(i) for i in [0, n) on every hardware thread; rethrows the first failure.
void parallel_for(int64_t n, const std::function<void(int64_t, int)>& job) {
  const int threads = static_cast<int>(std::min<int64_t>(std::max(1u, std::thread::hardware_concurrency()), n));
  std::atomic<int64_t> next{0};
  std::exception_ptr failure;
  std::atomic<bool> failed{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        for (int64_t i = next++; i < n && !failed; i = next++) job(i, t);
      } catch (...) {
        if (!failed.exchange(true)) failure = std::current_exception();
      }
    });
  for (auto& th : pool) th.join();
  if (failure) std::rethrow_exception(failure);
}

// Uniform values with standard deviation `stddev` overall, scaled per 128x128 block by 2^u, u uniform in [-1, 1].
// E[(2^u)^2] = (4 - 1/4) / (2 ln 4), so the base amplitude is divided by its square root.
void fill_matrix(float* out, int64_t rows, int64_t cols, float stddev, uint64_t seed) {
  static const float kBlockRms = std::sqrt(3.75f / (2.0f * std::log(4.0f)));
  const float amplitude = std::sqrt(3.0f) * stddev / kBlockRms;
  Rng rng(seed);
  const int64_t block_cols = (cols + kBlock - 1) / kBlock;
  std::vector<float> factor(static_cast<size_t>(block_cols));
  for (int64_t r = 0; r < rows; ++r) {
    if (r % kBlock == 0) {
      Rng block_rng(seed ^ splitmix64(static_cast<uint64_t>(r / kBlock) + 0x51ED270B));
      for (auto& f : factor) f = amplitude * std::exp2(block_rng.uniform_pm1());
    }
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = factor[static_cast<size_t>(c / kBlock)] * rng.uniform_pm1();
  }
}

uint64_t matrix_seed(uint64_t seed, int64_t expert, int which) {
  return splitmix64(seed * 1000003u + static_cast<uint64_t>(expert) * 4u + static_cast<uint64_t>(which));
}

// A CPU context + FP8 block quantizer per worker thread (handles are one-thread-at-a-time objects).
struct Fp8Worker {
  moekit_context ctx = nullptr;
  moekit_quantizer q = nullptr;
  Fp8Worker() {
    check(moekit_context_create(MOEKIT_BACKEND_CPU, 0, &ctx), "bench weights: CPU context");
    check(moekit_context_set_num_threads(ctx, 1), "bench weights: threads");
    moekit_quantizer_desc d = MOEKIT_QUANTIZER_DESC_INIT;
    d.scheme = MOEKIT_QUANT_FP8_BLOCK;
    d.group_size = static_cast<int32_t>(kBlock);
    check(moekit_quantizer_create(ctx, &d, &q), "bench weights: FP8 quantizer");
  }
  ~Fp8Worker() {
    moekit_quantizer_destroy(q);
    moekit_context_destroy(ctx);
  }
  Fp8Worker(const Fp8Worker&) = delete;
  Fp8Worker& operator=(const Fp8Worker&) = delete;

  void quantize(std::vector<float>& m, int64_t rows, int64_t cols, uint8_t* values, float* scales) {
    const int64_t in_shape[2] = {rows, cols};
    const int64_t s_shape[2] = {(rows + kBlock - 1) / kBlock, (cols + kBlock - 1) / kBlock};
    moekit_tensor in{}, qv{}, qs{};
    check(moekit_tensor_init(&in, m.data(), MOEKIT_DTYPE_F32, 2, in_shape), "tensor");
    check(moekit_tensor_init(&qv, values, MOEKIT_DTYPE_F8_E4M3FN, 2, in_shape), "tensor");
    check(moekit_tensor_init(&qs, scales, MOEKIT_DTYPE_F32, 2, s_shape), "tensor");
    check(moekit_quantize(q, &in, &qv, &qs, nullptr), "bench weights: quantize");
  }
};

int64_t product(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

}  // namespace

uint16_t float_to_bf16(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  if ((bits & 0x7F800000u) == 0x7F800000u && (bits & 0x007FFFFFu) != 0) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

std::vector<int64_t> HostExpertWeights::w13_shape() const {
  return {shape.num_experts, 2 * shape.intermediate, shape.hidden};
}
std::vector<int64_t> HostExpertWeights::w2_shape() const {
  return {shape.num_experts, shape.hidden, shape.intermediate};
}
std::vector<int64_t> HostExpertWeights::w13_scale_shape() const {
  return {shape.num_experts, (2 * shape.intermediate + kBlock - 1) / kBlock, (shape.hidden + kBlock - 1) / kBlock};
}
std::vector<int64_t> HostExpertWeights::w2_scale_shape() const {
  return {shape.num_experts, (shape.hidden + kBlock - 1) / kBlock, (shape.intermediate + kBlock - 1) / kBlock};
}

int64_t HostExpertWeights::bytes_per_expert() const {
  const int64_t E = shape.num_experts;
  const int64_t total = static_cast<int64_t>(w13.size + w2.size + w13_scale.size + w2_scale.size + w13_bias.size +
                                             w2_bias.size);
  return E > 0 ? total / E : 0;
}

HostExpertWeights make_bench_weights(const ModelPreset& preset, const BenchShape& s, moekit_weight_format format,
                                     uint64_t seed) {
  if (format != MOEKIT_WEIGHTS_BF16 && format != MOEKIT_WEIGHTS_FP8_BLOCK)
    throw std::invalid_argument("--formats: moekit bench supports bf16 and fp8");
  HostExpertWeights w;
  w.shape = s;
  w.format = format;
  const int64_t E = s.num_experts, H = s.hidden, I = s.intermediate;
  const float s13 = 1.0f / std::sqrt(static_cast<float>(H)), s2 = 1.0f / std::sqrt(static_cast<float>(I));
  const bool fp8 = format == MOEKIT_WEIGHTS_FP8_BLOCK;
  const size_t elem = fp8 ? 1 : 2;
  w.w13.allocate(static_cast<size_t>(product(w.w13_shape())) * elem);
  w.w2.allocate(static_cast<size_t>(product(w.w2_shape())) * elem);
  if (fp8) {
    w.w13_scale.allocate(static_cast<size_t>(product(w.w13_scale_shape())) * 4);
    w.w2_scale.allocate(static_cast<size_t>(product(w.w2_scale_shape())) * 4);
  }
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<Fp8Worker>> workers(hw);
  std::vector<std::vector<float>> scratch(hw);

  // One job per (expert, matrix): 2E jobs keep every thread busy even for Mixtral's 8 experts.
  parallel_for(2 * E, [&](int64_t job, int thread) {
    const int64_t e = job / 2;
    const bool first = job % 2 == 0;
    const int64_t rows = first ? 2 * I : H, cols = first ? H : I;
    std::vector<float>& m = scratch[static_cast<size_t>(thread)];
    m.resize(static_cast<size_t>(rows * cols));
    fill_matrix(m.data(), rows, cols, first ? s13 : s2, matrix_seed(seed, e, first ? 0 : 1));
    HostBytes& values = first ? w.w13 : w.w2;
    if (!fp8) {
      auto* out = reinterpret_cast<uint16_t*>(values.data.get()) + e * rows * cols;
      for (int64_t i = 0; i < rows * cols; ++i) out[i] = float_to_bf16(m[static_cast<size_t>(i)]);
      return;
    }
    auto& worker = workers[static_cast<size_t>(thread)];
    if (!worker) worker = std::make_unique<Fp8Worker>();
    const int64_t scale_count = ((rows + kBlock - 1) / kBlock) * ((cols + kBlock - 1) / kBlock);
    HostBytes& scales = first ? w.w13_scale : w.w2_scale;
    worker->quantize(m, rows, cols, values.data.get() + e * rows * cols,
                     reinterpret_cast<float*>(scales.data.get()) + e * scale_count);
  });

  if (preset.expert_biases) {
    w.w13_bias.allocate(static_cast<size_t>(E * 2 * I) * 4);
    w.w2_bias.allocate(static_cast<size_t>(E * H) * 4);
    Rng rng(seed ^ 0xB1A5);
    auto* b13 = reinterpret_cast<float*>(w.w13_bias.data.get());
    auto* b2 = reinterpret_cast<float*>(w.w2_bias.data.get());
    const float amp = 0.05f * std::sqrt(3.0f);
    for (int64_t i = 0; i < E * 2 * I; ++i) b13[i] = amp * rng.uniform_pm1();
    for (int64_t i = 0; i < E * H; ++i) b2[i] = amp * rng.uniform_pm1();
  }
  return w;
}

HostBytes make_bf16_matrix(int64_t rows, int64_t cols, float stddev, uint64_t seed) {
  HostBytes out;
  out.allocate(static_cast<size_t>(rows * cols) * 2);
  auto* p = reinterpret_cast<uint16_t*>(out.data.get());
  const float amp = std::sqrt(3.0f) * stddev;
  const int64_t chunk = 256;
  parallel_for((rows + chunk - 1) / chunk, [&](int64_t c, int) {
    Rng rng(splitmix64(seed + static_cast<uint64_t>(c)));
    for (int64_t i = c * chunk * cols; i < std::min(rows, (c + 1) * chunk) * cols; ++i)
      p[i] = float_to_bf16(amp * rng.uniform_pm1());
  });
  return out;
}

HostBytes make_f32_matrix(int64_t rows, int64_t cols, float range, uint64_t seed) {
  HostBytes out;
  out.allocate(static_cast<size_t>(rows * cols) * 4);
  auto* p = reinterpret_cast<float*>(out.data.get());
  const int64_t chunk = 256;
  parallel_for((rows + chunk - 1) / chunk, [&](int64_t c, int) {
    Rng rng(splitmix64(seed + static_cast<uint64_t>(c)));
    for (int64_t i = c * chunk * cols; i < std::min(rows, (c + 1) * chunk) * cols; ++i) p[i] = range * rng.uniform_pm1();
  });
  return out;
}

}  // namespace moekit_cli
