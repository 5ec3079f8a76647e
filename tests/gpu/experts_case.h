// One expert-runner scenario run on both backends through the public C API: the same weights (generated in
// the caller's format), hidden states and routing go to a CPU context and a CUDA context, and the outputs are
// compared within a tolerance derived from the formats (see tolerance_for).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "gpu_test_util.h"

namespace moekit_gpu_test {

// Random: k distinct experts per token; OneExpert: every token on the same k experts; WithInvalidIds: random with
// ids outside [0, E) in some slots; RepeatedIds: slots 2i and 2i+1 of a token name the same expert (a plan the
// caller built may repeat an id: each slot still counts, as on the CPU backend).
enum class Routing { Random, OneExpert, WithInvalidIds, RepeatedIds };

struct ExpertsCase {
  const char* name;
  moekit_weight_format format;
  moekit_activation activation;
  moekit_dtype hidden_dtype;
  moekit_act_quant act_quant;
  bool biases;
  int32_t E, L;  // L < E: expert_map with -1 entries
  int64_t H, I, T;
  int32_t k;
  Routing routing = Routing::Random;
  bool weight_on_input = false;
  // The GPU run's hidden rows start 2 bytes past a 16-byte boundary (valid for every 16-bit / f32 element type's
  // own alignment, not for 16-byte vector copies): the kernels that would read them in place must not.
  bool misaligned_hidden = false;
  // The byte the GPU run's workspace is filled with first: the default's f32 (-2.9e-16) would hide an unwritten
  // partial sum; 0xFF (NaN) makes any read of an unwritten workspace value fail the comparison.
  int workspace_fill = 0xA5;
};

// Fast deterministic pseudo-random numbers (weights of preset-sized layers are 10^8 values).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint32_t next() {
    s_ ^= s_ << 13;
    s_ ^= s_ >> 7;
    s_ ^= s_ << 17;
    return static_cast<uint32_t>(s_ >> 11);
  }
  float uniform() { return static_cast<float>(next() & 0xFFFFFF) * (1.0f / 16777216.0f); }  // [0, 1)
  float symmetric() { return 2.0f * uniform() - 1.0f; }                                      // [-1, 1)
  // Roughly normal (sum of 4 uniforms, variance 1).
  float normal() { return (symmetric() + symmetric() + symmetric() + symmetric()) * 0.8660254f; }

 private:
  uint64_t s_;
};

inline uint16_t to_bf16_bits(float v) {
  const __nv_bfloat16 h = __float2bfloat16_rn(v);
  uint16_t b;
  std::memcpy(&b, &h, 2);
  return b;
}
inline uint16_t to_f16_bits(float v) {
  const __half h = __float2half_rn(v);
  uint16_t b;
  std::memcpy(&b, &h, 2);
  return b;
}
inline float from_dtype(const std::vector<uint8_t>& bytes, moekit_dtype d, size_t i) {
  if (d == MOEKIT_DTYPE_F32) {
    float v;
    std::memcpy(&v, bytes.data() + 4 * i, 4);
    return v;
  }
  uint16_t b;
  std::memcpy(&b, bytes.data() + 2 * i, 2);
  if (d == MOEKIT_DTYPE_BF16) {
    const uint32_t u = static_cast<uint32_t>(b) << 16;
    float v;
    std::memcpy(&v, &u, 4);
    return v;
  }
  __half_raw raw;
  raw.x = b;
  return __half2float(__half(raw));
}

// A host tensor's bytes plus its shape, uploaded to the GPU on demand.
struct HostArray {
  std::vector<uint8_t> bytes;
  moekit_dtype dtype = MOEKIT_DTYPE_F32;
  std::vector<int64_t> shape;
  std::unique_ptr<DeviceBuffer> device;

  moekit_tensor host() {
    moekit_tensor t;
    moekit_tensor_init(&t, bytes.data(), dtype, static_cast<int32_t>(shape.size()), shape.data());
    return t;
  }
  moekit_tensor gpu() {
    if (!device) {
      device = std::make_unique<DeviceBuffer>(bytes.size());
      device->upload(bytes.data(), bytes.size());
    }
    moekit_tensor t;
    moekit_tensor_init(&t, device->get(), dtype, static_cast<int32_t>(shape.size()), shape.data());
    t.device_type = MOEKIT_DEVICE_CUDA;
    t.device_id = 0;
    return t;
  }
};

inline void fill_values(HostArray& a, moekit_dtype dtype, std::vector<int64_t> shape, Rng& rng, float scale) {
  a.dtype = dtype;
  a.shape = std::move(shape);
  size_t n = 1;
  for (int64_t s : a.shape) n *= static_cast<size_t>(s);
  a.bytes.resize(n * moekit_dtype_size(dtype));
  for (size_t i = 0; i < n; ++i) {
    const float v = rng.normal() * scale;
    if (dtype == MOEKIT_DTYPE_F32) std::memcpy(a.bytes.data() + 4 * i, &v, 4);
    else {
      const uint16_t b = dtype == MOEKIT_DTYPE_BF16 ? to_bf16_bits(v) : to_f16_bits(v);
      std::memcpy(a.bytes.data() + 2 * i, &b, 2);
    }
  }
}

