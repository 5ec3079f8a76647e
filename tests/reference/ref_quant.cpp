#include "reference/ref_quant.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace moekit_ref {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Nearest-even search over the non-negative finite codes [0, last] of a format whose code order is value
// order: a binary search for the first code not below `a`, then the closer of it and its predecessor; a tie
// keeps the even code. Returns the magnitude code (a must be in [0, decode(last)]).
template <class Decode>
uint8_t nearest_even_magnitude(double a, int last, Decode decode) {
  int lo = 0, hi = last;  // invariant: decode(hi) >= a
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (decode(static_cast<uint8_t>(mid)) >= a) hi = mid; else lo = mid + 1;
  }
  if (hi == 0) return 0;
  const double up = decode(static_cast<uint8_t>(hi)) - a, down = a - decode(static_cast<uint8_t>(hi - 1));
  if (up < down) return static_cast<uint8_t>(hi);
  if (down < up) return static_cast<uint8_t>(hi - 1);
  return static_cast<uint8_t>(hi % 2 == 0 ? hi : hi - 1);
}

double finite_amax(const std::vector<double>& x, int64_t r0, int64_t r1, int64_t c0, int64_t c1, int64_t cols) {
  double amax = 0;
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = c0; c < c1; ++c) {
      const double v = x[static_cast<size_t>(r * cols + c)];
      if (std::isfinite(v) && std::fabs(v) > amax) amax = std::fabs(v);
    }
  return amax;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

double e4m3_to_double(uint8_t code) {
  const double sign = (code & 0x80) ? -1.0 : 1.0;
  const int e = (code >> 3) & 0xF, m = code & 0x7;
  if (e == 15 && m == 7) return kNaN;  // E4M3FN: only S.1111.111 is NaN, no infinities
  if (e == 0) return sign * std::ldexp(m / 8.0, 1 - 7);
  return sign * std::ldexp(1.0 + m / 8.0, e - 7);
}

double e5m2_to_double(uint8_t code) {
  const double sign = (code & 0x80) ? -1.0 : 1.0;
  const int e = (code >> 2) & 0x1F, m = code & 0x3;
  if (e == 31) return m == 0 ? sign * std::numeric_limits<double>::infinity() : kNaN;
  if (e == 0) return sign * std::ldexp(m / 4.0, 1 - 15);
  return sign * std::ldexp(1.0 + m / 4.0, e - 15);
}

double e2m1_to_double(uint8_t code) {
  const double sign = (code & 0x8) ? -1.0 : 1.0;
  const int e = (code >> 1) & 0x3, m = code & 0x1;
  if (e == 0) return sign * std::ldexp(m / 2.0, 1 - 1);
  return sign * std::ldexp(1.0 + m / 2.0, e - 1);
}

double e8m0_to_double(uint8_t code) { return code == 0xFF ? kNaN : std::ldexp(1.0, code - 127); }

uint8_t ref_e4m3_encode(double v) {
  const uint8_t sign = std::signbit(v) ? 0x80 : 0x00;
  if (std::isnan(v)) return sign | 0x7F;
  const double a = std::fabs(v);
  if (a >= 448.0) return sign | 0x7E;  // saturate (the search below would also give 448 up to 464)
  return sign | nearest_even_magnitude(a, 0x7E, e4m3_to_double);
}

uint8_t ref_e2m1_encode(double v) {
  if (std::isnan(v)) return 0;
  const uint8_t sign = std::signbit(v) ? 0x8 : 0x0;
  const double a = std::fabs(v);
  if (a >= 6.0) return sign | 0x7;
  return sign | nearest_even_magnitude(a, 0x7, e2m1_to_double);
}

float ref_fp8_scale(double amax) {
  const float inv448 = static_cast<float>(1.0 / 448.0);
  const float min_scale = static_cast<float>(1.0 / (448.0 * 512.0));
  const float s = static_cast<float>(static_cast<double>(static_cast<float>(amax)) * static_cast<double>(inv448));
  return s > min_scale ? s : min_scale;
}

uint8_t ref_fp8_quantize(double x, float scale) {
  const float q = static_cast<float>(x / static_cast<double>(scale));
  return ref_e4m3_encode(q);
}

uint8_t ref_e8m0_from_amax(double amax) {
  int x = -127;
  if (amax > 0) {
    int e;
    std::frexp(amax, &e);  // amax = f * 2^e with f in [0.5, 1): floor(log2(amax)) = e - 1
    x = e - 1 - 2;
  }
  if (x < -127) x = -127;
  if (x > 127) x = 127;
  return static_cast<uint8_t>(x + 127);
}

