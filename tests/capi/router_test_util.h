// Shared helpers of the router tests: guarded output buffers (sentinel-filled, with guard words on both
// sides), logits in any input dtype together with their exact values as double, and plan buffer sets.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "moekit/moekit.h"
#include "reference/ref_numerics.h"
#include "reference/ref_router.h"

namespace router_test {

constexpr unsigned char kSentinel = 0xA5;

// count elements of elem_size bytes with kGuard elements of sentinel on each side.
class GuardedBuffer {
 public:
  static constexpr int64_t kGuard = 16;
  GuardedBuffer() = default;
  GuardedBuffer(int64_t count, size_t elem_size)
      : count_(count), elem_(elem_size), bytes_(static_cast<size_t>(count + 2 * kGuard) * elem_size, kSentinel) {}
  void* data() { return bytes_.data() + kGuard * elem_; }
  template <class T> T* as() { return static_cast<T*>(data()); }
  template <class T> const T* as() const { return reinterpret_cast<const T*>(bytes_.data() + kGuard * elem_); }
  int64_t count() const { return count_; }
  const std::vector<unsigned char>& bytes() const { return bytes_; }
  bool guards_intact() const {
    for (size_t i = 0; i < static_cast<size_t>(kGuard) * elem_; ++i)
      if (bytes_[i] != kSentinel || bytes_[bytes_.size() - 1 - i] != kSentinel) return false;
    return true;
  }
  template <class T> std::vector<T> values() const { return std::vector<T>(as<T>(), as<T>() + count_); }

 private:
  int64_t count_ = 0;
  size_t elem_ = 1;
  std::vector<unsigned char> bytes_;
};

inline moekit_tensor tensor(void* data, moekit_dtype dtype, std::initializer_list<int64_t> shape) {
  moekit_tensor t;
  std::vector<int64_t> s(shape);
  EXPECT_EQ(moekit_tensor_init(&t, data, dtype, static_cast<int32_t>(s.size()), s.data()), MOEKIT_OK);
  return t;
}

// Logits stored in `dtype`, with `exact` the value each stored element represents.
struct Logits {
  moekit_dtype dtype = MOEKIT_DTYPE_F32;
  int64_t tokens = 0, experts = 0;
  std::vector<unsigned char> storage;
  std::vector<double> exact;
  moekit_tensor view() { return tensor(storage.empty() ? nullptr : storage.data(), dtype, {tokens, experts}); }
};

inline Logits make_logits(const std::vector<float>& values, int64_t tokens, int64_t experts, moekit_dtype dtype) {
  Logits l;
  l.dtype = dtype;
  l.tokens = tokens;
  l.experts = experts;
  const size_t n = values.size();
  l.storage.resize(n * moekit_dtype_size(dtype));
  for (size_t i = 0; i < n; ++i) {
    if (dtype == MOEKIT_DTYPE_F32) {
      std::memcpy(l.storage.data() + 4 * i, &values[i], 4);
    } else {
      const uint16_t h = dtype == MOEKIT_DTYPE_BF16 ? moekit_ref::double_to_bf16(values[i])
                                                    : moekit_ref::double_to_f16(values[i]);
      std::memcpy(l.storage.data() + 2 * i, &h, 2);
    }
  }
  const int code = dtype == MOEKIT_DTYPE_F32 ? 0 : dtype == MOEKIT_DTYPE_F16 ? 1 : 2;
  l.exact = moekit_ref::to_double(l.storage.data(), code, static_cast<int64_t>(n));
  return l;
}

inline std::vector<float> random_values(size_t n, unsigned seed, double stddev) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, static_cast<float>(stddev));
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Every buffer of a routing plan, guarded and sentinel-filled.
struct PlanBuffers {
  int64_t tokens, k, experts, max_sorted, max_blocks;
  GuardedBuffer weights, ids, bits, counts, sorted, blocks, total;

