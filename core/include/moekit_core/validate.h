// Argument validation written once and reused by every entry point. Each check throws
// Error(InvalidArgument, "<name>: <what is wrong>") and never touches the tensor's memory.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "moekit_core/error.h"
#include "moekit_core/types.h"

namespace moekit {

// Wildcard for a dimension in expect_shape.
constexpr int64_t kAnyDim = -1;

void expect_present(const TensorView& t, const char* name);
void expect_dtype(const TensorView& t, const char* name, DType dtype);
void expect_dtype_in(const TensorView& t, const char* name, std::initializer_list<DType> allowed);
// Checks rank and every dimension that is not kAnyDim.
void expect_shape(const TensorView& t, const char* name, std::initializer_list<int64_t> shape);
// Every tensor a backend touches must live on that backend's device.
void expect_device(const TensorView& t, const char* name, DeviceType device, int32_t device_id);
// Ranges: lo <= v <= hi.
void expect_range(int64_t v, const char* name, int64_t lo, int64_t hi);

// Overflow-checked arithmetic for sizes; throws InvalidArgument naming `what` on overflow.
int64_t checked_mul(int64_t a, int64_t b, const char* what);
int64_t checked_add(int64_t a, int64_t b, const char* what);
// Bytes of `numel` elements of dtype, overflow-checked.
int64_t checked_bytes(int64_t numel, DType dtype, const char* what);

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

std::string shape_string(const TensorView& t);

}  // namespace moekit