RefQuantized ref_quantize(int scheme, int64_t group, const std::vector<double>& x, int64_t rows, int64_t cols) {
  RefQuantized out;
  if (scheme == kRefMxfp4) {
    out.values.assign(static_cast<size_t>(rows * cols / 2), 0);
    out.e8m0.assign(static_cast<size_t>(rows * cols / 32), 0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t b = 0; b < cols / 32; ++b) {
        bool has_nan = false;
        for (int64_t c = b * 32; c < b * 32 + 32; ++c) has_nan |= std::isnan(x[static_cast<size_t>(r * cols + c)]);
        const uint8_t byte = ref_e8m0_from_amax(finite_amax(x, r, r + 1, b * 32, b * 32 + 32, cols));
        for (int64_t c = b * 32; c < b * 32 + 32; ++c) {
          const double v = x[static_cast<size_t>(r * cols + c)];
          const uint8_t code = ref_e2m1_encode(v / e8m0_to_double(byte));  // exact: power-of-two divisor
          out.values[static_cast<size_t>((r * cols + c) / 2)] |= static_cast<uint8_t>(c % 2 ? code << 4 : code);
        }
        out.e8m0[static_cast<size_t>(r * (cols / 32) + b)] = has_nan ? 0xFF : byte;
      }
    return out;
  }
  // FP8: every scheme is a tiling of the matrix into rectangles that share one scale.
  int64_t tile_r = 1, tile_c = 1;
  switch (scheme) {
    case kRefFp8PerTensor: tile_r = rows > 0 ? rows : 1; tile_c = cols > 0 ? cols : 1; break;
    case kRefFp8PerToken: tile_r = 1; tile_c = cols > 0 ? cols : 1; break;
    case kRefFp8PerGroup: tile_r = 1; tile_c = group; break;
    case kRefFp8Block: tile_r = group; tile_c = group; break;
    default: return out;
  }
  const int64_t tiles_r = scheme == kRefFp8PerTensor ? 1 : ceil_div(rows, tile_r);
  const int64_t tiles_c = scheme == kRefFp8PerTensor || scheme == kRefFp8PerToken ? 1 : ceil_div(cols, tile_c);
  out.values.assign(static_cast<size_t>(rows * cols), 0);
  out.fp8_scales.assign(static_cast<size_t>(tiles_r * tiles_c), 0.0f);
  for (int64_t tr = 0; tr < tiles_r; ++tr)
    for (int64_t tc = 0; tc < tiles_c; ++tc) {
      const int64_t r0 = tr * tile_r, r1 = std::min(rows, r0 + tile_r);
      const int64_t c0 = tc * tile_c, c1 = std::min(cols, c0 + tile_c);
      const float scale = ref_fp8_scale(finite_amax(x, r0, r1, c0, c1, cols));
      out.fp8_scales[static_cast<size_t>(tr * tiles_c + tc)] = scale;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c)
          out.values[static_cast<size_t>(r * cols + c)] = ref_fp8_quantize(x[static_cast<size_t>(r * cols + c)], scale);
    }
  return out;
}

std::vector<double> ref_dequantize(int scheme, int64_t group, const std::vector<uint8_t>& values,
                                   const std::vector<float>& fp8_scales, const std::vector<uint8_t>& e8m0,
                                   int64_t rows, int64_t cols) {
  std::vector<double> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      double decoded, scale;
      if (scheme == kRefMxfp4) {
        const uint8_t byte = values[static_cast<size_t>((r * cols + c) / 2)];
        decoded = e2m1_to_double(c % 2 ? byte >> 4 : byte & 0xF);
        scale = e8m0_to_double(e8m0[static_cast<size_t>(r * (cols / 32) + c / 32)]);
      } else {
        decoded = e4m3_to_double(values[static_cast<size_t>(r * cols + c)]);
        int64_t index = 0;
        switch (scheme) {
          case kRefFp8PerTensor: index = 0; break;
          case kRefFp8PerToken: index = r; break;
          case kRefFp8PerGroup: index = r * ceil_div(cols, group) + c / group; break;
          case kRefFp8Block: index = (r / group) * ceil_div(cols, group) + c / group; break;
        }
        scale = fp8_scales[static_cast<size_t>(index)];
      }
      // decoded has <= 4 significant bits and scale 24: the product is exact in double; round once to float.
      out[static_cast<size_t>(r * cols + c)] = static_cast<float>(decoded * scale);
    }
  return out;
}

}  // namespace moekit_ref
