// The quantizer: validates a quantize/dequantize call (dtypes, shapes from quant_shapes, devices) and hands it
// to the context's backend. The numeric formulas live in numerics/fp8.h and numerics/mxfp4.h.
#pragma once

#include <cstdint>
#include <memory>

#include "moekit_core/configs.h"
#include "moekit_core/context.h"
#include "moekit_core/types.h"

namespace moekit {

class Quantizer {
 public:
  // Throws InvalidArgument for a null context, an unknown scheme or group_size < 1.
  Quantizer(std::shared_ptr<Context> ctx, QuantizerConfig cfg);

  const QuantizerConfig& config() const { return cfg_; }
  Context& context() { return *ctx_; }

  // Value and scale shapes/dtypes for a [rows, cols] input (rows, cols >= 0; MXFP4: cols % 32 == 0).
  QuantShapes shapes(int64_t rows, int64_t cols) const;

  // input [M,K] f32/bf16/f16 -> values and scales exactly as shapes(M, K) describes.
  void quantize(const TensorView& input, const TensorView& values, const TensorView& scales, void* stream);
  // values + scales -> output [M,K] f32/bf16/f16; values and scales must match shapes(M, K).
  void dequantize(const TensorView& values, const TensorView& scales, const TensorView& output, void* stream);

 private:
  // Shapes for a rank-2 float tensor `name` ([M,K] input or output), with its dtype and device checked.
  QuantShapes check_float_matrix(const TensorView& t, const char* name) const;
  void check_quantized(const QuantShapes& s, const TensorView& values, const TensorView& scales) const;

  std::shared_ptr<Context> ctx_;
  QuantizerConfig cfg_;
};

}  // namespace moekit
