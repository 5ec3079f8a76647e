// Shared helpers of the expert-runner and moe_forward tests: weights in every format (generated from Gaussian
// matrices, FP8/MXFP4 through the reference quantizer), exact hidden inputs, routing, running through the C API,
// and the comparison against the float64 reference with its derived error bound.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "moekit/moekit.h"
#include "reference/ref_experts.h"
#include "reference/ref_numerics.h"
#include "reference/ref_quant.h"

namespace experts_test {

inline moekit_tensor tensor(const void* data, moekit_dtype dtype, std::initializer_list<int64_t> shape) {
  moekit_tensor t;
  std::vector<int64_t> s(shape);
  EXPECT_EQ(moekit_tensor_init(&t, const_cast<void*>(data), dtype, static_cast<int32_t>(s.size()), s.data()),
            MOEKIT_OK);
  return t;
}

inline bool error_mentions(const char* what) { return std::string(moekit_last_error()).find(what) != std::string::npos; }

inline moekit_context cpu_context(int32_t threads = 2) {
  moekit_context ctx = nullptr;
  EXPECT_EQ(moekit_context_create(MOEKIT_BACKEND_CPU, 0, &ctx), MOEKIT_OK) << moekit_last_error();
  EXPECT_EQ(moekit_context_set_num_threads(ctx, threads), MOEKIT_OK);
  return ctx;
}

// The reference spec of a descriptor.
inline moekit_ref::RefExpertsSpec spec_of(const moekit_experts_desc& d) {
  moekit_ref::RefExpertsSpec s;
  s.num_experts = d.num_experts;
  s.num_local = d.num_local_experts;
  s.hidden = d.hidden_size;
  s.intermediate = d.intermediate_size;
  s.activation = d.activation;
  s.swiglu_alpha = d.swiglu_alpha;
  s.swiglu_limit = d.swiglu_limit;
  s.weight_format = d.weight_format;
  s.act_quant = d.act_quant;
  s.has_w13_bias = d.has_w13_bias != 0;
  s.has_w2_bias = d.has_w2_bias != 0;
  s.on_input = d.apply_router_weight_on_input != 0;
  if (d.expert_map) s.expert_map.assign(d.expert_map, d.expert_map + d.num_experts);
  return s;
}

inline std::vector<double> gaussian(size_t n, std::mt19937& rng, double stddev) {
  std::normal_distribution<double> dist(0.0, stddev);
  std::vector<double> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Weights of every local expert in the descriptor's format, owned here.
struct WeightSet {
  std::vector<unsigned char> w13, w2, w13_scale, w2_scale;
  std::vector<float> b13, b2;
  moekit_expert_weights desc{};

  template <class T>
  static void append(std::vector<unsigned char>& dst, const std::vector<T>& src) {
    const size_t at = dst.size();
    dst.resize(at + src.size() * sizeof(T));
    if (!src.empty()) std::memcpy(dst.data() + at, src.data(), src.size() * sizeof(T));
  }

  // One [rows, cols] matrix of one expert, N(0, stddev) quantized/rounded to the format.
  static void add_matrix(int format, std::mt19937& rng, int64_t rows, int64_t cols, double stddev,
                         std::vector<unsigned char>& values, std::vector<unsigned char>& scales) {
    const std::vector<double> x = gaussian(static_cast<size_t>(rows * cols), rng, stddev);
    switch (format) {
      case MOEKIT_WEIGHTS_BF16: case MOEKIT_WEIGHTS_F16: {
        std::vector<uint16_t> h(x.size());
        for (size_t i = 0; i < x.size(); ++i)
          h[i] = format == MOEKIT_WEIGHTS_BF16 ? moekit_ref::double_to_bf16(x[i]) : moekit_ref::double_to_f16(x[i]);
        append(values, h);
        return;
      }
      case MOEKIT_WEIGHTS_F32: append(values, std::vector<float>(x.begin(), x.end())); return;
      case MOEKIT_WEIGHTS_FP8_BLOCK: {
        const auto q = moekit_ref::ref_quantize(moekit_ref::kRefFp8Block, 128, x, rows, cols);
        append(values, q.values);
        append(scales, q.fp8_scales);
        return;
      }
      default: {
        const auto q = moekit_ref::ref_quantize(moekit_ref::kRefMxfp4, 32, x, rows, cols);
        append(values, q.values);
        append(scales, q.e8m0);
        return;
      }
    }
  }

  WeightSet(const moekit_experts_desc& d, unsigned seed) {
    std::mt19937 rng(seed);
    const int64_t L = d.num_local_experts, H = d.hidden_size, I = d.intermediate_size;
    for (int64_t e = 0; e < L; ++e) {
      add_matrix(d.weight_format, rng, 2 * I, H, 1.0 / std::sqrt(static_cast<double>(H)), w13, w13_scale);
      add_matrix(d.weight_format, rng, H, I, 1.0 / std::sqrt(static_cast<double>(I)), w2, w2_scale);
    }
    if (d.has_w13_bias) for (double v : gaussian(static_cast<size_t>(L * 2 * I), rng, 0.3)) b13.push_back(static_cast<float>(v));
    if (d.has_w2_bias) for (double v : gaussian(static_cast<size_t>(L * H), rng, 0.3)) b2.push_back(static_cast<float>(v));

    std::memset(&desc, 0, sizeof desc);
    desc.struct_size = sizeof desc;
    const bool mx = d.weight_format == MOEKIT_WEIGHTS_MXFP4;
    const moekit_dtype vdt = d.weight_format == MOEKIT_WEIGHTS_BF16 ? MOEKIT_DTYPE_BF16
                             : d.weight_format == MOEKIT_WEIGHTS_F16 ? MOEKIT_DTYPE_F16
                             : d.weight_format == MOEKIT_WEIGHTS_F32 ? MOEKIT_DTYPE_F32
                             : mx ? MOEKIT_DTYPE_FP4_E2M1X2 : MOEKIT_DTYPE_F8_E4M3FN;
    desc.w13 = tensor(w13.data(), vdt, {L, 2 * I, mx ? H / 2 : H});
    desc.w2 = tensor(w2.data(), vdt, {L, H, mx ? I / 2 : I});
    if (d.weight_format == MOEKIT_WEIGHTS_FP8_BLOCK) {
      desc.w13_scale = tensor(w13_scale.data(), MOEKIT_DTYPE_F32, {L, (2 * I + 127) / 128, (H + 127) / 128});
      desc.w2_scale = tensor(w2_scale.data(), MOEKIT_DTYPE_F32, {L, (H + 127) / 128, (I + 127) / 128});
    } else if (mx) {
      desc.w13_scale = tensor(w13_scale.data(), MOEKIT_DTYPE_E8M0, {L, 2 * I, H / 32});
      desc.w2_scale = tensor(w2_scale.data(), MOEKIT_DTYPE_E8M0, {L, H, I / 32});
    }
    if (d.has_w13_bias) desc.w13_bias = tensor(b13.data(), MOEKIT_DTYPE_F32, {L, 2 * I});
    if (d.has_w2_bias) desc.w2_bias = tensor(b2.data(), MOEKIT_DTYPE_F32, {L, H});
  }

  moekit_ref::RefExpertBuffers ref() const {
    moekit_ref::RefExpertBuffers b;
    b.w13 = w13.data();
    b.w2 = w2.data();
    b.w13_scale = w13_scale.empty() ? nullptr : w13_scale.data();
    b.w2_scale = w2_scale.empty() ? nullptr : w2_scale.data();
    b.w13_bias = b13.empty() ? nullptr : b13.data();
    b.w2_bias = b2.empty() ? nullptr : b2.data();
    return b;
  }
};

// Hidden values j/64 with |j| <= 255: exact in f32, bf16 and f16 alike, so one reference serves every dtype.
inline std::vector<double> exact_hidden(int64_t T, int64_t H, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-255, 255);
  std::vector<double> v(static_cast<size_t>(T * H));
  for (auto& x : v) x = dist(rng) / 64.0;
  return v;
}

// Hidden storage of `dtype` holding `exact`.
inline std::vector<unsigned char> store(const std::vector<double>& exact, moekit_dtype dtype) {
  std::vector<unsigned char> s(exact.size() * moekit_dtype_size(dtype));
  for (size_t i = 0; i < exact.size(); ++i) {
    if (dtype == MOEKIT_DTYPE_F32) {
      const float f = static_cast<float>(exact[i]);
      std::memcpy(s.data() + 4 * i, &f, 4);
    } else {
      const uint16_t h = dtype == MOEKIT_DTYPE_BF16 ? moekit_ref::double_to_bf16(exact[i])
                                                    : moekit_ref::double_to_f16(exact[i]);
      std::memcpy(s.data() + 2 * i, &h, 2);
    }
  }
  return s;
}

inline int dtype_code(moekit_dtype d) { return d == MOEKIT_DTYPE_F32 ? 0 : d == MOEKIT_DTYPE_F16 ? 1 : 2; }

// A routing: k distinct random experts per token, weights in [0.05, 1).
struct Routing {
  int64_t T = 0, k = 0;
  std::vector<int32_t> ids;
  std::vector<float> weights;
  moekit_routing plan() {
    moekit_routing r;
    std::memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.topk_weights = tensor(weights.data(), MOEKIT_DTYPE_F32, {T, k});
    r.topk_ids = tensor(ids.data(), MOEKIT_DTYPE_I32, {T, k});
    return r;
  }
};

inline Routing random_routing(int64_t T, int64_t k, int32_t E, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> wdist(0.05f, 1.0f);
  Routing r;
  r.T = T;
  r.k = k;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int32_t> all(static_cast<size_t>(E));
    for (int32_t e = 0; e < E; ++e) all[static_cast<size_t>(e)] = e;
    std::shuffle(all.begin(), all.end(), rng);
    for (int64_t j = 0; j < k; ++j) {
      r.ids.push_back(all[static_cast<size_t>(j)]);
      r.weights.push_back(wdist(rng));
    }
  }
  return r;
}

