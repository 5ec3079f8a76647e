// Version, status strings, the thread-local error, tensors and contexts through the public C ABI.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>

#include "moekit/moekit.h"

TEST(Version, MatchesHeaderAndAbi) {
  int32_t major = -1, minor = -1, patch = -1;
  moekit_version(&major, &minor, &patch);
  EXPECT_EQ(major, MOEKIT_VERSION_MAJOR);
  EXPECT_EQ(minor, MOEKIT_VERSION_MINOR);
  EXPECT_EQ(patch, MOEKIT_VERSION_PATCH);
  EXPECT_EQ(moekit_abi_version(), MOEKIT_ABI_VERSION);
  const std::string expected = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  EXPECT_EQ(expected, moekit_version_string());
  moekit_version(nullptr, nullptr, nullptr);  // every output is optional
}

TEST(Status, EveryCodeHasADistinctString) {
  const moekit_status all[] = {MOEKIT_OK, MOEKIT_ERR_INVALID_ARGUMENT, MOEKIT_ERR_UNSUPPORTED,
                               MOEKIT_ERR_BACKEND_UNAVAILABLE, MOEKIT_ERR_OUT_OF_MEMORY, MOEKIT_ERR_DEVICE,
                               MOEKIT_ERR_INTERNAL};
  for (size_t i = 0; i < 7; ++i)
    for (size_t j = i + 1; j < 7; ++j) EXPECT_STRNE(moekit_status_string(all[i]), moekit_status_string(all[j]));
  EXPECT_STREQ(moekit_status_string(static_cast<moekit_status>(1234)), "unknown status");
}

TEST(LastError, IsThreadLocalAndNamesTheArgument) {
  moekit_clear_error();
  EXPECT_EQ(moekit_context_create(MOEKIT_BACKEND_CPU, 0, nullptr), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(moekit_last_error()).find("out"), std::string::npos) << moekit_last_error();
  std::string other_thread_error = "unset";
  std::thread([&] { other_thread_error = moekit_last_error(); }).join();
  EXPECT_EQ(other_thread_error, "");
  moekit_clear_error();
  EXPECT_STREQ(moekit_last_error(), "");
}

TEST(Tensor, InitComputesRowMajorStrides) {
  float buf[24];
  const int64_t shape[3] = {2, 3, 4};
  moekit_tensor t;
  ASSERT_EQ(moekit_tensor_init(&t, buf, MOEKIT_DTYPE_F32, 3, shape), MOEKIT_OK);
  EXPECT_EQ(t.strides[0], 12);
  EXPECT_EQ(t.strides[1], 4);
  EXPECT_EQ(t.strides[2], 1);
  EXPECT_EQ(t.device_type, MOEKIT_DEVICE_CPU);
  EXPECT_EQ(moekit_dtype_size(MOEKIT_DTYPE_BF16), 2u);
  EXPECT_EQ(moekit_dtype_size(MOEKIT_DTYPE_FP4_E2M1X2), 1u);
  EXPECT_EQ(moekit_dtype_size(static_cast<moekit_dtype>(99)), 0u);
  EXPECT_STREQ(moekit_dtype_name(MOEKIT_DTYPE_BF16), "bfloat16");
}

