#include "reference/ref_experts.h"

#include <algorithm>
#include <cmath>

#include "reference/ref_numerics.h"
#include "reference/ref_quant.h"

namespace moekit_ref {

namespace {

constexpr double kU = 1.0 / 16777216.0;  // 2^-24: unit roundoff of float32
constexpr int64_t kFp8Block = 128;        // FP8 weight block edge and activation group (moekit.h)

size_t idx(int64_t i) { return static_cast<size_t>(i); }

// Float32 error of a sum of n products with sum of |terms| = mag. Worst case (any order): n u mag. For the
// output tolerance the statistical bound 2 sqrt(n) u mag is used instead: rounding errors of a long sum add
// like a random walk, and the worst case is some 10^2-10^3 times what BLAS achieves, which would let real
// bugs pass. The worst case still decides which FP8 roundings may flip, so a flip is never missed. The + 4
// covers the bias addition, the input scaling and weights that round once when decoded to float32.
double sum_error(int64_t n, double mag) { return (2 * std::sqrt(static_cast<double>(n)) + 4) * kU * mag; }
double sum_error_worst(int64_t n, double mag) { return static_cast<double>(n + 4) * kU * mag; }

// One expert's [rows, cols] matrix, decoded from the caller's buffers. `e` is the local expert index.
void decode_matrix(const RefExpertsSpec& s, const void* values, const void* scales, int64_t e, int64_t rows,
                   int64_t cols, double* out) {
  const int64_t n = rows * cols;
  switch (s.weight_format) {
    case 0: case 1: case 2: {
      const int dtype = s.weight_format == 0 ? 2 : (s.weight_format == 1 ? 1 : 0);  // moekit_dtype codes
      for (int64_t i = 0; i < n; ++i) out[i] = load_as_double(values, dtype, e * n + i);
      return;
    }
    case 3: {  // one f32 scale per 128 x 128 block of the matrix
      const int64_t bc = (cols + kFp8Block - 1) / kFp8Block;
      const int64_t br = (rows + kFp8Block - 1) / kFp8Block;
      const auto* q = static_cast<const uint8_t*>(values) + e * n;
      const auto* sc = static_cast<const float*>(scales) + e * br * bc;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
          out[r * cols + c] = e4m3_to_double(q[r * cols + c]) * sc[(r / kFp8Block) * bc + c / kFp8Block];
      return;
    }
    case 4: {  // two E2M1 per byte (low nibble = even column), one E8M0 per 32 values of a row
      const auto* packed = static_cast<const uint8_t*>(values) + e * (n / 2);
      const auto* e8 = static_cast<const uint8_t*>(scales) + e * (n / 32);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          const uint8_t byte = packed[r * (cols / 2) + c / 2];
          const uint8_t code = (c % 2 == 0) ? (byte & 0xF) : (byte >> 4);
          out[r * cols + c] = e2m1_to_double(code) * e8m0_to_double(e8[r * (cols / 32) + c / 32]);
        }
      return;
    }
    default: return;
  }
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// The activation of one (gate, up) pair, with bounds on |d act / d gate| and |d act / d up| and on the relative
// error of evaluating it in float32.
struct ActValue {
  double value, d_gate, d_up, eval_rel;
};

ActValue activation(const RefExpertsSpec& s, double gate, double up) {
  switch (s.activation) {
    case 0: {  // silu(g) * u; |d silu/dg| = |sigma(g) (1 + g (1 - sigma(g)))| <= 1.1
      const double silu = gate * sigmoid(gate);
      return {silu * up, 1.1 * std::fabs(up), std::fabs(silu), (8 + std::fabs(gate)) * kU};
    }
    case 1: {  // gelu_erf(g) * u; |d gelu/dg| = |Phi(g) + g phi(g)| <= 1.13
      const double gelu = 0.5 * gate * (1.0 + std::erf(gate / std::sqrt(2.0)));
      return {gelu * up, 1.13 * std::fabs(up), std::fabs(gelu), (8 + std::fabs(gate)) * kU};
    }
    default: {  // gpt-oss: g = min(gate, limit), u = clamp(up, ±limit), g sigmoid(alpha g) (u + 1)
      const double alpha = s.swiglu_alpha, limit = s.swiglu_limit;
      const double g = std::min(gate, limit);
      const double u = std::max(-limit, std::min(up, limit));
      const double glu = g * sigmoid(alpha * g);
      // d/dg [g sigmoid(alpha g)] = sigma(x) + x sigma'(x) with x = alpha g: at most 1.1 for every x.
      return {glu * (u + 1.0), 1.1 * std::fabs(u + 1.0), std::fabs(glu), (8 + std::fabs(alpha * g)) * kU};
    }
  }
}

// FP8 round trip of a float32 value with a float32 scale, as moekit.h defines it: the dequantized value is the
// float32 product decode(q) * scale.
double fp8_round_trip(double x, float scale) {
  return static_cast<float>(e4m3_to_double(ref_fp8_quantize(x, scale)) * static_cast<double>(scale));
}

// How far an FP8 rounding of quotient x / scale could move if the quotient were off by `slack` (in quotient
// units): 0 if no E4M3 rounding boundary lies within `slack` of the quotient, else the step to the neighbour
// it could round to instead (in quotient units).
double fp8_flip_step(double quotient, double slack) {
  const double a = std::fabs(quotient);
  const uint8_t code = static_cast<uint8_t>(ref_e4m3_encode(a) & 0x7F);
  const double v = e4m3_to_double(code);
  double step = 0;
  if (code > 0) {
    const double lower = e4m3_to_double(static_cast<uint8_t>(code - 1));
    if (a - (v + lower) / 2 <= slack) step = std::max(step, v - lower);
  }
  if (code < 0x7E) {
    const double upper = e4m3_to_double(static_cast<uint8_t>(code + 1));
    if ((v + upper) / 2 - a <= slack) step = std::max(step, upper - v);
  }
  return step;
}

}  // namespace

RefExpertWeights ref_decode_expert_weights(const RefExpertsSpec& s, const RefExpertBuffers& b) {
  const int64_t L = s.num_local, H = s.hidden, I = s.intermediate;
  RefExpertWeights w;
  w.w13.assign(idx(L * 2 * I * H), 0.0);
  w.w2.assign(idx(L * H * I), 0.0);
  w.b13.assign(idx(L * 2 * I), 0.0);
  w.b2.assign(idx(L * H), 0.0);
  for (int64_t e = 0; e < L; ++e) {
    decode_matrix(s, b.w13, b.w13_scale, e, 2 * I, H, w.w13.data() + e * 2 * I * H);
    decode_matrix(s, b.w2, b.w2_scale, e, H, I, w.w2.data() + e * H * I);
  }
  if (s.has_w13_bias)
    for (int64_t i = 0; i < L * 2 * I; ++i) w.b13[idx(i)] = b.w13_bias[i];
  if (s.has_w2_bias)
    for (int64_t i = 0; i < L * H; ++i) w.b2[idx(i)] = b.w2_bias[i];
  return w;
}

RefExpertsResult ref_experts_forward(const RefExpertsSpec& s, const RefExpertWeights& w,
                                     const std::vector<double>& hidden, int64_t T, int64_t k,
                                     const int32_t* topk_ids, const float* topk_weights) {
  const int64_t H = s.hidden, I = s.intermediate;
  RefExpertsResult r;
  r.out.assign(idx(T * H), 0.0);
  r.err_bound.assign(idx(T * H), 0.0);
  std::vector<bool> touched(idx(s.num_local), false);
  // e_*: statistical float32 error bounds (tolerance); w_*: worst-case ones (which FP8 roundings may flip).
  std::vector<double> x(idx(H)), h(idx(2 * I)), e_h(idx(2 * I)), w_h(idx(2 * I)), act(idx(I)), e_act(idx(I)),
      w_act(idx(I)), a_in(idx(I)), e_in(idx(I));

  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < k; ++j) {
      const int64_t a = t * k + j;
      const int32_t id = topk_ids[a];
      if (id < 0 || id >= s.num_experts) {
        ++r.invalid_assignments;
        continue;
      }
      ++r.assignments;
      const int32_t local = s.expert_map.empty() ? id : s.expert_map[idx(id)];
      if (local < 0) {
        ++r.non_local_assignments;
        continue;
      }
      touched[idx(local)] = true;
      const double weight = topk_weights[a];
      const double in_scale = s.on_input ? weight : 1.0;
      const double out_scale = s.on_input ? 1.0 : weight;

      // GEMM1 input. Quantized inputs are float32 numbers (the product of two floats rounds once), quantized
      // exactly as the implementation does, so the two agree bit for bit here.
      for (int64_t c = 0; c < H; ++c) x[idx(c)] = hidden[idx(t * H + c)] * in_scale;
      if (s.act_quant != 0) {
        const int64_t group = s.act_quant == 1 ? H : kFp8Block;
        for (int64_t g0 = 0; g0 < H; g0 += group) {
          const int64_t g1 = std::min(H, g0 + group);
          double amax = 0;
          for (int64_t c = g0; c < g1; ++c) amax = std::max(amax, std::fabs(static_cast<double>(static_cast<float>(x[idx(c)]))));
          const float scale = ref_fp8_scale(amax);
          for (int64_t c = g0; c < g1; ++c) x[idx(c)] = fp8_round_trip(static_cast<float>(x[idx(c)]), scale);
        }
      }

      // GEMM1 + bias, with its float32 error bounds.
      const double* w13 = w.w13.data() + local * 2 * I * H;
      const double* b13 = w.b13.data() + local * 2 * I;
      for (int64_t row = 0; row < 2 * I; ++row) {
        double sum = b13[row], mag = std::fabs(b13[row]);
        for (int64_t c = 0; c < H; ++c) {
          sum += x[idx(c)] * w13[row * H + c];
          mag += std::fabs(x[idx(c)] * w13[row * H + c]);
        }
        h[idx(row)] = sum;
        e_h[idx(row)] = sum_error(H, mag);
        w_h[idx(row)] = sum_error_worst(H, mag);
      }
      for (int64_t i = 0; i < I; ++i) {
        const ActValue v = activation(s, h[idx(i)], h[idx(I + i)]);
        act[idx(i)] = v.value;
        e_act[idx(i)] = v.d_gate * e_h[idx(i)] + v.d_up * e_h[idx(I + i)] + v.eval_rel * std::fabs(v.value);
        w_act[idx(i)] = v.d_gate * w_h[idx(i)] + v.d_up * w_h[idx(I + i)] + v.eval_rel * std::fabs(v.value);
      }

      // GEMM2 input, with its error bound e_in.
      if (s.act_quant != 0) {
        const int64_t group = s.act_quant == 1 ? I : kFp8Block;
        for (int64_t g0 = 0; g0 < I; g0 += group) {
          const int64_t g1 = std::min(I, g0 + group);
          double amax = 0, e_amax = 0;
          for (int64_t i = g0; i < g1; ++i) {
            amax = std::max(amax, std::fabs(act[idx(i)]));
            e_amax = std::max(e_amax, w_act[idx(i)]);
          }
          const float scale = ref_fp8_scale(amax);
          // The implementation's scale comes from its own amax: relative difference rho (+ a float rounding).
          const double rho = (amax > 0 ? e_amax / amax : 0) + 2 * kU;
          for (int64_t i = g0; i < g1; ++i) {
            const double quotient = act[idx(i)] / scale;
            a_in[idx(i)] = fp8_round_trip(act[idx(i)], scale);
            const double slack = w_act[idx(i)] / scale + std::fabs(quotient) * (rho + 2 * kU);
            const double step = fp8_flip_step(quotient, slack);
            if (step > 0) ++r.ambiguous_roundings;
            e_in[idx(i)] = std::fabs(a_in[idx(i)]) * (rho + 2 * kU) + step * scale;
          }
        }
      } else {
        for (int64_t i = 0; i < I; ++i) {
          a_in[idx(i)] = act[idx(i)];
          e_in[idx(i)] = e_act[idx(i)];
        }
      }

      // GEMM2 + bias, the propagated input error, and the weighted combine (k products and sums in float32).
      const double* w2 = w.w2.data() + local * H * I;
      const double* b2 = w.b2.data() + local * H;
      for (int64_t c = 0; c < H; ++c) {
        double sum = b2[c], mag = std::fabs(b2[c]), propagated = 0;
        for (int64_t i = 0; i < I; ++i) {
          sum += a_in[idx(i)] * w2[c * I + i];
          mag += std::fabs(a_in[idx(i)] * w2[c * I + i]);
          propagated += std::fabs(w2[c * I + i]) * e_in[idx(i)];
        }
        const double e_y = sum_error(I, mag) + propagated;
        r.out[idx(t * H + c)] += out_scale * sum;
        r.err_bound[idx(t * H + c)] +=
            std::fabs(out_scale) * (e_y + static_cast<double>(k + 2) * kU * (std::fabs(sum) + e_y));
      }
    }
  for (bool b : touched) r.experts_touched += b ? 1 : 0;
  return r;
}

}  // namespace moekit_ref