// Experts handle with weights set (asserting success).
struct Runner {
  moekit_experts experts = nullptr;
  Runner(moekit_context ctx, const moekit_experts_desc& d, const WeightSet& w) {
    EXPECT_EQ(moekit_experts_create(ctx, &d, &experts), MOEKIT_OK) << moekit_last_error();
    EXPECT_EQ(moekit_experts_set_weights(experts, &w.desc, nullptr), MOEKIT_OK) << moekit_last_error();
  }
  ~Runner() { moekit_experts_destroy(experts); }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;
};

// 64-byte aligned workspace.
struct Workspace {
  std::vector<unsigned char> bytes;
  size_t size = 0;
  explicit Workspace(size_t n) : bytes(n + 64), size(n) {}
  void* data() {
    if (size == 0) return nullptr;
    const auto p = reinterpret_cast<uintptr_t>(bytes.data());
    return bytes.data() + ((64 - p % 64) % 64);
  }
};

// Runs the experts on `hidden_exact` stored as `dtype`; returns the output as doubles (and the report).
inline std::vector<double> run_experts(moekit_experts experts, const std::vector<double>& hidden_exact, int64_t H,
                                       moekit_dtype dtype, Routing& routing, moekit_run_report* report,
                                       std::vector<unsigned char>* raw_out = nullptr) {
  const int64_t T = routing.T;
  std::vector<unsigned char> hidden = store(hidden_exact, dtype);
  std::vector<unsigned char> out(static_cast<size_t>(T * H) * moekit_dtype_size(dtype), 0xA5);
  size_t bytes = 0;
  EXPECT_EQ(moekit_experts_workspace_size(experts, T, static_cast<int32_t>(routing.k), &bytes), MOEKIT_OK)
      << moekit_last_error();
  Workspace ws(bytes);
  moekit_tensor h = tensor(hidden.data(), dtype, {T, H});
  moekit_tensor o = tensor(out.data(), dtype, {T, H});
  moekit_routing plan = routing.plan();
  EXPECT_EQ(moekit_experts_run(experts, &h, &plan, &o, ws.data(), ws.size, report, nullptr), MOEKIT_OK)
      << moekit_last_error();
  if (raw_out) *raw_out = out;
  return moekit_ref::to_double(out.data(), dtype_code(dtype), T * H);
}

