// The routing order every backend implements (moekit.h, router section): larger key first, NaN after every
// number, ties (equal keys, including -0 == +0, and NaN with NaN) to the lower expert id. It is a strict total
// order on (key, id) pairs, so "the k best" is one well-defined set in one well-defined order, whatever
// algorithm (partial sort on the CPU, iterated warp arg-max on the GPU) finds it.
#pragma once

#include <cstdint>

#include "portability.h"

namespace moekit::device {

// True if (va, ia) ranks before (vb, ib). Mirrors core/src/cpu/cpu_route.cpp's ranks_before.
MOEKIT_HOST_DEVICE inline bool ranks_before(float va, int32_t ia, float vb, int32_t ib) {
  const bool na = is_nan(va), nb = is_nan(vb);
  if (na != nb) return nb;
  if (!na && va != vb) return va > vb;
  return ia < ib;
}

}  // namespace moekit::device
