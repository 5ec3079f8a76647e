// What the CUDA and the HIP module tests (tests/gpu/module_load_test.cpp, tests/hip/hip_module_test.cpp) check
// the same way: the module loads from its build path and hands out its plugin table for this ABI version only,
// and its probe, moekit_backend_query and moekit_context_create agree on whether the backend is usable here.
// Each test keeps what is its platform's own: the module path, the words its reason is given in, and what it
// expects of a context.
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "moekit/moekit.h"
#include "moekit_plugin.h"

namespace moekit_module_test {

// The module at `path` loaded and its table fetched before each test.
class LoadedModuleTest : public ::testing::Test {
 protected:
  explicit LoadedModuleTest(const char* path) : path_(path) {}
  void SetUp() override {
    handle_ = dlopen(path_, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle_, nullptr) << dlerror();
    auto get = reinterpret_cast<moekit_plugin_get_table_fn>(dlsym(handle_, MOEKIT_PLUGIN_ENTRY_POINT));
    ASSERT_NE(get, nullptr);
    table_ = get(MOEKIT_PLUGIN_ABI_VERSION);
    ASSERT_NE(table_, nullptr);
    EXPECT_EQ(get(MOEKIT_PLUGIN_ABI_VERSION + 1), nullptr) << "a module must refuse an ABI it does not implement";
  }
  const char* path_;
  void* handle_ = nullptr;  // never closed: the module holds its device runtime
  const moekit_plugin_table* table_ = nullptr;
};

// One backend as each layer sees it: the module's probe, moekit_backend_query, moekit_context_create (device 0).
struct LayerAnswers {
  int32_t probe_status = -1;
  int32_t probe_count = -1;
  std::string probe_detail;
  moekit_backend_info info = MOEKIT_BACKEND_INFO_INIT;
  moekit_status created = MOEKIT_OK;
  moekit_context context = nullptr;  // the caller destroys it
  std::string create_error;
};

// Asks every layer about `backend`. A fatal failure here: wrap the call in ASSERT_NO_FATAL_FAILURE.
inline void ask_every_layer(const moekit_plugin_table& table, moekit_backend backend, LayerAnswers* out) {
  char detail[512];
  std::memset(detail, 0, sizeof detail);
  out->probe_status = table.probe(&out->probe_count, detail, sizeof detail);
  out->probe_detail = detail;
  ASSERT_FALSE(out->probe_detail.empty());
  ASSERT_EQ(moekit_backend_query(backend, &out->info), MOEKIT_OK);
  out->created = moekit_context_create(backend, 0, &out->context);
  out->create_error = moekit_last_error();
}

// A device here: every layer says so and the context exists.
inline void expect_available_everywhere(const LayerAnswers& a) {
  EXPECT_GE(a.probe_count, 1);
  EXPECT_EQ(a.info.available, 1) << a.info.detail;
  ASSERT_EQ(a.created, MOEKIT_OK) << a.create_error;
}

// No device here: every layer names the reason (`names_reason` knows the backend's words for it), and nothing
// crashed on the way. `backend_name` as core's messages spell it ("cuda", "hip").
inline void expect_unavailable_everywhere(const LayerAnswers& a, const char* backend_name,
                                          bool (*names_reason)(const std::string&)) {
  EXPECT_EQ(a.probe_status, MOEKIT_PLUGIN_UNAVAILABLE);
  EXPECT_EQ(a.probe_count, 0);
  EXPECT_TRUE(names_reason(a.probe_detail)) << a.probe_detail;
  EXPECT_EQ(a.info.available, 0);
  EXPECT_TRUE(names_reason(a.info.detail)) << a.info.detail;
  EXPECT_EQ(a.created, MOEKIT_ERR_BACKEND_UNAVAILABLE);
  EXPECT_EQ(a.context, nullptr) << "output must stay untouched on failure";
  const std::string unavailable = std::string("backend ") + backend_name + " unavailable: ";
  EXPECT_NE(a.create_error.find(unavailable), std::string::npos) << a.create_error;
  EXPECT_TRUE(names_reason(a.create_error)) << a.create_error;
}

// The backend a MOEKIT_BACKEND_AUTO context settles on, in *out (left as it was if none could be created).
inline void backend_auto_picks(moekit_backend* out) {
  moekit_context ctx = nullptr;
  ASSERT_EQ(moekit_context_create(MOEKIT_BACKEND_AUTO, 0, &ctx), MOEKIT_OK) << moekit_last_error();
  ASSERT_EQ(moekit_context_get_backend(ctx, out, nullptr), MOEKIT_OK);
  EXPECT_EQ(moekit_context_destroy(ctx), MOEKIT_OK);
}

}  // namespace moekit_module_test