// |got - ref| <= err_bound (the reference's float32 bound) + rounding to the output dtype. bf16 keeps 8
// significant bits, so nearest rounding moves a value by at most 2^-9 of it (2^-8 is used: the float32 value
// being rounded is itself up to err_bound away from ref); f16 keeps 11 bits (at most 2^-12, 2^-11 used), plus
// half its smallest subnormal (2^-25) near zero. f32 outputs are the float32 accumulator itself.
inline void expect_close(const moekit_ref::RefExpertsResult& ref, const std::vector<double>& got, moekit_dtype dtype,
                         const std::string& what) {
  ASSERT_EQ(got.size(), ref.out.size());
  int failures = 0;
  double worst_ratio = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double bound = ref.err_bound[i];
    double tol = bound;
    if (dtype == MOEKIT_DTYPE_BF16) tol += std::ldexp(std::fabs(ref.out[i]) + bound, -8);
    if (dtype == MOEKIT_DTYPE_F16) tol += std::ldexp(std::fabs(ref.out[i]) + bound, -11) + std::ldexp(1.0, -25);
    const double err = std::fabs(got[i] - ref.out[i]);
    if (tol > 0) worst_ratio = std::max(worst_ratio, err / tol);
    if (!(err <= tol) && failures++ < 5)
      ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << ref.out[i] << " err " << err
                    << " tol " << tol;
  }
  EXPECT_EQ(failures, 0) << what << " (worst err/tol " << worst_ratio << ")";
  if (std::getenv("MOEKIT_TEST_VERBOSE"))
    std::printf("%s: worst err/tol %.3g, %lld ambiguous FP8 roundings\n", what.c_str(), worst_ratio,
                static_cast<long long>(ref.ambiguous_roundings));
}

}  // namespace experts_test
