// Shared helpers of the GPU tests: device buffers, tensors on either backend, a fixture holding a CPU and a
// CUDA context, and comparisons. Every CUDA operation is checked against the CPU backend on the same inputs,
// through the public C API.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "moekit/moekit.h"

namespace moekit_gpu_test {

#define CUDA_OK(expr)                                                                   \
  do {                                                                                  \
    const cudaError_t cuda_ok_err_ = (expr);                                            \
    ASSERT_EQ(cuda_ok_err_, cudaSuccess) << #expr << ": " << cudaGetErrorString(cuda_ok_err_); \
  } while (0)

#define MOEKIT_OK(expr)                                                            \
  do {                                                                             \
    const moekit_status moekit_ok_st_ = (expr);                                    \
    ASSERT_EQ(moekit_ok_st_, MOEKIT_OK) << #expr << ": " << moekit_last_error();   \
  } while (0)

// Device memory of `bytes` bytes (at least 1, so that an empty tensor still has a distinct non-null pointer),
// filled with a sentinel byte so that unwritten outputs show up in comparisons.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes, int sentinel = 0xA5) : bytes_(bytes) {
    if (cudaMalloc(&ptr_, bytes == 0 ? 1 : bytes) != cudaSuccess) ptr_ = nullptr;
    if (ptr_ != nullptr) cudaMemset(ptr_, sentinel, bytes == 0 ? 1 : bytes);
  }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  void upload(const void* host, size_t bytes) const { cudaMemcpy(ptr_, host, bytes, cudaMemcpyHostToDevice); }
  template <class T>
  std::vector<T> download(size_t count) const {
    std::vector<T> out(count);
    if (count > 0) cudaMemcpy(out.data(), ptr_, count * sizeof(T), cudaMemcpyDeviceToHost);
    return out;
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_;
};

inline moekit_tensor host_tensor(void* data, moekit_dtype dtype, std::initializer_list<int64_t> shape) {
  moekit_tensor t;
  std::vector<int64_t> s(shape);
  moekit_tensor_init(&t, data, dtype, static_cast<int32_t>(s.size()), s.data());
  return t;
}

inline moekit_tensor device_tensor(void* data, moekit_dtype dtype, std::initializer_list<int64_t> shape) {
  moekit_tensor t = host_tensor(data, dtype, shape);
  t.device_type = MOEKIT_DEVICE_CUDA;
  t.device_id = 0;
  return t;
}

// A CPU and a CUDA context. Without a usable CUDA device the tests skip, unless MOEKIT_REQUIRE_GPU is set
// (scripts/test_gpu.sh sets it: on a GPU host a silent skip would hide a broken module).
class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    moekit_backend_info info = MOEKIT_BACKEND_INFO_INIT;
    ASSERT_EQ(moekit_backend_query(MOEKIT_BACKEND_CUDA, &info), MOEKIT_OK);
    if (!info.available) {
      if (std::getenv("MOEKIT_REQUIRE_GPU") != nullptr) FAIL() << "CUDA backend unavailable: " << info.detail;
      GTEST_SKIP() << "CUDA backend unavailable: " << info.detail;
    }
    MOEKIT_OK(moekit_context_create(MOEKIT_BACKEND_CPU, 0, &cpu_));
    MOEKIT_OK(moekit_context_create(MOEKIT_BACKEND_CUDA, 0, &gpu_));
  }
  void TearDown() override {
    moekit_context_destroy(cpu_);
    moekit_context_destroy(gpu_);
    if (gpu_ == nullptr) return;  // skipped: no device to check
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess) << "an asynchronous device error surfaced";
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  }
  moekit_context cpu_ = nullptr;
  moekit_context gpu_ = nullptr;
};

// Sets an environment variable for a scope (e.g. MOEKIT_CUDA_EXPERTS_TIER to force a tier) and removes it at
// the end, also when an assertion leaves the test early.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ok_ = setenv(name, value, 1) == 0; }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  bool ok() const { return ok_; }

 private:
  const char* name_;
  bool ok_ = false;
};

// Distance in units in the last place between two floats of the same sign class (0 if bit-identical,
// both NaN counts as 0); a large number for a sign disagreement or NaN vs number.
inline int64_t ulp_distance(float a, float b) {
  if (a != a && b != b) return 0;
  if (a != a || b != b) return INT64_MAX;
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  // Map to a monotonic integer line (negative floats mirrored), so that adjacent floats differ by 1.
  const int64_t la = ia < 0 ? int64_t{INT32_MIN} - ia : ia;
  const int64_t lb = ib < 0 ? int64_t{INT32_MIN} - ib : ib;
  return la > lb ? la - lb : lb - la;
}

// First index where two arrays differ, or -1.
template <class T>
int64_t first_difference(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) return static_cast<int64_t>(i);
  return -1;
}

// Host floats as the bytes of an f32 / bf16 / f16 tensor (bf16 / f16 by the CUDA headers' own host converters,
// nearest-even).
inline std::vector<uint8_t> encode(const std::vector<float>& x, moekit_dtype dtype) {
  std::vector<uint8_t> out(x.size() * moekit_dtype_size(dtype));
  for (size_t i = 0; i < x.size(); ++i) {
    if (dtype == MOEKIT_DTYPE_F32) {
      std::memcpy(out.data() + 4 * i, &x[i], 4);
    } else if (dtype == MOEKIT_DTYPE_BF16) {
      const __nv_bfloat16 h = __float2bfloat16_rn(x[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    } else {
      const __half h = __float2half_rn(x[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
  return out;
}

}  // namespace moekit_gpu_test
