// Float64 reference of the low-precision formats and of the quantizer, written from the OCP FP8 (E4M3FN,
// E5M2) and OCP MX v1.0 (E2M1, E8M0) specifications and from the quantizer section of moekit.h. Shares no
// code with core: decoders evaluate the spec's (-1)^S * 2^(E-bias) * (1 + M/2^m) formula in double, and
// encoders pick the nearest representable value by searching the whole decoded code table.
#pragma once

#include <cstdint>
#include <vector>

namespace moekit_ref {

// Decoders (NaN codes give a quiet NaN; E5M2 exponent 31 with mantissa 0 gives ±Inf).
double e4m3_to_double(uint8_t code);
double e5m2_to_double(uint8_t code);
double e2m1_to_double(uint8_t code);   // low 4 bits: S.EE.M
double e8m0_to_double(uint8_t code);   // 2^(code - 127), 0xFF = NaN

// Nearest-even encoders by table search. Ties go to the code with an even mantissa (even code). Magnitudes
// above the largest finite value saturate (E4M3: 448, E2M1: 6), ±Inf included; the sign of the input is kept,
// also when the result is zero. NaN: E4M3 gives 0x7F with the input's sign bit, E2M1 gives code 0.
uint8_t ref_e4m3_encode(double v);
uint8_t ref_e2m1_encode(double v);

// Schemes, numbered as moekit_quant_scheme.
enum RefScheme { kRefFp8PerTensor = 0, kRefFp8PerToken = 1, kRefFp8PerGroup = 2, kRefFp8Block = 3, kRefMxfp4 = 4 };

// FP8 scale of an amax: the float32 product amax * (1.0f/448.0f), floored at 1.0f/(448.0f*512.0f). The product
// of two floats is exact in double, so rounding it once to float is float32 multiplication.
float ref_fp8_scale(double amax);
// FP8 code of x with a given scale: x / scale in IEEE float32 (computed in double and rounded once to float,
// which equals float32 division because double has more than 2*24+2 bits), then nearest-even E4M3.
uint8_t ref_fp8_quantize(double x, float scale);
// E8M0 exponent byte of a block's finite amax (X = floor(log2(amax)) - 2 clamped to [-127, 127]; 0 -> -127).
uint8_t ref_e8m0_from_amax(double amax);

struct RefQuantized {
  std::vector<uint8_t> values;     // e4m3 codes [M*K], or packed e2m1 pairs [M*K/2] (low nibble = even index)
  std::vector<float> fp8_scales;   // FP8 schemes, row-major in the scales shape
  std::vector<uint8_t> e8m0;       // MXFP4 [M*K/32]
};

// x: the input [rows, cols] as exact doubles. group: the FP8 group / block edge (ignored by other schemes).
RefQuantized ref_quantize(int scheme, int64_t group, const std::vector<double>& x, int64_t rows, int64_t cols);

// Dequantized values as float32 numbers: decode(value) * scale rounded once to float (what moekit stores
// before converting to the output dtype). scales: f32 bits for FP8 schemes or e8m0 bytes for MXFP4.
std::vector<double> ref_dequantize(int scheme, int64_t group, const std::vector<uint8_t>& values,
                                   const std::vector<float>& fp8_scales, const std::vector<uint8_t>& e8m0,
                                   int64_t rows, int64_t cols);

}  // namespace moekit_ref
