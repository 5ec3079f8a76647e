// MoE layer vectors: routing by the float64 reference router, experts by the float64 reference runner.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "reference/reference.h"
#include "vectors/vector_files.h"

using moekit_vectors::VectorRng;
using moekit_vectors::VectorWriter;
using nlohmann::json;

namespace {

struct LayerCase {
  const char* name;
  int32_t E, k;
  int64_t H, I, T;
  int activation;     // as RefExpertsSpec
  int weight_format;  // 0 bf16, 4 mxfp4
  bool biases;
  uint64_t seed;
};

const char* activation_name(int a) { return a == 0 ? "silu_mul" : a == 1 ? "gelu_mul" : "swiglu_oai"; }

void layer_case(VectorWriter& w, const LayerCase& lc) {
  VectorRng rng(lc.seed);
  const int64_t E = lc.E, H = lc.H, I = lc.I, T = lc.T, k = lc.k;
  std::vector<float> hidden(static_cast<size_t>(T * H)), logits(static_cast<size_t>(T * E));
  for (auto& x : hidden) x = static_cast<float>(rng.normal());
  for (auto& x : logits) x = static_cast<float>(rng.normal() * 2.0);

  moekit_ref::RefRouterSpec rs;
  rs.num_experts = lc.E;
  rs.top_k = lc.k;
  rs.renormalize = true;
  std::vector<int32_t> ids(static_cast<size_t>(T * k));
  std::vector<float> weights(ids.size());
  for (int64_t t = 0; t < T; ++t) {
    const std::vector<double> row(logits.begin() + t * E, logits.begin() + (t + 1) * E);
    const auto r = moekit_ref::ref_route_token(rs, row.data(), 1e-6);
    if (r.near_tie) throw std::runtime_error("moe vector: near tie in routing; change the seed");
    for (int64_t j = 0; j < k; ++j) {
      ids[t * k + j] = r.ids[j];
      weights[t * k + j] = static_cast<float>(r.weights[j]);
    }
  }

  moekit_ref::RefExpertsSpec es;
  es.num_experts = es.num_local = lc.E;
  es.hidden = H;
  es.intermediate = I;
  es.activation = lc.activation;
  es.weight_format = lc.weight_format;
  es.has_w13_bias = es.has_w2_bias = lc.biases;

  std::vector<uint16_t> w13_bf16, w2_bf16;
  std::vector<uint8_t> w13_q, w2_q, w13_s, w2_s;
  std::vector<float> b13, b2;
  moekit_ref::RefExpertBuffers buf;
  if (lc.weight_format == 0) {
    w13_bf16.resize(static_cast<size_t>(E * 2 * I * H));
    w2_bf16.resize(static_cast<size_t>(E * H * I));
    for (auto& x : w13_bf16) x = moekit_ref::double_to_bf16(rng.normal() / std::sqrt(double(H)));
    for (auto& x : w2_bf16) x = moekit_ref::double_to_bf16(rng.normal() / std::sqrt(double(I)));
    buf.w13 = w13_bf16.data();
    buf.w2 = w2_bf16.data();
  } else {
    // Random E2M1 codes with scales around 2^-3 (e8m0 124..126): a realistic MXFP4 weight magnitude.
    w13_q.resize(static_cast<size_t>(E * 2 * I * H / 2));
    w2_q.resize(static_cast<size_t>(E * H * I / 2));
    for (auto& x : w13_q) x = static_cast<uint8_t>(rng.next() & 0xff);
    for (auto& x : w2_q) x = static_cast<uint8_t>(rng.next() & 0xff);
    w13_s.resize(static_cast<size_t>(E * 2 * I * H / 32));
    w2_s.resize(static_cast<size_t>(E * H * I / 32));
    for (auto& x : w13_s) x = static_cast<uint8_t>(122 + rng.next() % 3);
    for (auto& x : w2_s) x = static_cast<uint8_t>(122 + rng.next() % 3);
    buf.w13 = w13_q.data();
    buf.w2 = w2_q.data();
    buf.w13_scale = w13_s.data();
    buf.w2_scale = w2_s.data();
  }
  if (lc.biases) {
    b13.resize(static_cast<size_t>(E * 2 * I));
    b2.resize(static_cast<size_t>(E * H));
    for (auto& x : b13) x = static_cast<float>(rng.normal() * 0.1);
    for (auto& x : b2) x = static_cast<float>(rng.normal() * 0.1);
    buf.w13_bias = b13.data();
    buf.w2_bias = b2.data();
  }
  const auto decoded = moekit_ref::ref_decode_expert_weights(es, buf);
  const std::vector<double> hidden64(hidden.begin(), hidden.end());
  const auto res = moekit_ref::ref_experts_forward(es, decoded, hidden64, T, k, ids.data(), weights.data());
  std::vector<float> out(res.out.begin(), res.out.end());
  double bound = 0, scale = 0;
  for (size_t i = 0; i < res.out.size(); ++i) {
    bound = std::max(bound, res.err_bound[i]);
    scale = std::max(scale, std::fabs(res.out[i]));
  }
  // The reference's float32 error bound, plus rounding the expected values to float32 (2^-24 relative).
  const double tolerance = 2.0 * bound + scale * 1.2e-7;

  json params = {{"num_experts", lc.E}, {"top_k", lc.k}, {"scoring", "softmax"}, {"renormalize", true},
                 {"hidden_size", H}, {"intermediate_size", I}, {"activation", activation_name(lc.activation)},
                 {"swiglu_alpha", es.swiglu_alpha}, {"swiglu_limit", es.swiglu_limit},
                 {"weight_format", lc.weight_format == 0 ? "bf16" : "mxfp4"}, {"biases", lc.biases}};
  json& c = w.add_case(lc.name, "moe_layer", params, tolerance);
  w.add_tensor(c, "hidden", "input", "float32", {T, H}, hidden.data(), hidden.size() * 4);
  w.add_tensor(c, "logits", "input", "float32", {T, E}, logits.data(), logits.size() * 4);
  if (lc.weight_format == 0) {
    w.add_tensor(c, "w13", "input", "bfloat16", {E, 2 * I, H}, w13_bf16.data(), w13_bf16.size() * 2);
    w.add_tensor(c, "w2", "input", "bfloat16", {E, H, I}, w2_bf16.data(), w2_bf16.size() * 2);
  } else {
    w.add_tensor(c, "w13", "input", "float4_e2m1fn_x2", {E, 2 * I, H / 2}, w13_q.data(), w13_q.size());
    w.add_tensor(c, "w2", "input", "float4_e2m1fn_x2", {E, H, I / 2}, w2_q.data(), w2_q.size());
    w.add_tensor(c, "w13_scale", "input", "float8_e8m0fnu", {E, 2 * I, H / 32}, w13_s.data(), w13_s.size());
    w.add_tensor(c, "w2_scale", "input", "float8_e8m0fnu", {E, H, I / 32}, w2_s.data(), w2_s.size());
  }
  if (lc.biases) {
    w.add_tensor(c, "w13_bias", "input", "float32", {E, 2 * I}, b13.data(), b13.size() * 4);
    w.add_tensor(c, "w2_bias", "input", "float32", {E, H}, b2.data(), b2.size() * 4);
  }
  w.add_tensor(c, "topk_ids", "expected", "int32", {T, k}, ids.data(), ids.size() * 4);
  w.add_tensor(c, "topk_weights", "expected", "float32", {T, k}, weights.data(), weights.size() * 4);
  w.add_tensor(c, "out", "expected", "float32", {T, H}, out.data(), out.size() * 4);
}

}  // namespace

void write_moe_layer_cases(VectorWriter& w) {
  layer_case(w, {"moe_layer_silu_bf16", 8, 2, 64, 96, 6, 0, 0, false, 31});
  layer_case(w, {"moe_layer_swiglu_mxfp4_bias", 4, 2, 64, 64, 5, 2, 4, true, 32});
}