TEST(Tensor, InitRejectsBadArgumentsAndLeavesTheStructUntouched) {
  moekit_tensor t;
  std::memset(&t, 0xAB, sizeof t);
  moekit_tensor before = t;
  const int64_t bad_shape[2] = {2, -1};
  EXPECT_EQ(moekit_tensor_init(&t, nullptr, MOEKIT_DTYPE_F32, 2, bad_shape), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(moekit_last_error()).find("shape[1]"), std::string::npos) << moekit_last_error();
  EXPECT_EQ(moekit_tensor_init(&t, nullptr, MOEKIT_DTYPE_F32, 9, bad_shape), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(moekit_tensor_init(&t, nullptr, static_cast<moekit_dtype>(42), 1, bad_shape),
            MOEKIT_ERR_INVALID_ARGUMENT);
  const int64_t huge[2] = {int64_t{1} << 40, int64_t{1} << 40};
  EXPECT_EQ(moekit_tensor_init(&t, nullptr, MOEKIT_DTYPE_F32, 2, huge), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(std::memcmp(&t, &before, sizeof t), 0);
  EXPECT_EQ(moekit_tensor_init(nullptr, nullptr, MOEKIT_DTYPE_F32, 0, nullptr), MOEKIT_ERR_INVALID_ARGUMENT);
}

TEST(Context, CpuIsAvailableAndChosenByAuto) {
  moekit_context ctx = nullptr;
  ASSERT_EQ(moekit_context_create(MOEKIT_BACKEND_AUTO, 0, &ctx), MOEKIT_OK) << moekit_last_error();
  moekit_backend backend = MOEKIT_BACKEND_AUTO;
  int32_t device = -1;
  ASSERT_EQ(moekit_context_get_backend(ctx, &backend, &device), MOEKIT_OK);
  EXPECT_EQ(backend, MOEKIT_BACKEND_CPU);  // no device module is installed in the test environment
  EXPECT_EQ(device, 0);
  int32_t threads = 0;
  ASSERT_EQ(moekit_context_get_num_threads(ctx, &threads), MOEKIT_OK);
  EXPECT_GE(threads, 1);
  ASSERT_EQ(moekit_context_set_num_threads(ctx, 3), MOEKIT_OK);
  ASSERT_EQ(moekit_context_get_num_threads(ctx, &threads), MOEKIT_OK);
  EXPECT_EQ(threads, 3);
  EXPECT_EQ(moekit_context_set_num_threads(ctx, 0), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(moekit_last_error()).find("num_threads"), std::string::npos);
  EXPECT_EQ(moekit_context_destroy(ctx), MOEKIT_OK);
  EXPECT_EQ(moekit_context_destroy(nullptr), MOEKIT_OK);
}

TEST(Context, DeviceBackendsAreUnavailableWithAReason) {
  for (moekit_backend b : {MOEKIT_BACKEND_CUDA, MOEKIT_BACKEND_HIP}) {
    moekit_backend_info info = MOEKIT_BACKEND_INFO_INIT;
    ASSERT_EQ(moekit_backend_query(b, &info), MOEKIT_OK);
    EXPECT_EQ(info.available, 0);
    EXPECT_NE(std::string(info.detail).find("not found"), std::string::npos) << info.detail;
    moekit_context ctx = reinterpret_cast<moekit_context>(0x1);
    EXPECT_EQ(moekit_context_create(b, 0, &ctx), MOEKIT_ERR_BACKEND_UNAVAILABLE);
    EXPECT_EQ(ctx, reinterpret_cast<moekit_context>(0x1)) << "output must stay untouched on failure";
    EXPECT_NE(std::string(moekit_last_error()).find("unavailable"), std::string::npos) << moekit_last_error();
  }
  moekit_backend_info cpu = MOEKIT_BACKEND_INFO_INIT;
  ASSERT_EQ(moekit_backend_query(MOEKIT_BACKEND_CPU, &cpu), MOEKIT_OK);
  EXPECT_EQ(cpu.available, 1);
  EXPECT_STREQ(cpu.name, "cpu");
}

TEST(Context, BadArguments) {
  moekit_context ctx = nullptr;
  EXPECT_EQ(moekit_context_create(static_cast<moekit_backend>(7), 0, &ctx), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(moekit_context_create(MOEKIT_BACKEND_CPU, 1, &ctx), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(moekit_context_create(MOEKIT_BACKEND_CPU, -1, &ctx), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_EQ(moekit_context_get_backend(nullptr, nullptr, nullptr), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(moekit_last_error()).find("ctx"), std::string::npos);
  moekit_backend_info small = MOEKIT_BACKEND_INFO_INIT;
  small.struct_size = 8;
  EXPECT_EQ(moekit_backend_query(MOEKIT_BACKEND_CPU, &small), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(moekit_backend_query(MOEKIT_BACKEND_CPU, nullptr), MOEKIT_ERR_INVALID_ARGUMENT);
}

TEST(Context, PlatformContractIsQueryableAndPaddingFollowsIt) {
  moekit_context ctx = nullptr;
  ASSERT_EQ(moekit_context_create(MOEKIT_BACKEND_CPU, 0, &ctx), MOEKIT_OK);
  moekit_platform_contract c = MOEKIT_PLATFORM_CONTRACT_INIT;
  ASSERT_EQ(moekit_context_platform_contract(ctx, &c), MOEKIT_OK);
  EXPECT_GT(c.block_size_m, 0);
  EXPECT_EQ(c.mx_block, 32);
  EXPECT_EQ(c.fp8_block, 128);
  int64_t hp = 0, ip = 0;
  ASSERT_EQ(moekit_context_padded_sizes(ctx, 2880, 2881, &hp, &ip), MOEKIT_OK);
  EXPECT_EQ(hp % c.hidden_align, 0);
  EXPECT_EQ(ip % c.intermediate_align, 0);
  EXPECT_GE(hp, 2880);
  EXPECT_LT(hp - 2880, c.hidden_align);
  EXPECT_GE(ip, 2881);
  EXPECT_LT(ip - 2881, c.intermediate_align);
  EXPECT_EQ(moekit_context_padded_sizes(ctx, 0, 10, &hp, &ip), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(moekit_context_padded_sizes(ctx, INT64_MAX, 10, &hp, &ip), MOEKIT_ERR_INVALID_ARGUMENT);
  moekit_context_destroy(ctx);
}
