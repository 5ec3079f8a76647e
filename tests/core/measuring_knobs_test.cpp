// The CUDA expert runner's measuring knobs (kernels/cuda/measuring_knobs.h), parsed as plain host code: what a
// tier or tile name selects, and that every name the knobs do not know is refused with the variable, the value
// and the known names, rather than leaving the runner's own choice in place under the misspelt name. The GPU suite
// (tests/gpu/experts_test.cpp) checks the same errors through the C API on a device.
#include <gtest/gtest.h>

#include <string>

#include "../../kernels/cuda/measuring_knobs.h"

namespace {

using moekit::cuda::knobs::parse_down_splits;
using moekit::cuda::knobs::parse_tier;
using moekit::cuda::knobs::parse_tiles;
using moekit::cuda::knobs::TierName;
using moekit::cuda::knobs::TileName;
using moekit::plugin::PluginError;

// The error a knob value raises: its status and message, or a failure if it raises none.
::testing::AssertionResult refused(void (*parse)(const char*), const char* value, const std::string& expected) {
  try {
    parse(value);
  } catch (const PluginError& e) {
    if (e.status() != MOEKIT_PLUGIN_INVALID_ARGUMENT)
      return ::testing::AssertionFailure() << "status " << e.status() << " for '" << value << "'";
    if (std::string(e.what()).find(expected) == std::string::npos)
      return ::testing::AssertionFailure() << "message '" << e.what() << "' lacks '" << expected << "'";
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "'" << value << "' was accepted";
}

void tier(const char* v) { parse_tier(v); }
void tiles(const char* v) { parse_tiles(v); }
void down_splits(const char* v) { parse_down_splits(v); }

TEST(MeasuringKnobs, TierNames) {
  EXPECT_EQ(parse_tier(nullptr), TierName::Chosen);
  EXPECT_EQ(parse_tier(""), TierName::Chosen);
  EXPECT_EQ(parse_tier("mma"), TierName::Mma);
  EXPECT_EQ(parse_tier("grouped"), TierName::Grouped);
  EXPECT_EQ(parse_tier("decode"), TierName::Decode);
  EXPECT_EQ(parse_tier("stream"), TierName::Stream);
}

TEST(MeasuringKnobs, UnknownTierNamesAreRefused) {
  for (const char* value : {"strem", "Stream", " stream", "stream ", "mma,grouped", "auto", "0"}) {
    EXPECT_TRUE(refused(tier, value,
                        std::string("MOEKIT_CUDA_EXPERTS_TIER='") + value +
                            "': unknown name (known: mma, grouped, decode, stream)"));
  }
}

TEST(MeasuringKnobs, TileNames) {
  EXPECT_EQ(parse_tiles(nullptr).gemm1, TileName::Chosen);
  EXPECT_EQ(parse_tiles(nullptr).gemm2, TileName::Chosen);
  EXPECT_EQ(parse_tiles("").gemm1, TileName::Chosen);
  EXPECT_EQ(parse_tiles("").gemm2, TileName::Chosen);
  // One name: both GEMMs.
  EXPECT_EQ(parse_tiles("128").gemm1, TileName::k128);
  EXPECT_EQ(parse_tiles("128").gemm2, TileName::k128);
  EXPECT_EQ(parse_tiles("64x256x64").gemm1, TileName::k64x256x64);
  EXPECT_EQ(parse_tiles("64x256x64").gemm2, TileName::k64x256x64);
  // Two names: GEMM1's, then GEMM2's.
  EXPECT_EQ(parse_tiles("64x128x128,128").gemm1, TileName::k64x128x128);
  EXPECT_EQ(parse_tiles("64x128x128,128").gemm2, TileName::k128);
  EXPECT_EQ(parse_tiles("128,64x256x64").gemm1, TileName::k128);
  EXPECT_EQ(parse_tiles("128,64x256x64").gemm2, TileName::k64x256x64);
}

TEST(MeasuringKnobs, UnknownTileNamesAreRefused) {
  for (const char* value : {"64x128", "256", "128,", ",128", ",", "128,128,128", "128, 64x128x128", "64X128X128",
                            "128x128x128"}) {
    EXPECT_TRUE(refused(tiles, value,
                        std::string("MOEKIT_CUDA_GROUPED_TILES='") + value +
                            "': unknown name (known: 64x128x128, 64x256x64, 128, or two joined by ',')"));
  }
}

TEST(MeasuringKnobs, DownSplits) {
  EXPECT_EQ(parse_down_splits(nullptr), 0);
  EXPECT_EQ(parse_down_splits(""), 0);
  EXPECT_EQ(parse_down_splits("1"), 1);
  EXPECT_EQ(parse_down_splits("2"), 2);
  for (const char* value : {"0", "3", "-1", " 2", "2 ", "two", "1,2"}) {
    EXPECT_TRUE(refused(down_splits, value,
                        std::string("MOEKIT_CUDA_STREAM_DOWN_SPLITS='") + value + "': unknown name (known: 1, 2)"));
  }
}

}  // namespace
