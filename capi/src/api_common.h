// What every C entry point shares: the exception firewall, the thread-local error, struct-size checks,
// handle checks, and the conversion of moekit_tensor to a validated core TensorView.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "moekit/moekit.h"
#include "moekit_core/context.h"
#include "moekit_core/error.h"
#include "moekit_core/types.h"

namespace moekit::capi {

void set_last_error(const std::string& message);

// The integer a C caller stored in an enum-typed field or argument. C lets any int through; in C++ loading an
// enum outside its declared range is undefined (UBSan flags it), so read the bits as an integer before
// range-checking.
template <class Enum>
int32_t enum_value(const Enum& e) {
  static_assert(sizeof(Enum) == sizeof(int32_t), "C enums are int-sized on every supported ABI");
  int32_t v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

// Runs `body`, translating every exception to a status + thread-local message. Nothing escapes.
template <class Body>
moekit_status guarded(Body&& body) noexcept {
  try {
    body();
    return MOEKIT_OK;
  } catch (const Error& e) {
    set_last_error(e.what());
    return static_cast<moekit_status>(e.status());
  } catch (const std::bad_alloc&) {
    set_last_error("out of memory");
    return MOEKIT_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    set_last_error(std::string("internal error: ") + e.what());
    return MOEKIT_ERR_INTERNAL;
  } catch (...) {
    set_last_error("internal error: unknown exception");
    return MOEKIT_ERR_INTERNAL;
  }
}

// Requires a non-null pointer argument.
template <class T>
T* require(T* p, const char* name) {
  if (p == nullptr) invalid(std::string(name) + ": is null");
  return p;
}

// Size-tagged structs: a caller built against an older (smaller) struct is rejected only if it lacks
// fields this version needs (min_size); a larger struct from a newer header is accepted only when every byte
// beyond what this version knows is zero, so a field this library cannot honour is never ignored silently.
void check_struct_size(const void* s, size_t struct_size, size_t min_size, size_t known_size, const char* name);
#define MOEKIT_CHECK_STRUCT(ptr, type, name) \
  ::moekit::capi::check_struct_size((ptr), (ptr)->struct_size, sizeof(type), sizeof(type), (name))
// Output structs: the caller's struct must hold at least this version's fields; moekit writes exactly those.
void check_output_struct(size_t struct_size, size_t known_size, const char* name);
#define MOEKIT_CHECK_OUT_STRUCT(ptr, type, name) \
  ::moekit::capi::check_output_struct((ptr)->struct_size, sizeof(type), (name))

// Tensor conversion. `optional` tensors may have data == NULL (they come back with present() == false).
TensorView to_view(const moekit_tensor* t, const char* name, bool optional = false);
TensorView to_view_ref(const moekit_tensor& t, const char* name, bool optional = false);

// Handle bodies. A magic word catches use of a destroyed or foreign handle in most cases.
constexpr uint32_t kContextMagic = 0x4d4b4358;  // "MKCX"
constexpr uint32_t kRouterMagic = 0x4d4b5254;
constexpr uint32_t kQuantizerMagic = 0x4d4b5154;
constexpr uint32_t kExpertsMagic = 0x4d4b4558;

template <class Handle>
Handle* check_handle(Handle* h, uint32_t magic, const char* name) {
  if (h == nullptr) invalid(std::string(name) + ": handle is null");
  if (h->magic != magic) invalid(std::string(name) + ": not a live handle (destroyed, or of another type)");
  return h;
}

}  // namespace moekit::capi

struct moekit_context_s {
  uint32_t magic = moekit::capi::kContextMagic;
  std::shared_ptr<moekit::Context> impl;
};
