#include "moekit_core/module_loader.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace moekit {

namespace {

// Directory of the shared object this function lives in (libmoekit.so), "" if unknown.
std::string own_directory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&own_directory), &info) == 0 || info.dli_fname == nullptr) return "";
  std::string path = info.dli_fname;
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

bool try_open(const std::string& candidate, ModuleSearch& search) {
  dlerror();
  void* h = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h != nullptr) {
    search.handle = h;
    search.path = candidate;
    return true;
  }
  const char* err = dlerror();
  // "No such file" about the candidate itself is the common case and says nothing new; any other reason is
  // what a user needs to see: wrong architecture, unresolved symbol, or a missing dependency — which dlerror()
  // also words "No such file", but names the dependency (libamdhip64.so.5 for the HIP module) first.
  const std::string reason = err ? err : "not loadable";
  const bool module_itself_missing =
      reason.rfind(candidate + ":", 0) == 0 && reason.find("No such file") != std::string::npos;
  if (module_itself_missing) search.tried.push_back(candidate);
  else search.tried.push_back(candidate + " (" + reason + ")");
  return false;
}

}  // namespace

ModuleSearch find_backend_module(const std::string& module_name) {
  ModuleSearch search;
  const std::string file = "libmoekit_" + module_name + ".so";
  std::string upper = module_name;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });

  if (const char* explicit_path = std::getenv(("MOEKIT_" + upper + "_MODULE").c_str()); explicit_path && *explicit_path)
    if (try_open(explicit_path, search)) return search;
  // An explicit module directory is the whole search: a deployment (or a test) that names where its modules
  // live must not pick up another copy from beside libmoekit.so or from the system path.
  if (const char* dir = std::getenv("MOEKIT_MODULE_DIR"); dir && *dir) {
    try_open(std::string(dir) + "/" + file, search);
    return search;
  }
  if (const std::string dir = own_directory(); !dir.empty())
    if (try_open(dir + "/" + file, search)) return search;
  try_open(file, search);  // the system search path (LD_LIBRARY_PATH, ld.so.cache)
  return search;
}

}  // namespace moekit