// Weights of one matrix set [L, rows, cols] in the case's format: 16/32-bit values, FP8 codes + 128x128 block
// scales, or MXFP4 nibbles + e8m0 scales. Typical magnitude 1/sqrt(cols) (so activations stay O(1)).
inline void make_weight(HostArray& values, HostArray& scales, moekit_weight_format f, int64_t L, int64_t rows,
                        int64_t cols, Rng& rng) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(cols));
  switch (f) {
    case MOEKIT_WEIGHTS_BF16: fill_values(values, MOEKIT_DTYPE_BF16, {L, rows, cols}, rng, scale); return;
    case MOEKIT_WEIGHTS_F16: fill_values(values, MOEKIT_DTYPE_F16, {L, rows, cols}, rng, scale); return;
    case MOEKIT_WEIGHTS_F32: fill_values(values, MOEKIT_DTYPE_F32, {L, rows, cols}, rng, scale); return;
    case MOEKIT_WEIGHTS_FP8_BLOCK: {
      values.dtype = MOEKIT_DTYPE_F8_E4M3FN;
      values.shape = {L, rows, cols};
      values.bytes.resize(static_cast<size_t>(L * rows * cols));
      // Codes of |value| in [0.5, 448] with both signs (NaN codes excluded), every 61st a subnormal or zero;
      // per-block scales vary by 4x.
      for (auto& b : values.bytes) {
        uint8_t c = static_cast<uint8_t>(rng.next() % 0x7Fu);  // 0x00..0x7E
        if (c < 0x30) c = static_cast<uint8_t>(c + 0x30);
        if (rng.next() % 61 == 0) c = static_cast<uint8_t>(rng.next() % 8u);
        b = static_cast<uint8_t>(c | ((rng.next() & 1u) << 7));
      }
      const int64_t br = (rows + 127) / 128, bc = (cols + 127) / 128;
      scales.dtype = MOEKIT_DTYPE_F32;
      scales.shape = {L, br, bc};
      scales.bytes.resize(static_cast<size_t>(L * br * bc * 4));
      for (size_t i = 0; i < static_cast<size_t>(L * br * bc); ++i) {
        const float s = scale / 64.0f * (0.5f + 1.5f * rng.uniform());
        std::memcpy(scales.bytes.data() + 4 * i, &s, 4);
      }
      return;
    }
    case MOEKIT_WEIGHTS_MXFP4: {
      values.dtype = MOEKIT_DTYPE_FP4_E2M1X2;
      values.shape = {L, rows, cols / 2};
      values.bytes.resize(static_cast<size_t>(L * rows * cols / 2));
      for (auto& b : values.bytes) b = static_cast<uint8_t>(rng.next() & 0xFFu);
      scales.dtype = MOEKIT_DTYPE_E8M0;
      scales.shape = {L, rows, cols / 32};
      scales.bytes.resize(static_cast<size_t>(L * rows * cols / 32));
      const int base = 127 + static_cast<int>(std::floor(std::log2(scale))) - 2;  // e2m1 values go up to 6
      for (auto& b : scales.bytes) b = static_cast<uint8_t>(base + static_cast<int>(rng.next() % 3u));
      return;
    }
  }
}

// The GPU computes with bf16 (f16 for f16 weights) tensor-core operands and f32 accumulation. Relative to the
// CPU's f32 arithmetic it rounds (unit roundoff u = 2^-9 for bf16 operands, 2^-11 for f16):
//   - the gathered input rows (f32 hidden, or f16 hidden into bf16), and f32 weights, to the operand type;
//   - the intermediate activation to the operand type (GEMM2's input), or it re-quantizes it to FP8 from
//     slightly different f32 values (an occasional one-step code flip of one element);
//   - the output, once, to the output dtype (both backends round; their roundings may differ by 1 ulp).
// Each rounding perturbs a dot product by at most u * sum|terms|; with random data sum|terms| stays within
// a few times max|out|. Allowed: 8 u * max|out| per element (three roundings with a margin for the
// sum-of-|terms| factor), plus one output ulp at max|out|.
inline double tolerance_for(const ExpertsCase& c, double max_abs_out) {
  const double u = c.format == MOEKIT_WEIGHTS_F16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -9);
  const double out_ulp = c.hidden_dtype == MOEKIT_DTYPE_BF16  ? std::ldexp(1.0, -7)
                         : c.hidden_dtype == MOEKIT_DTYPE_F16 ? std::ldexp(1.0, -10)
                                                              : std::ldexp(1.0, -24);
  return (8.0 * u + out_ulp) * max_abs_out + 1e-6;
}

