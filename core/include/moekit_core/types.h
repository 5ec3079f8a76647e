// Core value types: dtypes, devices, tensor views and statuses, independent of the C API's spelling.
#pragma once

#include <cstddef>
#include <cstdint>

namespace moekit {

// Numeric values match moekit_dtype so the C API can convert by cast after range-checking.
enum class DType : int32_t {
  F32 = 0, F16 = 1, BF16 = 2, F8E4M3 = 3, F8E5M2 = 4, E8M0 = 5, FP4X2 = 6, I32 = 7, I64 = 8, U8 = 9, U32 = 10
};
constexpr int kNumDTypes = 11;

enum class DeviceType : int32_t { CPU = 1, CUDA = 2, ROCM = 10 };

enum class BackendKind : int32_t { Auto = 0, CPU = 1, CUDA = 2, HIP = 3 };

// Numeric values match moekit_status.
enum class Status : int32_t {
  Ok = 0, InvalidArgument = 1, Unsupported = 2, BackendUnavailable = 3, OutOfMemory = 4, DeviceError = 5,
  Internal = 6
};

size_t dtype_size(DType d);        // bytes per element (FP4X2: 1 byte = 2 values); 0 if unknown
const char* dtype_name(DType d);   // "float32", "bfloat16", ...
const char* backend_name(BackendKind b);

constexpr int kMaxRank = 8;

// A validated, row-major contiguous view of caller memory. Shapes count elements of `dtype`.
struct TensorView {
  void* data = nullptr;
  DType dtype = DType::F32;
  int rank = 0;
  int64_t shape[kMaxRank] = {};
  DeviceType device = DeviceType::CPU;
  int32_t device_id = 0;

  bool present() const { return data != nullptr; }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= shape[i];
    return n;
  }
  int64_t dim(int i) const { return shape[i]; }
  template <class T> T* as() const { return static_cast<T*>(data); }
};

// Execution settings every backend call receives.
struct ExecContext {
  int num_threads = 1;
  void* stream = nullptr;
};

}  // namespace moekit
