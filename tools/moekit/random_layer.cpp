#include "random_layer.h"

#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>

#include "reference/ref_numerics.h"
#include "reference/ref_quant.h"

namespace moekit_cli {

void check(moekit_status st, const char* what) {
  if (st != MOEKIT_OK)
    throw std::runtime_error(std::string(what) + ": " + moekit_status_string(st) + ": " + moekit_last_error());
}

HostTensor make_host_tensor(moekit_dtype dtype, std::vector<int64_t> shape) {
  HostTensor t;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  t.bytes.resize(static_cast<size_t>(n) * moekit_dtype_size(dtype));
  check(moekit_tensor_init(&t.view, t.bytes.data(), dtype, static_cast<int32_t>(shape.size()), shape.data()),
        "tensor");
  return t;
}

moekit_expert_weights RandomLayer::weights() const {
  moekit_expert_weights w{};
  w.struct_size = sizeof w;
  w.w13 = w13.view;
  w.w2 = w2.view;
  if (w13_scale.present()) w.w13_scale = w13_scale.view;
  if (w2_scale.present()) w.w2_scale = w2_scale.view;
  if (w13_bias.present()) w.w13_bias = w13_bias.view;
  if (w2_bias.present()) w.w2_bias = w2_bias.view;
  return w;
}

namespace {

std::vector<float> normal(std::mt19937_64& rng, size_t n, float stddev) {
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

void store(HostTensor& t, moekit_dtype dtype, const std::vector<float>& v, size_t offset) {
  for (size_t i = 0; i < v.size(); ++i) {
    switch (dtype) {
      case MOEKIT_DTYPE_F32: reinterpret_cast<float*>(t.bytes.data())[offset + i] = v[i]; break;
      case MOEKIT_DTYPE_BF16:
        reinterpret_cast<uint16_t*>(t.bytes.data())[offset + i] = moekit_ref::double_to_bf16(v[i]);
        break;
      default: reinterpret_cast<uint16_t*>(t.bytes.data())[offset + i] = moekit_ref::double_to_f16(v[i]);
    }
  }
}

// One expert matrix [rows, cols] quantized by moekit's quantizer into slot e of the stacked tensors.
void quantize_into(moekit_context ctx, moekit_quant_scheme scheme, std::vector<float>& m, int64_t rows,
                   int64_t cols, int64_t e, HostTensor& values, HostTensor& scales) {
  moekit_quantizer_desc d = MOEKIT_QUANTIZER_DESC_INIT;
  d.scheme = scheme;
  moekit_quantizer q = nullptr;
  check(moekit_quantizer_create(ctx, &d, &q), "quantizer");
  int64_t vs[2], ss[2];
  check(moekit_quantizer_output_shapes(q, rows, cols, vs, ss), "quantizer shapes");
  moekit_tensor in{}, qv{}, qs{};
  const int64_t in_shape[2] = {rows, cols};
  check(moekit_tensor_init(&in, m.data(), MOEKIT_DTYPE_F32, 2, in_shape), "tensor");
  const size_t vbytes = static_cast<size_t>(vs[0] * vs[1]) * moekit_dtype_size(values.view.dtype);
  const size_t sbytes = static_cast<size_t>(ss[0] * ss[1]) * moekit_dtype_size(scales.view.dtype);
  check(moekit_tensor_init(&qv, values.bytes.data() + e * vbytes, values.view.dtype, 2, vs), "tensor");
  check(moekit_tensor_init(&qs, scales.bytes.data() + e * sbytes, scales.view.dtype, 2, ss), "tensor");
  check(moekit_quantize(q, &in, &qv, &qs, nullptr), "quantize weights");
  moekit_quantizer_destroy(q);
}

}  // namespace

RandomLayer make_random_layer(moekit_context ctx, const ModelPreset& preset, const LayerShape& s,
                              moekit_weight_format format, uint64_t seed) {
  RandomLayer L;
  L.shape = s;
  L.format = format;
  std::mt19937_64 rng(seed);
  const int64_t E = s.num_experts, H = s.hidden, I = s.intermediate;
  // Weight scale 1/sqrt(fan_in) keeps activations O(1) through both GEMMs, like trained layers.
  const float s13 = 1.0f / std::sqrt(static_cast<float>(H)), s2 = 1.0f / std::sqrt(static_cast<float>(I));
  switch (format) {
    case MOEKIT_WEIGHTS_BF16: case MOEKIT_WEIGHTS_F16: case MOEKIT_WEIGHTS_F32: {
      const moekit_dtype dt = format == MOEKIT_WEIGHTS_BF16 ? MOEKIT_DTYPE_BF16
                              : format == MOEKIT_WEIGHTS_F16 ? MOEKIT_DTYPE_F16 : MOEKIT_DTYPE_F32;
      L.w13 = make_host_tensor(dt, {E, 2 * I, H});
      L.w2 = make_host_tensor(dt, {E, H, I});
      for (int64_t e = 0; e < E; ++e) {
        store(L.w13, dt, normal(rng, static_cast<size_t>(2 * I * H), s13), static_cast<size_t>(e * 2 * I * H));
        store(L.w2, dt, normal(rng, static_cast<size_t>(H * I), s2), static_cast<size_t>(e * H * I));
      }
      break;
    }
    case MOEKIT_WEIGHTS_FP8_BLOCK: {
      L.w13 = make_host_tensor(MOEKIT_DTYPE_F8_E4M3FN, {E, 2 * I, H});
      L.w2 = make_host_tensor(MOEKIT_DTYPE_F8_E4M3FN, {E, H, I});
      L.w13_scale = make_host_tensor(MOEKIT_DTYPE_F32, {E, (2 * I + 127) / 128, (H + 127) / 128});
      L.w2_scale = make_host_tensor(MOEKIT_DTYPE_F32, {E, (H + 127) / 128, (I + 127) / 128});
      for (int64_t e = 0; e < E; ++e) {
        auto a = normal(rng, static_cast<size_t>(2 * I * H), s13);
        quantize_into(ctx, MOEKIT_QUANT_FP8_BLOCK, a, 2 * I, H, e, L.w13, L.w13_scale);
        auto b = normal(rng, static_cast<size_t>(H * I), s2);
        quantize_into(ctx, MOEKIT_QUANT_FP8_BLOCK, b, H, I, e, L.w2, L.w2_scale);
      }
      break;
    }
    case MOEKIT_WEIGHTS_MXFP4: {
      L.w13 = make_host_tensor(MOEKIT_DTYPE_FP4_E2M1X2, {E, 2 * I, H / 2});
      L.w2 = make_host_tensor(MOEKIT_DTYPE_FP4_E2M1X2, {E, H, I / 2});
      L.w13_scale = make_host_tensor(MOEKIT_DTYPE_E8M0, {E, 2 * I, H / 32});
      L.w2_scale = make_host_tensor(MOEKIT_DTYPE_E8M0, {E, H, I / 32});
      for (int64_t e = 0; e < E; ++e) {
        auto a = normal(rng, static_cast<size_t>(2 * I * H), s13);
        quantize_into(ctx, MOEKIT_QUANT_MXFP4, a, 2 * I, H, e, L.w13, L.w13_scale);
        auto b = normal(rng, static_cast<size_t>(H * I), s2);
        quantize_into(ctx, MOEKIT_QUANT_MXFP4, b, H, I, e, L.w2, L.w2_scale);
      }
      break;
    }
  }
  if (preset.expert_biases) {
    L.w13_bias = make_host_tensor(MOEKIT_DTYPE_F32, {E, 2 * I});
    L.w2_bias = make_host_tensor(MOEKIT_DTYPE_F32, {E, H});
    store(L.w13_bias, MOEKIT_DTYPE_F32, normal(rng, static_cast<size_t>(E * 2 * I), 0.05f), 0);
    store(L.w2_bias, MOEKIT_DTYPE_F32, normal(rng, static_cast<size_t>(E * H), 0.05f), 0);
  }
  L.hidden = make_host_tensor(MOEKIT_DTYPE_BF16, {s.tokens, H});
  store(L.hidden, MOEKIT_DTYPE_BF16, normal(rng, static_cast<size_t>(s.tokens * H), 1.0f), 0);
  L.w_gate = make_host_tensor(MOEKIT_DTYPE_BF16, {E, H});
  store(L.w_gate, MOEKIT_DTYPE_BF16, normal(rng, static_cast<size_t>(E * H), s13), 0);
  if (preset.correction_bias) L.correction_bias = normal(rng, static_cast<size_t>(E), 0.01f);
  return L;
}

double decode_weight(const RandomLayer& L, bool w13, int64_t e, int64_t row, int64_t col) {
  const HostTensor& w = w13 ? L.w13 : L.w2;
  const int64_t rows = w13 ? 2 * L.shape.intermediate : L.shape.hidden;
  const int64_t cols = w13 ? L.shape.hidden : L.shape.intermediate;
  switch (L.format) {
    case MOEKIT_WEIGHTS_F32: return moekit_ref::load_as_double(w.bytes.data(), 0, (e * rows + row) * cols + col);
    case MOEKIT_WEIGHTS_F16: return moekit_ref::load_as_double(w.bytes.data(), 1, (e * rows + row) * cols + col);
    case MOEKIT_WEIGHTS_BF16: return moekit_ref::load_as_double(w.bytes.data(), 2, (e * rows + row) * cols + col);
    case MOEKIT_WEIGHTS_FP8_BLOCK: {
      const HostTensor& sc = w13 ? L.w13_scale : L.w2_scale;
      const int64_t sr = (rows + 127) / 128, scn = (cols + 127) / 128;
      const double scale =
          reinterpret_cast<const float*>(sc.bytes.data())[(e * sr + row / 128) * scn + col / 128];
      return moekit_ref::e4m3_to_double(w.bytes[static_cast<size_t>((e * rows + row) * cols + col)]) * scale;
    }
    case MOEKIT_WEIGHTS_MXFP4: {
      const HostTensor& sc = w13 ? L.w13_scale : L.w2_scale;
      const uint8_t byte = w.bytes[static_cast<size_t>((e * rows + row) * (cols / 2) + col / 2)];
      const uint8_t code = (col % 2 == 0) ? (byte & 0x0f) : (byte >> 4);
      const uint8_t e8 = sc.bytes[static_cast<size_t>((e * rows + row) * (cols / 32) + col / 32)];
      return moekit_ref::e2m1_to_double(code) * moekit_ref::e8m0_to_double(e8);
    }
  }
  return 0;
}

}  // namespace moekit_cli
