// Version, status strings, errors and tensor helpers.
#include "api_common.h"
#include "moekit_core/validate.h"

namespace moekit::capi {
const std::string& last_error();
}

using namespace moekit;

extern "C" {

MOEKIT_API void moekit_version(int32_t* major, int32_t* minor, int32_t* patch) {
  if (major) *major = MOEKIT_VERSION_MAJOR;
  if (minor) *minor = MOEKIT_VERSION_MINOR;
  if (patch) *patch = MOEKIT_VERSION_PATCH;
}

#define MOEKIT_STR2(x) #x
#define MOEKIT_STR(x) MOEKIT_STR2(x)
MOEKIT_API const char* moekit_version_string(void) {
  return MOEKIT_STR(MOEKIT_VERSION_MAJOR) "." MOEKIT_STR(MOEKIT_VERSION_MINOR) "." MOEKIT_STR(MOEKIT_VERSION_PATCH);
}

MOEKIT_API int32_t moekit_abi_version(void) { return MOEKIT_ABI_VERSION; }

MOEKIT_API const char* moekit_status_string(moekit_status status) {
  switch (capi::enum_value(status)) {
    case MOEKIT_OK: return "ok";
    case MOEKIT_ERR_INVALID_ARGUMENT: return "invalid argument";
    case MOEKIT_ERR_UNSUPPORTED: return "unsupported";
    case MOEKIT_ERR_BACKEND_UNAVAILABLE: return "backend unavailable";
    case MOEKIT_ERR_OUT_OF_MEMORY: return "out of memory";
    case MOEKIT_ERR_DEVICE: return "device error";
    case MOEKIT_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

MOEKIT_API const char* moekit_last_error(void) { return capi::last_error().c_str(); }
MOEKIT_API void moekit_clear_error(void) { capi::set_last_error(""); }

MOEKIT_API size_t moekit_dtype_size(moekit_dtype dtype) {
  const int32_t d = capi::enum_value(dtype);
  if (d < 0 || d >= kNumDTypes) return 0;
  return dtype_size(static_cast<DType>(d));
}

MOEKIT_API const char* moekit_dtype_name(moekit_dtype dtype) {
  const int32_t d = capi::enum_value(dtype);
  if (d < 0 || d >= kNumDTypes) return "unknown";
  return dtype_name(static_cast<DType>(d));
}

MOEKIT_API moekit_status moekit_tensor_init(moekit_tensor* t, void* data, moekit_dtype dtype, int32_t rank,
                                            const int64_t* shape) {
  return capi::guarded([&] {
    capi::require(t, "t");
    const int32_t d = capi::enum_value(dtype);
    if (d < 0 || d >= kNumDTypes) invalid("dtype: unknown dtype " + std::to_string(d));
    expect_range(rank, "rank", 0, MOEKIT_MAX_RANK);
    if (rank > 0) capi::require(shape, "shape");
    moekit_tensor r{};
    r.data = data;
    r.dtype = dtype;
    r.rank = rank;
    r.device_type = MOEKIT_DEVICE_CPU;
    int64_t stride = 1;
    for (int i = rank - 1; i >= 0; --i) {
      if (shape[i] < 0) invalid("shape[" + std::to_string(i) + "]: must be >= 0, got " + std::to_string(shape[i]));
      r.shape[i] = shape[i];
      r.strides[i] = stride;
      stride = checked_mul(stride, shape[i] == 0 ? 1 : shape[i], "shape");
    }
    *t = r;
  });
}

}  // extern "C"
