// Quantizer entry points: argument and handle checks, conversion to core types; the work is in core.
#include <cstring>

#include "api_common.h"
#include "quantizer_handle.h"

using namespace moekit;

namespace {

// The FP8 group / block edge when the descriptor leaves group_size at 0 (the platform contract's fp8_block).
constexpr int32_t kDefaultGroupSize = 128;

QuantizerConfig to_config(const moekit_quantizer_desc& d) {
  const int32_t scheme = capi::enum_value(d.scheme);  // a C caller may store any int in the field
  if (scheme < MOEKIT_QUANT_FP8_PER_TENSOR || scheme > MOEKIT_QUANT_MXFP4)
    invalid("desc.scheme: unknown quantization scheme " + std::to_string(scheme));
  if (d.group_size < 0) invalid("desc.group_size: must be >= 0 (0 = 128), got " + std::to_string(d.group_size));
  QuantizerConfig c;
  c.scheme = static_cast<QuantScheme>(scheme);
  c.group_size = d.group_size == 0 ? kDefaultGroupSize : d.group_size;
  return c;
}

Quantizer& live(moekit_quantizer q) { return *capi::check_handle(q, capi::kQuantizerMagic, "q")->impl; }

}  // namespace

extern "C" {

MOEKIT_API moekit_status moekit_quantizer_create(moekit_context ctx, const moekit_quantizer_desc* desc,
                                                 moekit_quantizer* out) {
  return capi::guarded([&] {
    capi::check_handle(ctx, capi::kContextMagic, "ctx");
    capi::require(desc, "desc");
    MOEKIT_CHECK_STRUCT(desc, moekit_quantizer_desc, "desc");
    capi::require(out, "out");
    auto handle = std::make_unique<moekit_quantizer_s>();
    handle->impl = std::make_unique<Quantizer>(ctx->impl, to_config(*desc));
    *out = handle.release();
  });
}

MOEKIT_API moekit_status moekit_quantizer_destroy(moekit_quantizer q) {
  return capi::guarded([&] {
    if (q == nullptr) return;
    capi::check_handle(q, capi::kQuantizerMagic, "q");
    q->magic = 0;
    delete q;
  });
}

MOEKIT_API moekit_status moekit_quantizer_output_shapes(moekit_quantizer q, int64_t rows, int64_t cols,
                                                        int64_t values_shape[2], int64_t scales_shape[2]) {
  return capi::guarded([&] {
    Quantizer& quantizer = live(q);
    capi::require(values_shape, "values_shape");
    capi::require(scales_shape, "scales_shape");
    const QuantShapes s = quantizer.shapes(rows, cols);
    values_shape[0] = s.values[0];
    values_shape[1] = s.values[1];
    scales_shape[0] = s.scales[0];
    scales_shape[1] = s.scales[1];
  });
}

MOEKIT_API moekit_status moekit_quantize(moekit_quantizer q, const moekit_tensor* input, moekit_tensor* values,
                                         moekit_tensor* scales, void* stream) {
  return capi::guarded([&] {
    Quantizer& quantizer = live(q);
    quantizer.quantize(capi::to_view(input, "input"), capi::to_view(values, "values"),
                       capi::to_view(scales, "scales"), stream);
  });
}

MOEKIT_API moekit_status moekit_dequantize(moekit_quantizer q, const moekit_tensor* values,
                                           const moekit_tensor* scales, moekit_tensor* output, void* stream) {
  return capi::guarded([&] {
    Quantizer& quantizer = live(q);
    quantizer.dequantize(capi::to_view(values, "values"), capi::to_view(scales, "scales"),
                         capi::to_view(output, "output"), stream);
  });
}

}  // extern "C"