  PlanBuffers(int64_t t, int64_t top_k, int64_t e, int64_t sorted_len, int64_t blocks_len)
      : tokens(t), k(top_k), experts(e), max_sorted(sorted_len), max_blocks(blocks_len),
        weights(t * top_k, 4), ids(t * top_k, 4), bits(t * ((e + 31) / 32), 4), counts(e, 4),
        sorted(sorted_len, 4), blocks(blocks_len, 4), total(1, 4) {}

  // Every tensor present (with_weights false: topk_weights absent, as build_plan allows).
  moekit_routing routing(bool with_weights = true) {
    moekit_routing r;
    std::memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    if (with_weights) r.topk_weights = tensor(weights.data(), MOEKIT_DTYPE_F32, {tokens, k});
    r.topk_ids = tensor(ids.data(), MOEKIT_DTYPE_I32, {tokens, k});
    r.bitmatrix = tensor(bits.data(), MOEKIT_DTYPE_U32, {tokens, (experts + 31) / 32});
    r.expert_counts = tensor(counts.data(), MOEKIT_DTYPE_I32, {experts});
    r.sorted_token_ids = tensor(sorted.data(), MOEKIT_DTYPE_I32, {max_sorted});
    r.block_expert_ids = tensor(blocks.data(), MOEKIT_DTYPE_I32, {max_blocks});
    r.num_tokens_post_padded = tensor(total.data(), MOEKIT_DTYPE_I32, {1});
    return r;
  }

  std::vector<std::vector<unsigned char>> snapshot() const {
    return {weights.bytes(), ids.bytes(), bits.bytes(), counts.bytes(), sorted.bytes(), blocks.bytes(),
            total.bytes()};
  }
  bool guards_intact() const {
    return weights.guards_intact() && ids.guards_intact() && bits.guards_intact() && counts.guards_intact() &&
           sorted.guards_intact() && blocks.guards_intact() && total.guards_intact();
  }
};

inline moekit_context cpu_context() {
  moekit_context ctx = nullptr;
  EXPECT_EQ(moekit_context_create(MOEKIT_BACKEND_CPU, 0, &ctx), MOEKIT_OK) << moekit_last_error();
  return ctx;
}

// The reference spec of a descriptor; block_size is the router's resolved one.
inline moekit_ref::RefRouterSpec spec_of(const moekit_router_desc& d, int32_t block_size) {
  moekit_ref::RefRouterSpec s;
  s.num_experts = d.num_experts;
  s.top_k = d.top_k;
  s.sigmoid = d.scoring == MOEKIT_SCORING_SIGMOID;
  s.renormalize = d.renormalize != 0;
  s.num_groups = d.num_expert_groups > 1 ? d.num_expert_groups : 1;
  s.topk_groups = d.num_expert_groups > 1 ? d.topk_groups : 1;
  s.scaling = d.routed_scaling_factor;
  if (d.correction_bias) s.bias.assign(d.correction_bias, d.correction_bias + d.num_experts);
  if (d.expert_map) s.expert_map.assign(d.expert_map, d.expert_map + d.num_experts);
  s.block_size = block_size;
  return s;
}

// Checks that the metadata in `p` equals the reference's for the ids in `ids` (and that guards are intact).
inline void expect_metadata_matches(const moekit_ref::RefRouterSpec& spec, const std::vector<int32_t>& ids,
                                    PlanBuffers& p) {
  const auto ref = moekit_ref::ref_plan_metadata(spec, ids, p.tokens, p.max_sorted, p.max_blocks);
  EXPECT_EQ(p.bits.values<uint32_t>(), ref.bitmatrix);
  EXPECT_EQ(p.counts.values<int32_t>(), ref.expert_counts);
  EXPECT_EQ(p.sorted.values<int32_t>(), ref.sorted_token_ids);
  EXPECT_EQ(p.blocks.values<int32_t>(), ref.block_expert_ids);
  EXPECT_EQ(p.total.as<int32_t>()[0], ref.num_tokens_post_padded);
  EXPECT_TRUE(p.guards_intact());
}

inline bool error_mentions(const char* what) { return std::string(moekit_last_error()).find(what) != std::string::npos; }

}  // namespace router_test
