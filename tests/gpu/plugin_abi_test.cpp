// Core's side of the device plugin ABI, against stand-in modules (fake_plugin.cpp) named by $MOEKIT_CUDA_MODULE:
// a module of another ABI version or without the entry point is refused with a reason naming the problem;
// a well-formed module's answers reach the user unchanged — UNSUPPORTED stays MOEKIT_ERR_UNSUPPORTED with the
// module's message (never a silent CPU fallback), device faults stay MOEKIT_ERR_DEVICE, a missing table entry
// is UNSUPPORTED, the module's platform contract is the context's, and tensor memory is never touched.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "moekit/moekit.h"

namespace {

class WithModule {
 public:
  explicit WithModule(const char* path) { setenv("MOEKIT_CUDA_MODULE", path, 1); }
  ~WithModule() { unsetenv("MOEKIT_CUDA_MODULE"); }
};

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(PluginAbi, AModuleOfAnotherAbiVersionIsRefused) {
  WithModule m(MOEKIT_FAKE_V2);
  moekit_backend_info info = MOEKIT_BACKEND_INFO_INIT;
  ASSERT_EQ(moekit_backend_query(MOEKIT_BACKEND_CUDA, &info), MOEKIT_OK);
  EXPECT_EQ(info.available, 0);
  EXPECT_TRUE(contains(info.detail, "plugin ABI v2")) << info.detail;
  moekit_context ctx = nullptr;
  EXPECT_EQ(moekit_context_create(MOEKIT_BACKEND_CUDA, 0, &ctx), MOEKIT_ERR_BACKEND_UNAVAILABLE);
  EXPECT_EQ(ctx, nullptr);
  const std::string err = moekit_last_error();
  EXPECT_TRUE(contains(err, "backend cuda unavailable")) << err;
  EXPECT_TRUE(contains(err, "implements plugin ABI v2, but this libmoekit needs plugin ABI v1")) << err;
}

TEST(PluginAbi, ALibraryWithoutTheEntryPointIsRefused) {
  WithModule m(MOEKIT_FAKE_NO_ENTRY);
  moekit_context ctx = nullptr;
  EXPECT_EQ(moekit_context_create(MOEKIT_BACKEND_CUDA, 0, &ctx), MOEKIT_ERR_BACKEND_UNAVAILABLE);
  EXPECT_TRUE(contains(moekit_last_error(), "is not a moekit device module")) << moekit_last_error();
}

class FakeDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(moekit_context_create(MOEKIT_BACKEND_CUDA, 0, &ctx_), MOEKIT_OK) << moekit_last_error();
  }
  void TearDown() override { moekit_context_destroy(ctx_); }
  // "Device" tensors over host memory filled with a sentinel: core forwards them without touching them, the
  // fake module ignores them, so the memory must come back unchanged.
  moekit_tensor device_view(std::vector<uint8_t>& bytes, moekit_dtype dtype, std::vector<int64_t> shape) {
    moekit_tensor t;
    moekit_tensor_init(&t, bytes.data(), dtype, static_cast<int32_t>(shape.size()), shape.data());
    t.device_type = MOEKIT_DEVICE_CUDA;
    return t;
  }
  WithModule module_{MOEKIT_FAKE_V1};
  moekit_context ctx_ = nullptr;
};

TEST_F(FakeDevice, TheContextRunsOnTheModuleWithItsContract) {
  moekit_backend backend = MOEKIT_BACKEND_CPU;
  ASSERT_EQ(moekit_context_get_backend(ctx_, &backend, nullptr), MOEKIT_OK);
  EXPECT_EQ(backend, MOEKIT_BACKEND_CUDA);
  moekit_platform_contract c = MOEKIT_PLATFORM_CONTRACT_INIT;
  ASSERT_EQ(moekit_context_platform_contract(ctx_, &c), MOEKIT_OK);
  EXPECT_EQ(c.block_size_m, 48);
  moekit_context other = nullptr;
  EXPECT_EQ(moekit_context_create(MOEKIT_BACKEND_CUDA, 1, &other), MOEKIT_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(moekit_last_error(), "device_id")) << moekit_last_error();
}

TEST_F(FakeDevice, UnsupportedFromTheModuleReachesTheUserWithItsMessage) {
  moekit_router_desc d = MOEKIT_ROUTER_DESC_INIT;
  d.num_experts = 8;
  d.top_k = 2;
  moekit_router r = nullptr;
  ASSERT_EQ(moekit_router_create(ctx_, &d, &r), MOEKIT_OK) << moekit_last_error();
  int64_t ms = 0, mb = 0;
  ASSERT_EQ(moekit_router_plan_sizes(r, 4, nullptr, &ms, &mb), MOEKIT_OK);
  std::vector<uint8_t> logits(4 * 8 * 4, 0xA5), w(4 * 2 * 4, 0xA5), ids(4 * 2 * 4, 0xA5);
  const std::vector<uint8_t> w_before = w, ids_before = ids;
  moekit_tensor l = device_view(logits, MOEKIT_DTYPE_F32, {4, 8});
  moekit_routing plan{};
  plan.struct_size = sizeof plan;
  plan.topk_weights = device_view(w, MOEKIT_DTYPE_F32, {4, 2});
  plan.topk_ids = device_view(ids, MOEKIT_DTYPE_I32, {4, 2});
  EXPECT_EQ(moekit_router_run(r, &l, &plan, nullptr), MOEKIT_ERR_UNSUPPORTED);
  EXPECT_STREQ(moekit_last_error(), "route: the fake module cannot route");
  EXPECT_EQ(w, w_before) << "no silent fallback may write the outputs";
  EXPECT_EQ(ids, ids_before);
  // A table entry the module leaves empty is UNSUPPORTED too.
  EXPECT_EQ(moekit_router_build_plan(r, &plan, nullptr), MOEKIT_ERR_UNSUPPORTED);
  EXPECT_TRUE(contains(moekit_last_error(), "build_plan: not provided by this device module")) << moekit_last_error();
  moekit_router_destroy(r);
}

TEST_F(FakeDevice, DeviceFaultsKeepTheirStatus) {
  moekit_quantizer_desc d = MOEKIT_QUANTIZER_DESC_INIT;
  moekit_quantizer q = nullptr;
  ASSERT_EQ(moekit_quantizer_create(ctx_, &d, &q), MOEKIT_OK) << moekit_last_error();
  std::vector<uint8_t> in(2 * 32 * 4, 0), v(2 * 32, 0), s(2 * 4, 0);
  moekit_tensor ti = device_view(in, MOEKIT_DTYPE_F32, {2, 32});
  moekit_tensor tv = device_view(v, MOEKIT_DTYPE_F8_E4M3FN, {2, 32});
  moekit_tensor ts = device_view(s, MOEKIT_DTYPE_F32, {2, 1});
  EXPECT_EQ(moekit_quantize(q, &ti, &tv, &ts, nullptr), MOEKIT_ERR_DEVICE);
  EXPECT_STREQ(moekit_last_error(), "quantize: simulated device fault");
  EXPECT_EQ(moekit_dequantize(q, &tv, &ts, &ti, nullptr), MOEKIT_ERR_UNSUPPORTED);
  moekit_quantizer_destroy(q);
}

}  // namespace
