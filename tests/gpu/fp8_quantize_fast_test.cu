// The CUDA module's fast FP8 activation quantizer (kernels/cuda/fp8_quantize_fast.cuh) against the CPU formula
// f32_to_e4m3(x / scale) (moekit_core/numerics/fp8.h, evaluated on the host), bit for bit: random values under
// distinct scales from the floor kFp8MinScale (about 4.4e-6) to FLT_MAX / 448 (amaxes of 1e-3 to 1e30, powers of
// two, FLT_MAX), every e4m3 midpoint and code times each scale +- 40 ulp (the fast path's boundaries), e4m3's
// subnormal range, zeros of both signs, the saturation range, Inf and NaN. The one-value and eight-value
// entry points run (eight values take one branch: a group holding any unsafe value takes the exact formula whole),
// finite_amax8 is checked against the max of finite_abs, and the test fails if the device code it runs was not compiled with the fast path (sm_89+ device,
// code for an older target): then only the exact formula would be checked.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "fp8_quantize_fast.cuh"
#include "gpu_test_util.h"

namespace moekit_gpu_test {
namespace {

// codes[i]: the fast quantizer's code of x[i] under scales[i]; 8 consecutive values share their first one's scale
// in the eight-value entry point (every group of 8 is built with one scale), so both entry points see the same
// values. amax8[g]: finite_amax8 of values 8g..8g+7.
__global__ void quantize_fast_kernel(const float* x, const float* scales, uint8_t* eight_codes, uint8_t* one_codes,
                                     float* amax8, long long n) {
  const long long g = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g * 8 >= n) return;
  const float* v = x + g * 8;
  const float scale = scales[g * 8];
  const float inv = __frcp_rn(scale);
  for (int j = 0; j < 8; ++j) one_codes[g * 8 + j] = moekit::cuda::fp8_quantize_one(v[j], scale, inv);
  const uint2 codes = moekit::cuda::fp8_quantize8(v, scale);
  std::memcpy(eight_codes + g * 8, &codes, 8);
  amax8[g] = moekit::cuda::finite_amax8(v);
}

// 1 where this device code has the fast path (compiled for sm_89+), else 0.
__global__ void fast_path_compiled_kernel(int* flag) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  *flag = 1;
#else
  *flag = 0;
#endif
}

float next_ulps(float x, int k) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  b = static_cast<uint32_t>(static_cast<int64_t>(b) + k);  // within a sign: k ulp away from zero (k > 0)
  float y;
  std::memcpy(&y, &b, 4);
  return y;
}

