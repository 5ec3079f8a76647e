// Runs on every machine that builds the HIP module (CI has no AMD GPU): the module next to libmoekit.so loads,
// exports one plugin table of this ABI version (and nothing else: check_module_exports.cmake), carries a code
// object per configured offload target, and answers consistently with the machine. Without a ROCm driver or a
// device, its probe, moekit_backend_query and moekit_context_create all say "no HIP device" with the reason;
// with one, a context is created. What the module does not implement answers UNSUPPORTED with a message.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "../device_module_checks.h"
#include "moekit/moekit.h"
#include "moekit_core/platform_contract.h"
#include "moekit_plugin.h"

namespace {

using namespace moekit_module_test;

bool says_no_hip_device(const std::string& s) { return s.find("no HIP device") != std::string::npos; }

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

class HipModule : public LoadedModuleTest {
 protected:
  HipModule() : LoadedModuleTest(MOEKIT_HIP_MODULE_PATH) {}
};

TEST_F(HipModule, TableDescribesItselfWithTheHipContract) {
  EXPECT_EQ(table_->abi_version, MOEKIT_PLUGIN_ABI_VERSION);
  EXPECT_EQ(table_->struct_size, sizeof(moekit_plugin_table));
  EXPECT_STREQ(table_->name, "hip");
  EXPECT_EQ(table_->device_type, MOEKIT_DEVICE_ROCM);
  const void* fns[] = {reinterpret_cast<const void*>(table_->probe), reinterpret_cast<const void*>(table_->context_create),
                       reinterpret_cast<const void*>(table_->context_destroy),
                       reinterpret_cast<const void*>(table_->context_describe),
                       reinterpret_cast<const void*>(table_->platform_contract), reinterpret_cast<const void*>(table_->route),
                       reinterpret_cast<const void*>(table_->build_plan), reinterpret_cast<const void*>(table_->router_gemm),
                       reinterpret_cast<const void*>(table_->quantize), reinterpret_cast<const void*>(table_->dequantize),
                       reinterpret_cast<const void*>(table_->prepare_experts),
                       reinterpret_cast<const void*>(table_->free_experts),
                       reinterpret_cast<const void*>(table_->experts_workspace_size),
                       reinterpret_cast<const void*>(table_->run_experts), reinterpret_cast<const void*>(table_->alloc),
                       reinterpret_cast<const void*>(table_->free), reinterpret_cast<const void*>(table_->stream_sync)};
  for (const void* fn : fns) EXPECT_NE(fn, nullptr);
  moekit_plugin_contract c{};
  char msg[256] = {0};
  ASSERT_EQ(table_->platform_contract(nullptr, &c, msg, sizeof msg), MOEKIT_PLUGIN_OK) << msg;
  const moekit::PlatformContract want = moekit::hip_platform_contract();
  EXPECT_EQ(c.block_size_m, want.block_size_m);
  EXPECT_EQ(c.hidden_align, want.hidden_align);
  EXPECT_EQ(c.intermediate_align, want.intermediate_align);
  EXPECT_EQ(c.buffer_align_bytes, want.buffer_align_bytes);
  EXPECT_EQ(c.mx_block, want.mx_block);
  EXPECT_EQ(c.fp8_block, want.fp8_block);
  EXPECT_EQ(table_->platform_contract(nullptr, nullptr, msg, sizeof msg), MOEKIT_PLUGIN_INVALID_ARGUMENT);
  EXPECT_NE(std::string(msg).find("out"), std::string::npos) << msg;
}

TEST_F(HipModule, CarriesOneWave64CodeObjectPerTarget) {
  // hipcc bundles one code object per --offload-arch under the name "hipv4-amdgcn-amd-amdhsa--<arch>".
  std::ifstream f(MOEKIT_HIP_MODULE_PATH, std::ios::binary);
  ASSERT_TRUE(f.good());
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::vector<std::string> archs = split(MOEKIT_HIP_TEST_ARCHS);
  ASSERT_FALSE(archs.empty());
  for (const std::string& arch : archs) {
    EXPECT_NE(bytes.find("amdgcn-amd-amdhsa--" + arch), std::string::npos) << "no code object for " << arch;
    EXPECT_EQ(arch.rfind("gfx9", 0), 0u) << arch << ": only wave64 CDNA (gfx9xx) targets are supported";
  }
  EXPECT_EQ(bytes.find("amdgcn-amd-amdhsa--gfx11"), std::string::npos) << "a wave32 RDNA code object slipped in";
}

TEST_F(HipModule, UnimplementedEntriesAnswerUnsupportedWithAReason) {
  char msg[512] = {0};
  void* prepared = reinterpret_cast<void*>(0x1);
  EXPECT_EQ(table_->prepare_experts(nullptr, nullptr, nullptr, nullptr, &prepared, msg, sizeof msg),
            MOEKIT_PLUGIN_UNSUPPORTED);
  EXPECT_EQ(prepared, nullptr);
  EXPECT_NE(std::string(msg).find("experts"), std::string::npos) << msg;
  EXPECT_NE(std::string(msg).find("no portable GEMM path"), std::string::npos) << msg;
  size_t bytes = 7;
  EXPECT_EQ(table_->experts_workspace_size(nullptr, nullptr, 1, 1, &bytes, msg, sizeof msg), MOEKIT_PLUGIN_UNSUPPORTED);
  EXPECT_EQ(bytes, 0u);
  EXPECT_EQ(table_->run_experts(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0, nullptr, msg,
                                sizeof msg),
            MOEKIT_PLUGIN_UNSUPPORTED);
  EXPECT_NE(std::string(msg).find("run_experts"), std::string::npos) << msg;
  EXPECT_EQ(table_->router_gemm(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, msg, sizeof msg),
            MOEKIT_PLUGIN_UNSUPPORTED);
  EXPECT_NE(std::string(msg).find("router_gemm"), std::string::npos) << msg;
  // Entries that need a context refuse a null one by name instead of dereferencing it.
  EXPECT_EQ(table_->route(nullptr, nullptr, nullptr, nullptr, nullptr, msg, sizeof msg), MOEKIT_PLUGIN_INVALID_ARGUMENT);
  EXPECT_NE(std::string(msg).find("context"), std::string::npos) << msg;
}

TEST_F(HipModule, ProbeContextAndQueryAgree) {
  LayerAnswers a;
  ASSERT_NO_FATAL_FAILURE(ask_every_layer(*table_, MOEKIT_BACKEND_HIP, &a));
  if (a.probe_status == MOEKIT_PLUGIN_OK) {  // an AMD GPU host
    ASSERT_NO_FATAL_FAILURE(expect_available_everywhere(a));
    EXPECT_EQ(moekit_context_destroy(a.context), MOEKIT_OK);
    return;
  }
  // No AMD GPU here.
  expect_unavailable_everywhere(a, "hip", says_no_hip_device);
  // AUTO falls back past HIP (and CUDA, absent here) to the CPU.
  moekit_backend backend = MOEKIT_BACKEND_HIP;
  ASSERT_NO_FATAL_FAILURE(backend_auto_picks(&backend));
  EXPECT_NE(backend, MOEKIT_BACKEND_HIP);
}

TEST(HipModuleSearch, TheEnvironmentVariableNamesTheModule) {
  // MOEKIT_HIP_MODULE (a file) comes first in core's search, before MOEKIT_MODULE_DIR.
  ASSERT_EQ(setenv("MOEKIT_MODULE_DIR", "/nonexistent-moekit-modules", 1), 0);
  ASSERT_EQ(setenv("MOEKIT_HIP_MODULE", MOEKIT_HIP_MODULE_PATH, 1), 0);
  moekit_backend_info info = MOEKIT_BACKEND_INFO_INIT;
  ASSERT_EQ(moekit_backend_query(MOEKIT_BACKEND_HIP, &info), MOEKIT_OK);
  unsetenv("MOEKIT_HIP_MODULE");
  moekit_backend_info hidden = MOEKIT_BACKEND_INFO_INIT;
  ASSERT_EQ(moekit_backend_query(MOEKIT_BACKEND_HIP, &hidden), MOEKIT_OK);
  unsetenv("MOEKIT_MODULE_DIR");
  // Found through the variable: the answer is the module's own (a device, or "no HIP device").
  EXPECT_TRUE(info.available == 1 || says_no_hip_device(info.detail)) << info.detail;
  // Without it, the empty module directory is the whole search.
  EXPECT_EQ(hidden.available, 0);
  EXPECT_NE(std::string(hidden.detail).find("not found"), std::string::npos) << hidden.detail;
}

}  // namespace

namespace {

TEST(HipModuleSearch, AMissingRuntimeLibraryIsNamed) {
  // The real module links libamdhip64 dynamically; where it is not installed the module is found but cannot
  // load. The reason must name the missing library instead of calling the module "not found".
  ASSERT_EQ(setenv("MOEKIT_MODULE_DIR", MOEKIT_MISSING_DEP_MODULE_DIR, 1), 0);
  moekit_backend_info info = MOEKIT_BACKEND_INFO_INIT;
  ASSERT_EQ(moekit_backend_query(MOEKIT_BACKEND_HIP, &info), MOEKIT_OK);
  moekit_context ctx = nullptr;
  const moekit_status created = moekit_context_create(MOEKIT_BACKEND_HIP, 0, &ctx);
  const std::string error = moekit_last_error();
  unsetenv("MOEKIT_MODULE_DIR");
  EXPECT_EQ(info.available, 0);
  EXPECT_NE(std::string(info.detail).find("libmoekit_test_absent_dependency.so"), std::string::npos) << info.detail;
  EXPECT_EQ(created, MOEKIT_ERR_BACKEND_UNAVAILABLE);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_NE(error.find("libmoekit_test_absent_dependency.so"), std::string::npos) << error;
}

}  // namespace
