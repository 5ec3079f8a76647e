// Runs on every machine that builds the CUDA module (CI has no GPU): the module next to libmoekit.so loads,
// exports a plugin table of this ABI version, and answers consistently with the machine. Without a driver or a
// device, its probe, moekit_backend_query and moekit_context_create all say so with the reason; with a device,
// a context is created.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <string>

#include "../device_module_checks.h"
#include "moekit/moekit.h"
#include "moekit_plugin.h"

namespace {

using namespace moekit_module_test;

bool names_missing_driver_or_device(const std::string& s) {
  return s.find("no CUDA driver") != std::string::npos || s.find("no CUDA device") != std::string::npos;
}

class CudaModule : public LoadedModuleTest {
 protected:
  CudaModule() : LoadedModuleTest(MOEKIT_CUDA_MODULE_PATH) {}
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
  LayerAnswers a;
  ASSERT_NO_FATAL_FAILURE(ask_every_layer(*table_, MOEKIT_BACKEND_CUDA, &a));
  if (a.probe_status == MOEKIT_PLUGIN_OK) {
    ASSERT_NO_FATAL_FAILURE(expect_available_everywhere(a));
    moekit_backend backend = MOEKIT_BACKEND_CPU;
    ASSERT_EQ(moekit_context_get_backend(a.context, &backend, nullptr), MOEKIT_OK);
    EXPECT_EQ(backend, MOEKIT_BACKEND_CUDA);
    EXPECT_EQ(moekit_context_destroy(a.context), MOEKIT_OK);
    return;
  }
  // No GPU here.
  expect_unavailable_everywhere(a, "cuda", names_missing_driver_or_device);
  // AUTO falls back to the CPU.
  moekit_backend backend = MOEKIT_BACKEND_CUDA;
  ASSERT_NO_FATAL_FAILURE(backend_auto_picks(&backend));
  EXPECT_EQ(backend, MOEKIT_BACKEND_CPU);
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
