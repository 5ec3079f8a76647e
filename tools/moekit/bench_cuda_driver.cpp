#include "bench_cuda_driver.h"

#include <dlfcn.h>

#include <stdexcept>

namespace moekit_cli {

namespace {

// Driver types as the ABI has them: CUresult and CUdevice are ints, CUdeviceptr an unsigned 64-bit integer,
// the rest opaque pointers.
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
constexpr unsigned kStreamNonBlocking = 0x1;    // CU_STREAM_NON_BLOCKING
constexpr unsigned kEventDefault = 0x0;         // CU_EVENT_DEFAULT (timing enabled)
constexpr int kCaptureModeGlobal = 0;           // CU_STREAM_CAPTURE_MODE_GLOBAL

}  // namespace

struct CudaDriver::Api {
  CUresult (*init)(unsigned);
  CUresult (*device_get)(CUdevice*, int);
  CUresult (*device_get_name)(char*, int, CUdevice);
  CUresult (*primary_ctx_retain)(void**, CUdevice);
  CUresult (*primary_ctx_release)(CUdevice);
  CUresult (*ctx_set_current)(void*);
  CUresult (*ctx_synchronize)();
  CUresult (*mem_alloc)(CUdeviceptr*, size_t);
  CUresult (*mem_free)(CUdeviceptr);
  CUresult (*memcpy_htod)(CUdeviceptr, const void*, size_t);
  CUresult (*memcpy_dtoh)(void*, CUdeviceptr, size_t);
  CUresult (*memset_d8)(CUdeviceptr, unsigned char, size_t);
  CUresult (*stream_create)(void**, unsigned);
  CUresult (*stream_destroy)(void*);
  CUresult (*stream_synchronize)(void*);
  CUresult (*event_create)(void**, unsigned);
  CUresult (*event_destroy)(void*);
  CUresult (*event_record)(void*, void*);
  CUresult (*event_synchronize)(void*);
  CUresult (*event_elapsed)(float*, void*, void*);
  CUresult (*begin_capture)(void*, int);
  CUresult (*end_capture)(void*, void**);
  CUresult (*graph_instantiate)(void**, void*, unsigned long long);
  CUresult (*graph_launch)(void*, void*);
  CUresult (*graph_destroy)(void*);
  CUresult (*graph_exec_destroy)(void*);
  CUresult (*get_error_string)(CUresult, const char**);
};

namespace {

// Binds the first of `names` the library exports (newer drivers version some entry points: name_v2).
template <class Fn>
void bind(void* lib, Fn& out, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    out = reinterpret_cast<Fn>(dlsym(lib, n));
    if (out != nullptr) return;
  }
  throw std::runtime_error(std::string("libcuda.so.1: symbol ") + *names.begin() + " missing");
}

}  // namespace

CudaDriver::CudaDriver(int device_id) : device_(device_id) {
  library_ = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (library_ == nullptr) {
    const char* err = dlerror();
    throw std::runtime_error(std::string("libcuda.so.1 not loadable: ") + (err ? err : "unknown reason"));
  }
  api_ = new Api();
  Api& a = *api_;
  try {
    bind(library_, a.init, {"cuInit"});
    bind(library_, a.device_get, {"cuDeviceGet"});
    bind(library_, a.device_get_name, {"cuDeviceGetName"});
    bind(library_, a.primary_ctx_retain, {"cuDevicePrimaryCtxRetain"});
    bind(library_, a.primary_ctx_release, {"cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease"});
    bind(library_, a.ctx_set_current, {"cuCtxSetCurrent"});
    bind(library_, a.ctx_synchronize, {"cuCtxSynchronize"});
    bind(library_, a.mem_alloc, {"cuMemAlloc_v2"});
    bind(library_, a.mem_free, {"cuMemFree_v2"});
    bind(library_, a.memcpy_htod, {"cuMemcpyHtoD_v2"});
    bind(library_, a.memcpy_dtoh, {"cuMemcpyDtoH_v2"});
    bind(library_, a.memset_d8, {"cuMemsetD8_v2"});
    bind(library_, a.stream_create, {"cuStreamCreate"});
    bind(library_, a.stream_destroy, {"cuStreamDestroy_v2"});
    bind(library_, a.stream_synchronize, {"cuStreamSynchronize"});
    bind(library_, a.event_create, {"cuEventCreate"});
    bind(library_, a.event_destroy, {"cuEventDestroy_v2"});
    bind(library_, a.event_record, {"cuEventRecord"});
    bind(library_, a.event_synchronize, {"cuEventSynchronize"});
    bind(library_, a.event_elapsed, {"cuEventElapsedTime_v2", "cuEventElapsedTime"});
    bind(library_, a.begin_capture, {"cuStreamBeginCapture_v2"});
    bind(library_, a.end_capture, {"cuStreamEndCapture"});
    bind(library_, a.graph_instantiate, {"cuGraphInstantiateWithFlags"});
    bind(library_, a.graph_launch, {"cuGraphLaunch"});
    bind(library_, a.graph_destroy, {"cuGraphDestroy"});
    bind(library_, a.graph_exec_destroy, {"cuGraphExecDestroy"});
    bind(library_, a.get_error_string, {"cuGetErrorString"});
    check(a.init(0), "cuInit");
    check(a.primary_ctx_retain(&primary_context_, device_), "cuDevicePrimaryCtxRetain");
    check(a.ctx_set_current(primary_context_), "cuCtxSetCurrent");
  } catch (...) {
    if (primary_context_ != nullptr) a.primary_ctx_release(device_);
    delete api_;
    dlclose(library_);
    throw;
  }
}