TEST(Fp8QuantizeFast, MatchesTheCpuFormulaBitForBit) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    // Like GpuTest: skipped without a device, unless scripts/test_gpu.sh says there must be one.
    if (std::getenv("MOEKIT_REQUIRE_GPU") != nullptr) FAIL() << "no CUDA device, but MOEKIT_REQUIRE_GPU is set";
    GTEST_SKIP() << "no CUDA device";
  }
  DeviceBuffer dflag(4);
  fast_path_compiled_kernel<<<1, 1>>>(static_cast<int*>(dflag.get()));
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const int fast_path = dflag.download<int>(1)[0];
  if (prop.major * 10 + prop.minor >= 89)
    ASSERT_EQ(fast_path, 1) << "the test's device code for this sm_" << prop.major << prop.minor
                            << " GPU has no fast path (built for an older target): rebuild for this GPU";

  std::mt19937 rng(20261125);
  std::vector<float> scale_set = {moekit::kFp8MinScale, 1.0f, 1.0f / 448.0f, 3.0f / 448.0f,
                                  moekit::fp8_scale_from_amax(FLT_MAX)};
  for (int e : {-16, -8, 8, 20, 100}) scale_set.push_back(std::ldexp(1.0f, e));  // powers of two
  for (int e = -3; e <= 30; e += 3) {
    std::uniform_real_distribution<float> m(1.0f, 10.0f);
    scale_set.push_back(moekit::fp8_scale_from_amax(m(rng) * std::pow(10.0f, static_cast<float>(e))));
  }
  std::sort(scale_set.begin(), scale_set.end());
  scale_set.erase(std::unique(scale_set.begin(), scale_set.end()), scale_set.end());
  std::vector<float> x, scales;
  auto add8 = [&](const float* v, float s) {
    for (int j = 0; j < 8; ++j) x.push_back(v[j]), scales.push_back(s);
  };
  for (float s : scale_set) {
    // Random values up to 1.2x the amax (past 448 after the division: saturation), both signs.
    std::uniform_real_distribution<float> u(-1.2f, 1.2f);
    const float span = std::min(448.0f * s, FLT_MAX / 1.2f);
    for (int i = 0; i < 4096; ++i) {
      float v[8];
      for (float& f : v) f = u(rng) * span;
      add8(v, s);
    }
    // Every positive e4m3 value and midpoint, times the scale, +-40 ulp, both signs; the subnormal range is in
    // there (codes 1..7 and their midpoints).
    std::vector<float> specials;
    for (int code = 0; code < 0x7F; ++code) {
      const float a = moekit::e4m3_to_f32(static_cast<uint8_t>(code));
      const float b = code + 1 < 0x7F ? moekit::e4m3_to_f32(static_cast<uint8_t>(code + 1)) : 464.0f;
      for (float target : {a, 0.5f * (a + b)}) {
        const float center = target * s;
        if (!(center > 0.0f) || !std::isfinite(center)) continue;
        for (int k = -40; k <= 40; ++k) {
          const float y = next_ulps(center, k);
          if (!std::isfinite(y)) continue;  // past FLT_MAX the bits are Inf and NaN (with either sign)
          specials.push_back(y);
          specials.push_back(-y);
        }
      }
    }
    // NaNs of both signs: the exact path keeps the sign bit as the host does (fp8_quantize_exact).
    for (float f : {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 3.0e38f, -3.0e38f, 1e-40f, -1e-40f})
      specials.push_back(f);
    while (specials.size() % 8 != 0) specials.push_back(0.0f);
    for (size_t i = 0; i < specials.size(); i += 8) add8(&specials[i], s);
  }
  const long long n = static_cast<long long>(x.size()), groups = n / 8;
  DeviceBuffer dx(x.size() * 4), ds(scales.size() * 4), deight(x.size()), done(x.size()), damax(x.size() / 8 * 4);
  dx.upload(x.data(), x.size() * 4);
  ds.upload(scales.data(), scales.size() * 4);
  quantize_fast_kernel<<<static_cast<unsigned>((groups + 255) / 256), 256>>>(
      static_cast<const float*>(dx.get()), static_cast<const float*>(ds.get()), static_cast<uint8_t*>(deight.get()),
      static_cast<uint8_t*>(done.get()),
      static_cast<float*>(damax.get()), n);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<uint8_t> eight = deight.download<uint8_t>(x.size()), one = done.download<uint8_t>(x.size());
  const std::vector<float> amax8 = damax.download<float>(x.size() / 8);
  size_t bad = 0, bad_amax = 0;
  for (long long i = 0; i < n; ++i) {
    const uint8_t want = moekit::fp8_quantize(x[i], scales[i]);
    if (eight[i] != want || one[i] != want) {
      if (++bad <= 10)
        ADD_FAILURE() << "x " << x[i] << " scale " << scales[i] << ": cpu 0x" << std::hex << int(want) << ", eight 0x"
                      << int(eight[i]) << ", one 0x" << int(one[i]) << std::dec;
    }
  }
  for (long long g = 0; g < groups; ++g) {  // the max of finite_abs, bit for bit (Inf and NaN count as 0)
    float want = 0.0f;
    for (int j = 0; j < 8; ++j) want = std::max(want, moekit::finite_abs(x[g * 8 + j]));
    if (std::memcmp(&want, &amax8[g], 4) != 0 && ++bad_amax <= 10)
      ADD_FAILURE() << "finite_amax8 of values " << g * 8 << "..: cpu " << want << ", device " << amax8[g];
  }
  EXPECT_EQ(bad, 0u) << "of " << n << " values";
  EXPECT_EQ(bad_amax, 0u) << "of " << groups << " groups of 8";
  std::printf("[fp8 fast quantizer] %lld values, %zu distinct scales (%g to %g), fast path %s: bit-identical to the "
              "CPU formula\n",
              n, scale_set.size(), scale_set.front(), scale_set.back(), fast_path ? "compiled" : "absent");
}

}  // namespace
}  // namespace moekit_gpu_test
