#include "moekit_core/validate.h"

#include <limits>
#include <sstream>

namespace moekit {

std::string shape_string(const TensorView& t) {
  std::ostringstream s;
  s << '[';
  for (int i = 0; i < t.rank; ++i) s << (i ? ", " : "") << t.shape[i];
  s << ']';
  return s.str();
}

void expect_present(const TensorView& t, const char* name) {
  if (!t.present()) invalid(std::string(name) + ": data is null");
}

void expect_dtype(const TensorView& t, const char* name, DType dtype) {
  if (t.dtype != dtype)
    invalid(std::string(name) + ": dtype must be " + dtype_name(dtype) + ", got " + dtype_name(t.dtype));
}

void expect_dtype_in(const TensorView& t, const char* name, std::initializer_list<DType> allowed) {
  std::string names;
  for (DType d : allowed) {
    if (t.dtype == d) return;
    names += names.empty() ? "" : " or ";
    names += dtype_name(d);
  }
  invalid(std::string(name) + ": dtype must be " + names + ", got " + dtype_name(t.dtype));
}

void expect_shape(const TensorView& t, const char* name, std::initializer_list<int64_t> shape) {
  std::ostringstream want;
  want << '[';
  int i = 0;
  for (int64_t d : shape) {
    want << (i++ ? ", " : "");
    if (d == kAnyDim) want << '*'; else want << d;
  }
  want << ']';
  bool ok = t.rank == static_cast<int>(shape.size());
  i = 0;
  for (int64_t d : shape) {
    if (ok && d != kAnyDim && t.shape[i] != d) ok = false;
    ++i;
  }
  if (!ok) invalid(std::string(name) + ": shape must be " + want.str() + ", got " + shape_string(t));
}

static const char* device_name(DeviceType d) {
  switch (d) {
    case DeviceType::CPU: return "cpu";
    case DeviceType::CUDA: return "cuda";
    case DeviceType::ROCM: return "rocm";
  }
  return "unknown";
}

void expect_device(const TensorView& t, const char* name, DeviceType device, int32_t device_id) {
  if (t.device != device || (device != DeviceType::CPU && t.device_id != device_id)) {
    std::ostringstream s;
    s << name << ": tensor is on " << device_name(t.device) << ':' << t.device_id << " but the context runs on "
      << device_name(device) << ':' << device_id;
    invalid(s.str());
  }
}

void expect_range(int64_t v, const char* name, int64_t lo, int64_t hi) {
  if (v < lo || v > hi) {
    std::ostringstream s;
    s << name << ": must be in [" << lo << ", " << hi << "], got " << v;
    invalid(s.str());
  }
}

int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  int64_t r;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) invalid(std::string(what) + ": size overflows int64");
  return r;
}

int64_t checked_add(int64_t a, int64_t b, const char* what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) invalid(std::string(what) + ": size overflows int64");
  return r;
}

int64_t checked_bytes(int64_t numel, DType dtype, const char* what) {
  return checked_mul(numel, static_cast<int64_t>(dtype_size(dtype)), what);
}

}  // namespace moekit