struct ExpertsCaseData {
  HostArray w13, w2, w13_scale, w2_scale, b13, b2, hidden, topk_w, topk_ids;
  std::vector<int32_t> expert_map;
  moekit_experts_desc desc = MOEKIT_EXPERTS_DESC_INIT;
  int64_t invalid = 0, non_local = 0;
};

inline ExpertsCaseData make_case(const ExpertsCase& c, uint64_t seed) {
  ExpertsCaseData d;
  Rng rng(seed);
  make_weight(d.w13, d.w13_scale, c.format, c.L, 2 * c.I, c.H, rng);
  make_weight(d.w2, d.w2_scale, c.format, c.L, c.H, c.I, rng);
  if (c.biases) {
    fill_values(d.b13, MOEKIT_DTYPE_F32, {c.L, 2 * c.I}, rng, 0.1f);
    fill_values(d.b2, MOEKIT_DTYPE_F32, {c.L, c.H}, rng, 0.1f);
  }
  fill_values(d.hidden, c.hidden_dtype, {c.T, c.H}, rng, 1.0f);
  d.topk_w.dtype = MOEKIT_DTYPE_F32;
  d.topk_w.shape = {c.T, c.k};
  d.topk_w.bytes.resize(static_cast<size_t>(c.T * c.k * 4));
  d.topk_ids.dtype = MOEKIT_DTYPE_I32;
  d.topk_ids.shape = {c.T, c.k};
  d.topk_ids.bytes.resize(static_cast<size_t>(c.T * c.k * 4));
  if (c.L < c.E) {  // every other... a spread of local experts: global e is local iff (e * 7) % E < L
    d.expert_map.assign(static_cast<size_t>(c.E), -1);
    int32_t next = 0;
    for (int32_t e = 0; e < c.E && next < c.L; ++e)
      if ((e * 7) % c.E < c.L) d.expert_map[static_cast<size_t>(e)] = next++;
    for (int32_t e = 0; e < c.E && next < c.L; ++e)
      if (d.expert_map[static_cast<size_t>(e)] < 0) d.expert_map[static_cast<size_t>(e)] = next++;
  }
  for (int64_t t = 0; t < c.T; ++t) {
    std::vector<int32_t> chosen;
    for (int32_t j = 0; j < c.k; ++j) {
      int32_t id;
      if (c.routing == Routing::OneExpert) {
        id = (j * 5 + 3) % c.E;  // every token on the same experts
      } else if (c.routing == Routing::RepeatedIds) {
        id = static_cast<int32_t>((t + j / 2) * 5 + 3) % c.E;
      } else {
        do id = static_cast<int32_t>(rng.next() % static_cast<uint32_t>(c.E));
        while (std::find(chosen.begin(), chosen.end(), id) != chosen.end());
        chosen.push_back(id);
        if (c.routing == Routing::WithInvalidIds && (t * c.k + j) % 5 == 2)
          id = (t % 3 == 0) ? -1 : (t % 3 == 1 ? c.E : c.E + 1000);
      }
      const float w = 0.1f + rng.uniform();
      std::memcpy(d.topk_w.bytes.data() + 4 * (t * c.k + j), &w, 4);
      std::memcpy(d.topk_ids.bytes.data() + 4 * (t * c.k + j), &id, 4);
      if (id < 0 || id >= c.E) ++d.invalid;
      else if (!d.expert_map.empty() && d.expert_map[static_cast<size_t>(id)] < 0) ++d.non_local;
    }
  }
  d.desc.num_experts = c.E;
  d.desc.num_local_experts = c.L;
  d.desc.hidden_size = c.H;
  d.desc.intermediate_size = c.I;
  d.desc.activation = c.activation;
  d.desc.weight_format = c.format;
  d.desc.act_quant = c.act_quant;
  d.desc.has_w13_bias = c.biases;
  d.desc.has_w2_bias = c.biases;
  d.desc.apply_router_weight_on_input = c.weight_on_input;
  d.desc.expert_map = d.expert_map.empty() ? nullptr : d.expert_map.data();
  return d;
}

inline moekit_expert_weights weights_of(ExpertsCaseData& d, bool gpu) {
  moekit_expert_weights w{};
  w.struct_size = sizeof w;
  auto view = [&](HostArray& a) {
    if (a.bytes.empty()) return moekit_tensor{};
    return gpu ? a.gpu() : a.host();
  };
  w.w13 = view(d.w13);
  w.w2 = view(d.w2);
  w.w13_scale = view(d.w13_scale);
  w.w2_scale = view(d.w2_scale);
  w.w13_bias = view(d.b13);
  w.w2_bias = view(d.b2);
  return w;
}

// Host memory aligned for the CPU contract's workspace.
struct AlignedHost {
  explicit AlignedHost(size_t bytes) : size(bytes), ptr(bytes ? std::aligned_alloc(256, (bytes + 255) / 256 * 256) : nullptr) {}
  ~AlignedHost() { std::free(ptr); }
  size_t size;
  void* ptr;
};

}  // namespace moekit_gpu_test
