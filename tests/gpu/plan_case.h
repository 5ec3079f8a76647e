// Routing-plan cases shared by routing_plan_test.cpp (the CUDA module through the public C API) and
// routing_plan_paths_test.cu (the shared kernels launched directly, single-block and chunked paths forced):
// caller-given top-k ids of a few distributions, the CPU backend's plan of them (the reference), device buffers
// for the same plan, and an exact comparison of every output array.
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "router_pair.h"

namespace moekit_gpu_test {

struct PlanConfig {
  const char* name;
  int32_t experts, top_k, block_size;
  bool expert_map;  // every third expert (e % 3 == 1) non-local
};

enum class IdPattern {
  Uniform,      // independent uniform ids (duplicates within a token allowed: build_plan takes any ids)
  OneExpert,    // every id is expert E/2 + 1: one run holds all T*k ids
  TwoHot,       // ids alternate between the first and the last expert, with 1 in 64 uniform
  WithInvalid,  // uniform, with -1, E, INT32_MIN, INT32_MAX mixed in (1 in 7)
  AllInvalid,   // every id outside [0, E)
};

inline const char* pattern_name(IdPattern p) {
  switch (p) {
    case IdPattern::Uniform: return "uniform";
    case IdPattern::OneExpert: return "one_expert";
    case IdPattern::TwoHot: return "two_hot";
    case IdPattern::WithInvalid: return "with_invalid";
    case IdPattern::AllInvalid: return "all_invalid";
  }
  return "?";
}

inline std::vector<int32_t> make_plan_ids(int64_t tokens, const PlanConfig& c, IdPattern pattern, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> pick(0, c.experts - 1);
  const int32_t odd[] = {-1, c.experts, INT32_MIN, INT32_MAX};
  std::vector<int32_t> ids(static_cast<size_t>(tokens * c.top_k));
  for (size_t i = 0; i < ids.size(); ++i) {
    switch (pattern) {
      case IdPattern::Uniform: ids[i] = pick(rng); break;
      case IdPattern::OneExpert: ids[i] = std::min(c.experts / 2 + 1, c.experts - 1); break;
      case IdPattern::TwoHot: ids[i] = i % 64 == 17 ? pick(rng) : (i % 2 == 0 ? 0 : c.experts - 1); break;
      case IdPattern::WithInvalid: ids[i] = i % 7 == 3 ? odd[(i / 7) % 4] : pick(rng); break;
      case IdPattern::AllInvalid: ids[i] = odd[i % 4]; break;
    }
  }
  return ids;
}

// The plan's outputs, on the host.
struct PlanOutputs {
  std::vector<uint32_t> bits;
  std::vector<int32_t> counts, sorted, blocks;
  int32_t post_padded = -7;
};

struct PlanWants {
  bool bitmatrix = true, counts = true, sorted = true;
};

// The name routing_plan_test.cpp and routing_plan_paths_test.cu know the router pair by.
using PlanRouters = RouterPair;

// The config's CPU and CUDA routers (the CPU one only when `gpu` is null): its description made here, its expert
// map by make_router_pair.
inline void make_plan_routers(moekit_context cpu, moekit_context gpu, const PlanConfig& c, RouterPair& r) {
  moekit_router_desc d = MOEKIT_ROUTER_DESC_INIT;
  d.num_experts = c.experts;
  d.top_k = c.top_k;
  d.block_size = c.block_size;
  make_router_pair(cpu, gpu, d, RouterExtras{false, c.expert_map}, r);
}

inline int64_t plan_words(const PlanConfig& c) { return (c.experts + 31) / 32; }

// The CPU backend's plan of `ids` (sentinel-filled buffers, so an unwritten entry shows up).
inline PlanOutputs cpu_plan(moekit_router cpu, const PlanConfig& c, int64_t tokens, const std::vector<int32_t>& ids,
                            PlanWants wants) {
  int64_t max_sorted = 0, max_blocks = 0;
  EXPECT_EQ(moekit_router_plan_sizes(cpu, tokens, nullptr, &max_sorted, &max_blocks), MOEKIT_OK);
  PlanOutputs o;
  std::vector<int32_t> id_copy(ids);
  id_copy.resize(std::max<size_t>(ids.size(), 1));
  o.bits.assign(static_cast<size_t>(std::max<int64_t>(tokens * plan_words(c), 1)), 0xDEADBEEFu);
  o.counts.assign(static_cast<size_t>(c.experts), -7);
  o.sorted.assign(static_cast<size_t>(std::max<int64_t>(max_sorted, 1)), -7);
  o.blocks.assign(static_cast<size_t>(std::max<int64_t>(max_blocks, 1)), -7);
  moekit_routing r{};
  r.struct_size = sizeof r;
  r.topk_ids = host_tensor(id_copy.data(), MOEKIT_DTYPE_I32, {tokens, c.top_k});
  if (wants.bitmatrix) r.bitmatrix = host_tensor(o.bits.data(), MOEKIT_DTYPE_U32, {tokens, plan_words(c)});
  if (wants.counts) r.expert_counts = host_tensor(o.counts.data(), MOEKIT_DTYPE_I32, {c.experts});
  if (wants.sorted) {
    r.sorted_token_ids = host_tensor(o.sorted.data(), MOEKIT_DTYPE_I32, {max_sorted});
    r.block_expert_ids = host_tensor(o.blocks.data(), MOEKIT_DTYPE_I32, {max_blocks});
    r.num_tokens_post_padded = host_tensor(&o.post_padded, MOEKIT_DTYPE_I32, {1});
  }
  EXPECT_EQ(moekit_router_build_plan(cpu, &r, nullptr), MOEKIT_OK) << moekit_last_error();
  o.bits.resize(static_cast<size_t>(tokens * plan_words(c)));
  o.sorted.resize(static_cast<size_t>(max_sorted));
  o.blocks.resize(static_cast<size_t>(max_blocks));
  return o;
}

// Device buffers of one plan (sentinel 0xA5 bytes), with the ids uploaded.
struct DevicePlanBuffers {
  int64_t tokens, max_sorted, max_blocks, words;
  int32_t experts, top_k;
  DeviceBuffer ids, bits, counts, sorted, blocks, post_padded;
  DevicePlanBuffers(const PlanConfig& c, int64_t t, int64_t ms, int64_t mb, const std::vector<int32_t>& host_ids)
      : tokens(t), max_sorted(ms), max_blocks(mb), words(plan_words(c)), experts(c.experts), top_k(c.top_k),
        ids(4 * t * c.top_k), bits(4 * t * plan_words(c)), counts(4 * c.experts), sorted(4 * ms), blocks(4 * mb),
        post_padded(4) {
    if (!host_ids.empty()) ids.upload(host_ids.data(), host_ids.size() * 4);
    // DeviceBuffer's sentinel memset and a pageable upload run on the legacy default stream and may still be in
    // flight when they return; a non-blocking stream would not wait for them.
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }
  PlanOutputs download(PlanWants wants) const {
    PlanOutputs o;
    if (wants.bitmatrix) o.bits = bits.download<uint32_t>(static_cast<size_t>(tokens * words));
    if (wants.counts) o.counts = counts.download<int32_t>(static_cast<size_t>(experts));
    if (wants.sorted) {
      o.sorted = sorted.download<int32_t>(static_cast<size_t>(max_sorted));
      o.blocks = blocks.download<int32_t>(static_cast<size_t>(max_blocks));
      o.post_padded = post_padded.download<int32_t>(1)[0];
    }
    return o;
  }
};

// Every wanted array equal, entry for entry; the message names the first difference.
inline void expect_same_plan_outputs(const PlanOutputs& cpu, const PlanOutputs& gpu, PlanWants wants,
                                     const std::string& where) {
  const auto at = [](const std::vector<int32_t>& v, int64_t i) {
    return i >= 0 && i < static_cast<int64_t>(v.size()) ? std::to_string(v[static_cast<size_t>(i)]) : "none";
  };
  if (wants.bitmatrix) {
    EXPECT_EQ(first_difference(cpu.bits, gpu.bits), -1) << where << ": bitmatrix";
  }
  if (wants.counts) {
    const int64_t d = first_difference(cpu.counts, gpu.counts);
    EXPECT_EQ(d, -1) << where << ": expert_counts differ first at expert " << d << ": cpu " << at(cpu.counts, d)
                     << ", cuda " << at(gpu.counts, d);
  }
  if (wants.sorted) {
    const int64_t d = first_difference(cpu.sorted, gpu.sorted);
    EXPECT_EQ(d, -1) << where << ": sorted_token_ids differ first at slot " << d << ": cpu " << at(cpu.sorted, d)
                     << ", cuda " << at(gpu.sorted, d);
    const int64_t b = first_difference(cpu.blocks, gpu.blocks);
    EXPECT_EQ(b, -1) << where << ": block_expert_ids differ first at block " << b << ": cpu " << at(cpu.blocks, b)
                     << ", cuda " << at(gpu.blocks, b);
    EXPECT_EQ(cpu.post_padded, gpu.post_padded) << where << ": num_tokens_post_padded";
  }
}

}  // namespace moekit_gpu_test
