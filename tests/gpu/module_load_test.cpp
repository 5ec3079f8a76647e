// Runs on every machine that builds the CUDA module (CI has no GPU): the module next to libmoekit.so loads,
// exports a plugin table of this ABI version, and answers consistently with the machine. Without a driver or a
// device, its probe, moekit_backend_query and moekit_context_create all say so with the reason; with a device,
// a context is created.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "moekit/moekit.h"
#include "moekit_plugin.h"

namespace {

bool names_missing_driver_or_device(const std::string& s) {
  return s.find("no CUDA driver") != std::string::npos || s.find("no CUDA device") != std::string::npos;
}

class CudaModule : public ::testing::Test {
 protected:
  void SetUp() override {
    handle_ = dlopen(MOEKIT_CUDA_MODULE_PATH, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle_, nullptr) << dlerror();
    auto get = reinterpret_cast<moekit_plugin_get_table_fn>(dlsym(handle_, MOEKIT_PLUGIN_ENTRY_POINT));
    ASSERT_NE(get, nullptr);
    table_ = get(MOEKIT_PLUGIN_ABI_VERSION);
    ASSERT_NE(table_, nullptr);
    EXPECT_EQ(get(MOEKIT_PLUGIN_ABI_VERSION + 1), nullptr) << "a module must refuse an ABI it does not implement";
  }
  void* handle_ = nullptr;  // never closed: the module holds a CUDA runtime
  const moekit_plugin_table* table_ = nullptr;
};

TEST_F(CudaModule, ExportsOnlyTheEntryPoint) {
  // The static CUDA runtime stays private to the module.
  EXPECT_EQ(dlsym(handle_, "cudaGetDeviceCount"), nullptr);
  EXPECT_EQ(dlsym(handle_, "cudaMalloc"), nullptr);
}

TEST_F(CudaModule, TableDescribesItself) {
  EXPECT_EQ(table_->abi_version, MOEKIT_PLUGIN_ABI_VERSION);
  EXPECT_EQ(table_->struct_size, sizeof(moekit_plugin_table));
  EXPECT_STREQ(table_->name, "cuda");
  EXPECT_EQ(table_->device_type, MOEKIT_DEVICE_CUDA);
  for (auto fn : {reinterpret_cast<const void*>(table_->probe), reinterpret_cast<const void*>(table_->context_create),
                  reinterpret_cast<const void*>(table_->route), reinterpret_cast<const void*>(table_->quantize),
                  reinterpret_cast<const void*>(table_->stream_sync)})
    EXPECT_NE(fn, nullptr);
  moekit_plugin_contract c{};
  char msg[256] = {0};
  ASSERT_EQ(table_->platform_contract(nullptr, &c, msg, sizeof msg), MOEKIT_PLUGIN_OK) << msg;
  EXPECT_EQ(c.mx_block, 32);
  EXPECT_EQ(c.fp8_block, 128);
  EXPECT_GT(c.block_size_m, 0);
}

TEST_F(CudaModule, ProbeContextAndQueryAgree) {
  int32_t count = -1;
  char detail[512];
  std::memset(detail, 0, sizeof detail);
  const int32_t status = table_->probe(&count, detail, sizeof detail);
  const std::string reason = detail;
  ASSERT_FALSE(reason.empty());

  moekit_backend_info info = MOEKIT_BACKEND_INFO_INIT;
  ASSERT_EQ(moekit_backend_query(MOEKIT_BACKEND_CUDA, &info), MOEKIT_OK);
  moekit_context ctx = nullptr;
  const moekit_status created = moekit_context_create(MOEKIT_BACKEND_CUDA, 0, &ctx);
  const std::string error = moekit_last_error();

  if (status == MOEKIT_PLUGIN_OK) {
    EXPECT_GE(count, 1);
    EXPECT_EQ(info.available, 1) << info.detail;
    ASSERT_EQ(created, MOEKIT_OK) << error;
    moekit_backend backend = MOEKIT_BACKEND_CPU;
    ASSERT_EQ(moekit_context_get_backend(ctx, &backend, nullptr), MOEKIT_OK);
    EXPECT_EQ(backend, MOEKIT_BACKEND_CUDA);
    EXPECT_EQ(moekit_context_destroy(ctx), MOEKIT_OK);
    return;
  }
  // No GPU here: every layer names the reason, and nothing crashed on the way.
  EXPECT_EQ(status, MOEKIT_PLUGIN_UNAVAILABLE);
  EXPECT_TRUE(names_missing_driver_or_device(reason)) << reason;
  EXPECT_EQ(info.available, 0);
  EXPECT_TRUE(names_missing_driver_or_device(info.detail)) << info.detail;
  EXPECT_EQ(created, MOEKIT_ERR_BACKEND_UNAVAILABLE);
  EXPECT_EQ(ctx, nullptr) << "output must stay untouched on failure";
  EXPECT_NE(error.find("backend cuda unavailable: "), std::string::npos) << error;
  EXPECT_TRUE(names_missing_driver_or_device(error)) << error;
  // AUTO falls back to the CPU.
  ASSERT_EQ(moekit_context_create(MOEKIT_BACKEND_AUTO, 0, &ctx), MOEKIT_OK) << moekit_last_error();
  moekit_backend backend = MOEKIT_BACKEND_CUDA;
  ASSERT_EQ(moekit_context_get_backend(ctx, &backend, nullptr), MOEKIT_OK);
  EXPECT_EQ(backend, MOEKIT_BACKEND_CPU);
  EXPECT_EQ(moekit_context_destroy(ctx), MOEKIT_OK);
}

TEST(CudaModuleSearch, AnExplicitModuleDirectoryIsTheWholeSearch) {
  // The module also sits beside libmoekit.so; naming an empty module directory must hide it.
  ASSERT_EQ(setenv("MOEKIT_MODULE_DIR", "/nonexistent-moekit-modules", 1), 0);
  moekit_backend_info info = MOEKIT_BACKEND_INFO_INIT;
  ASSERT_EQ(moekit_backend_query(MOEKIT_BACKEND_CUDA, &info), MOEKIT_OK);
  unsetenv("MOEKIT_MODULE_DIR");
  EXPECT_EQ(info.available, 0);
  EXPECT_NE(std::string(info.detail).find("not found"), std::string::npos) << info.detail;
}

}  // namespace
