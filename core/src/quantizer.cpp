#include "moekit_core/quantizer.h"

#include <string>

#include "moekit_core/error.h"
#include "moekit_core/validate.h"

namespace moekit {

Quantizer::Quantizer(std::shared_ptr<Context> ctx, QuantizerConfig cfg) : ctx_(std::move(ctx)), cfg_(cfg) {
  if (!ctx_) invalid("ctx: context is null");
  const auto scheme = static_cast<int32_t>(cfg_.scheme);
  if (scheme < static_cast<int32_t>(QuantScheme::Fp8PerTensor) || scheme > static_cast<int32_t>(QuantScheme::Mxfp4))
    invalid("scheme: unknown quantization scheme " + std::to_string(scheme));
  // Every scheme carries a group size (unused by some) so that one resolved value travels to every backend.
  if (cfg_.group_size < 1) invalid("group_size: must be >= 1, got " + std::to_string(cfg_.group_size));
}

QuantShapes Quantizer::shapes(int64_t rows, int64_t cols) const {
  if (rows < 0) invalid("rows: must be >= 0, got " + std::to_string(rows));
  if (cols < 0) invalid("cols: must be >= 0, got " + std::to_string(cols));
  checked_mul(rows, cols, "rows * cols");  // such an input could never be described as a tensor
  return quant_shapes(cfg_, rows, cols);
}

QuantShapes Quantizer::check_float_matrix(const TensorView& t, const char* name) const {
  expect_present(t, name);
  expect_dtype_in(t, name, {DType::F32, DType::BF16, DType::F16});
  expect_shape(t, name, {kAnyDim, kAnyDim});
  expect_device(t, name, ctx_->device_type(), ctx_->device_id());
  if (cfg_.scheme == QuantScheme::Mxfp4 && t.dim(1) % 32 != 0)
    invalid(std::string(name) + ": MXFP4 needs a multiple of 32 columns (one E8M0 scale per 32 values), got " +
            shape_string(t));
  return quant_shapes(cfg_, t.dim(0), t.dim(1));
}

void Quantizer::check_quantized(const QuantShapes& s, const TensorView& values, const TensorView& scales) const {
  expect_present(values, "values");
  expect_dtype(values, "values", s.values_dtype);
  expect_shape(values, "values", {s.values[0], s.values[1]});
  expect_device(values, "values", ctx_->device_type(), ctx_->device_id());
  expect_present(scales, "scales");
  expect_dtype(scales, "scales", s.scales_dtype);
  expect_shape(scales, "scales", {s.scales[0], s.scales[1]});
  expect_device(scales, "scales", ctx_->device_type(), ctx_->device_id());
}

void Quantizer::quantize(const TensorView& input, const TensorView& values, const TensorView& scales, void* stream) {
  const QuantShapes s = check_float_matrix(input, "input");
  check_quantized(s, values, scales);
  ctx_->backend().quantize(ctx_->exec(stream), cfg_, input, values, scales);
}

void Quantizer::dequantize(const TensorView& values, const TensorView& scales, const TensorView& output,
                           void* stream) {
  const QuantShapes s = check_float_matrix(output, "output");
  check_quantized(s, values, scales);
  ctx_->backend().dequantize(ctx_->exec(stream), cfg_, values, scales, output);
}

}  // namespace moekit
