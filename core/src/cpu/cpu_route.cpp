// CPU router: logits -> scores -> (grouped) top-k -> weights, then the shared plan metadata.
// Semantics (moekit.h, router section):
//  - softmax over E in float with the exponent sum in double; NaN logits take no part (score NaN);
//    if the row maximum is +Inf (or every number is -Inf) the experts holding it share 1 equally.
//  - sigmoid: the form that never overflows, per sign of x.
//  - selection key: score + correction_bias. Without bias and grouping the key is the logit itself: softmax
//    and sigmoid are strictly increasing, so that is the exact order of the scores, and float rounding (e.g.
//    sigmoid saturating to 1.0f) cannot create ties the real scores do not have. (Softmax rows with a +Inf
//    logit rank by score: every finite logit then scores exactly 0, a tie broken by id.)
//  - grouping: a group's score is the sum of its two best keys (its only key if it has one expert); the
//    topk_groups best groups (ties: lower group index) hold the eligible experts.
//  - order: key descending, NaN below every number, ties to the lowest id (groups and experts alike).
//  - weights: unbiased scores of the chosen experts (a NaN score weighs 0), divided by their sum if
//    renormalize and the sum is > 0, times routed_scaling_factor.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <omp.h>

#include "cpu/cpu_ops.h"
#include "cpu/cpu_routing_plan.h"
#include "moekit_core/numerics/half.h"

