// Generates the shared test vectors from the float64 reference (tests/reference), never from moekit itself.
// Usage: moekit_generate_vectors <output-dir>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <vector>

#include "reference/reference.h"
#include "vectors/vector_files.h"

using moekit_vectors::VectorRng;
using moekit_vectors::VectorWriter;
using nlohmann::json;

namespace {

template <class T>
size_t bytes_of(const std::vector<T>& v) { return v.size() * sizeof(T); }

std::vector<float> to_f32(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }
std::vector<double> to_f64(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// Routing of every token by the reference; the expected outputs of a router case.
void route_all(const moekit_ref::RefRouterSpec& spec, const std::vector<float>& logits, int64_t T,
               std::vector<int32_t>& ids, std::vector<float>& weights) {
  const int64_t E = spec.num_experts, k = spec.top_k;
  ids.assign(static_cast<size_t>(T * k), 0);
  weights.assign(static_cast<size_t>(T * k), 0.0f);
  for (int64_t t = 0; t < T; ++t) {
    const std::vector<double> row(logits.begin() + t * E, logits.begin() + (t + 1) * E);
    const auto r = moekit_ref::ref_route_token(spec, row.data(), 1e-6);
    if (r.near_tie) throw std::runtime_error("vector generator: a token sits on a near tie; change the seed");
    for (int64_t j = 0; j < k; ++j) {
      ids[t * k + j] = r.ids[j];
      weights[t * k + j] = static_cast<float>(r.weights[j]);
    }
  }
}

json router_params(const moekit_ref::RefRouterSpec& s) {
  return {{"num_experts", s.num_experts}, {"top_k", s.top_k}, {"scoring", s.sigmoid ? "sigmoid" : "softmax"},
          {"renormalize", s.renormalize}, {"num_expert_groups", s.num_groups}, {"topk_groups", s.topk_groups},
          {"routed_scaling_factor", s.scaling}};
}

void router_case(VectorWriter& w, const std::string& name, moekit_ref::RefRouterSpec spec, int64_t T, uint64_t seed) {
  VectorRng rng(seed);
  std::vector<float> logits(static_cast<size_t>(T * spec.num_experts));
  for (auto& x : logits) x = static_cast<float>(rng.normal() * 2.0);
  std::vector<float> bias;
  if (!spec.bias.empty()) bias = to_f32(spec.bias);
  std::vector<int32_t> ids;
  std::vector<float> weights;
  route_all(spec, logits, T, ids, weights);
  // float32 softmax/sigmoid and a sum of k terms: a few float ulps of a weight <= scaling.
  json& c = w.add_case(name, "router", router_params(spec), 1e-6 * spec.scaling);
  w.add_tensor(c, "logits", "input", "float32", {T, spec.num_experts}, logits.data(), bytes_of(logits));
  if (!bias.empty()) w.add_tensor(c, "correction_bias", "input", "float32", {spec.num_experts}, bias.data(), bytes_of(bias));
  w.add_tensor(c, "topk_ids", "expected", "int32", {T, spec.top_k}, ids.data(), bytes_of(ids));
  w.add_tensor(c, "topk_weights", "expected", "float32", {T, spec.top_k}, weights.data(), bytes_of(weights));
}

void quant_case(VectorWriter& w, const std::string& name, int scheme, const char* scheme_name, int64_t group,
                int64_t M, int64_t K, uint64_t seed) {
  VectorRng rng(seed);
  std::vector<float> x(static_cast<size_t>(M * K));
  for (auto& v : x) v = static_cast<float>(rng.normal() * 3.0);
  x[0] = 0.0f;
  const auto q = moekit_ref::ref_quantize(scheme, group, to_f64(x), M, K);
  json& c = w.add_case(name, "quantize", {{"scheme", scheme_name}, {"group_size", group}}, 0.0);
  w.add_tensor(c, "input", "input", "float32", {M, K}, x.data(), bytes_of(x));
  if (scheme == moekit_ref::kRefMxfp4) {
    w.add_tensor(c, "values", "expected", "float4_e2m1fn_x2", {M, K / 2}, q.values.data(), bytes_of(q.values));
    w.add_tensor(c, "scales", "expected", "float8_e8m0fnu", {M, K / 32}, q.e8m0.data(), bytes_of(q.e8m0));
  } else {
    const int64_t scale_cols = scheme == moekit_ref::kRefFp8PerGroup ? (K + group - 1) / group : 1;
    w.add_tensor(c, "values", "expected", "float8_e4m3fn", {M, K}, q.values.data(), bytes_of(q.values));
    w.add_tensor(c, "scales", "expected", "float32", {M, scale_cols}, q.fp8_scales.data(), bytes_of(q.fp8_scales));
  }
}

}  // namespace

void write_moe_layer_cases(VectorWriter& w);  // generate_moe_vectors.cpp

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <output-dir>\n", argv[0]);
    return 2;
  }
  try {
    VectorWriter w(argv[1]);
    moekit_ref::RefRouterSpec mixtral;
    mixtral.num_experts = 8;
    mixtral.top_k = 2;
    mixtral.renormalize = true;
    router_case(w, "router_softmax_e8_k2", mixtral, 9, 11);

    moekit_ref::RefRouterSpec odd;
    odd.num_experts = 40;  // not a multiple of 32: the bitmatrix row has a partial word
    odd.top_k = 5;
    router_case(w, "router_softmax_e40_k5_norenorm", odd, 7, 12);

    moekit_ref::RefRouterSpec ds;
    ds.num_experts = 64;
    ds.top_k = 6;
    ds.sigmoid = true;
    ds.renormalize = true;
    ds.num_groups = 8;
    ds.topk_groups = 3;
    ds.scaling = 2.5;
    VectorRng brng(13);
    for (int e = 0; e < 64; ++e) ds.bias.push_back(static_cast<float>(brng.uniform(-0.1, 0.1)));
    router_case(w, "router_sigmoid_grouped_e64_k6", ds, 6, 14);

    quant_case(w, "quant_fp8_per_token", moekit_ref::kRefFp8PerToken, "fp8_per_token", 128, 4, 256, 21);
    quant_case(w, "quant_fp8_per_group", moekit_ref::kRefFp8PerGroup, "fp8_per_group", 128, 3, 384, 22);
    quant_case(w, "quant_mxfp4", moekit_ref::kRefMxfp4, "mxfp4", 32, 2, 128, 23);

    write_moe_layer_cases(w);
    w.finish();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moekit_generate_vectors: %s\n", e.what());
    return 1;
  }
  return 0;
}
