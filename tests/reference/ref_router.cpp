#include "reference/ref_router.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

namespace moekit_ref {

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// "a comes strictly before b" for keys: numbers descending, NaN after every number, NaNs equivalent.
bool key_before(double a, double b) {
  if (std::isnan(a)) return false;
  if (std::isnan(b)) return true;
  return a > b;
}

// Stable sort of (key, index) pairs: equal keys keep index order, i.e. ties go to the lowest index.
std::vector<std::pair<double, int32_t>> ranked(std::vector<std::pair<double, int32_t>> items) {
  std::stable_sort(items.begin(), items.end(),
                   [](const auto& a, const auto& b) { return key_before(a.first, b.first); });
  return items;
}

// Distinct keys closer than rel x their magnitude (floor: the largest |bias|, whose rounding a sum carries).
bool near(double a, double b, double rel, double floor) {
  if (!std::isfinite(a) || !std::isfinite(b) || a == b) return false;
  return std::fabs(a - b) <= rel * std::max({floor, std::fabs(a), std::fabs(b)});
}

}  // namespace

std::vector<double> ref_scores(const RefRouterSpec& spec, const double* x) {
  const int32_t e = spec.num_experts;
  std::vector<double> s(static_cast<size_t>(e), kNaN);
  if (spec.sigmoid) {
    for (int32_t i = 0; i < e; ++i) s[i] = 1.0 / (1.0 + std::exp(-x[i]));  // exp(+inf) -> 0 weight, NaN stays
    return s;
  }
  double m = -HUGE_VAL;
  bool any = false;
  for (int32_t i = 0; i < e; ++i)
    if (!std::isnan(x[i])) any = true, m = std::max(m, x[i]);
  if (!any) return s;
  if (std::isinf(m)) {
    const double holders = static_cast<double>(std::count(x, x + e, m));
    for (int32_t i = 0; i < e; ++i)
      if (!std::isnan(x[i])) s[i] = x[i] == m ? 1.0 / holders : 0.0;
    return s;
  }
  double sum = 0;
  for (int32_t i = 0; i < e; ++i)
    if (!std::isnan(x[i])) sum += std::exp(x[i] - m);
  for (int32_t i = 0; i < e; ++i)
    if (!std::isnan(x[i])) s[i] = std::exp(x[i] - m) / sum;
  return s;
}

RefTokenRoute ref_route_token(const RefRouterSpec& spec, const double* logits_row, double near_tie_rel) {
  const int32_t e = spec.num_experts, k = spec.top_k;
  const std::vector<double> score = ref_scores(spec, logits_row);
  std::vector<double> key(score);
  if (!spec.bias.empty())
    for (int32_t i = 0; i < e; ++i) key[i] += spec.bias[i];

  double bias_mag = 0;
  for (double b : spec.bias) bias_mag = std::max(bias_mag, std::fabs(b));
  RefTokenRoute r;
  std::vector<char> eligible(static_cast<size_t>(e), 1);
  if (spec.num_groups > 1) {
    const int32_t size = e / spec.num_groups;
    std::vector<std::pair<double, int32_t>> groups;
    for (int32_t g = 0; g < spec.num_groups; ++g) {
      std::vector<std::pair<double, int32_t>> members;
      for (int32_t i = 0; i < size; ++i) members.push_back({key[g * size + i], g * size + i});
      members = ranked(members);
      double gs = 0;
      for (int32_t i = 0; i < std::min(size, 2); ++i) gs += members[i].first;
      groups.push_back({gs, g});
    }
    groups = ranked(groups);
    if (spec.topk_groups < spec.num_groups &&
        near(groups[spec.topk_groups - 1].first, groups[spec.topk_groups].first, near_tie_rel, bias_mag))
      r.near_tie = true;
    std::fill(eligible.begin(), eligible.end(), 0);
    for (int32_t j = 0; j < spec.topk_groups; ++j)
      std::fill(eligible.begin() + groups[j].second * size, eligible.begin() + (groups[j].second + 1) * size, 1);
  }

  std::vector<std::pair<double, int32_t>> candidates;
  for (int32_t i = 0; i < e; ++i)
    if (eligible[i]) candidates.push_back({key[i], i});
  candidates = ranked(candidates);
  const size_t decisive = std::min(candidates.size(), static_cast<size_t>(k) + 1);
  for (size_t j = 1; j < decisive; ++j)
    if (near(candidates[j - 1].first, candidates[j].first, near_tie_rel, bias_mag)) r.near_tie = true;

  double sum = 0;
  for (int32_t j = 0; j < k; ++j) {
    const int32_t id = candidates[j].second;
    const double w = std::isnan(score[id]) ? 0.0 : score[id];
    r.ids.push_back(id);
    r.weights.push_back(w);
    sum += w;
  }
  for (double& w : r.weights) w = (spec.renormalize && sum > 0 ? w / sum : w) * spec.scaling;
  return r;
}

RefPlanMetadata ref_plan_metadata(const RefRouterSpec& spec, const std::vector<int32_t>& ids, int64_t tokens,
                                  int64_t max_sorted, int64_t max_blocks) {
  const int64_t e = spec.num_experts, k = spec.top_k, words = (e + 31) / 32;
  const int64_t n = tokens * k;
  RefPlanMetadata m;
  m.bitmatrix.assign(static_cast<size_t>(tokens * words), 0u);
  m.expert_counts.assign(static_cast<size_t>(e), 0);
  m.sorted_token_ids.assign(static_cast<size_t>(max_sorted), static_cast<int32_t>(n));
  m.block_expert_ids.assign(static_cast<size_t>(max_blocks), -1);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t x = 0; x < e; ++x)
      for (int64_t j = 0; j < k; ++j)
        if (ids[t * k + j] == x) m.bitmatrix[t * words + x / 32] |= uint32_t{1} << (x % 32);
  // One scan of all assignments per expert: the order within an expert is increasing flat index by construction.
  int64_t pos = 0;
  for (int32_t x = 0; x < e; ++x) {
    const int64_t start = pos;
    for (int64_t i = 0; i < n; ++i)
      if (ids[i] == x) {
        m.sorted_token_ids[pos++] = static_cast<int32_t>(i);
        ++m.expert_counts[x];
      }
    while (pos % spec.block_size != 0) ++pos;  // padding keeps the fill value
    const bool local = spec.expert_map.empty() || spec.expert_map[x] != -1;
    for (int64_t b = start / spec.block_size; b < pos / spec.block_size; ++b) m.block_expert_ids[b] = local ? x : -1;
  }
  m.num_tokens_post_padded = static_cast<int32_t>(pos);
  return m;
}

RefGemm ref_router_gemm(const std::vector<double>& hidden, const std::vector<double>& w,
                        const std::vector<double>& bias, int64_t tokens, int64_t h, int64_t e) {
  RefGemm r;
  r.logits.assign(static_cast<size_t>(tokens * e), 0.0);
  r.abs_sum.assign(static_cast<size_t>(tokens * e), 0.0);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t x = 0; x < e; ++x) {
      double acc = bias.empty() ? 0.0 : bias[x], mag = bias.empty() ? 0.0 : std::fabs(bias[x]);
      for (int64_t i = 0; i < h; ++i) {
        const double p = hidden[t * h + i] * w[x * h + i];
        acc += p;
        mag += std::fabs(p);
      }
      r.logits[t * e + x] = acc;
      r.abs_sum[t * e + x] = mag;
    }
  return r;
}

}  // namespace moekit_ref
