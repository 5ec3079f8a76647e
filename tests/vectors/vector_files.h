// Reading and writing the shared test vectors (manifest.json + raw little-endian .bin files).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace moekit_vectors {

struct VectorTensor {
  std::string dtype;  // moekit_dtype_name spelling: "float32", "int32", "uint8", "bfloat16", ...
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// Deterministic on every platform and standard library (unlike std::*_distribution): splitmix64.
class VectorRng {
 public:
  explicit VectorRng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  double uniform(double lo, double hi);  // [lo, hi)
  double normal();                       // Box-Muller from two uniforms

 private:
  uint64_t state_;
};

// Writer side (the generator).
class VectorWriter {
 public:
  explicit VectorWriter(std::string dir) : dir_(std::move(dir)) {}
  nlohmann::json& add_case(const std::string& name, const std::string& kind, nlohmann::json params,
                           double tolerance);
  void add_tensor(nlohmann::json& c, const std::string& name, const std::string& role, const std::string& dtype,
                  std::vector<int64_t> shape, const void* data, size_t bytes);
  void finish();  // writes manifest.json

 private:
  std::string dir_;
  nlohmann::json cases_ = nlohmann::json::array();
};

// Reader side (the tests).
nlohmann::json read_manifest(const std::string& dir);
VectorTensor read_tensor(const std::string& dir, const nlohmann::json& case_json, const std::string& name);

}  // namespace moekit_vectors
