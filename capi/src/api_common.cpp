#include "api_common.h"

#include <cstring>
#include <sstream>

#include "moekit_core/validate.h"

namespace moekit::capi {

namespace {
thread_local std::string t_last_error;
}

void set_last_error(const std::string& message) { t_last_error = message; }
const std::string& last_error() { return t_last_error; }

void check_struct_size(const void* s, size_t struct_size, size_t min_size, size_t known_size, const char* name) {
  if (struct_size < min_size) {
    std::ostringstream m;
    m << name << ": struct_size " << struct_size << " is smaller than " << min_size
      << " (set it to sizeof the struct, or use the _INIT macro)";
    invalid(m.str());
  }
  const auto* bytes = static_cast<const unsigned char*>(s);
  for (size_t i = known_size; i < struct_size; ++i)
    if (bytes[i] != 0) {
      std::ostringstream m;
      m << name << ": struct_size " << struct_size << " is larger than this library knows (" << known_size
        << ") and the extra fields are set; upgrade libmoekit";
      unsupported(m.str());
    }
}

void check_output_struct(size_t struct_size, size_t known_size, const char* name) {
  if (struct_size < known_size) {
    std::ostringstream m;
    m << name << ": struct_size " << struct_size << " is smaller than " << known_size
      << " (set it to sizeof the struct, or use the _INIT macro)";
    invalid(m.str());
  }
}

TensorView to_view_ref(const moekit_tensor& t, const char* name, bool optional) {
  TensorView v;
  const int32_t dtype = enum_value(t.dtype);
  if (dtype < 0 || dtype >= kNumDTypes) invalid(std::string(name) + ": unknown dtype " + std::to_string(dtype));
  v.dtype = static_cast<DType>(dtype);
  if (t.rank < 0 || t.rank > kMaxRank)
    invalid(std::string(name) + ": rank must be in [0, 8], got " + std::to_string(t.rank));
  v.rank = t.rank;
  const int32_t device = enum_value(t.device_type);
  if (device != MOEKIT_DEVICE_CPU && device != MOEKIT_DEVICE_CUDA && device != MOEKIT_DEVICE_ROCM)
    invalid(std::string(name) + ": unknown device type " + std::to_string(device));
  v.device = static_cast<DeviceType>(device);
  v.device_id = t.device_id;
  if (t.device_id < 0) invalid(std::string(name) + ": device_id must be >= 0, got " + std::to_string(t.device_id));
  int64_t numel = 1;
  for (int i = 0; i < t.rank; ++i) {
    if (t.shape[i] < 0)
      invalid(std::string(name) + ": shape[" + std::to_string(i) + "] is negative (" + std::to_string(t.shape[i]) + ")");
    v.shape[i] = t.shape[i];
    numel = checked_mul(numel, t.shape[i], name);
  }
  checked_bytes(numel, v.dtype, name);
  // Row-major contiguity; strides of size-1 dimensions are irrelevant (DLPack allows any value there), and so
  // are all strides of an empty tensor (moekit_tensor_init and PyTorch give [2, 0] the strides [1, 1]).
  int64_t expected = 1;
  for (int i = t.rank - 1; i >= 0 && numel > 0; --i) {
    if (t.shape[i] != 1 && t.strides[i] != expected) {
      std::ostringstream m;
      m << name << ": non-contiguous tensors are not supported (strides[" << i << "] = " << t.strides[i]
        << ", a row-major contiguous tensor of shape " << shape_string(v) << " has " << expected << ")";
      invalid(m.str());
    }
    expected *= t.shape[i];
  }
  v.data = t.data;
  if (v.data == nullptr && !optional) {
    if (numel > 0) invalid(std::string(name) + ": data is null");
    // An empty required tensor may come with a null pointer (T = 0). Point it at a sentinel so core can
    // tell "given but empty" from "optional and absent"; nothing is ever read through it.
    static char empty_sentinel;
    v.data = &empty_sentinel;
  }
  return v;
}

TensorView to_view(const moekit_tensor* t, const char* name, bool optional) {
  if (t == nullptr) {
    if (optional) return TensorView{};
    invalid(std::string(name) + ": tensor is null");
  }
  return to_view_ref(*t, name, optional);
}

}  // namespace moekit::capi
