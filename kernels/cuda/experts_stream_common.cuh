// The streaming tier's (experts_stream.h) shared constants: block shapes and the activation-quantization modes.
// Private to experts_stream.cu: this header and the three beside it (experts_stream_rows.cuh, _gemm.cuh,
// _combine.cuh) hold its device code, one stage of the pipeline each, and are included by that one file only.
#pragma once

#include <cstdint>

#include "moekit_plugin.h"

namespace moekit::cuda::experts::stream {
namespace {  // private to experts_stream.cu, the one file that includes it

constexpr int kWarps = 4;  // per GEMM block: gate_up 4 x 8 intermediate columns, down 4 x 16 output columns
constexpr int kThreads = kWarps * 32;
constexpr int kGroupThreads = 1024;
constexpr int kRowThreads = 128;  // row builders: a block per 16-bit / per-token row, or 4 warps of (row, group) items
constexpr int kRowsPerTile = 8;   // the mma's N
constexpr int kMaxTiles = 4;      // up to 32 rows of an expert per weight read
constexpr int kDownChunks = 2;    // down at T > 1: 64-row weight runs a block streams back to back
enum : int32_t { kActNone = 0, kActPerToken = 1, kActPerGroup = 2 };

int64_t round_up(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

bool quantized(const moekit_plugin_experts_config& cfg) { return cfg.act_quant != kActNone; }

}  // namespace
}  // namespace moekit::cuda::experts::stream
