// The body behind the public moekit_quantizer handle.
#pragma once

#include <cstdint>
#include <memory>

#include "api_common.h"
#include "moekit_core/quantizer.h"

struct moekit_quantizer_s {
  uint32_t magic = moekit::capi::kQuantizerMagic;
  std::unique_ptr<moekit::Quantizer> impl;
};
