#include "vectors/vector_files.h"

#include <cmath>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace moekit_vectors {

uint64_t VectorRng::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double VectorRng::uniform(double lo, double hi) {
  return lo + (hi - lo) * static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0);
}

double VectorRng::normal() {
  const double u1 = uniform(1e-300, 1.0), u2 = uniform(0.0, 1.0);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

nlohmann::json& VectorWriter::add_case(const std::string& name, const std::string& kind, nlohmann::json params,
                                       double tolerance) {
  cases_.push_back({{"name", name}, {"kind", kind}, {"params", std::move(params)}, {"tolerance", tolerance},
                    {"tensors", nlohmann::json::object()}});
  return cases_.back();
}

void VectorWriter::add_tensor(nlohmann::json& c, const std::string& name, const std::string& role,
                              const std::string& dtype, std::vector<int64_t> shape, const void* data, size_t bytes) {
  const std::string file = c["name"].get<std::string>() + "." + name + ".bin";
  std::ofstream out(dir_ + "/" + file, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!out) throw std::runtime_error("cannot write " + dir_ + "/" + file);
  c["tensors"][name] = {{"file", file}, {"dtype", dtype}, {"shape", shape}, {"role", role}};
}

void VectorWriter::finish() {
  std::ofstream out(dir_ + "/manifest.json");
  out << nlohmann::json{{"format", 1}, {"cases", cases_}}.dump(1) << "\n";
  if (!out) throw std::runtime_error("cannot write " + dir_ + "/manifest.json");
}

nlohmann::json read_manifest(const std::string& dir) {
  std::ifstream in(dir + "/manifest.json");
  if (!in) throw std::runtime_error("cannot read " + dir + "/manifest.json");
  return nlohmann::json::parse(in);
}

VectorTensor read_tensor(const std::string& dir, const nlohmann::json& c, const std::string& name) {
  const auto& t = c.at("tensors").at(name);
  VectorTensor v;
  v.dtype = t.at("dtype").get<std::string>();
  v.shape = t.at("shape").get<std::vector<int64_t>>();
  std::ifstream in(dir + "/" + t.at("file").get<std::string>(), std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + t.at("file").get<std::string>());
  v.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return v;
}

}  // namespace moekit_vectors