CudaDriver::~CudaDriver() {
  if (primary_context_ != nullptr) api_->primary_ctx_release(device_);
  delete api_;
  // libcuda stays loaded: the driver registers process-exit handlers and unloading it early is not supported.
}

void CudaDriver::check(int result, const char* call) const {
  if (result == 0) return;
  const char* text = nullptr;
  if (api_ != nullptr && api_->get_error_string != nullptr) api_->get_error_string(result, &text);
  throw std::runtime_error(std::string(call) + ": " + (text ? text : "CUDA driver error " + std::to_string(result)));
}

std::string CudaDriver::device_name() const {
  CUdevice dev = 0;
  char name[256] = {0};
  check(api_->device_get(&dev, device_), "cuDeviceGet");
  check(api_->device_get_name(name, sizeof name - 1, dev), "cuDeviceGetName");
  return name;
}

void* CudaDriver::malloc(size_t bytes) {
  CUdeviceptr p = 0;
  check(api_->mem_alloc(&p, bytes == 0 ? 1 : bytes), "cuMemAlloc");
  return reinterpret_cast<void*>(static_cast<uintptr_t>(p));
}

void CudaDriver::free(void* ptr) noexcept {
  if (ptr != nullptr) api_->mem_free(static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(ptr)));
}

void CudaDriver::upload(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  check(api_->memcpy_htod(static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(dst)), src, bytes), "cuMemcpyHtoD");
}

void CudaDriver::download(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  synchronize();  // work on non-blocking streams is not ordered before a plain copy
  check(api_->memcpy_dtoh(dst, static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(src)), bytes), "cuMemcpyDtoH");
}

void CudaDriver::fill(void* dst, uint8_t byte, size_t bytes) {
  if (bytes == 0) return;
  synchronize();
  check(api_->memset_d8(static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(dst)), byte, bytes), "cuMemsetD8");
  synchronize();
}

void CudaDriver::synchronize() { check(api_->ctx_synchronize(), "cuCtxSynchronize"); }

CuStream CudaDriver::create_stream() {
  void* s = nullptr;
  check(api_->stream_create(&s, kStreamNonBlocking), "cuStreamCreate");
  return s;
}
void CudaDriver::destroy_stream(CuStream s) noexcept {
  if (s != nullptr) api_->stream_destroy(s);
}
void CudaDriver::stream_synchronize(CuStream s) { check(api_->stream_synchronize(s), "cuStreamSynchronize"); }

CuEvent CudaDriver::create_event() {
  void* e = nullptr;
  check(api_->event_create(&e, kEventDefault), "cuEventCreate");
  return e;
}
void CudaDriver::destroy_event(CuEvent e) noexcept {
  if (e != nullptr) api_->event_destroy(e);
}
void CudaDriver::record(CuEvent e, CuStream s) { check(api_->event_record(e, s), "cuEventRecord"); }
float CudaDriver::elapsed_ms(CuEvent from, CuEvent to) {
  check(api_->event_synchronize(to), "cuEventSynchronize");
  float ms = 0;
  check(api_->event_elapsed(&ms, from, to), "cuEventElapsedTime");
  return ms;
}

void CudaDriver::begin_capture(CuStream s) { check(api_->begin_capture(s, kCaptureModeGlobal), "cuStreamBeginCapture"); }

CuGraph CudaDriver::end_capture(CuStream s, std::string& why) {
  void* g = nullptr;
  const CUresult r = api_->end_capture(s, &g);
  if (r != 0 || g == nullptr) {
    const char* text = nullptr;
    api_->get_error_string(r, &text);
    why = std::string("cuStreamEndCapture: ") + (text ? text : "capture invalidated");
    if (g != nullptr) api_->graph_destroy(g);
    return nullptr;
  }
  return g;
}

CuGraphExec CudaDriver::instantiate(CuGraph g) {
  void* e = nullptr;
  check(api_->graph_instantiate(&e, g, 0), "cuGraphInstantiateWithFlags");
  return e;
}
void CudaDriver::launch(CuGraphExec exec, CuStream s) { check(api_->graph_launch(exec, s), "cuGraphLaunch"); }
void CudaDriver::destroy_graph(CuGraph g) noexcept {
  if (g != nullptr) api_->graph_destroy(g);
}
void CudaDriver::destroy_graph_exec(CuGraphExec e) noexcept {
  if (e != nullptr) api_->graph_exec_destroy(e);
}

}  // namespace moekit_cli