namespace moekit::cpu {

namespace {

// Strict weak order "a ranks before b": larger value first, NaN after every number, then the lower index.
inline bool ranks_before(float va, int32_t ia, float vb, int32_t ib) {
  const bool na = std::isnan(va), nb = std::isnan(vb);
  if (na != nb) return nb;
  if (!na && va != vb) return va > vb;
  return ia < ib;
}

void load_row(const TensorView& logits, int64_t t, int32_t e, float* out) {
  const int64_t base = t * e;
  switch (logits.dtype) {
    case DType::BF16: {
      const uint16_t* p = logits.as<const uint16_t>() + base;
      for (int32_t i = 0; i < e; ++i) out[i] = bf16_to_f32(p[i]);
      break;
    }
    case DType::F16: {
      const uint16_t* p = logits.as<const uint16_t>() + base;
      for (int32_t i = 0; i < e; ++i) out[i] = f16_to_f32(p[i]);
      break;
    }
    default: {
      const float* p = logits.as<const float>() + base;
      std::copy(p, p + e, out);
      break;
    }
  }
}

// Returns true if the row maximum is +Inf: the other experts' scores are then exactly 0 (tied), which the
// order of their logits would not reflect.
bool softmax(const float* x, int32_t e, float* s) {
  float m = -INFINITY;
  bool any_number = false;
  for (int32_t i = 0; i < e; ++i)
    if (!std::isnan(x[i])) {
      any_number = true;
      m = std::max(m, x[i]);
    }
  if (!any_number) {
    std::fill(s, s + e, NAN);
    return false;
  }
  if (std::isinf(m)) {
    // x - m would be Inf - Inf. The limit of softmax as the maximal logits grow together: they share 1.
    int32_t holders = 0;
    for (int32_t i = 0; i < e; ++i) holders += x[i] == m;
    const float share = 1.0f / static_cast<float>(holders);
    for (int32_t i = 0; i < e; ++i) s[i] = std::isnan(x[i]) ? NAN : (x[i] == m ? share : 0.0f);
    return m > 0;
  }
  double sum = 0.0;  // double: the sum's rounding stays far below the per-element exp error for any E
  for (int32_t i = 0; i < e; ++i) {
    s[i] = std::isnan(x[i]) ? NAN : std::exp(x[i] - m);
    if (!std::isnan(s[i])) sum += s[i];
  }
  const double inv = 1.0 / sum;  // sum >= 1: the maximum contributes exp(0)
  for (int32_t i = 0; i < e; ++i) s[i] = static_cast<float>(s[i] * inv);
  return false;
}

void sigmoid(const float* x, int32_t e, float* s) {
  for (int32_t i = 0; i < e; ++i) {
    if (x[i] >= 0.0f) {
      s[i] = 1.0f / (1.0f + std::exp(-x[i]));
    } else {
      const float ex = std::exp(x[i]);  // NaN falls here and stays NaN
      s[i] = ex / (1.0f + ex);
    }
  }
}

// Marks eligible[i] for experts of the topk_groups best groups.
void select_groups(const RouterConfig& cfg, const float* key, std::vector<int32_t>& group_order,
                   std::vector<float>& group_score, std::vector<char>& eligible) {
  const int32_t groups = cfg.num_expert_groups;
  const int32_t size = cfg.num_experts / groups;
  for (int32_t g = 0; g < groups; ++g) {
    const float* k = key + static_cast<int64_t>(g) * size;
    int32_t best = 0;
    for (int32_t i = 1; i < size; ++i)
      if (ranks_before(k[i], i, k[best], best)) best = i;
    if (size == 1) {
      group_score[g] = k[best];
      continue;
    }
    int32_t second = best == 0 ? 1 : 0;
    for (int32_t i = 0; i < size; ++i)
      if (i != best && ranks_before(k[i], i, k[second], second)) second = i;
    group_score[g] = k[best] + k[second];  // NaN if either is NaN: the group then ranks last
  }
  for (int32_t g = 0; g < groups; ++g) group_order[g] = g;
  std::partial_sort(group_order.begin(), group_order.begin() + cfg.topk_groups, group_order.end(),
                    [&](int32_t a, int32_t b) { return ranks_before(group_score[a], a, group_score[b], b); });
  std::fill(eligible.begin(), eligible.end(), 0);
  for (int32_t r = 0; r < cfg.topk_groups; ++r) {
    const int64_t first = static_cast<int64_t>(group_order[r]) * size;
    std::fill(eligible.begin() + first, eligible.begin() + first + size, 1);
  }
}

// Per-thread scratch, sized once per thread.
struct RouteScratch {
  std::vector<float> logits, scores, keys, group_score;
  std::vector<int32_t> candidates, group_order;
  std::vector<char> eligible;
  explicit RouteScratch(const RouterConfig& cfg)
      : logits(cfg.num_experts), scores(cfg.num_experts), keys(cfg.num_experts), group_score(cfg.num_expert_groups),
        group_order(cfg.num_expert_groups), eligible(cfg.num_experts) {
    candidates.reserve(cfg.num_experts);
  }
};

void route_token(const RouterConfig& cfg, const TensorView& logits, int64_t t, RouteScratch& s, float* weights,
                 int32_t* ids) {
  const int32_t e = cfg.num_experts, k = cfg.top_k;
  load_row(logits, t, e, s.logits.data());
  bool infinite_max = false;
  if (cfg.scoring == Scoring::Softmax) infinite_max = softmax(s.logits.data(), e, s.scores.data());
  else sigmoid(s.logits.data(), e, s.scores.data());

  const bool grouped = cfg.num_expert_groups > 1;
  const float* key = s.logits.data();  // exact score order when nothing is added to the scores
  if (!cfg.correction_bias.empty() || grouped || infinite_max) {
    for (int32_t i = 0; i < e; ++i)
      s.keys[i] = s.scores[i] + (cfg.correction_bias.empty() ? 0.0f : cfg.correction_bias[i]);
    key = s.keys.data();
  }

  s.candidates.clear();
  if (grouped) {
    select_groups(cfg, key, s.group_order, s.group_score, s.eligible);
    for (int32_t i = 0; i < e; ++i)
      if (s.eligible[i]) s.candidates.push_back(i);
  } else {
    for (int32_t i = 0; i < e; ++i) s.candidates.push_back(i);
  }
  std::partial_sort(s.candidates.begin(), s.candidates.begin() + k, s.candidates.end(),
                    [key](int32_t a, int32_t b) { return ranks_before(key[a], a, key[b], b); });

  double sum = 0.0;
  for (int32_t j = 0; j < k; ++j) {
    const int32_t id = s.candidates[j];
    const float w = s.scores[id];
    ids[j] = id;
    weights[j] = std::isnan(w) ? 0.0f : w;
    sum += weights[j];
  }
  const double norm = (cfg.renormalize && sum > 0.0) ? 1.0 / sum : 1.0;
  for (int32_t j = 0; j < k; ++j)
    weights[j] = static_cast<float>(weights[j] * norm * cfg.routed_scaling_factor);
}

}  // namespace

void route(const ExecContext& ex, const RouterConfig& cfg, const TensorView& logits, RoutingPlan& plan) {
  const int64_t tokens = logits.shape[0];
  const int32_t k = cfg.top_k;
  float* weights = plan.topk_weights.as<float>();
  int32_t* ids = plan.topk_ids.as<int32_t>();
  if (tokens > 0) {
    // Scratch is allocated before the parallel region: an exception (bad_alloc) must not leave an OpenMP region.
    const int threads = static_cast<int>(std::min<int64_t>(std::max(ex.num_threads, 1), tokens));
    std::vector<RouteScratch> scratch(static_cast<size_t>(threads), RouteScratch(cfg));
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t t = 0; t < tokens; ++t)
      route_token(cfg, logits, t, scratch[static_cast<size_t>(omp_get_thread_num())], weights + t * k, ids + t * k);
  }
  write_plan_metadata(ex, cfg, plan);
}

}  // namespace moekit::cpu
