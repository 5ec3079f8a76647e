// The parts of a device module's device context that do not depend on its runtime, shared by
// kernels/cuda/device_context.h and kernels/hip/device_context.h: the probe's answer, the scoped "make this
// device current" guard, and a memory size as the context descriptions print it. Each module keeps its own
// runtime calls in its own files and hands them to the guard through a small traits type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace moekit::plugin {

// Result of probing the driver and devices without creating anything.
struct ProbeResult {
  bool available = false;
  int32_t device_count = 0;
  std::string detail;  // device description, or the reason there is none ("no CUDA driver ...", "no HIP device ...")
};

// Makes `device` current for the scope and restores the caller's device afterwards. `Runtime` supplies
//   static bool current(int* device)     the caller's device; false when the runtime cannot tell
//   static void select(int device)       makes `device` current; throws PluginError on failure
//   static void restore(int device)      makes `device` current again; never throws (it runs in a destructor)
template <class Runtime>
class ScopedDevice {
 public:
  explicit ScopedDevice(int device) {
    if (!Runtime::current(&previous_)) previous_ = -1;
    if (previous_ != device) {
      Runtime::select(device);
      switched_ = true;
    }
  }
  ~ScopedDevice() {
    if (switched_ && previous_ >= 0) Runtime::restore(previous_);
  }
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;

 private:
  int previous_ = -1;
  bool switched_ = false;
};

// `bytes` in GiB with one decimal, cut rather than rounded ("139.8 GiB").
inline std::string gib_text(size_t bytes) {
  const double g = static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0);
  std::string s = std::to_string(g);
  return s.substr(0, s.find('.') + 2) + " GiB";
}

}  // namespace moekit::plugin
