// The C firewall of a device module's table functions, independent of the device runtime: one exception type
// carrying a plugin status, and `guarded`, which turns any C++ exception into a status and a message so that
// nothing crosses the plugin ABI. Used by both the CUDA and the HIP module.
#pragma once

#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>

#include "moekit_plugin.h"

namespace moekit::plugin {

class PluginError : public std::runtime_error {
 public:
  PluginError(moekit_plugin_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  moekit_plugin_status status() const { return status_; }

 private:
  moekit_plugin_status status_;
};

[[noreturn]] inline void throw_unsupported(const std::string& message) {
  throw PluginError(MOEKIT_PLUGIN_UNSUPPORTED, message);
}
[[noreturn]] inline void throw_internal(const std::string& message) { throw PluginError(MOEKIT_PLUGIN_INTERNAL, message); }

// NUL-terminated copy of `text`, truncated to `capacity` (nothing written for a null or empty buffer).
inline void write_message(char* out, size_t capacity, const std::string& text) {
  if (out == nullptr || capacity == 0) return;
  const size_t n = text.size() < capacity - 1 ? text.size() : capacity - 1;
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

template <class Fn>
int32_t guarded(const char* op, char* msg, size_t cap, Fn&& fn) noexcept {
  try {
    fn();
    return MOEKIT_PLUGIN_OK;
  } catch (const PluginError& e) {
    write_message(msg, cap, e.what());
    return e.status();
  } catch (const std::bad_alloc&) {
    write_message(msg, cap, std::string(op) + ": host out of memory");
    return MOEKIT_PLUGIN_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    write_message(msg, cap, std::string(op) + ": internal error: " + e.what());
    return MOEKIT_PLUGIN_INTERNAL;
  } catch (...) {
    write_message(msg, cap, std::string(op) + ": internal error: unknown exception");
    return MOEKIT_PLUGIN_INTERNAL;
  }
}

}  // namespace moekit::plugin
