#include "cublas_loader.h"

#include <dlfcn.h>

#include <string>

namespace moekit::cuda {

namespace {

template <class Fn>
bool bind(void* lib, const char* symbol, Fn& out, std::string& error) {
  out = reinterpret_cast<Fn>(dlsym(lib, symbol));
  if (out == nullptr) error = std::string("symbol ") + symbol + " missing";
  return out != nullptr;
}

CublasApi load() {
  CublasApi api;
  // The cuBLAS major this module was compiled against (its enums and signatures): libcublas.so.<major>.
  const std::string soname = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  void* lib = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* err = dlerror();
    api.error = soname + " not loadable (" + (err ? err : "unknown reason") + ")";
    return api;
  }
  CublasApi bound;
  std::string error;
  const bool ok = bind(lib, "cublasCreate_v2", bound.create, error) &&
                  bind(lib, "cublasDestroy_v2", bound.destroy, error) &&
                  bind(lib, "cublasSetStream_v2", bound.set_stream, error) &&
                  bind(lib, "cublasSetWorkspace_v2", bound.set_workspace, error) &&
                  bind(lib, "cublasGetVersion_v2", bound.get_version, error) &&
                  bind(lib, "cublasGemmEx", bound.gemm_ex, error);
  if (!ok) {
    api.error = soname + ": " + error;
    return api;
  }
  bound.library = soname;
  return bound;
}

}  // namespace

const CublasApi& cublas_api() {
  static const CublasApi api = load();  // C++11 magic static: loaded once, thread-safe
  return api;
}

}  // namespace moekit::cuda
