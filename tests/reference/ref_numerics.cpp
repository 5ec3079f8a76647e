#include "reference/ref_numerics.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace moekit_ref {

double bf16_to_double(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

double f16_to_double(uint16_t h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int exp = (h >> 10) & 0x1f;
  const int man = h & 0x3ff;
  if (exp == 31) return man ? std::numeric_limits<double>::quiet_NaN() : sign * HUGE_VAL;
  if (exp == 0) return sign * std::ldexp(man, -24);
  return sign * std::ldexp(1024 + man, exp - 25);
}

// Generic nearest-even rounding to a binary format with `man_bits` stored mantissa bits and min normal
// exponent `emin`; returns the rounded double (no overflow handling: callers stay in range).
static double round_to_format(double v, int man_bits, int emin) {
  if (v == 0 || !std::isfinite(v)) return v;
  int e;
  std::frexp(std::fabs(v), &e);  // |v| = m * 2^e, m in [0.5, 1)
  int exp = e - 1;
  if (exp < emin) exp = emin;
  const double quantum = std::ldexp(1.0, exp - man_bits);
  return std::nearbyint(v / quantum) * quantum;  // default rounding mode: nearest-even
}

uint16_t double_to_bf16(double v) {
  if (std::isnan(v)) return 0x7fc0;
  const float f = static_cast<float>(round_to_format(v, 7, -126));
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>(u >> 16);
}

uint16_t double_to_f16(double v) {
  if (std::isnan(v)) return 0x7e00;
  const double r = round_to_format(v, 10, -14);
  const uint16_t sign = std::signbit(r) ? 0x8000 : 0;
  const double a = std::fabs(r);
  if (a >= 65520.0 || std::isinf(a)) return sign | 0x7c00;
  if (a == 0) return sign;
  int e;
  std::frexp(a, &e);
  int exp = e - 1;
  if (exp < -14) return sign | static_cast<uint16_t>(a / std::ldexp(1.0, -24));  // subnormal
  if (a >= 65504.0 * 1.0000001) return sign | 0x7c00;
  const int man = static_cast<int>(a / std::ldexp(1.0, exp - 10)) - 1024;
  if (man == 1024) return sign | static_cast<uint16_t>((exp + 16) << 10);
  return sign | static_cast<uint16_t>(((exp + 15) << 10) | man);
}

double load_as_double(const void* data, int dtype, int64_t index) {
  switch (dtype) {
    case 0: return static_cast<const float*>(data)[index];
    case 1: return f16_to_double(static_cast<const uint16_t*>(data)[index]);
    case 2: return bf16_to_double(static_cast<const uint16_t*>(data)[index]);
    default: return std::numeric_limits<double>::quiet_NaN();
  }
}

std::vector<double> to_double(const void* data, int dtype, int64_t count) {
  std::vector<double> out(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) out[static_cast<size_t>(i)] = load_as_double(data, dtype, i);
  return out;
}

}  // namespace moekit_ref
