#include "moekit_core/types.h"

namespace moekit {

size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32: case DType::I32: case DType::U32: return 4;
    case DType::F16: case DType::BF16: return 2;
    case DType::F8E4M3: case DType::F8E5M2: case DType::E8M0: case DType::FP4X2: case DType::U8: return 1;
    case DType::I64: return 8;
  }
  return 0;
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    case DType::F8E4M3: return "float8_e4m3fn";
    case DType::F8E5M2: return "float8_e5m2";
    case DType::E8M0: return "float8_e8m0fnu";
    case DType::FP4X2: return "float4_e2m1fn_x2";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
    case DType::U8: return "uint8";
    case DType::U32: return "uint32";
  }
  return "unknown";
}

const char* backend_name(BackendKind b) {
  switch (b) {
    case BackendKind::Auto: return "auto";
    case BackendKind::CPU: return "cpu";
    case BackendKind::CUDA: return "cuda";
    case BackendKind::HIP: return "hip";
  }
  return "unknown";
}

}  // namespace moekit
