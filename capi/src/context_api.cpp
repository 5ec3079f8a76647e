// Context and backend entry points.
#include <cstring>

#include "api_common.h"
#include "moekit_core/validate.h"

using namespace moekit;

namespace {

BackendKind to_backend(const moekit_backend& backend, bool allow_auto) {
  const int32_t b = capi::enum_value(backend);
  if (b < MOEKIT_BACKEND_AUTO || b > MOEKIT_BACKEND_HIP || (!allow_auto && b == MOEKIT_BACKEND_AUTO))
    invalid("backend: unknown backend " + std::to_string(b));
  return static_cast<BackendKind>(b);
}

void copy_string(char* dst, size_t cap, const std::string& src) {
  const size_t n = src.size() < cap - 1 ? src.size() : cap - 1;
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

}  // namespace

extern "C" {

MOEKIT_API moekit_status moekit_backend_query(moekit_backend backend, moekit_backend_info* info) {
  return capi::guarded([&] {
    capi::require(info, "info");
    MOEKIT_CHECK_OUT_STRUCT(info, moekit_backend_info, "info");
    const BackendStatus st = query_backend(to_backend(backend, false));
    moekit_backend_info r{};
    r.struct_size = sizeof(moekit_backend_info);
    r.backend = backend;
    r.available = st.available ? 1 : 0;
    r.device_count = st.device_count;
    copy_string(r.name, sizeof r.name, st.name);
    copy_string(r.detail, sizeof r.detail, st.detail);
    *info = r;
  });
}

MOEKIT_API moekit_status moekit_context_create(moekit_backend backend, int32_t device_id, moekit_context* out) {
  return capi::guarded([&] {
    capi::require(out, "out");
    if (device_id < 0) invalid("device_id: must be >= 0, got " + std::to_string(device_id));
    auto handle = std::make_unique<moekit_context_s>();
    handle->impl = Context::create(to_backend(backend, true), device_id);
    *out = handle.release();
  });
}

MOEKIT_API moekit_status moekit_context_destroy(moekit_context ctx) {
  return capi::guarded([&] {
    if (ctx == nullptr) return;
    capi::check_handle(ctx, capi::kContextMagic, "ctx");
    ctx->magic = 0;
    delete ctx;
  });
}

MOEKIT_API moekit_status moekit_context_get_backend(moekit_context ctx, moekit_backend* backend, int32_t* device_id) {
  return capi::guarded([&] {
    capi::check_handle(ctx, capi::kContextMagic, "ctx");
    if (backend) *backend = static_cast<moekit_backend>(ctx->impl->kind());
    if (device_id) *device_id = ctx->impl->device_id();
  });
}

MOEKIT_API moekit_status moekit_context_set_num_threads(moekit_context ctx, int32_t n) {
  return capi::guarded([&] {
    capi::check_handle(ctx, capi::kContextMagic, "ctx");
    ctx->impl->set_num_threads(n);
  });
}

MOEKIT_API moekit_status moekit_context_get_num_threads(moekit_context ctx, int32_t* n) {
  return capi::guarded([&] {
    capi::check_handle(ctx, capi::kContextMagic, "ctx");
    *capi::require(n, "n") = ctx->impl->num_threads();
  });
}

MOEKIT_API moekit_status moekit_context_platform_contract(moekit_context ctx, moekit_platform_contract* out) {
  return capi::guarded([&] {
    capi::check_handle(ctx, capi::kContextMagic, "ctx");
    capi::require(out, "out");
    MOEKIT_CHECK_OUT_STRUCT(out, moekit_platform_contract, "out");
    const PlatformContract c = ctx->impl->contract();
    *out = moekit_platform_contract{sizeof(moekit_platform_contract), c.block_size_m, c.hidden_align,
                                    c.intermediate_align, c.buffer_align_bytes, c.mx_block, c.fp8_block};
  });
}

MOEKIT_API moekit_status moekit_context_padded_sizes(moekit_context ctx, int64_t hidden, int64_t intermediate,
                                                     int64_t* hidden_pad, int64_t* intermediate_pad) {
  return capi::guarded([&] {
    capi::check_handle(ctx, capi::kContextMagic, "ctx");
    const int64_t limit = int64_t{1} << 40;  // far beyond any model; keeps round-ups free of overflow
    expect_range(hidden, "hidden", 1, limit);
    expect_range(intermediate, "intermediate", 1, limit);
    const PaddedSizes p = padded_sizes(ctx->impl->contract(), hidden, intermediate);
    if (hidden_pad) *hidden_pad = p.hidden_pad;
    if (intermediate_pad) *intermediate_pad = p.intermediate_pad;
  });
}

}  // extern "C"
