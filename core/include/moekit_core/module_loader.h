// Finds a device backend module (libmoekit_cuda.so / libmoekit_hip.so) at run time.
// Search order: $MOEKIT_<NAME>_MODULE (a file), then $MOEKIT_MODULE_DIR if set (and nothing else then), else the
// directory of libmoekit.so, then the system search path of dlopen.
#pragma once

#include <string>
#include <vector>

namespace moekit {

struct ModuleSearch {
  void* handle = nullptr;            // dlopen handle, or nullptr
  std::string path;                  // the path that loaded
  std::vector<std::string> tried;    // every candidate, with dlerror() for each failure
};

// module_name: "cuda" or "hip". Never throws; a missing module is reported in `tried`.
ModuleSearch find_backend_module(const std::string& module_name);

}  // namespace moekit
