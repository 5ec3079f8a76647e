// A host TensorView over caller memory, for the core tests that call core objects directly (the C API tests go
// through moekit_tensor_init instead). Strides stay zero: contiguous, as core expects.
#pragma once

#include <initializer_list>

#include "moekit_core/types.h"

namespace moekit::test {

inline TensorView view(void* data, DType dtype, std::initializer_list<int64_t> shape) {
  TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.rank = static_cast<int>(shape.size());
  int i = 0;
  for (int64_t s : shape) v.shape[i++] = s;
  return v;
}

}  // namespace moekit::test
