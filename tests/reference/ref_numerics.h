// Reference decoders/encoders of the storage formats, written independently of core's numerics.
#pragma once

#include <cstdint>
#include <vector>

namespace moekit_ref {

double bf16_to_double(uint16_t h);
double f16_to_double(uint16_t h);
// Nearest-even encoders, used by tests to build inputs that are exactly representable.
uint16_t double_to_bf16(double v);
uint16_t double_to_f16(double v);

// dtype codes are moekit_dtype's numeric values (0 f32, 1 f16, 2 bf16).
double load_as_double(const void* data, int dtype, int64_t index);
std::vector<double> to_double(const void* data, int dtype, int64_t count);

}  // namespace moekit_ref
