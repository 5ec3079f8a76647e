// The CUDA expert runner's measuring knobs: environment variables with which tests and sweeps on a GPU host force
// a tier (MOEKIT_CUDA_EXPERTS_TIER), the grouped tier's tiles (MOEKIT_CUDA_GROUPED_TILES) or the streaming tier's
// one-token down splits (MOEKIT_CUDA_STREAM_DOWN_SPLITS); docs/backends.md and bench/README.md describe them. Their
// values are parsed here, without the CUDA runtime, so that core's tests check the parsing on any machine
// (tests/core/measuring_knobs_test.cpp); experts_run.cu and experts_stream.cu map them to their choices. A name a
// knob does not know is an error: a sweep would otherwise record the runner's own choice under the misspelt name.
#pragma once

#include <string>

#include "plugin_guard.h"

namespace moekit::cuda::knobs {

constexpr const char* kTierVariable = "MOEKIT_CUDA_EXPERTS_TIER";
constexpr const char* kTilesVariable = "MOEKIT_CUDA_GROUPED_TILES";
constexpr const char* kDownSplitsVariable = "MOEKIT_CUDA_STREAM_DOWN_SPLITS";

// MOEKIT_CUDA_EXPERTS_TIER: unset or empty is the runner's own choice.
enum class TierName { Chosen, Mma, Grouped, Decode, Stream };

// MOEKIT_CUDA_GROUPED_TILES, per GEMM: unset or empty is the runner's own tile for both GEMMs.
enum class TileName { Chosen, k64x128x128, k64x256x64, k128 };
struct TileNames {
  TileName gemm1 = TileName::Chosen, gemm2 = TileName::Chosen;
};

[[noreturn]] inline void throw_unknown_name(const char* variable, const std::string& value, const char* known) {
  throw plugin::PluginError(MOEKIT_PLUGIN_INVALID_ARGUMENT,
                            std::string(variable) + "='" + value + "': unknown name (known: " + known + ")");
}

// `value`: the variable's value, null when it is unset. Throws PluginError (INVALID_ARGUMENT) for an unknown name.
inline TierName parse_tier(const char* value) {
  const std::string v = value != nullptr ? value : "";
  if (v.empty()) return TierName::Chosen;
  if (v == "mma") return TierName::Mma;
  if (v == "grouped") return TierName::Grouped;
  if (v == "decode") return TierName::Decode;
  if (v == "stream") return TierName::Stream;
  throw_unknown_name(kTierVariable, v, "mma, grouped, decode, stream");
}

// "G1,G2" names GEMM1's and GEMM2's tiles, one name without a comma both; each 64x128x128, 64x256x64 or 128.
// Anything else ("", a third name, spaces, another case) is an unknown name.
inline TileNames parse_tiles(const char* value) {
  const std::string v = value != nullptr ? value : "";
  TileNames t;
  if (v.empty()) return t;
  auto one = [&](const std::string& name) {
    if (name == "64x128x128") return TileName::k64x128x128;
    if (name == "64x256x64") return TileName::k64x256x64;
    if (name == "128") return TileName::k128;
    throw_unknown_name(kTilesVariable, v, "64x128x128, 64x256x64, 128, or two joined by ','");
  };
  const size_t comma = v.find(',');
  t.gemm1 = one(v.substr(0, comma));
  t.gemm2 = one(comma != std::string::npos ? v.substr(comma + 1) : v);
  return t;
}

// MOEKIT_CUDA_STREAM_DOWN_SPLITS: the K splits of the streaming tier's one-token down pass, "1" or "2"; unset or
// empty (0 here) is the runner's own choice (experts_stream.h, one_token_rings).
constexpr int kMaxDownSplits = 2;  // the largest count the knob takes
inline int parse_down_splits(const char* value) {
  const std::string v = value != nullptr ? value : "";
  if (v.empty()) return 0;
  if (v == "1") return 1;
  if (v == "2") return 2;
  throw_unknown_name(kDownSplitsVariable, v, "1, 2");
}

}  // namespace moekit::cuda::knobs
