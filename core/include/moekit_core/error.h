// The one exception type core throws; the C API turns it into a status and a thread-local message.
#pragma once

#include <stdexcept>
#include <string>

#include "moekit_core/types.h"

namespace moekit {

class Error : public std::runtime_error {
 public:
  Error(Status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  Status status() const { return status_; }

 private:
  Status status_;
};

[[noreturn]] inline void fail(Status status, const std::string& message) { throw Error(status, message); }
[[noreturn]] inline void invalid(const std::string& message) { throw Error(Status::InvalidArgument, message); }
[[noreturn]] inline void unsupported(const std::string& message) { throw Error(Status::Unsupported, message); }

}  // namespace moekit
