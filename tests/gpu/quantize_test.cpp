// CUDA quantizers against the CPU backend, bit for bit: FP8 E4M3 per tensor / per token / per group / per block
// and MXFP4, from f32, bf16 and f16 inputs holding every kind of value (wide magnitude range per row, zeros of
// both signs, float denormals, values beyond the format's range, ±Inf, NaN); then the inverses, fed the same
// quantized data, into every output dtype. Both backends evaluate the same formulas on the same float32 values,
// so no tolerance applies: values and scales must be byte-identical, including NaN payloads.
#include <cmath>
#include <limits>
#include <random>

#include "gpu_test_util.h"

namespace moekit_gpu_test {
namespace {

struct QuantCase {
  const char* name;
  moekit_quant_scheme scheme;
  int32_t group_size;
};

const QuantCase kQuantCases[] = {
    {"fp8_per_tensor", MOEKIT_QUANT_FP8_PER_TENSOR, 0}, {"fp8_per_token", MOEKIT_QUANT_FP8_PER_TOKEN, 0},
    {"fp8_group128", MOEKIT_QUANT_FP8_PER_GROUP, 128},  {"fp8_group48", MOEKIT_QUANT_FP8_PER_GROUP, 48},
    {"fp8_block128", MOEKIT_QUANT_FP8_BLOCK, 128},      {"fp8_block32", MOEKIT_QUANT_FP8_BLOCK, 32},
    {"mxfp4", MOEKIT_QUANT_MXFP4, 0},
};

std::vector<float> make_input(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  const float specials[] = {0.0f, -0.0f, 1e-40f, -3e-42f, 1e30f, -7e5f, 460.0f, -448.0f,
                            std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(),
                            -std::numeric_limits<float>::quiet_NaN()};  // the sign of a NaN must survive too
  for (int64_t r = 0; r < rows; ++r) {
    const float magnitude = std::ldexp(1.0f, static_cast<int>(r % 24) - 12);  // 2^-12 .. 2^11 by row
    for (int64_t c = 0; c < cols; ++c) x[static_cast<size_t>(r * cols + c)] = normal(rng) * magnitude;
  }
  // Sprinkle specials, but keep some rows/blocks clean so that ordinary scales are exercised too.
  for (size_t i = 0; i < x.size(); i += 97)
    if ((i / 97) % 3 != 0) x[i] = specials[(i / 97) % (sizeof specials / sizeof specials[0])];
  return x;
}


class CudaQuantize : public GpuTest, public ::testing::WithParamInterface<QuantCase> {};

TEST_P(CudaQuantize, QuantizeAndDequantizeAreBitIdenticalToCpu) {
  const QuantCase& qc = GetParam();
  moekit_quantizer_desc d = MOEKIT_QUANTIZER_DESC_INIT;
  d.scheme = qc.scheme;
  d.group_size = qc.group_size;
  moekit_quantizer qcpu = nullptr, qgpu = nullptr;
  MOEKIT_OK(moekit_quantizer_create(cpu_, &d, &qcpu));
  MOEKIT_OK(moekit_quantizer_create(gpu_, &d, &qgpu));
  const bool mx = qc.scheme == MOEKIT_QUANT_MXFP4;
  const std::pair<int64_t, int64_t> shapes_fp8[] = {{0, 64},     {3, 0},      {1, 32},    {7, 100},
                                                    {130, 300}, {300, 4096}, {257, 7168}};
  const std::pair<int64_t, int64_t> shapes_mx[] = {{0, 64}, {1, 32}, {7, 96}, {300, 4096}, {257, 7168}};
  std::vector<std::pair<int64_t, int64_t>> shapes(mx ? std::begin(shapes_mx) : std::begin(shapes_fp8),
                                                  mx ? std::end(shapes_mx) : std::end(shapes_fp8));
  for (const auto& [rows, cols] : shapes) {
    for (moekit_dtype dtype : {MOEKIT_DTYPE_F32, MOEKIT_DTYPE_BF16, MOEKIT_DTYPE_F16}) {
      const std::string where = std::string(qc.name) + " " + std::to_string(rows) + "x" + std::to_string(cols) + " " +
                                moekit_dtype_name(dtype);
      int64_t vs[2] = {0, 0}, ss[2] = {0, 0};
      ASSERT_EQ(moekit_quantizer_output_shapes(qcpu, rows, cols, vs, ss), MOEKIT_OK) << moekit_last_error();
      const moekit_dtype vdt = mx ? MOEKIT_DTYPE_FP4_E2M1X2 : MOEKIT_DTYPE_F8_E4M3FN;
      const moekit_dtype sdt = mx ? MOEKIT_DTYPE_E8M0 : MOEKIT_DTYPE_F32;
      const size_t vbytes = static_cast<size_t>(vs[0] * vs[1]);
      const size_t sbytes = static_cast<size_t>(ss[0] * ss[1]) * moekit_dtype_size(sdt);

      const uint32_t seed = static_cast<uint32_t>(rows * 131 + cols);
      const std::vector<uint8_t> input = encode(make_input(rows, cols, seed), dtype);
      std::vector<uint8_t> in_host = input, v_cpu(vbytes + 1, 0xEE), s_cpu(sbytes + 1, 0xEE);
      if (in_host.empty()) in_host.resize(4);
      moekit_tensor ti = host_tensor(in_host.data(), dtype, {rows, cols});
      moekit_tensor tv = host_tensor(v_cpu.data(), vdt, {vs[0], vs[1]});
      moekit_tensor ts = host_tensor(s_cpu.data(), sdt, {ss[0], ss[1]});
      ASSERT_EQ(moekit_quantize(qcpu, &ti, &tv, &ts, nullptr), MOEKIT_OK) << where << moekit_last_error();

      DeviceBuffer din(input.size()), dv(vbytes), ds(sbytes);
      din.upload(input.data(), input.size());
      moekit_tensor gi = device_tensor(din.get(), dtype, {rows, cols});
      moekit_tensor gv = device_tensor(dv.get(), vdt, {vs[0], vs[1]});
      moekit_tensor gs = device_tensor(ds.get(), sdt, {ss[0], ss[1]});
      ASSERT_EQ(moekit_quantize(qgpu, &gi, &gv, &gs, nullptr), MOEKIT_OK) << where << moekit_last_error();
      CUDA_OK(cudaDeviceSynchronize());
      v_cpu.resize(vbytes);
      s_cpu.resize(sbytes);
      const int64_t vdiff = first_difference(v_cpu, dv.download<uint8_t>(vbytes));
      EXPECT_EQ(vdiff, -1) << where << ": values differ first at byte " << vdiff;
      const int64_t sdiff = first_difference(s_cpu, ds.download<uint8_t>(sbytes));
      EXPECT_EQ(sdiff, -1) << where << ": scales differ first at byte " << sdiff;

      // Inverse, from the CPU's quantized data on both backends, into each output dtype.
      for (moekit_dtype odt : {MOEKIT_DTYPE_F32, MOEKIT_DTYPE_BF16, MOEKIT_DTYPE_F16}) {
        const size_t obytes = static_cast<size_t>(rows * cols) * moekit_dtype_size(odt);
        std::vector<uint8_t> out_cpu(obytes + 4, 0xEE);
        v_cpu.resize(vbytes + 1);
        s_cpu.resize(sbytes + 1);
        moekit_tensor to = host_tensor(out_cpu.data(), odt, {rows, cols});
        tv.data = v_cpu.data();
        ts.data = s_cpu.data();
        ASSERT_EQ(moekit_dequantize(qcpu, &tv, &ts, &to, nullptr), MOEKIT_OK) << where << moekit_last_error();
        DeviceBuffer dout(obytes);
        dv.upload(v_cpu.data(), vbytes);
        ds.upload(s_cpu.data(), sbytes);
        moekit_tensor go = device_tensor(dout.get(), odt, {rows, cols});
        ASSERT_EQ(moekit_dequantize(qgpu, &gv, &gs, &go, nullptr), MOEKIT_OK) << where << moekit_last_error();
        CUDA_OK(cudaDeviceSynchronize());
        out_cpu.resize(obytes);
        const int64_t odiff = first_difference(out_cpu, dout.download<uint8_t>(obytes));
        EXPECT_EQ(odiff, -1) << where << " -> " << moekit_dtype_name(odt) << ": dequantized bytes differ first at "
                             << odiff;
      }
    }
  }
  moekit_quantizer_destroy(qcpu);
  moekit_quantizer_destroy(qgpu);
}

INSTANTIATE_TEST_SUITE_P(Schemes, CudaQuantize, ::testing::ValuesIn(kQuantCases),
                         [](const ::testing::TestParamInfo<QuantCase>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace moekit_gpu_test
