// CUDA router GEMM (cuBLAS tier) against the float64 reference, and the routing decisions its logits lead to.
//
// Tolerance: the inputs are exact in f32 (bf16/f16 widen exactly), so the error is that of f32 accumulation
// over K = H products plus the bias: |error| <= gamma_{H+1} * sum|terms|, gamma_n = n u / (1 - n u) (Higham,
// 3.1), whatever the summation order. u = 2^-24 for f32 inputs (CUBLAS_COMPUTE_32F_PEDANTIC: IEEE f32 FMAs);
// u = 2^-23 for bf16/f16 inputs, whose products tensor cores accumulate in f32 that may truncate rather than
// round. An indexing or transpose bug gives O(|logit|) errors, far above either bound.
// Decisions: the CUDA router's top-k on the CUDA logits must equal the top-k of the exact logits, except for
// tokens whose exact k-th and (k+1)-th logits are closer than the two elements' error bounds (a tie at
// rounding level that any f32 GEMM may order either way); such tokens are counted and reported.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "gpu_test_util.h"
#include "reference/ref_router.h"

namespace moekit_gpu_test {
namespace {

struct Encoded {
  std::vector<uint8_t> bytes;
  std::vector<double> exact;  // the values the bytes hold
};

Encoded encode_random(size_t n, double stddev, moekit_dtype dtype, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, stddev);
  Encoded e;
  e.bytes.resize(n * moekit_dtype_size(dtype));
  e.exact.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const float v = static_cast<float>(normal(rng));
    if (dtype == MOEKIT_DTYPE_F32) {
      std::memcpy(e.bytes.data() + 4 * i, &v, 4);
      e.exact[i] = v;
    } else if (dtype == MOEKIT_DTYPE_BF16) {
      const __nv_bfloat16 h = __float2bfloat16_rn(v);
      std::memcpy(e.bytes.data() + 2 * i, &h, 2);
      e.exact[i] = static_cast<double>(__bfloat162float(h));
    } else {
      const __half h = __float2half_rn(v);
      std::memcpy(e.bytes.data() + 2 * i, &h, 2);
      e.exact[i] = static_cast<double>(__half2float(h));
    }
  }
  return e;
}

TEST_F(GpuTest, RouterGemmMatchesFloat64WithinTheAccumulationBoundAndPicksTheSameExperts) {
  struct Shape {
    int64_t tokens, hidden, experts;
    int32_t top_k;
  };
  const Shape shapes[] = {{1, 2880, 128, 4}, {7, 7168, 256, 8}, {1000, 2048, 128, 8}, {33, 100, 40, 4}, {0, 64, 8, 2}};
  uint32_t seed = 900;
  double worst_ratio = 0.0;
  int64_t near_ties = 0, tokens_checked = 0;
  for (moekit_dtype dtype : {MOEKIT_DTYPE_F32, MOEKIT_DTYPE_BF16, MOEKIT_DTYPE_F16})
    for (const Shape& s : shapes)
      for (bool with_bias : {false, true}) {
        const std::string where = std::string(moekit_dtype_name(dtype)) + " T" + std::to_string(s.tokens) + " H" +
                                  std::to_string(s.hidden) + " E" + std::to_string(s.experts) +
                                  (with_bias ? " bias" : "");
        // Hidden ~ N(0,1), gate rows ~ N(0, 1/H) as in trained routers: logits are O(1).
        const Encoded hidden = encode_random(static_cast<size_t>(s.tokens * s.hidden), 1.0, dtype, seed += 3);
        const Encoded w = encode_random(static_cast<size_t>(s.experts * s.hidden), 1.0 / std::sqrt(double(s.hidden)),
                                        dtype, seed + 1);
        std::vector<float> bias(static_cast<size_t>(s.experts));
        std::mt19937 rng(seed + 2);
        std::normal_distribution<float> nb(0.0f, 0.1f);
        for (float& b : bias) b = nb(rng);

        DeviceBuffer dh(hidden.bytes.size()), dw(w.bytes.size()), db(bias.size() * 4),
            dl(static_cast<size_t>(s.tokens * s.experts) * 4);
        dh.upload(hidden.bytes.data(), hidden.bytes.size());
        dw.upload(w.bytes.data(), w.bytes.size());
        db.upload(bias.data(), bias.size() * 4);
        const moekit_tensor th = device_tensor(dh.get(), dtype, {s.tokens, s.hidden});
        const moekit_tensor tw = device_tensor(dw.get(), dtype, {s.experts, s.hidden});
        const moekit_tensor tb = device_tensor(db.get(), MOEKIT_DTYPE_F32, {s.experts});
        moekit_tensor tl = device_tensor(dl.get(), MOEKIT_DTYPE_F32, {s.tokens, s.experts});
        ASSERT_EQ(moekit_router_gemm(gpu_, &th, &tw, with_bias ? &tb : nullptr, &tl, nullptr), MOEKIT_OK)
            << where << ": " << moekit_last_error();
        CUDA_OK(cudaDeviceSynchronize());
        const std::vector<float> got = dl.download<float>(static_cast<size_t>(s.tokens * s.experts));

        std::vector<double> bias_d;
        if (with_bias) bias_d.assign(bias.begin(), bias.end());
        const auto ref = moekit_ref::ref_router_gemm(hidden.exact, w.exact, bias_d, s.tokens, s.hidden, s.experts);
        const double u = dtype == MOEKIT_DTYPE_F32 ? std::ldexp(1.0, -24) : std::ldexp(1.0, -23);
        const double n = static_cast<double>(s.hidden + 1);
        const double gamma = n * u / (1.0 - n * u);
        std::vector<double> bound(got.size());
        for (size_t i = 0; i < got.size(); ++i) {
          bound[i] = gamma * ref.abs_sum[i] + 1e-30;  // abs_sum includes |bias|
          const double err = std::fabs(got[i] - ref.logits[i]);
          worst_ratio = std::max(worst_ratio, err / bound[i]);
          ASSERT_LE(err, bound[i]) << where << ": element " << i << " got " << got[i] << " exact " << ref.logits[i];
        }
        if (s.tokens == 0) continue;

        // Routing on the CUDA logits (CUDA router) vs top-k of the exact logits.
        moekit_router_desc d = MOEKIT_ROUTER_DESC_INIT;
        d.num_experts = static_cast<int32_t>(s.experts);
        d.top_k = s.top_k;
        d.renormalize = 1;
        moekit_router r = nullptr;
        MOEKIT_OK(moekit_router_create(gpu_, &d, &r));
        DeviceBuffer dw8(static_cast<size_t>(s.tokens * s.top_k) * 4), di(static_cast<size_t>(s.tokens * s.top_k) * 4);
        moekit_routing plan{};
        plan.struct_size = sizeof plan;
        plan.topk_weights = device_tensor(dw8.get(), MOEKIT_DTYPE_F32, {s.tokens, s.top_k});
        plan.topk_ids = device_tensor(di.get(), MOEKIT_DTYPE_I32, {s.tokens, s.top_k});
        ASSERT_EQ(moekit_router_run(r, &tl, &plan, nullptr), MOEKIT_OK) << moekit_last_error();
        CUDA_OK(cudaDeviceSynchronize());
        moekit_router_destroy(r);
        const std::vector<int32_t> ids = di.download<int32_t>(static_cast<size_t>(s.tokens * s.top_k));
        for (int64_t t = 0; t < s.tokens; ++t) {
          std::vector<int32_t> order(static_cast<size_t>(s.experts));
          std::iota(order.begin(), order.end(), 0);
          const double* row = ref.logits.data() + t * s.experts;
          std::stable_sort(order.begin(), order.end(), [row](int32_t a, int32_t b) { return row[a] > row[b]; });
          std::vector<int32_t> want(order.begin(), order.begin() + s.top_k), have(ids.begin() + t * s.top_k,
                                                                                  ids.begin() + (t + 1) * s.top_k);
          std::sort(want.begin(), want.end());
          std::sort(have.begin(), have.end());
          ++tokens_checked;
          if (want == have) continue;
          const int32_t kth = order[static_cast<size_t>(s.top_k - 1)], next = order[static_cast<size_t>(s.top_k)];
          const double gap = row[kth] - row[next];
          const double tol =
              bound[static_cast<size_t>(t * s.experts + kth)] + bound[static_cast<size_t>(t * s.experts + next)];
          EXPECT_LE(gap, tol) << where << ": token " << t << " picks different experts without a near tie";
          ++near_ties;
        }
      }
  std::printf("[router_gemm] worst |error| / bound = %.3g; top-k decisions: %lld tokens, %lld differ at near ties\n",
              worst_ratio, static_cast<long long>(tokens_checked), static_cast<long long>(near_ties));
}

}  // namespace
}  // namespace moekit_gpu_test
